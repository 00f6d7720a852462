"""``puhui serve --workers 2`` on PostgreSQL: two processes answer, and what must be shared is.

A session made through one worker is accepted by the other and, once signed out, refused by
both; the per-IP login limit counts the attempts both workers saw (exactly the ones over 30 are
refused). Each worker's /metrics counts only its own requests, which shows that both answered.
SQLite is refused with a clear message.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from puhui.cli import app
from puhui.core.clock import SYSTEM_CLOCK
from puhui.db.engine import run_in_transaction
from puhui.identity import customers, otp
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, new_key_text

SERVE = [sys.executable, "-c", "from puhui.cli import main; main()", "serve"]
PHONE = "13812345678"
PASSWORD = "correct horse battery 9"
ACTOR = Actor("test", ("test",), "127.0.0.1", "-")
LOGIN_IP_LIMIT = 30  # api/identity.py DEFAULT_LIMITS["login_ip"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh() -> httpx.Client:
    """A client that opens a new connection for every request, so the kernel may hand each to
    either worker."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30)


def _code(engine, keys: Keyring, purpose: str) -> str:
    sms = otp.SandboxSms()
    run_in_transaction(
        engine,
        lambda c: customers.send_code(
            c, keys=keys, phone=PHONE, purpose=purpose, sender=sms, clock=SYSTEM_CLOCK
        ),
    )
    code = sms.last_code(PHONE)
    assert code
    return code


@pytest.mark.postgresql_only
def test_two_workers_share_sessions_and_rate_limits(engine, backend, database_url_for_test):
    master, index = f"k1:{new_key_text()}", new_key_text()
    keys = Keyring.parse(master, index)
    code = _code(engine, keys, "register")
    run_in_transaction(
        engine,
        lambda c: customers.register(
            c,
            keys=keys,
            phone=PHONE,
            password=PASSWORD,
            code=code,
            kind="person",
            actor=ACTOR,
            clock=SYSTEM_CLOCK,
        ),
    )
    login_code = _code(engine, keys, "login")
    port = _free_port()
    env = {
        **os.environ,
        "PUHUI_MASTER_KEY": master,
        "PUHUI_BLIND_INDEX_KEY": index,
    }
    proc = subprocess.Popen(
        [*SERVE, "--port", str(port), "--workers", "2", "--database", database_url_for_test],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    logged: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: logged.extend(proc.stderr), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while sum("Application startup complete" in line for line in logged) < 2:
            assert proc.poll() is None, "".join(logged)
            assert time.monotonic() < deadline, "".join(logged)
            time.sleep(0.1)
        with _fresh() as http:
            r = http.post(
                f"{base}/api/v1/auth/login",
                json={"phone": PHONE, "password": PASSWORD, "code": login_code},
            )
            assert r.status_code == 200, r.text
            bearer = {"Authorization": f"Bearer {r.json()['token']}"}
            me = [http.get(f"{base}/api/v1/me", headers=bearer).status_code for _ in range(21)]
            assert me == [200] * 21

            def wrong(i: int) -> int:
                with _fresh() as h:
                    body = {"phone": f"1390000{i:04d}", "password": "wrong" * 3, "code": "000000"}
                    return h.post(f"{base}/api/v1/auth/login", json=body).status_code

            extra = 5
            with ThreadPoolExecutor(4) as pool:
                codes = Counter(pool.map(wrong, range(LOGIN_IP_LIMIT - 1 + extra)))
            # one hit was the good login: 29 more are counted and answered, 5 are over
            assert codes == {401: LOGIN_IP_LIMIT - 1, 429: extra}, codes

            assert http.post(f"{base}/api/v1/auth/logout", headers=bearer).status_code == 204
            after = [http.get(f"{base}/api/v1/me", headers=bearer).status_code for _ in range(21)]
            assert after == [401] * 21

            # each worker counts only what it answered: two scrapes that add up to all 21
            # accepted /me requests prove both workers served them
            pattern = re.compile(
                r'puhui_http_requests_total\{method="GET",route="/api/v1/me",status="200"\} (\S+)'
            )
            seen: set[int] = set()

            def both() -> bool:
                return any(a + b == 21 and a and b for a, b in itertools.combinations(seen, 2))

            for _ in range(200):  # until a scrape has reached each worker
                m = pattern.search(http.get(f"{base}/metrics").text)
                seen.add(int(float(m.group(1))) if m else 0)
                if both():
                    break
            assert both(), seen
    finally:
        proc.terminate()
        proc.wait(30)


def test_more_than_one_worker_on_sqlite_is_refused(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["serve", "--workers", "2", "--database", f"sqlite:///{tmp_path / 'one.db'}"]
    )
    assert result.exit_code == 2
    assert "workers_need_postgresql" in result.output


def test_each_served_app_keeps_its_threads_below_its_connections(tmp_path: Path, monkeypatch):
    """A burst waits for a handler thread instead of timing out on the connection pool."""
    import anyio.to_thread
    from fastapi.testclient import TestClient

    from puhui.cli import serve

    monkeypatch.setenv("PUHUI_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    app = serve.create_app()
    with TestClient(app) as client:
        tokens = client.portal.call(
            lambda: anyio.to_thread.current_default_thread_limiter().total_tokens
        )
        engine = app.state.engine
    assert tokens == serve.THREADS["sqlite"] == 12
    assert tokens < engine.pool.size() + engine.pool._max_overflow  # 5 + 10 on SQLite
    assert serve.THREADS["postgresql"] < 10 + 10  # make_engine's pool on PostgreSQL
