"""The application and loan state machines: which moves are allowed, as data, and the one
place a state changes.

An application (借款申请) runs ``draft → submitted → under_review → approved | rejected |
manual_review``; ``manual_review → approved | rejected`` (maker-checker); ``approved →
offered → accepted | declined | expired``; ``accepted → disbursed``. It may be cancelled from
draft, submitted, approved or offered, and from accepted or disbursed within the cooling-off
window (RATE-COOL-01; the window itself is checked by the caller, who knows the loan). A loan
runs ``accepted → disbursed → active → settled | written_off``, and is ``cancelled`` in the
cooling-off window.

``transition_application`` and ``transition_loan`` lock the row, refuse an illegal move with a
Conflict naming both states, update the row, and record the move: an application event (actor,
time, reason) and an audit entry. Set-based moves (the end-of-day batch, ``expire_stale``) use
``sources`` to select only rows that may legally move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from puhui import events
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.times import now_us
from puhui.lending.models import application_events, applications, loans


class AppState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    MANUAL_REVIEW = "manual_review"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    DISBURSED = "disbursed"
    CANCELLED = "cancelled"


class LoanState(StrEnum):
    ACCEPTED = "accepted"
    DISBURSED = "disbursed"
    ACTIVE = "active"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"


def _machine(pairs: Mapping[StrEnum, tuple[StrEnum, ...]]) -> Mapping[str, frozenset[str]]:
    return {str(k): frozenset(str(v) for v in vs) for k, vs in pairs.items()}


A, L = AppState, LoanState

#: Every allowed move of an application; a state missing here is final.
APPLICATION_TRANSITIONS: Mapping[str, frozenset[str]] = _machine(
    {
        A.DRAFT: (A.SUBMITTED, A.CANCELLED),
        A.SUBMITTED: (A.UNDER_REVIEW, A.CANCELLED),
        A.UNDER_REVIEW: (A.APPROVED, A.REJECTED, A.MANUAL_REVIEW),
        A.MANUAL_REVIEW: (A.APPROVED, A.REJECTED),
        A.APPROVED: (A.OFFERED, A.CANCELLED),
        A.OFFERED: (A.ACCEPTED, A.DECLINED, A.EXPIRED, A.CANCELLED),
        A.ACCEPTED: (A.DISBURSED, A.CANCELLED),
        A.DISBURSED: (A.CANCELLED,),
    }
)

#: Every allowed move of a loan.
LOAN_TRANSITIONS: Mapping[str, frozenset[str]] = _machine(
    {
        L.ACCEPTED: (L.DISBURSED, L.CANCELLED),
        L.DISBURSED: (L.ACTIVE, L.SETTLED, L.CANCELLED),
        L.ACTIVE: (L.SETTLED, L.WRITTEN_OFF, L.CANCELLED),
    }
)


def sources(machine: Mapping[str, frozenset[str]], to: str) -> tuple[str, ...]:
    """The states from which ``to`` may be reached, sorted (for a set-based ``IN``)."""
    return tuple(sorted(s for s, targets in machine.items() if to in targets))


def check_transition(machine: Mapping[str, frozenset[str]], kind: str, frm: str, to: str) -> None:
    """Refuse a move the machine does not allow, naming both states."""
    if to not in machine.get(frm, frozenset()):
        allowed = ", ".join(sorted(machine.get(frm, ()))) or "nothing (it is final)"
        raise Conflict(
            "illegal_transition",
            f"a {kind} cannot move from {frm} to {to}; from {frm} it may move to {allowed}",
            field="state",
        )


@dataclass(frozen=True)
class Transition:
    """One recorded move."""

    object_id: int
    from_state: str
    to_state: str
    at_us: int


def _move(
    conn: Connection,
    *,
    table: Table,
    kind: str,
    machine: Mapping[str, frozenset[str]],
    object_id: int,
    to: str,
    actor: Actor,
    reason: str,
    clock: Clock,
    values: Mapping[str, Any] | None,
) -> Transition:
    """Lock the row, check the move, update the row and write the audit entry."""
    row = conn.execute(
        select(table.c.state).where(table.c.id == object_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"{kind}_not_found", f"no {kind} {object_id}", field=f"{kind}_id")
    to = str(to)
    check_transition(machine, kind, row.state, to)
    at = now_us(clock)
    extra = dict(values or {})
    if table is loans:
        extra["version"] = table.c.version + 1
    done = conn.execute(
        update(table)
        .where(table.c.id == object_id, table.c.state == row.state)
        .values(state=to, updated_us=at, **extra)
    )
    if done.rowcount != 1:  # pragma: no cover - the row lock makes this unreachable
        raise Conflict("state_changed", f"the {kind} changed state meanwhile; try again")
    audit.record(
        conn,
        actor=actor,
        event=f"{kind}.{to}",
        object_type="loan_application" if kind == "application" else kind,
        object_id=object_id,
        before={"state": row.state},
        after={"state": to},
        detail={"reason": reason},
        clock=clock,
    )
    return Transition(object_id, row.state, to, at)


def transition_application(
    conn: Connection,
    *,
    application_id: int,
    to: str,
    actor: Actor,
    reason: str,
    clock: Clock,
    values: Mapping[str, Any] | None = None,
) -> Transition:
    """Move an application to ``to`` (with any other column ``values``), record the event
    and the audit entry; an illegal move is a Conflict ``illegal_transition``."""
    moved = _move(
        conn,
        table=applications,
        kind="application",
        machine=APPLICATION_TRANSITIONS,
        object_id=application_id,
        to=to,
        actor=actor,
        reason=reason,
        clock=clock,
        values=values,
    )
    record_application_event(
        conn,
        application_id=application_id,
        frm=moved.from_state,
        to=moved.to_state,
        actor=actor,
        reason=reason,
        at_us=moved.at_us,
    )
    if moved.to_state in DECIDED:
        events.emit(
            conn,
            topic="application.decided",
            key=events.application_key(application_id),
            payload={
                "application_id": application_id,
                "state": moved.to_state,
                "from_state": moved.from_state,
                "reason": reason,
            },
            clock=clock,
        )
    return moved


#: Application states that answer the applicant (the ``application.decided`` event).
DECIDED = frozenset({"approved", "rejected", "manual_review"})


def record_application_event(
    conn: Connection,
    *,
    application_id: int,
    frm: str | None,
    to: str,
    actor: Actor,
    reason: str,
    at_us: int,
) -> None:
    """The application's history row (``from_state`` is None when it is created)."""
    conn.execute(
        insert(application_events).values(
            application_id=application_id,
            from_state=frm,
            to_state=to,
            actor=actor.principal,
            reason=reason,
            at_us=at_us,
        )
    )


def transition_loan(
    conn: Connection,
    *,
    loan_id: int,
    to: str,
    actor: Actor,
    reason: str,
    clock: Clock,
    values: Mapping[str, Any] | None = None,
) -> Transition:
    """Move a loan to ``to`` (bumping its ``version``), with the audit entry; an illegal
    move is a Conflict ``illegal_transition``."""
    return _move(
        conn,
        table=loans,
        kind="loan",
        machine=LOAN_TRANSITIONS,
        object_id=loan_id,
        to=to,
        actor=actor,
        reason=reason,
        clock=clock,
        values=values,
    )
