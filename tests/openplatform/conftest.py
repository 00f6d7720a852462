"""Open-platform fixtures: a product, a consenting customer, partners, signed clients over the
test app, and a small real HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from identity.conftest import (  # noqa: F401 (fixtures)
    ACTOR,
    ALICE,
    BOB,
    Platform,
    cheap_argon2,
    keys,
    new_customer,
    platform,
)
from lending.factories import product
from puhui.db.engine import run_in_transaction
from puhui.identity import consents
from puhui.openplatform import partners
from puhui.openplatform.client import OpenClient

PARTNER_IP = "10.1.2.3"


@dataclass
class World:
    platform: Platform
    customer_id: int
    live: partners.Credentials

    def partner(self, code: str, **kw: Any) -> partners.Credentials:
        return make_partner(self.platform, code, **kw)

    def client(self, creds: partners.Credentials, *, ip: str = PARTNER_IP, **kw: Any) -> OpenClient:
        return signed_client(self.platform, creds, ip=ip, **kw)


def make_partner(plat: Platform, code: str, **kw: Any) -> partners.Credentials:
    args: dict[str, Any] = {
        "name": f"{code} bank",
        "mode": "live",
        "scopes": list(partners.SCOPES),
        "ip_allowlist": ["10.0.0.0/8"],
        "product_codes": ["XFD"],
        **kw,
    }
    return run_in_transaction(
        plat.engine,
        lambda c: partners.create(
            c, keys=plat.keys, code=code, actor=ACTOR, clock=plat.clock, **args
        ),
    )


def signed_client(
    plat: Platform, creds: partners.Credentials, *, ip: str = PARTNER_IP, skew_s: float = 0
) -> OpenClient:
    """A client whose requests come from ``ip`` and whose clock is the test clock + skew."""
    http = TestClient(plat.app, client=(ip, 50000))
    return OpenClient(
        "http://testserver",
        key_id=creds.key_id,
        secret=creds.secret,
        http=http,
        clock=lambda: plat.clock.now().timestamp() + skew_s,
    )


@pytest.fixture
def world(platform: Platform) -> World:  # noqa: F811 (the fixture)
    """Product XFD, Alice (verified, consented to credit assessment), a live partner."""

    def seed(c: Connection) -> None:
        product(c, platform.clock)

    run_in_transaction(platform.engine, seed)
    cid = new_customer(platform.engine, platform.keys, platform.clock, ALICE)
    run_in_transaction(
        platform.engine,
        lambda c: consents.grant(
            c, customer_id=cid, purposes=["credit_assessment"], ip=None, clock=platform.clock
        ),
    )
    return World(platform, cid, make_partner(platform, "acme"))


def application_body(ref: str = "ord-1", **kw: Any) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "customer_phone": ALICE.phone,
        "product_code": "XFD",
        "amount_fen": 1_200_000,
        "term": 12,
        "purpose": "consumer_goods",
        **kw,
    }


# ---------------------------------------------------------------------------- receiver


@dataclass
class Receiver:
    """A local webhook receiver: records what it got; ``behaviour`` picks each answer."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    #: (parsed body) -> (status, seconds to wait first)
    behaviour: Callable[[dict[str, Any]], tuple[int, float]] = lambda body: (200, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            status, wait = holder[0].behaviour(body)
            time.sleep(wait)
            with holder[0].lock:
                holder[0].received.append(
                    {"headers": dict(self.headers), "raw": raw, "body": body, "status": status}
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()
