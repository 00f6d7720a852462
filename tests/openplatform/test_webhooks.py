"""Webhooks: queued from the outbox for the partner that owns the subject, signed, retried with
backoff and jitter, logged per attempt, redeliverable, in order per key, and a slow or failing
receiver for one key holds up nothing else."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from puhui.core.errors import Conflict
from puhui.db.engine import run_in_transaction
from puhui.events import application_key, emit
from puhui.openplatform import signing, webhooks
from puhui.openplatform.models import webhook_deliveries

from .conftest import Receiver, World, application_body


def push(world: World, ref: str) -> int:
    return world.client(world.live).post("/open/v1/applications", application_body(ref))["id"]


def subscribe(world: World, url: str, topics: list[str] | None = None) -> dict:
    return world.client(world.live).post(
        "/open/v1/webhooks/subscriptions",
        {"url": url, "topics": topics or ["application.decided", "loan.disbursed"]},
    )


def decide(world: World, application_id: int, state: str = "approved") -> None:
    clock = world.platform.clock
    run_in_transaction(
        world.platform.engine,
        lambda c: emit(
            c,
            topic="application.decided",
            key=application_key(application_id),
            payload={"application_id": application_id, "state": state},
            clock=clock,
        ),
    )


def work(world: World, **kw) -> webhooks.DeliveryRound:  # type: ignore[no-untyped-def]
    return webhooks.run_worker_once(
        world.platform.engine,
        keys=world.platform.keys,
        clock=world.platform.clock,
        jitter=lambda: 0.5,
        **kw,
    )


def deliveries(world: World) -> list:  # type: ignore[type-arg]
    with world.platform.engine.connect() as c:
        return c.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()


def test_an_event_reaches_the_owning_partner_signed(world: World, receiver: Receiver):
    app_id = push(world, "a")
    subscribe(world, receiver.url)
    decide(world, app_id)
    decide(world, 999_999)  # not this partner's: nothing is queued for it
    assert work(world) == webhooks.DeliveryRound(1, 1, 0)
    [got] = receiver.received
    assert got["body"]["topic"] == "application.decided" and got["body"]["seq"] == 1
    assert got["body"]["data"] == {"application_id": app_id, "state": "approved"}
    assert got["body"]["livemode"] is True
    assert got["headers"][signing.KEY_ID] == world.live.key_id
    now = int(world.platform.clock.now().timestamp())
    assert signing.verify_webhook(
        world.live.secret, headers=got["headers"], body=got["raw"], now=now
    )
    assert work(world) == webhooks.DeliveryRound(0, 0, 0)  # delivered once
    log = world.client(world.live).get("/open/v1/webhooks/deliveries")
    assert [(d["status"], d["attempts"]) for d in log["data"]] == [("succeeded", 1)]


def test_topics_not_subscribed_are_not_sent(world: World, receiver: Receiver):
    app_id = push(world, "a")
    subscribe(world, receiver.url, ["loan.overdue"])
    decide(world, app_id)
    assert work(world).claimed == 0 and receiver.received == []


def test_failures_are_retried_with_exponential_backoff_then_given_up_and_redelivered(
    world: World, receiver: Receiver
):
    clock = world.platform.clock
    app_id = push(world, "a")
    subscribe(world, receiver.url)
    decide(world, app_id)
    receiver.behaviour = lambda body: (503, 0.0)
    waits = []
    for attempt in range(1, webhooks.MAX_ATTEMPTS + 1):
        assert work(world).failed == 1
        [row] = deliveries(world)
        assert row.attempts == attempt and row.last_status_code == 503
        if attempt == webhooks.MAX_ATTEMPTS:
            assert row.status == "failed"
            break
        wait_s = (row.next_attempt_us - int(clock.now().timestamp() * 1_000_000)) / 1e6
        waits.append(wait_s)
        clock.advance(timedelta(seconds=wait_s - 1))
        assert work(world).claimed == 0  # not yet due
        clock.advance(timedelta(seconds=1))
    # 30 s doubling, times 1 + 0.25 × jitter (0.5 here)
    assert waits == [30 * 2**n * 1.125 for n in range(webhooks.MAX_ATTEMPTS - 1)]
    clock.advance(timedelta(days=1))
    assert work(world).claimed == 0  # failed for good until redelivered
    receiver.behaviour = lambda body: (200, 0.0)
    client = world.client(world.live)
    delivery_id = deliveries(world)[0].id
    assert client.post(f"/open/v1/webhooks/deliveries/{delivery_id}/redeliver")["status"] == (
        "pending"
    )
    assert work(world).succeeded == 1
    attempts = client.get(f"/open/v1/webhooks/deliveries/{delivery_id}/attempts")
    assert len(attempts) == webhooks.MAX_ATTEMPTS + 1
    assert [a["outcome"] for a in attempts[-2:]] == ["failed", "succeeded"]
    assert attempts[-1]["trigger"] == "manual" and attempts[0]["status_code"] == 503
    # the back office redelivers only a failed delivery: this one succeeded, so it is refused
    # by the UPDATE's own condition and stays as it is
    with world.platform.engine.begin() as c, pytest.raises(Conflict) as refused:
        webhooks.redeliver(c, delivery_id=delivery_id, clock=clock, only_from=("failed",))
    assert refused.value.code == "redelivery_refused"
    [row] = deliveries(world)
    assert (row.status, row.attempts) == ("succeeded", 1)


def test_jitter_spreads_retries_within_a_quarter_of_the_delay():
    delays = {webhooks.backoff_us(3, j) for j in (0.0, 0.3, 0.99)}
    assert min(delays) == 120_000_000 and max(delays) < 150_000_000 and len(delays) == 3


def test_one_key_failing_holds_back_that_key_only_and_order_is_kept(
    world: World, receiver: Receiver
):
    a, b = push(world, "a"), push(world, "b")
    subscribe(world, receiver.url)
    for state in ("manual_review", "approved"):
        decide(world, a, state)
        decide(world, b, state)
    broken = {a}
    receiver.behaviour = lambda body: (500 if body["data"]["application_id"] in broken else 200, 0)
    for _ in range(3):
        work(world)
    ok = [(r["body"]["key"], r["body"]["seq"]) for r in receiver.received if r["status"] == 200]
    assert ok == [(f"application:{b}", 1), (f"application:{b}", 2)]
    tried_a = [r["body"]["seq"] for r in receiver.received if r["status"] == 500]
    assert set(tried_a) == {1}  # a's second event waited behind its first
    broken.clear()
    world.platform.clock.advance(timedelta(minutes=5))
    work(world)
    work(world)
    ok = [(r["body"]["key"], r["body"]["seq"]) for r in receiver.received if r["status"] == 200]
    assert ok[2:] == [(f"application:{a}", 1), (f"application:{a}", 2)]


def test_a_slow_receiver_for_one_key_does_not_hold_up_the_others(world: World, receiver: Receiver):
    slow, fast = push(world, "slow"), push(world, "fast")
    subscribe(world, receiver.url)
    decide(world, slow)
    decide(world, fast)
    receiver.behaviour = lambda body: (200, 3.0 if body["data"]["application_id"] == slow else 0)
    started = time.monotonic()
    done = work(world, timeout=0.5)
    assert time.monotonic() - started < 3.0  # less than the slow receiver takes
    assert (done.succeeded, done.failed) == (1, 1)
    by_key = {r.key: r for r in deliveries(world)}
    assert by_key[f"application:{fast}"].status == "succeeded"
    timed_out = by_key[f"application:{slow}"]
    assert timed_out.status == "pending" and "Timeout" in timed_out.last_error


def test_subscriptions_are_listed_and_stopped(world: World, receiver: Receiver):
    client = world.client(world.live)
    sub = subscribe(world, receiver.url)
    assert [s["id"] for s in client.get("/open/v1/webhooks/subscriptions")] == [sub["id"]]
    assert client.delete(f"/open/v1/webhooks/subscriptions/{sub['id']}")["status"] == "disabled"
    app_id = push(world, "a")
    decide(world, app_id)
    assert work(world).claimed == 0
    bad = client.request(
        "POST", "/open/v1/webhooks/subscriptions", body={"url": "ftp://x/y", "topics": ["x.y"]}
    )
    assert bad.status_code == 422
