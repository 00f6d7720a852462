"""Collections (催收): the overdue queue, assignment to collectors and the contact log.

The queue is every overdue loan, worst first (most days past due, then loan id), read in one
set-based query with what a collector needs on the line: bucket, the amount past due, who
works it and when the borrower was last contacted. A manager (``collections.manage``) assigns
loans; a collector (``loans.collect``) logs contacts on the loans assigned to them.

The contact guards follow the regulator's ban on harassment in collection (银保监办发〔2017〕141号
and the 2021 conduct rules): a contact is refused, and nothing is written, when it falls
between 22:00 and 08:00 Asia/Shanghai, when the loan already had the day's maximum of
contacts, when the person contacted is anyone but the borrower, or when the loan is not
overdue. Whether a promise to pay (承诺还款) was kept is derived from the repayments each time
it is read, so a backdated or reversed payment changes the answer without touching the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from puhui.core.clock import SHANGHAI, Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity import audit
from puhui.identity import staff as staff_service
from puhui.identity.audit import Actor
from puhui.identity.times import to_us
from puhui.lending import calendar, servicing
from puhui.lending.collection_models import assignments, contacts
from puhui.lending.engine import PAYMENTS
from puhui.lending.models import installment_unpaid_fen, installments, loan_transactions, loans
from puhui.lending.states import LoanState

CHANNELS = ("phone", "sms", "app", "visit", "letter")
#: Who was reached. Only the borrower may be contacted; the other values exist so that an
#: attempt to log a third-party contact is named and refused rather than mistyped.
PARTIES = (
    "borrower",
    "spouse",
    "relative",
    "friend",
    "colleague",
    "employer",
    "emergency_contact",
    "other",
)
RESULTS = (
    "promise_to_pay",
    "paid",
    "callback",
    "no_answer",
    "refused",
    "disputed",
    "wrong_number",
    "other",
)
BUCKETS = ("M1", "M2", "M3", "M4")
#: Loans still owed money: a written-off loan is still collected (recoveries).
COLLECTABLE_STATES = tuple(
    s.value for s in (LoanState.DISBURSED, LoanState.ACTIVE, LoanState.WRITTEN_OFF)
)
COLLECT_PERMISSION = "loans.collect"


@dataclass(frozen=True)
class ContactPolicy:
    """The contact guards' settings: at most ``max_per_day`` contacts per loan per Shanghai
    calendar day, none from ``quiet_from`` until ``quiet_until`` (a window across midnight)."""

    max_per_day: int = 3
    quiet_from: time = time(22, 0)
    quiet_until: time = time(8, 0)


DEFAULT_POLICY = ContactPolicy()


@dataclass(frozen=True)
class QueueItem:
    loan_id: int
    customer_id: int
    state: str
    dpd: int
    bucket: str
    classification: str
    principal_outstanding_fen: int
    overdue_fen: int  # unpaid amounts of installments due before the business date
    oldest_due_date: date | None
    collector_id: int | None
    assigned_us: int | None
    last_contact_us: int | None


@dataclass(frozen=True)
class Assignment:
    id: int
    loan_id: int
    collector_id: int
    assigned_by: str
    reason: str
    assigned_us: int
    ended_us: int | None
    ended_by: str | None


@dataclass(frozen=True)
class Contact:
    id: int
    loan_id: int
    collector_id: int
    contacted_us: int
    contact_date: date
    channel: str
    party: str
    result: str
    promise_date: date | None
    promise_fen: int | None
    note: str
    #: Paid towards the promise: payments valued from the contact date through the promise date.
    promise_paid_fen: int | None
    #: None without a promise; else pending, kept or broken (derived from the repayments).
    promise_status: str | None


# ------------------------------------------------------------------------------------ queue


def _overdue() -> ColumnElement[bool]:
    return and_(loans.c.state.in_(COLLECTABLE_STATES), loans.c.dpd > 0)


def queue(
    conn: Connection,
    *,
    clock: Clock,
    bucket: str | None = None,
    collector_id: int | None = None,
    unassigned: bool = False,
    after_loan_id: int | None = None,
    limit: int = 20,
) -> list[QueueItem]:
    """Overdue loans, most days past due first, then by loan id; up to ``limit`` after the
    cursor loan. ``collector_id`` keeps one collector's loans, ``unassigned`` the loans nobody
    works."""
    if bucket is not None and bucket.rstrip("+") not in BUCKETS:
        raise ValidationError(
            "bucket_invalid", f"bucket is one of {', '.join(BUCKETS)}+", field="bucket"
        )
    today = calendar.current(conn, clock=clock)
    past = (
        select(
            installments.c.loan_id,
            cast(func.sum(installment_unpaid_fen()), BigInteger).label("overdue_fen"),
            func.min(installments.c.due_date).label("oldest_due_date"),
        )
        .where(installments.c.due_date < today, installment_unpaid_fen() > 0)
        .group_by(installments.c.loan_id)
        .subquery()
    )
    current = (
        select(assignments.c.loan_id, assignments.c.collector_id, assignments.c.assigned_us)
        .where(assignments.c.ended_us.is_(None))
        .subquery()
    )
    last = (
        select(contacts.c.loan_id, func.max(contacts.c.contacted_us).label("last_contact_us"))
        .group_by(contacts.c.loan_id)
        .subquery()
    )
    stmt = (
        select(
            loans.c.id.label("loan_id"),
            loans.c.customer_id,
            loans.c.state,
            loans.c.dpd,
            loans.c.bucket,
            loans.c.classification,
            loans.c.principal_outstanding_fen,
            func.coalesce(past.c.overdue_fen, 0).label("overdue_fen"),
            past.c.oldest_due_date,
            current.c.collector_id,
            current.c.assigned_us,
            last.c.last_contact_us,
        )
        .select_from(
            loans.outerjoin(past, past.c.loan_id == loans.c.id)
            .outerjoin(current, current.c.loan_id == loans.c.id)
            .outerjoin(last, last.c.loan_id == loans.c.id)
        )
        .where(_overdue())
    )
    if bucket is not None:
        stmt = stmt.where(loans.c.bucket == bucket.rstrip("+"))
    if collector_id is not None:
        stmt = stmt.where(current.c.collector_id == collector_id)
    if unassigned:
        stmt = stmt.where(current.c.collector_id.is_(None))
    if after_loan_id is not None:
        cursor_dpd = conn.execute(
            select(loans.c.dpd).where(loans.c.id == after_loan_id)
        ).scalar_one_or_none()
        if cursor_dpd is None:
            raise ValidationError(
                "invalid_cursor",
                f"starting_after: {after_loan_id} is not a loan",
                field="starting_after",
            )
        stmt = stmt.where(
            or_(
                loans.c.dpd < cursor_dpd,
                and_(loans.c.dpd == cursor_dpd, loans.c.id > after_loan_id),
            )
        )
    rows = conn.execute(stmt.order_by(loans.c.dpd.desc(), loans.c.id).limit(limit))
    return [QueueItem(**row._asdict()) for row in rows]


# ------------------------------------------------------------------------------- assignment


def _lock_overdue_loan(conn: Connection, loan_id: int) -> Any:
    """The loan row, locked as servicing locks it (so a contact waits for a repayment in
    flight and sees it); refused unless the loan is overdue."""
    row = servicing.lock(conn, loan_id)
    if row.state not in COLLECTABLE_STATES or row.dpd <= 0:
        raise Conflict(
            "loan_not_overdue",
            f"loan {loan_id} is not overdue (state {row.state}, {row.dpd} days past due): "
            "only overdue loans are collected",
            field="loan_id",
        )
    return row


def _current(conn: Connection, loan_id: int) -> Any:
    return conn.execute(
        select(assignments).where(
            assignments.c.loan_id == loan_id, assignments.c.ended_us.is_(None)
        )
    ).first()


def assign(
    conn: Connection,
    *,
    loan_id: int,
    collector_id: int,
    actor: Actor,
    clock: Clock,
    reason: str = "",
) -> Assignment:
    """Give an overdue loan to a collector; a loan already assigned is reassigned, and the
    previous assignment is closed (the rows of a loan are its history)."""
    _lock_overdue_loan(conn, loan_id)
    if not _is_collector(conn, collector_id):
        raise ValidationError(
            "not_a_collector",
            f"staff member {collector_id} is not an active collector ({COLLECT_PERMISSION})",
            field="collector_id",
        )
    old = _current(conn, loan_id)
    if old is not None and old.collector_id == collector_id:
        raise Conflict(
            "already_assigned",
            f"loan {loan_id} is already assigned to staff member {collector_id}",
            field="collector_id",
        )
    now = to_us(clock.now())
    if old is not None:
        conn.execute(
            update(assignments)
            .where(assignments.c.id == old.id)
            .values(ended_us=now, ended_by=actor.principal)
        )
    new_id = conn.execute(
        insert(assignments)
        .values(
            loan_id=loan_id,
            collector_id=collector_id,
            assigned_by=actor.principal,
            reason=reason,
            assigned_us=now,
        )
        .returning(assignments.c.id)
    ).scalar_one()
    audit.record(
        conn,
        actor=actor,
        event="collections.assign",
        object_type="loan",
        object_id=loan_id,
        before={"collector_id": old.collector_id if old is not None else None},
        after={"collector_id": collector_id},
        detail={"collector_id": collector_id, "reason": reason},
        clock=clock,
    )
    return Assignment(new_id, loan_id, collector_id, actor.principal, reason, now, None, None)


def _is_collector(conn: Connection, staff_id: int) -> bool:
    """Whether the staff member exists, is active and holds ``loans.collect``."""
    try:
        member = staff_service.get(conn, staff_id=staff_id)
    except NotFound:
        return False
    held = staff_service.context(conn, staff_id=staff_id).permissions
    return member.status == "active" and COLLECT_PERMISSION in held


def assignment_history(conn: Connection, *, loan_id: int) -> list[Assignment]:
    """Every assignment of the loan, oldest first; the last one open is the current."""
    rows = conn.execute(
        select(assignments).where(assignments.c.loan_id == loan_id).order_by(assignments.c.id)
    )
    return [Assignment(**row._asdict()) for row in rows]


# ------------------------------------------------------------------------------ contact log


def _refuse_input(
    *,
    channel: str,
    party: str,
    result: str,
    promise_date: date | None,
    promise_fen: int | None,
    today: date,
) -> None:
    if channel not in CHANNELS:
        raise ValidationError(
            "channel_invalid", f"channel is one of {', '.join(CHANNELS)}", field="channel"
        )
    if party not in PARTIES:
        raise ValidationError(
            "party_invalid", f"party is one of {', '.join(PARTIES)}", field="party"
        )
    if party != "borrower":
        raise ValidationError(
            "third_party_contact_forbidden",
            f"only the borrower may be contacted about a debt, not a {party} "
            "(141号: no contact with third parties)",
            field="party",
        )
    if result not in RESULTS:
        raise ValidationError(
            "result_invalid", f"result is one of {', '.join(RESULTS)}", field="result"
        )
    if (promise_date is None) != (promise_fen is None):
        raise ValidationError(
            "promise_incomplete",
            "a promise to pay has both a date and an amount",
            field="promise_date" if promise_date is None else "promise_fen",
        )
    if result == "promise_to_pay" and promise_date is None:
        raise ValidationError(
            "promise_incomplete", "a promise to pay has a date and an amount", field="promise_date"
        )
    if promise_fen is not None and promise_fen <= 0:
        raise ValidationError(
            "promise_amount_invalid",
            "a promised amount is a positive number of fen",
            field="promise_fen",
        )
    if promise_date is not None and promise_date < today:
        raise ValidationError(
            "promise_date_past", "a promise to pay is dated today or later", field="promise_date"
        )


def in_quiet_hours(instant: datetime, policy: ContactPolicy = DEFAULT_POLICY) -> bool:
    """Whether ``instant`` is inside the no-contact window, in Asia/Shanghai time."""
    local = instant.astimezone(SHANGHAI).time()
    if policy.quiet_from > policy.quiet_until:  # across midnight
        return local >= policy.quiet_from or local < policy.quiet_until
    return policy.quiet_from <= local < policy.quiet_until


def log_contact(
    conn: Connection,
    *,
    loan_id: int,
    collector_id: int,
    channel: str,
    party: str,
    result: str,
    actor: Actor,
    clock: Clock,
    promise_date: date | None = None,
    promise_fen: int | None = None,
    note: str = "",
    policy: ContactPolicy = DEFAULT_POLICY,
) -> Contact:
    """Record a contact made now by the loan's collector; every guard refuses before any write."""
    now = clock.now()
    local_day = now.astimezone(SHANGHAI).date()
    _refuse_input(
        channel=channel,
        party=party,
        result=result,
        promise_date=promise_date,
        promise_fen=promise_fen,
        today=local_day,
    )
    if in_quiet_hours(now, policy):
        raise Conflict(
            "contact_quiet_hours",
            f"no collection contact between {policy.quiet_from:%H:%M} and "
            f"{policy.quiet_until:%H:%M} (Asia/Shanghai)",
        )
    _lock_overdue_loan(conn, loan_id)
    current = _current(conn, loan_id)
    if current is None or current.collector_id != collector_id:
        raise Conflict(
            "loan_not_assigned_to_you",
            f"loan {loan_id} is not assigned to you: a collector works only their own loans",
            field="loan_id",
        )
    made = conn.execute(
        select(func.count())
        .select_from(contacts)
        .where(contacts.c.loan_id == loan_id, contacts.c.contact_date == local_day)
    ).scalar_one()
    if made >= policy.max_per_day:
        raise Conflict(
            "contact_limit_reached",
            f"loan {loan_id} already had {made} contacts on {local_day.isoformat()}; "
            f"at most {policy.max_per_day} a day",
        )
    values = {
        "loan_id": loan_id,
        "collector_id": collector_id,
        "contacted_us": to_us(now),
        "contact_date": local_day,
        "channel": channel,
        "party": party,
        "result": result,
        "promise_date": promise_date,
        "promise_fen": promise_fen,
        "note": note,
    }
    contact_id = conn.execute(
        insert(contacts).values(**values).returning(contacts.c.id)
    ).scalar_one()
    audit.record(
        conn,
        actor=actor,
        event="collections.contact",
        object_type="loan",
        object_id=loan_id,
        after={k: v for k, v in values.items() if k != "note"},
        detail={"contact_id": contact_id, "channel": channel, "result": result},
        clock=clock,
    )
    return contacts_of(conn, loan_id=loan_id, clock=clock, contact_id=contact_id)[0]


def contacts_of(
    conn: Connection, *, loan_id: int, clock: Clock, contact_id: int | None = None
) -> list[Contact]:
    """The loan's contact log, newest first, each promise with what was paid towards it."""
    today = calendar.current(conn, clock=clock)
    t = loan_transactions.c
    paid = (
        select(cast(func.coalesce(func.sum(t.amount_fen), 0), BigInteger))
        .where(
            t.loan_id == contacts.c.loan_id,
            t.kind.in_(PAYMENTS),  # the borrower's money coming in; a reversed one counts nil
            t.reversed_by_id.is_(None),
            t.value_date >= contacts.c.contact_date,
            t.value_date <= contacts.c.promise_date,
        )
        .scalar_subquery()
    )
    promise_paid = case((contacts.c.promise_date.is_(None), literal(None)), else_=paid)
    stmt = select(contacts, promise_paid.label("promise_paid_fen")).where(
        contacts.c.loan_id == loan_id
    )
    if contact_id is not None:
        stmt = stmt.where(contacts.c.id == contact_id)
    rows = conn.execute(stmt.order_by(contacts.c.id.desc())).mappings()
    return [Contact(**row, promise_status=_promise_status(row, today)) for row in rows]


def _promise_status(row: Any, today: date) -> str | None:
    if row["promise_date"] is None:
        return None
    if row["promise_paid_fen"] >= row["promise_fen"]:
        return "kept"
    return "broken" if row["promise_date"] < today else "pending"
