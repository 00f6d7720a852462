"""The credit line's life (授信): grant, adjust, temporary raise, freeze, unfreeze, close.

Every operation locks the line row first (``FOR UPDATE``; SQLite's writer lock of BEGIN
IMMEDIATE), so a purchase, a payment and a staff change on one line run one after another and
the available limit is always ``limit − principal owed``. Functions never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.credit.policy import CreditPolicy
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.models import customers
from puhui.lending import calendar, eod
from puhui.lending.credit_line import rules
from puhui.lending.credit_line.models import lines
from puhui.lending.eligibility import outstanding_principal_fen
from puhui.lending.models import calendar as calendar_table

STATES = ("active", "frozen", "suspended", "closed")


@dataclass(frozen=True)
class Line:
    """A credit line as the customer and staff see it."""

    id: int
    customer_id: int
    state: str
    limit_fen: int
    temp_limit_fen: int
    temp_limit_until: date | None
    effective_limit_fen: int
    outstanding_fen: int
    available_fen: int
    unbilled_fen: int
    billed_fen: int
    instalment_fen: int
    fees_fen: int
    interest_fen: int
    penalty_fen: int
    stmt_remaining_fen: int
    min_remaining_fen: int
    due_date: date | None
    next_statement_date: date
    statement_day: int
    due_day: int
    annual_rate: str
    dpd: int
    bucket: str


def outstanding(row: Any) -> int:
    """Principal owed: what the limit is spent on."""
    return int(row.unbilled_fen + row.billed_fen + row.instalment_fen)


def view(row: Any, today: date) -> Line:
    eff = rules.effective_limit(row.limit_fen, row.temp_limit_fen, row.temp_limit_until, today)
    owed = outstanding(row)
    return Line(
        id=row.id,
        customer_id=row.customer_id,
        state=row.state,
        limit_fen=row.limit_fen,
        temp_limit_fen=row.temp_limit_fen,
        temp_limit_until=row.temp_limit_until,
        effective_limit_fen=eff,
        outstanding_fen=owed,
        available_fen=max(0, eff - owed) if row.state == "active" else 0,
        unbilled_fen=row.unbilled_fen,
        billed_fen=row.billed_fen,
        instalment_fen=row.instalment_fen,
        fees_fen=row.fees_fen,
        interest_fen=row.interest_fen,
        penalty_fen=row.penalty_fen,
        stmt_remaining_fen=row.stmt_remaining_fen,
        min_remaining_fen=row.min_remaining_fen,
        due_date=row.due_date,
        next_statement_date=row.next_statement_date,
        statement_day=row.statement_day,
        due_day=row.due_day,
        annual_rate=row.annual_rate,
        dpd=row.dpd,
        bucket=row.bucket,
    )


def us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def lock(conn: Connection, line_id: int, *, customer_id: int | None = None) -> Any:
    """The line row, locked for the rest of the transaction; another customer's line is not
    found."""
    q = select(lines).where(lines.c.id == line_id)
    if customer_id is not None:
        q = q.where(lines.c.customer_id == customer_id)
    row = conn.execute(q.with_for_update()).first()
    if row is None:
        raise NotFound("credit_line_not_found", f"no credit line {line_id}", field="line_id")
    return row


def lock_outside_batch(conn: Connection, line_id: int, *, customer_id: int | None = None) -> Any:
    """``lock``, refused while the end-of-day batch is closing the business date for the
    line's partition (the batch window, ``eod.closing``, as loan servicing refuses): the batch
    commits between its steps, and money moved in between would be half in the day's
    statement, interest and aging and half out of it."""
    row = lock(conn, line_id, customer_id=customer_id)
    today = conn.execute(select(calendar_table.c.business_date)).scalar()
    if today is not None and eod.closing(conn, loan_id=line_id, business_date=today):
        raise Conflict(
            "end_of_day_in_progress",
            f"the end-of-day batch is closing {today.isoformat()} for this credit line; "
            "retry when it has finished",
            field="line_id",
        )
    return row


def line_of(conn: Connection, *, customer_id: int) -> int:
    """The customer's line id."""
    found = conn.execute(select(lines.c.id).where(lines.c.customer_id == customer_id)).scalar()
    if found is None:
        raise NotFound(
            "credit_line_not_found", "this customer has no credit line", field="customer_id"
        )
    return int(found)


def get(conn: Connection, *, line_id: int, clock: Clock, customer_id: int | None = None) -> Line:
    q = select(lines).where(lines.c.id == line_id)
    if customer_id is not None:
        q = q.where(lines.c.customer_id == customer_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound("credit_line_not_found", f"no credit line {line_id}", field="line_id")
    return view(row, calendar.current(conn, clock=clock))


def list_lines(
    conn: Connection, *, clock: Clock, state: str | None = None, limit: int = 200
) -> list[Line]:
    """The lines, newest first, optionally in one state (the back office's list)."""
    q = select(lines).order_by(lines.c.id.desc()).limit(limit)
    if state:
        q = q.where(lines.c.state == state)
    today = calendar.current(conn, clock=clock)
    return [view(r, today) for r in conn.execute(q)]


def reread(conn: Connection, line_id: int, clock: Clock) -> Line:
    return get(conn, line_id=line_id, clock=clock)


def _amount(value: object, field: str = "amount_fen", *, zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if zero else 1):
        raise ValidationError(
            "amount_invalid", f"{field} is a positive whole number of fen", field=field
        )
    return value


def grant(
    conn: Connection,
    *,
    customer_id: int,
    grade: str,
    annual_income_fen: int,
    actor: Actor,
    clock: Clock,
    terms: rules.LineTerms = rules.DEFAULT_TERMS,
    policy: CreditPolicy | None = None,
    limit_fen: int | None = None,
    decision_id: int | None = None,
) -> Line:
    """授信: open the customer's line with a limit from the credit grade and income within the
    caps (``limit_fen`` may ask for less, never more). One line per customer.

    The grade and income come from a credit decision: a line is granted through
    ``underwriting.grant_by_decision`` (staff) or ``underwriting.apply`` (the customer), which
    decide and then call this with the decision's grade and id."""
    policy = policy or CreditPolicy()
    person = conn.execute(
        select(customers.c.kind, customers.c.status).where(customers.c.id == customer_id)
    ).first()
    if person is None:
        raise NotFound("customer_not_found", f"no customer {customer_id}", field="customer_id")
    if person.kind != "person" or person.status != "active":
        raise Conflict(
            "customer_not_eligible",
            "a line is for an active natural person",
            field="customer_id",
        )
    if grade not in policy.approve_grades:
        raise Conflict("grade_not_approved", f"grade {grade} is not granted a line", field="grade")
    today = calendar.current(conn, clock=clock)
    rules.check_days(terms.statement_day, terms.due_day)
    penalty = rules.penalty_rate(terms, contract_date=today)
    allowed = rules.grant_limit(
        grade=grade,
        annual_income_fen=annual_income_fen,
        owed_elsewhere_fen=outstanding_principal_fen(conn, customer_id=customer_id),
        policy=policy,
    )
    limit = allowed.limit_fen if limit_fen is None else _amount(limit_fen, "limit_fen")
    if limit > allowed.limit_fen:
        raise ValidationError(
            "limit_above_allowed",
            f"{limit} fen is above the {allowed.limit_fen} fen allowed "
            f"({', '.join(allowed.basis)})",
            field="limit_fen",
        )
    if limit <= 0:
        raise Conflict("no_limit", "the caps leave no room for a line", field="limit_fen")
    if conn.execute(select(lines.c.id).where(lines.c.customer_id == customer_id)).first():
        raise Conflict(
            "credit_line_exists", "the customer already has a credit line", field="customer_id"
        )
    now = us(clock)
    line_id = conn.execute(
        insert(lines).values(
            customer_id=customer_id,
            state="active",
            limit_fen=limit,
            annual_rate=str(terms.annual_rate),
            rate_ppb=rules.ppb_of(terms.annual_rate),
            penalty_rate_ppb=rules.ppb_of(penalty),
            min_payment_ppb=rules.ppb_of(terms.min_payment_rate),
            instalment_fee_ppb=rules.ppb_of(terms.instalment_fee_rate),
            statement_day=terms.statement_day,
            due_day=terms.due_day,
            suspend_dpd=terms.suspend_dpd,
            close_dpd=terms.close_dpd,
            cash_draw_allowed=int(terms.cash_draw_allowed),
            next_statement_date=rules.next_on_day(today, terms.statement_day),
            opened_date=today,
            created_us=now,
            updated_us=now,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="credit_line.grant",
        object_type="credit_line",
        object_id=line_id,
        after={"limit_fen": limit, "state": "active"},
        detail={"grade": grade, "basis": list(allowed.basis), "decision_id": decision_id},
        clock=clock,
    )
    return reread(conn, int(line_id), clock)


def _change(
    conn: Connection, row: Any, *, actor: Actor, clock: Clock, event: str, **values: Any
) -> Line:
    conn.execute(
        update(lines)
        .where(lines.c.id == row.id)
        .values(**values, version=lines.c.version + 1, updated_us=us(clock))
    )
    audit.record(
        conn,
        actor=actor,
        event=event,
        object_type="credit_line",
        object_id=row.id,
        before={k: _plain(getattr(row, k)) for k in values},
        after={k: _plain(v) for k, v in values.items()},
        clock=clock,
    )
    return reread(conn, row.id, clock)


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def adjust(conn: Connection, *, line_id: int, limit_fen: int, actor: Actor, clock: Clock) -> Line:
    """调额: a new permanent limit, never below what is owed nor above the caps at grant."""
    limit = _amount(limit_fen, "limit_fen")
    row = lock(conn, line_id)
    _open(row)
    if limit < outstanding(row):
        raise Conflict(
            "limit_below_outstanding",
            f"{limit} fen is below the {outstanding(row)} fen owed",
            field="limit_fen",
        )
    if limit > rules.CONSUMER_CREDIT_CAP_FEN:
        raise ValidationError(
            "limit_above_cap", "a consumer line is at most 200,000 yuan", field="limit_fen"
        )
    return _change(conn, row, actor=actor, clock=clock, event="credit_line.adjust", limit_fen=limit)


def raise_temporarily(
    conn: Connection, *, line_id: int, extra_fen: int, until: date, actor: Actor, clock: Clock
) -> Line:
    """临时额度: ``extra_fen`` on top of the limit through ``until`` (within the cap)."""
    extra = _amount(extra_fen, "extra_fen")
    row = lock(conn, line_id)
    _open(row)
    today = calendar.current(conn, clock=clock)
    if until < today:
        raise ValidationError("until_in_past", "the raise ends today or later", field="until")
    if row.limit_fen + extra > rules.CONSUMER_CREDIT_CAP_FEN:
        raise ValidationError(
            "limit_above_cap", "limit and raise are at most 200,000 yuan", field="extra_fen"
        )
    return _change(
        conn,
        row,
        actor=actor,
        clock=clock,
        event="credit_line.raise",
        temp_limit_fen=extra,
        temp_limit_until=until,
    )


def _open(row: Any) -> None:
    if row.state == "closed":
        raise Conflict("credit_line_closed", f"credit line {row.id} is closed", field="state")


def freeze(conn: Connection, *, line_id: int, actor: Actor, clock: Clock) -> Line:
    """冻结: no new draws; repayments and billing go on."""
    row = lock(conn, line_id)
    if row.state != "active":
        raise Conflict("credit_line_state", f"credit line {line_id} is {row.state}", field="state")
    return _change(conn, row, actor=actor, clock=clock, event="credit_line.freeze", state="frozen")


def unfreeze(conn: Connection, *, line_id: int, actor: Actor, clock: Clock) -> Line:
    """解冻: a frozen (or suspended, once cured) line is active again."""
    row = lock(conn, line_id)
    if row.state not in ("frozen", "suspended") or row.overdue_since is not None:
        raise Conflict(
            "credit_line_state",
            f"credit line {line_id} is {row.state}"
            + (" and overdue" if row.overdue_since is not None else ""),
            field="state",
        )
    return _change(
        conn, row, actor=actor, clock=clock, event="credit_line.unfreeze", state="active"
    )


def close(conn: Connection, *, line_id: int, actor: Actor, clock: Clock) -> Line:
    """销户: only a line that owes nothing closes by request."""
    row = lock(conn, line_id)
    _open(row)
    owed = outstanding(row) + row.fees_fen + row.interest_fen + row.penalty_fen
    if owed:
        raise Conflict(
            "credit_line_owes", f"credit line {line_id} still owes {owed} fen", field="state"
        )
    return _change(
        conn,
        row,
        actor=actor,
        clock=clock,
        event="credit_line.close",
        state="closed",
        closed_date=calendar.current(conn, clock=clock),
    )
