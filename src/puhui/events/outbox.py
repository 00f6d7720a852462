"""Writing events: ``emit`` (one) and ``emit_many`` (a batch, for the end-of-day run).

Both run in the caller's transaction and never commit: if the caller rolls back, the event was
never there; if it commits, the event is there with the change it describes. Payloads are JSON
objects of plain values; amounts are integer fen and rates decimal strings, so a float is
refused rather than silently rounded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.core.errors import ValidationError
from puhui.events.models import key_heads, outbox

#: Every topic an event may carry, and what it means.
TOPICS: dict[str, str] = {
    "application.decided": "a loan application was approved, rejected or sent to manual review",
    "loan.disbursed": "a loan's principal was paid out",
    "repayment.received": "a repayment was allocated to a loan",
    "loan.overdue": "a loan is past due at the end of a business day",
    "creditline.statement": "a credit line's statement was issued",
    # the lending marketplace (issue 7, puhui.marketplace.events)
    "listing.published": "a marketplace listing opened for bids",
    "listing.funded": "a marketplace listing was fully funded and its loan paid out",
    "listing.failed": "a marketplace listing closed unfilled (流标); its bids were released",
    "note.distributed": "a repayment was passed on to a lender's note (回款)",
    "claim.transferred": "a lender sold (part of) a note to another lender (债权转让)",
    "loan.compensated": "the risk reserve paid a defaulted loan's lenders (代偿)",
}
MAX_KEY = 128


def loan_key(loan_id: int) -> str:
    return f"loan:{loan_id}"


def application_key(application_id: int) -> str:
    return f"application:{application_id}"


def creditline_key(line_id: int) -> str:
    return f"creditline:{line_id}"


@dataclass(frozen=True)
class Event:
    """One committed event as subscribers see it."""

    id: int
    topic: str
    key: str
    #: 1, 2, 3… per key, in the order the emitting transactions committed.
    seq: int
    created_us: int
    payload: Mapping[str, Any] = field(default_factory=dict)


def emit(
    conn: Connection, *, topic: str, key: str, payload: Mapping[str, Any], clock: Clock
) -> int:
    """Record an event in the caller's transaction; its id.

    Call it in the same transaction as the change the event describes, after the change.
    """
    body = _encode(topic, key, payload)
    seq = _next_seqs(conn, [key])[key]
    return conn.execute(
        insert(outbox).values(
            topic=topic, key=key, seq=seq, payload_json=body, created_us=_now_us(clock)
        )
    ).inserted_primary_key[0]


def emit_many(
    conn: Connection,
    *,
    topic: str,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    clock: Clock,
) -> int:
    """Record one event per (key, payload) in two statements, for set-based batch steps.

    Keys must be distinct (one event per loan per step); how many were written.
    """
    if not events:
        return 0
    keys = [k for k, _ in events]
    if len(set(keys)) != len(keys):
        raise ValidationError("event_keys_repeated", "emit_many takes each key once", field="key")
    bodies = [_encode(topic, k, p) for k, p in events]
    seqs = _next_seqs(conn, keys)
    now = _now_us(clock)
    conn.execute(
        insert(outbox),
        [
            {"topic": topic, "key": k, "seq": seqs[k], "payload_json": b, "created_us": now}
            for k, b in zip(keys, bodies, strict=True)
        ],
    )
    return len(keys)


def _next_seqs(conn: Connection, keys: list[str]) -> dict[str, int]:
    """Take the next sequence number of each key (an upsert that locks the key's head row)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(key_heads).values([{"key": k, "last_seq": 1} for k in sorted(keys)])
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"last_seq": key_heads.c.last_seq + 1}
    ).returning(key_heads.c.key, key_heads.c.last_seq)
    return {row.key: row.last_seq for row in conn.execute(stmt)}


def _encode(topic: str, key: str, payload: Mapping[str, Any]) -> str:
    if topic not in TOPICS:
        raise ValidationError("event_topic_unknown", f"no event topic {topic!r}", field="topic")
    if not key or len(key) > MAX_KEY:
        raise ValidationError(
            "event_key_invalid", "an event key is 1 to 128 characters", field="key"
        )
    if not isinstance(payload, Mapping):
        raise ValidationError(
            "event_payload_invalid", "a payload is a JSON object", field="payload"
        )
    _check_plain(payload, "payload")
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError("event_payload_invalid", f"{where}: keys are strings")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif isinstance(value, float):
        raise ValidationError(
            "event_payload_invalid",
            f"{where} is a float: send amounts as integer fen and rates as strings",
            field="payload",
        )
    elif not (value is None or isinstance(value, str | int | bool)):
        raise ValidationError(
            "event_payload_invalid",
            f"{where} is a {type(value).__name__}; payloads hold JSON values only",
            field="payload",
        )


def _now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)
