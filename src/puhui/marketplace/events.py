"""The marketplace's outbox events (``puhui.events``), written in the caller's transaction.

Keys order what belongs together: a listing's life under ``listing:{id}``, each note's
distributions under ``note:{id}``, a claim sale and a compensation under the loan's key.
Payloads carry ids and fen, never a name or a number that identifies a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from puhui import events
from puhui.core.clock import Clock


def listing_key(listing_id: int) -> str:
    return f"listing:{listing_id}"


def listing(conn: Connection, topic: str, listing_id: int, clock: Clock, **payload: Any) -> None:
    """``listing.published`` / ``listing.funded`` for one listing."""
    events.emit(
        conn,
        topic=topic,
        key=listing_key(listing_id),
        payload={"listing_id": listing_id, **payload},
        clock=clock,
    )


def listings_failed(conn: Connection, listing_ids: Sequence[int], clock: Clock) -> None:
    if listing_ids:
        events.emit_many(
            conn,
            topic="listing.failed",
            events=[(listing_key(i), {"listing_id": i}) for i in listing_ids],
            clock=clock,
        )


def note_key(note_id: int) -> str:
    return f"note:{note_id}"


def notes_distributed(conn: Connection, rows: Sequence[Mapping[str, Any]], clock: Clock) -> None:
    """``note.distributed``, one per note paid (the rows are ``mkt_distributions`` rows; a
    note's part recovered by the risk reserve, ``lender_id`` 0, is reported apart)."""
    by_note: dict[int, dict[str, Any]] = {}
    for r in rows:
        e = by_note.setdefault(
            int(r["note_id"]),
            {
                "note_id": int(r["note_id"]),
                "loan_id": int(r["loan_id"]),
                "business_date": r["business_date"].isoformat(),
                "principal_fen": 0,
                "interest_fen": 0,
                "penalty_fen": 0,
                "service_fee_fen": 0,
                "to_risk_reserve_fen": 0,
            },
        )
        for k in ("principal_fen", "interest_fen", "penalty_fen"):
            e[k] += int(r[k])
        e["service_fee_fen"] += int(r["fee_fen"])
        if int(r["lender_id"]) == 0:
            e["to_risk_reserve_fen"] += (
                int(r["principal_fen"]) + int(r["interest_fen"]) + int(r["penalty_fen"])
            ) - int(r["fee_fen"])
        else:
            e["lender_id"] = int(r["lender_id"])
    if by_note:
        events.emit_many(
            conn,
            topic="note.distributed",
            events=[(note_key(n), e) for n, e in by_note.items()],
            clock=clock,
        )


def for_loan(conn: Connection, topic: str, loan_id: int, clock: Clock, **payload: Any) -> None:
    """``claim.transferred`` / ``loan.compensated``: one event under the loan's key."""
    events.emit(
        conn,
        topic=topic,
        key=events.loan_key(loan_id),
        payload={"loan_id": loan_id, **payload},
        clock=clock,
    )
