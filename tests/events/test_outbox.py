"""The outbox: events exist exactly when their transaction committed, numbered per key, and
reach subscribers in order per key, at least once; one key's failure holds back only that key."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Connection, func, select

from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.events import Event, emit, emit_many, loan_key
from puhui.events.dispatcher import (
    DispatchResult,
    dispatch,
    dispatch_until_idle,
    pending,
    retry_delay_us,
)
from puhui.events.models import outbox


def rows(engine) -> list[tuple[str, int, str]]:
    with engine.connect() as c:
        return [(r.key, r.seq, r.topic) for r in c.execute(select(outbox).order_by(outbox.c.id))]


def test_an_event_emitted_in_a_rolled_back_transaction_never_existed(engine, clock):
    class Boom(Exception):
        pass

    def work(conn: Connection) -> None:
        emit(conn, topic="loan.disbursed", key=loan_key(1), payload={"a": 1}, clock=clock)
        raise Boom

    with pytest.raises(Boom):
        run_in_transaction(engine, work)
    assert rows(engine) == []
    run_in_transaction(
        engine,
        lambda c: emit(c, topic="loan.disbursed", key=loan_key(1), payload={}, clock=clock),
    )
    assert rows(engine) == [("loan:1", 1, "loan.disbursed")]  # the rolled-back seq was not used


def test_sequence_numbers_are_per_key(engine, clock):
    def work(conn: Connection) -> None:
        for key in ("loan:1", "loan:2", "loan:1", "application:1", "loan:1"):
            emit(conn, topic="repayment.received", key=key, payload={"k": key}, clock=clock)

    run_in_transaction(engine, work)
    assert [(k, s) for k, s, _ in rows(engine)] == [
        ("loan:1", 1),
        ("loan:2", 1),
        ("loan:1", 2),
        ("application:1", 1),
        ("loan:1", 3),
    ]


def test_emit_many_numbers_each_key_after_its_earlier_events(engine, clock):
    run_in_transaction(
        engine, lambda c: emit(c, topic="loan.disbursed", key="loan:2", payload={}, clock=clock)
    )
    n = run_in_transaction(
        engine,
        lambda c: emit_many(
            c,
            topic="loan.overdue",
            events=[("loan:1", {"dpd": 1}), ("loan:2", {"dpd": 3})],
            clock=clock,
        ),
    )
    assert n == 2
    assert sorted(rows(engine)) == [
        ("loan:1", 1, "loan.overdue"),
        ("loan:2", 1, "loan.disbursed"),
        ("loan:2", 2, "loan.overdue"),
    ]
    with pytest.raises(ValidationError, match="each key once"):
        run_in_transaction(
            engine,
            lambda c: emit_many(
                c, topic="loan.overdue", events=[("loan:1", {}), ("loan:1", {})], clock=clock
            ),
        )


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        ("loan.exploded", {}, "no event topic"),
        ("loan.disbursed", {"amount": 1.5}, "integer fen"),
        ("loan.disbursed", {"when": object()}, "JSON values only"),
        ("loan.disbursed", [1, 2], "JSON object"),
    ],
)
def test_bad_events_are_refused(engine, clock, topic, payload, message):
    with pytest.raises(ValidationError, match=message):
        run_in_transaction(
            engine, lambda c: emit(c, topic=topic, key="loan:1", payload=payload, clock=clock)
        )


def _emit_all(engine, clock, keys: list[str]) -> None:
    def work(conn: Connection) -> None:
        for i, key in enumerate(keys):
            emit(conn, topic="repayment.received", key=key, payload={"i": i}, clock=clock)

    run_in_transaction(engine, work)


def test_subscribers_get_every_event_once_in_order_per_key(engine, clock):
    seen: list[Event] = []
    _emit_all(engine, clock, ["loan:1", "loan:2", "loan:1", "loan:1", "loan:2"])
    result = dispatch(engine, subscribers={"log": lambda c, e: seen.append(e)}, clock=clock)
    assert (result.dispatched, result.failed, result.held_back) == (5, 0, 0)
    assert [(e.key, e.seq) for e in seen if e.key == "loan:1"] == [
        ("loan:1", 1),
        ("loan:1", 2),
        ("loan:1", 3),
    ]
    assert [e.payload["i"] for e in seen if e.key == "loan:2"] == [1, 4]
    again = dispatch(engine, subscribers={"log": lambda c, e: seen.append(e)}, clock=clock)
    assert again == DispatchResult(0, 0, 0)
    with engine.connect() as c:
        assert pending(c) == 0


def test_a_failing_event_holds_back_its_own_key_only_and_is_retried_with_backoff(engine, clock):
    _emit_all(engine, clock, ["loan:1", "loan:1", "loan:2", "loan:2"])
    seen: list[tuple[str, int]] = []
    broken = {"loan:1"}

    def subscriber(conn: Connection, event: Event) -> None:
        if event.key in broken:
            raise RuntimeError("receiver down")
        seen.append((event.key, event.seq))

    result = dispatch(engine, subscribers={"s": subscriber}, clock=clock)
    assert (result.dispatched, result.failed, result.held_back) == (2, 1, 1)
    assert seen == [("loan:2", 1), ("loan:2", 2)]
    with engine.connect() as c:
        head = c.execute(select(outbox).where(outbox.c.key == "loan:1", outbox.c.seq == 1)).one()
    assert head.attempts == 1 and "receiver down" in head.last_error
    assert head.next_attempt_us == int(clock.now().timestamp() * 1e6) + retry_delay_us(1)

    broken.clear()
    assert dispatch(engine, subscribers={"s": subscriber}, clock=clock).dispatched == 0  # backoff
    clock.advance(timedelta(seconds=5))
    assert dispatch_until_idle(engine, subscribers={"s": subscriber}, clock=clock) == 2
    assert seen[2:] == [("loan:1", 1), ("loan:1", 2)]


def test_backoff_doubles_up_to_a_cap():
    assert [retry_delay_us(n) // 1_000_000 for n in (1, 2, 3, 4, 10, 50)] == [
        5,
        10,
        20,
        40,
        600,
        600,
    ]


def test_a_subscriber_s_database_writes_roll_back_with_its_failure(engine, clock):
    _emit_all(engine, clock, ["loan:1"])

    def writes_then_fails(conn: Connection, event: Event) -> None:
        emit(conn, topic="loan.overdue", key="loan:99", payload={}, clock=clock)
        raise RuntimeError("after writing")

    dispatch(engine, subscribers={"w": writes_then_fails}, clock=clock)
    assert [k for k, _, _ in rows(engine)] == ["loan:1"]


def test_concurrent_dispatchers_keep_order_per_key_and_deliver_each_event_once(engine, clock):
    keys = [f"loan:{i % 7}" for i in range(140)]
    _emit_all(engine, clock, keys)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def subscriber(conn: Connection, event: Event) -> None:
        with lock:
            seen.append((event.key, event.seq))

    def worker() -> None:
        dispatch_until_idle(engine, subscribers={"s": subscriber}, clock=clock, limit=9)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dispatch_until_idle(engine, subscribers={"s": subscriber}, clock=clock)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 140
    for i in range(7):
        seqs = [s for k, s in seen if k == f"loan:{i}"]
        assert seqs == sorted(seqs) == list(range(1, 21))
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(outbox)).scalar_one() == 140
