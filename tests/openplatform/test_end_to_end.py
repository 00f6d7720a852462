"""The whole flow against a real server: uvicorn on a free local port, driven by the partner
client: staff onboard a partner, it lists products, pushes an application, subscribes a webhook
to a local receiver, and receives the decision, signed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from puhui.db.engine import run_in_transaction
from puhui.events import application_key
from puhui.events.models import outbox
from puhui.identity.audit import SYSTEM
from puhui.lending import applications
from puhui.openplatform import signing, webhooks
from puhui.openplatform.client import OpenClient

from .conftest import Receiver, World, application_body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(world: World) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(world.platform.app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_a_partner_goes_from_onboarding_to_a_signed_webhook(
    world: World, server: str, receiver: Receiver
):
    platform = world.platform
    _, staff = platform.staff("ops.open", position="operations_manager")
    onboarded = httpx.post(
        f"{server}/admin/api/v1/partners",
        json={
            "code": "fintech",
            "name": "某金融科技公司",
            "mode": "live",
            "scopes": [
                "products:read",
                "applications:write",
                "applications:read",
                "webhooks:manage",
            ],
            "ip_allowlist": ["127.0.0.1/32"],
            "product_codes": ["XFD"],
        },
        headers=staff,
        timeout=60,
    )
    assert onboarded.status_code == 201, onboarded.text
    creds = onboarded.json()
    client = OpenClient(
        server,
        key_id=creds["key_id"],
        secret=creds["secret"],
        clock=lambda: platform.clock.now().timestamp(),
        timeout=60,
    )
    # the schema is built on first request: a loaded CI machine needs more than httpx's 5 s
    assert httpx.get(f"{server}/open/v1/openapi.json", timeout=60).json()["info"]["title"] == (
        "puhui open platform"
    )
    assert [p["code"] for p in client.get("/open/v1/products")["data"]] == ["XFD"]
    made = client.post("/open/v1/applications", application_body("e2e-1"))
    assert made["state"] == "submitted"
    client.post(
        "/open/v1/webhooks/subscriptions",
        {"url": receiver.url, "topics": ["application.decided"]},
    )

    # Back office: the application is reviewed (rules only) and decided.
    decided = run_in_transaction(
        platform.engine,
        lambda c: applications.review(
            c, application_id=made["id"], actor=SYSTEM, keys=platform.keys, clock=platform.clock
        ),
    )
    with platform.engine.connect() as c:  # lending wrote the event with the decision
        emitted = c.execute(select(outbox).where(outbox.c.key == application_key(made["id"]))).one()
    assert emitted.topic == "application.decided"

    done = webhooks.run_worker_once(platform.engine, keys=platform.keys, clock=platform.clock)
    assert done.succeeded == 1
    [got] = receiver.received
    assert got["body"]["topic"] == "application.decided"
    assert got["body"]["data"]["application_id"] == made["id"]
    assert signing.verify_webhook(
        creds["secret"],
        headers=got["headers"],
        body=got["raw"],
        now=int(platform.clock.now().timestamp()),
    )
    assert client.get(f"/open/v1/applications/{made['id']}")["state"] == decided.state
    log = client.get("/open/v1/webhooks/deliveries")["data"]
    assert [d["status"] for d in log] == ["succeeded"]
    client.close()
