"""Webhooks: subscriptions, the outbox subscriber that queues deliveries, and the sender.

``fan_out`` is an events subscriber: for an event about an application a partner pushed (or
that application's loan) it queues one delivery per matching subscription, in the dispatcher's
transaction, so each event is queued exactly once. ``deliver_due`` then works the queue outside
any transaction: it claims the head of each (subscription, key) chain — a delivery is due only
when every earlier delivery of its chain succeeded, so one loan's events arrive in order and a
failing one holds back that loan only — and sends them concurrently through httpx with a short
timeout, so a slow or broken receiver costs one thread for a few seconds and nothing else.
Failures are retried with exponential backoff and jitter up to ``MAX_ATTEMPTS``; then the
delivery is ``failed`` and its chain waits for a manual ``redeliver``. Every attempt is logged.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, Engine, and_, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.events.dispatcher import dispatch_until_idle
from puhui.events.outbox import TOPICS, Event
from puhui.identity.crypto import Keyring
from puhui.identity.times import from_us, now_us, span_us
from puhui.lending.models import loans
from puhui.openplatform import partners, signing
from puhui.openplatform.models import (
    partner_applications,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from puhui.openplatform.models import (
    partners as partners_table,
)

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
#: A retry waits between 1 and 1 + JITTER times the exponential delay, so receivers that come
#: back up are not hit by every sender at once.
JITTER = 0.25
TIMEOUT_S = 5.0
#: How long a claimed delivery stays with its sender before another worker may take it over.
LEASE = timedelta(minutes=2)
MAX_SUBSCRIPTIONS = 20


@dataclass(frozen=True)
class Subscription:
    id: int
    partner_id: int
    url: str
    topics: tuple[str, ...]
    status: str
    created_us: int


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: int
    partner_id: int
    event_id: int
    topic: str
    key: str
    seq: int
    status: str
    attempts: int
    next_attempt_us: int
    last_status_code: int | None
    last_error: str | None
    created_us: int
    delivered_us: int | None


@dataclass(frozen=True)
class Attempt:
    id: int
    delivery_id: int
    attempt: int
    trigger: str
    started_us: int
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str


@dataclass(frozen=True)
class DeliveryRound:
    claimed: int
    succeeded: int
    failed: int


def _subscription(r) -> Subscription:  # type: ignore[no-untyped-def]
    return Subscription(
        r.id, r.partner_id, r.url, tuple(json.loads(r.topics_json)), r.status, r.created_us
    )


def _delivery(r) -> Delivery:  # type: ignore[no-untyped-def]
    return Delivery(
        r.id,
        r.subscription_id,
        r.partner_id,
        r.event_id,
        r.topic,
        r.key,
        r.seq,
        r.status,
        r.attempts,
        r.next_attempt_us,
        r.last_status_code,
        r.last_error,
        r.created_us,
        r.delivered_us,
    )


# -------------------------------------------------------------------------- subscriptions


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise ValidationError(
            "webhook_url_invalid",
            "a webhook URL is an http(s) URL of at most 500 characters",
            field="url",
        )
    return url


def subscribe(
    conn: Connection, *, partner_id: int, url: str, topics: Sequence[str], clock: Clock
) -> Subscription:
    """A new subscription of the partner's to some topics, delivered to ``url``."""
    unknown = sorted(set(topics) - set(TOPICS))
    if unknown or not topics:
        raise ValidationError(
            "topic_unknown",
            f"topics are some of {', '.join(TOPICS)}; unknown: {', '.join(unknown) or '(none)'}",
            field="topics",
        )
    live = conn.execute(
        select(func.count()).where(
            webhook_subscriptions.c.partner_id == partner_id,
            webhook_subscriptions.c.status == "active",
        )
    ).scalar_one()
    if live >= MAX_SUBSCRIPTIONS:
        raise ValidationError(
            "subscriptions_too_many", f"at most {MAX_SUBSCRIPTIONS} active subscriptions"
        )
    at = now_us(clock)
    new_id = conn.execute(
        insert(webhook_subscriptions).values(
            partner_id=partner_id,
            url=_check_url(url),
            topics_json=json.dumps(sorted(set(topics))),
            status="active",
            created_us=at,
            updated_us=at,
        )
    ).inserted_primary_key[0]
    return get_subscription(conn, partner_id=partner_id, subscription_id=new_id)


def get_subscription(conn: Connection, *, partner_id: int, subscription_id: int) -> Subscription:
    row = conn.execute(
        select(webhook_subscriptions).where(
            webhook_subscriptions.c.id == subscription_id,
            webhook_subscriptions.c.partner_id == partner_id,
        )
    ).first()
    if row is None:
        raise NotFound("subscription_not_found", f"no subscription {subscription_id}")
    return _subscription(row)


def list_subscriptions(conn: Connection, *, partner_id: int) -> list[Subscription]:
    rows = conn.execute(
        select(webhook_subscriptions)
        .where(webhook_subscriptions.c.partner_id == partner_id)
        .order_by(webhook_subscriptions.c.id)
    )
    return [_subscription(r) for r in rows]


def unsubscribe(
    conn: Connection, *, partner_id: int, subscription_id: int, clock: Clock
) -> Subscription:
    """Stop a subscription: nothing more is queued or sent for it."""
    get_subscription(conn, partner_id=partner_id, subscription_id=subscription_id)
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(status="disabled", updated_us=now_us(clock))
    )
    return get_subscription(conn, partner_id=partner_id, subscription_id=subscription_id)


# ------------------------------------------------------------------------------- fan-out


def owner(conn: Connection, key: str) -> int | None:
    """The partner an event key belongs to: the one that pushed the application (or the
    application the loan came from); None for everything else."""
    kind, _, number = key.partition(":")
    if not number.isdigit():
        return None
    if kind == "loan":
        application_id = conn.execute(
            select(loans.c.application_id).where(loans.c.id == int(number))
        ).scalar()
    elif kind == "application":
        application_id = int(number)
    else:
        return None
    if application_id is None:
        return None
    return conn.execute(
        select(partner_applications.c.partner_id).where(
            partner_applications.c.application_id == application_id
        )
    ).scalar()


def fan_out(conn: Connection, event: Event, *, clock: Clock | None = None) -> None:
    """The events subscriber: queue one delivery per subscription that wants ``event``."""
    partner_id = owner(conn, event.key)
    if partner_id is None:
        return
    partner = partners.get(conn, partner_id=partner_id)
    if partner.status != "active":
        return
    subscriptions = [
        s
        for s in list_subscriptions(conn, partner_id=partner_id)
        if s.status == "active" and event.topic in s.topics
    ]
    if not subscriptions:
        return
    body = json.dumps(
        {
            "id": f"evt_{event.id}",
            "topic": event.topic,
            "key": event.key,
            "seq": event.seq,
            "created_at": from_us(event.created_us).isoformat(),
            "livemode": partner.live,
            "data": dict(event.payload),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    at = event.created_us if clock is None else now_us(clock)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(webhook_deliveries).on_conflict_do_nothing(),
        [
            {
                "subscription_id": s.id,
                "partner_id": partner_id,
                "event_id": event.id,
                "topic": event.topic,
                "key": event.key,
                "seq": event.seq,
                "body_json": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_us": at,
                "created_us": at,
            }
            for s in subscriptions
        ],
    )


def subscribers(clock: Clock) -> dict[str, Callable[[Connection, Event], None]]:
    """The outbox subscribers the webhook worker runs."""
    return {"webhooks": lambda conn, event: fan_out(conn, event, clock=clock)}


# ------------------------------------------------------------------------------- sending


def backoff_us(attempts: int, jitter: float) -> int:
    """The wait after the ``attempts``-th failure: 30 s doubling to 6 h, times 1..1.25."""
    delay = min(BACKOFF_BASE * 2 ** min(attempts - 1, 30), BACKOFF_CAP)
    return int(span_us(delay) * (1 + JITTER * jitter))


def _claim(conn: Connection, *, now: int, limit: int) -> list[Any]:
    d, earlier = webhook_deliveries, webhook_deliveries.alias("earlier")
    blocked = exists().where(
        earlier.c.subscription_id == d.c.subscription_id,
        earlier.c.key == d.c.key,
        earlier.c.seq < d.c.seq,
        earlier.c.status != "succeeded",
    )
    due = (
        select(d.c.id)
        .join(webhook_subscriptions, webhook_subscriptions.c.id == d.c.subscription_id)
        .join(partners_table, partners_table.c.id == d.c.partner_id)
        .where(
            ((d.c.status == "pending") & (d.c.next_attempt_us <= now))
            | ((d.c.status == "delivering") & (d.c.locked_until_us <= now)),
            webhook_subscriptions.c.status == "active",
            partners_table.c.status == "active",
            ~blocked,
        )
        .order_by(d.c.next_attempt_us, d.c.id)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
    )
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    conn.execute(
        update(d)
        .where(d.c.id.in_(ids))
        .values(status="delivering", locked_until_us=now + span_us(LEASE))
    )
    return conn.execute(
        select(d, webhook_subscriptions.c.url)
        .join(webhook_subscriptions, webhook_subscriptions.c.id == d.c.subscription_id)
        .where(d.c.id.in_(ids))
    ).all()


@dataclass(frozen=True)
class _Result:
    delivery_id: int
    started_us: int
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _send(
    client: httpx.Client, row: Any, key_id: str, secret: str, clock: Clock, timeout: float
) -> _Result:
    started = now_us(clock)
    timestamp = started // 1_000_000
    body = row.body_json.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "puhui-webhooks/1",
        signing.KEY_ID: key_id,
        signing.SIGNATURE: signing.sign_webhook(secret, timestamp=timestamp, body=body),
        "Puhui-Event-Id": f"evt_{row.event_id}",
        "Puhui-Delivery-Id": str(row.id),
    }
    t0 = time.monotonic()
    try:
        answer = client.post(row.url, content=body, headers=headers, timeout=timeout)
        code, error = answer.status_code, None if answer.is_success else answer.text[:200]
    except httpx.HTTPError as exc:
        code, error = None, f"{exc.__class__.__name__}: {exc}"[:500]
    return _Result(row.id, started, int((time.monotonic() - t0) * 1000), code, error)


def _record(conn: Connection, result: _Result, *, clock: Clock, jitter: float) -> bool:
    d = webhook_deliveries
    row = conn.execute(select(d).where(d.c.id == result.delivery_id).with_for_update()).one()
    earlier = conn.execute(
        select(func.count()).where(webhook_attempts.c.delivery_id == row.id)
    ).scalar_one()
    attempt = row.attempts + 1
    conn.execute(
        insert(webhook_attempts).values(
            delivery_id=row.id,
            attempt=attempt,
            trigger="manual" if row.attempts == 0 and earlier else "scheduled",
            started_us=result.started_us,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            outcome="succeeded" if result.ok else "failed",
        )
    )
    now = now_us(clock)
    if result.ok:
        values: dict[str, Any] = {"status": "succeeded", "delivered_us": now}
    elif attempt >= MAX_ATTEMPTS:
        values = {"status": "failed"}
    else:
        values = {"status": "pending", "next_attempt_us": now + backoff_us(attempt, jitter)}
    conn.execute(
        update(d)
        .where(d.c.id == row.id)
        .values(
            attempts=attempt,
            locked_until_us=None,
            last_status_code=result.status_code,
            last_error=result.error,
            **values,
        )
    )
    return result.ok


def deliver_due(
    engine: Engine,
    *,
    keys: Keyring,
    clock: Clock,
    client: httpx.Client | None = None,
    limit: int = 100,
    concurrency: int = 8,
    timeout: float = TIMEOUT_S,
    jitter: Callable[[], float] = random.random,
) -> DeliveryRound:
    """Send every due delivery once (concurrently, no transaction held while sending)."""
    claimed = run_in_transaction(engine, lambda c: _claim(c, now=now_us(clock), limit=limit))
    if not claimed:
        return DeliveryRound(0, 0, 0)
    with engine.connect() as conn:
        secrets_ = {
            pid: partners.signing_key(conn, keys=keys, partner_id=pid)
            for pid in {r.partner_id for r in claimed}
        }
    own_client = client is None
    http = client or httpx.Client(follow_redirects=False)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(claimed)))) as pool:
            results = list(
                pool.map(lambda r: _send(http, r, *secrets_[r.partner_id], clock, timeout), claimed)
            )
    finally:
        if own_client:
            http.close()
    ok = sum(
        run_in_transaction(engine, lambda c, res=res: _record(c, res, clock=clock, jitter=jitter()))
        for res in results
    )
    return DeliveryRound(len(claimed), ok, len(claimed) - ok)


def run_worker_once(
    engine: Engine,
    *,
    keys: Keyring,
    clock: Clock,
    client: httpx.Client | None = None,
    timeout: float = TIMEOUT_S,
    jitter: Callable[[], float] = random.random,
) -> DeliveryRound:
    """Queue deliveries for every committed event, then send what is due (one pass)."""
    dispatch_until_idle(engine, subscribers=subscribers(clock), clock=clock)
    return deliver_due(
        engine, keys=keys, clock=clock, client=client, timeout=timeout, jitter=jitter
    )


# ------------------------------------------------------------------------ log, redelivery


def get_delivery(conn: Connection, *, delivery_id: int, partner_id: int | None = None) -> Delivery:
    query = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    if partner_id is not None:
        query = query.where(webhook_deliveries.c.partner_id == partner_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound("delivery_not_found", f"no delivery {delivery_id}", field="delivery_id")
    return _delivery(row)


def list_deliveries(
    conn: Connection,
    *,
    partner_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    starting_after: int | None = None,
) -> tuple[list[Delivery], bool]:
    """Deliveries, newest first, a page at a time; and whether there are more."""
    d = webhook_deliveries
    query = select(d).order_by(d.c.id.desc())
    conditions = []
    if partner_id is not None:
        conditions.append(d.c.partner_id == partner_id)
    if status is not None:
        conditions.append(d.c.status == status)
    if starting_after is not None:
        conditions.append(d.c.id < starting_after)
    if conditions:
        query = query.where(and_(*conditions))
    rows = conn.execute(query.limit(limit + 1)).all()
    return [_delivery(r) for r in rows[:limit]], len(rows) > limit


def attempts_log(
    conn: Connection, *, delivery_id: int, partner_id: int | None = None
) -> list[Attempt]:
    get_delivery(conn, delivery_id=delivery_id, partner_id=partner_id)
    rows = conn.execute(
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id == delivery_id)
        .order_by(webhook_attempts.c.id)
    )
    return [
        Attempt(
            r.id,
            r.delivery_id,
            r.attempt,
            r.trigger,
            r.started_us,
            r.duration_ms,
            r.status_code,
            r.error,
            r.outcome,
        )
        for r in rows
    ]


def redeliver(
    conn: Connection,
    *,
    delivery_id: int,
    clock: Clock,
    partner_id: int | None = None,
    only_from: Collection[str] | None = None,
) -> Delivery:
    """Queue a delivery again now, with a fresh set of attempts (a failed one, or one the
    receiver lost); its chain's later deliveries wait for it again. With ``only_from`` the
    state is checked in the UPDATE itself, so two simultaneous clicks queue it once."""
    found = get_delivery(conn, delivery_id=delivery_id, partner_id=partner_id)
    query = update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
    if only_from is not None:
        query = query.where(webhook_deliveries.c.status.in_(tuple(only_from)))
    done = conn.execute(
        query.values(
            status="pending", attempts=0, next_attempt_us=now_us(clock), locked_until_us=None
        )
    )
    if done.rowcount == 0:
        raise Conflict("redelivery_refused", f"the delivery is {found.status}", field="delivery")
    return get_delivery(conn, delivery_id=delivery_id)
