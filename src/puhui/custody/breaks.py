"""Reconciliation breaks: reading them, and closing them under maker-checker.

A break is closed only by a ledger transfer coded ``RECON_ADJUSTMENT`` that one person proposes
and another approves, so no one person can make the books agree with the bank by themselves.
The adjustment moves the break's difference between the sub-account and the custody master
(or the suspense account when the bank's sub-account is unknown to the ledger), which makes the
ledger say what the bank says. The one other way a break closes is the ledger or the bank
catching up with the very same instruction on a later day (``late_match``): the closing entry
is then that instruction's own transfer or booking, and no adjustment is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, PuhuiError, ValidationError
from puhui.custody._db import first_or_raise, for_update, now_us
from puhui.custody.models import break_proposals, breaks, instructions
from puhui.custody.rules import BreakKind
from puhui.custody.service import Status, master_account_id, suspense_account_id
from puhui.ledger.codes import TransferCode
from puhui.ledger.service import Transfer, create_transfers, get_transfer

OPEN = "open"
RESOLVED = "resolved"


class Forbidden(PuhuiError):
    type = "forbidden"
    status = 403


@dataclass(frozen=True)
class BreakView:
    id: int
    business_date: date
    kind: BreakKind
    match_key: str
    sub_account: str
    ledger_account_id: int | None
    bank_amount: int
    ledger_amount: int
    delta: int
    status: str
    age_days: int
    resolution: str | None
    resolved_by_transfer: str | None


@dataclass(frozen=True)
class Proposal:
    id: int
    break_id: int
    status: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    reason: str
    proposed_by: str
    decided_by: str | None
    ledger_transfer_id: str | None


def open_breaks(conn: Connection, *, as_of: date) -> list[BreakView]:
    """Breaks found on or before ``as_of`` and still open, oldest first, aged to ``as_of``."""
    q = (
        select(breaks)
        .where(breaks.c.status == OPEN, breaks.c.business_date <= as_of)
        .order_by(breaks.c.business_date, breaks.c.id)
    )
    return [_view(r, as_of) for r in conn.execute(q).mappings()]


def list_breaks(
    conn: Connection, *, as_of: date, include_resolved: bool = False
) -> list[BreakView]:
    if not include_resolved:
        return open_breaks(conn, as_of=as_of)
    q = select(breaks).order_by(breaks.c.business_date, breaks.c.id)
    return [_view(r, as_of) for r in conn.execute(q).mappings()]


def get_break(conn: Connection, break_id: int, *, as_of: date) -> BreakView:
    return _view(_break(conn, break_id), as_of)


def propose(
    conn: Connection, *, break_id: int, proposed_by: str, reason: str, clock: Clock
) -> Proposal:
    """Propose the adjustment that closes a break (the maker's half)."""
    if not proposed_by or not reason or len(reason) > 256:
        raise ValidationError(
            "proposal_incomplete",
            "a proposal names its maker and a reason (at most 256 characters)",
            field="reason",
        )
    b = _break(conn, break_id, lock=True)
    if b["status"] != OPEN:
        raise Conflict("break_not_open", f"break {break_id} is already resolved")
    waiting = conn.execute(
        select(break_proposals.c.id).where(
            break_proposals.c.break_id == break_id, break_proposals.c.status == "proposed"
        )
    ).first()
    if waiting is not None:
        raise Conflict("proposal_pending", f"break {break_id} already has proposal {waiting.id}")
    in_flight = conn.execute(
        select(instructions.c.status).where(instructions.c.id == b["match_key"])
    ).scalar()
    if in_flight is not None and not Status(in_flight).final:
        raise Conflict(
            "instruction_in_flight",
            f"instruction {b['match_key']} is still awaiting the bank: settle it before adjusting",
        )
    target = b["ledger_account_id"] or suspense_account_id(conn)
    master = master_account_id(conn)
    debit, credit = (master, target) if b["delta"] > 0 else (target, master)
    pid = conn.execute(
        insert(break_proposals).values(
            break_id=break_id,
            status="proposed",
            debit_account_id=debit,
            credit_account_id=credit,
            amount=abs(b["delta"]),
            reason=reason,
            proposed_by=proposed_by,
            proposed_us=now_us(clock),
        )
    ).inserted_primary_key[0]
    return get_proposal(conn, int(pid))


def approve(conn: Connection, *, proposal_id: int, approved_by: str, clock: Clock) -> Proposal:
    """Approve a proposal (the checker's half): book the adjustment, close the break."""
    p = _decidable(conn, proposal_id, approved_by)
    b = _break(conn, p["break_id"], lock=True)
    if b["status"] != OPEN:
        raise Conflict("break_not_open", f"break {b['id']} is already resolved")
    t = Transfer(
        f"recon-adj-{proposal_id}",
        p["debit_account_id"],
        p["credit_account_id"],
        p["amount"],
        TransferCode.RECON_ADJUSTMENT,
        reference=f"break:{b['id']}",
    )
    result = create_transfers(conn, [t], clock=clock)[0]
    if not result.ok:
        raise Conflict(
            f"ledger_{result.result.value}", f"the adjustment cannot be booked: {result.message}"
        )
    booked = get_transfer(conn, t.id)
    assert booked is not None
    now = now_us(clock)
    conn.execute(
        update(break_proposals)
        .where(break_proposals.c.id == proposal_id)
        .values(status="approved", decided_by=approved_by, decided_us=now, ledger_transfer_id=t.id)
    )
    conn.execute(
        update(breaks)
        .where(breaks.c.id == b["id"])
        .values(
            status=RESOLVED,
            resolution="adjustment",
            resolved_on=booked["business_date"],
            resolved_by_transfer=t.id,
            resolved_us=now,
        )
    )
    return get_proposal(conn, proposal_id)


def reject(conn: Connection, *, proposal_id: int, rejected_by: str, clock: Clock) -> Proposal:
    """Turn a proposal down; the break stays open for a better one."""
    _decidable(conn, proposal_id, rejected_by)
    conn.execute(
        update(break_proposals)
        .where(break_proposals.c.id == proposal_id)
        .values(status="rejected", decided_by=rejected_by, decided_us=now_us(clock))
    )
    return get_proposal(conn, proposal_id)


def get_proposal(conn: Connection, proposal_id: int) -> Proposal:
    row = first_or_raise(conn, _proposal_query(proposal_id), _no_proposal(proposal_id))
    return Proposal(**{k: row[k] for k in Proposal.__dataclass_fields__})


def list_proposals(conn: Connection, *, break_ids: list[int]) -> list[Proposal]:
    """Every proposal made for the given breaks, oldest first (the back office shows them
    beside their break)."""
    if not break_ids:
        return []
    q = (
        select(break_proposals)
        .where(break_proposals.c.break_id.in_(break_ids))
        .order_by(break_proposals.c.id)
    )
    return [
        Proposal(**{k: r[k] for k in Proposal.__dataclass_fields__})
        for r in conn.execute(q).mappings()
    ]


def _decidable(conn: Connection, proposal_id: int, checker: str) -> Any:
    query = for_update(conn, _proposal_query(proposal_id))
    row = first_or_raise(conn, query, _no_proposal(proposal_id))
    if row["status"] != "proposed":
        raise Conflict("proposal_decided", f"proposal {proposal_id} is already {row['status']}")
    if not checker or checker == row["proposed_by"]:
        raise Forbidden(
            "maker_checker",
            "the checker must be another person than the maker",
            field="decided_by",
        )
    return row


def _proposal_query(proposal_id: int) -> Select[Any]:
    return select(break_proposals).where(break_proposals.c.id == proposal_id)


def _no_proposal(proposal_id: int) -> NotFound:
    return NotFound("proposal_not_found", f"no proposal {proposal_id}", field="proposal_id")


def _break(conn: Connection, break_id: int, *, lock: bool = False) -> Any:
    q = select(breaks).where(breaks.c.id == break_id)
    missing = NotFound("break_not_found", f"no break {break_id}", field="break_id")
    return first_or_raise(conn, for_update(conn, q) if lock else q, missing)


def _view(row: Any, as_of: date) -> BreakView:
    stored = {k: row[k] for k in BreakView.__dataclass_fields__ if k not in ("kind", "age_days")}
    age = max((as_of - row["business_date"]).days, 0)
    return BreakView(**stored, kind=BreakKind(row["kind"]), age_days=age)
