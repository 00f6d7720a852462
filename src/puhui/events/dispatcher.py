"""Handing committed events to subscribers: in order per key, at least once.

A round (``dispatch``) claims undelivered events in one transaction — ``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so several dispatcher processes share the work without waiting on each other; on
SQLite the transaction's write lock (``BEGIN IMMEDIATE``) makes one dispatcher run at a time.
A key's event is taken only when every earlier event of that key is done, and the claimed
events of a key are handled in ``seq`` order, so subscribers see one loan's events in order.

Each event runs through every subscriber inside a savepoint, and is marked done in the same
transaction: a subscriber that only writes to the database (the webhook fan-out does) therefore
takes each event exactly once. A subscriber that fails rolls back its savepoint; the event is
retried later with exponential backoff and holds back the later events of its own key only.
Subscribers must be quick database work: anything that talks to the outside world (a webhook
receiver) gets its own queue, filled by a subscriber and worked off outside this transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, func, select, update

from puhui.core.clock import Clock
from puhui.db.engine import run_in_transaction
from puhui.events.models import outbox
from puhui.events.outbox import Event

log = logging.getLogger("puhui.events")

#: What a subscriber is: a function of the dispatcher's connection and one event.
Subscriber = Callable[[Connection, Event], None]

RETRY_BASE = timedelta(seconds=5)
RETRY_CAP = timedelta(minutes=10)


@dataclass(frozen=True)
class DispatchResult:
    """What one round did."""

    dispatched: int
    failed: int
    #: Claimed but left for a later round because an earlier event of their key failed.
    held_back: int


def dispatch(
    engine: Engine,
    *,
    subscribers: Mapping[str, Subscriber],
    clock: Clock,
    limit: int = 200,
) -> DispatchResult:
    """One round over at most ``limit`` events, in a transaction of its own (committed)."""
    return run_in_transaction(
        engine, lambda conn: dispatch_in(conn, subscribers=subscribers, clock=clock, limit=limit)
    )


def dispatch_until_idle(
    engine: Engine, *, subscribers: Mapping[str, Subscriber], clock: Clock, limit: int = 200
) -> int:
    """Rounds until one dispatches nothing; how many events were dispatched in all."""
    total = 0
    while True:
        result = dispatch(engine, subscribers=subscribers, clock=clock, limit=limit)
        total += result.dispatched
        if result.dispatched == 0:
            return total


def dispatch_in(
    conn: Connection, *, subscribers: Mapping[str, Subscriber], clock: Clock, limit: int = 200
) -> DispatchResult:
    """A round in the caller's transaction (the caller commits)."""
    now = _now_us(clock)
    claimed = conn.execute(
        select(outbox)
        .where(outbox.c.dispatched_us.is_(None), outbox.c.next_attempt_us <= now)
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not claimed:
        return DispatchResult(0, 0, 0)
    by_key: dict[str, list] = {}
    for row in sorted(claimed, key=lambda r: (r.key, r.seq)):
        by_key.setdefault(row.key, []).append(row)
    heads = _first_undone(conn, list(by_key))
    done = failed = held = 0
    for key, rows in by_key.items():
        expected = heads.get(key)
        for row in rows:
            # An earlier event of this key is unfinished (another dispatcher holds it, or it
            # failed and waits for its retry): this one and the rest of the key wait too.
            if row.seq != expected:
                held += len(rows) - rows.index(row)
                break
            if _deliver(conn, row, subscribers, now):
                done += 1
                expected = row.seq + 1
            else:
                failed += 1
                held += len(rows) - rows.index(row) - 1
                break
    return DispatchResult(done, failed, held)


def _first_undone(conn: Connection, keys: list[str]) -> dict[str, int]:
    """Per key, the lowest ``seq`` not yet dispatched (locked by others included)."""
    rows = conn.execute(
        select(outbox.c.key, func.min(outbox.c.seq))
        .where(outbox.c.key.in_(keys), outbox.c.dispatched_us.is_(None))
        .group_by(outbox.c.key)
    ).all()
    return {k: s for k, s in rows}


def _deliver(conn: Connection, row, subscribers: Mapping[str, Subscriber], now: int) -> bool:  # type: ignore[no-untyped-def]
    event = to_event(row)
    current = ["-"]  # the subscriber running, named in the error if it fails
    try:
        with conn.begin_nested():
            for name, subscriber in subscribers.items():
                current[0] = name
                subscriber(conn, event)
    except Exception as exc:  # the dispatcher's boundary: any subscriber failure is isolated
        name = current[0]
        log.warning("event %s (%s) failed in subscriber %s: %r", row.id, row.topic, name, exc)
        attempts = row.attempts + 1
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                attempts=attempts,
                next_attempt_us=now + retry_delay_us(attempts),
                last_error=f"{name}: {exc.__class__.__name__}: {exc}"[:500],
            )
        )
        return False
    conn.execute(
        update(outbox)
        .where(outbox.c.id == row.id)
        .values(dispatched_us=now, attempts=row.attempts + 1, last_error=None)
    )
    return True


def retry_delay_us(attempts: int) -> int:
    """Exponential backoff after the ``attempts``-th failure: 5 s, 10 s, 20 s… up to 10 min."""
    delay = min(RETRY_BASE * 2 ** min(attempts - 1, 30), RETRY_CAP)
    return int(delay.total_seconds() * 1_000_000)


def to_event(row) -> Event:  # type: ignore[no-untyped-def]
    return Event(
        id=row.id,
        topic=row.topic,
        key=row.key,
        seq=row.seq,
        created_us=row.created_us,
        payload=json.loads(row.payload_json),
    )


def pending(conn: Connection) -> int:
    """How many events wait for dispatch (the dispatcher's lag, for monitoring)."""
    return conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.dispatched_us.is_(None))
    ).scalar_one()


def _now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)
