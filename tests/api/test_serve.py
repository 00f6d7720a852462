"""``puhui serve`` starts a real server: one uvicorn worker on a fresh SQLite file."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from puhui.db.engine import make_engine
from puhui.db.migrate import head_revisions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "puhui serve exited early"
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200:
                return resp
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not healthy within {seconds}s")


def test_puhui_serve_answers_health_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    port, db = _free_port(), tmp_path / "served.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from puhui.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--workers",
            "1",  # more than one needs PostgreSQL: tests/tasks/test_serve_workers.py
            "--database",
            f"sqlite:///{db}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        resp = _wait_healthy(f"http://127.0.0.1:{port}/health", proc, 30)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    engine = make_engine(f"sqlite:///{db}")
    assert resp.json()["schema_revision"] == sorted(head_revisions(engine))
    engine.dispose()
    logged = [json.loads(line) for line in stderr.decode().splitlines()]
    access = [r for r in logged if r.get("logger") == "puhui.api.access"]
    assert access[-1]["request_id"] == resp.headers["X-Request-ID"]
    assert access[-1]["path"] == "/health"
