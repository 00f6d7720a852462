"""Instalments (分期): a purchase or a whole statement turned into 3, 6, 9 or 12 monthly
periods at a fee per period, its IRR annual rate shown before the customer confirms and checked
against the cap (RATE-APR-01/03, RATE-CAP-02).

The principal stays owed on the line (``instalment_fen``) and each statement bills one period's
principal and fee, so the limit comes back as the periods are repaid. Settling a plan early pays
its principal not yet billed and no further fees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.lending import calendar
from puhui.lending.credit_line import books, repayment, rules, service
from puhui.lending.credit_line.models import entries, lines, plans, statements
from puhui.lending.debit_channel import DebitChannel


@dataclass(frozen=True)
class Plan:
    id: int
    line_id: int
    source: str
    source_id: int
    principal_fen: int
    periods: int
    fee_per_period_fen: int
    annual_rate_irr: str
    irr_label: str
    state: str
    periods_billed: int
    principal_billed_fen: int
    created_date: date


def _plan(row: Any) -> Plan:
    return Plan(
        row.id,
        row.line_id,
        row.source,
        row.source_id,
        row.principal_fen,
        row.periods,
        row.fee_per_period_fen,
        row.annual_rate_irr,
        rules.apr.LABEL,
        row.state,
        row.periods_billed,
        row.principal_billed_fen,
        row.created_date,
    )


def list_plans(conn: Connection, *, line_id: int) -> list[Plan]:
    rows = conn.execute(select(plans).where(plans.c.line_id == line_id).order_by(plans.c.id))
    return [_plan(r) for r in rows]


def _fee_rate(row: Any) -> Decimal:
    return Decimal(row.instalment_fee_ppb) / rules.PPB


def _purchase(conn: Connection, row: Any, purchase_id: int) -> Any:
    bought = conn.execute(
        select(entries).where(
            entries.c.id == purchase_id,
            entries.c.line_id == row.id,
            entries.c.kind.in_(("purchase", "cash_draw")),
        )
    ).first()
    if bought is None:
        raise NotFound("purchase_not_found", f"no purchase {purchase_id}", field="purchase_id")
    if bought.plan_id is not None or bought.statement_id is not None or bought.refunded_fen:
        raise Conflict(
            "purchase_not_convertible",
            "only a purchase of the current cycle, not refunded nor converted, goes into "
            "instalments",
            field="purchase_id",
        )
    if bought.amount_fen > row.unbilled_fen:
        raise Conflict(
            "purchase_not_convertible",
            "this purchase is already partly repaid",
            field="purchase_id",
        )
    return bought


def quote_purchase(
    conn: Connection,
    *,
    line_id: int,
    purchase_id: int,
    periods: int,
    clock: Clock,
    customer_id: int | None = None,
) -> rules.InstalmentQuote:
    """What converting the purchase would cost, before the customer confirms."""
    row = service.lock(conn, line_id, customer_id=customer_id)
    bought = _purchase(conn, row, purchase_id)
    return rules.quote_instalments(
        principal_fen=bought.amount_fen,
        periods=periods,
        fee_rate=_fee_rate(row),
        terms=rules.DEFAULT_TERMS,
        contract_date=calendar.current(conn, clock=clock),
    )


def _statement_amount(conn: Connection, row: Any, today: date) -> tuple[int, int]:
    """(statement id, principal of it that may be converted)."""
    if row.last_statement_date is None or row.due_date is None or today > row.due_date:
        raise Conflict(
            "statement_not_convertible",
            "there is no statement open for instalments",
            field="statement",
        )
    if row.overdue_since is not None:
        raise Conflict("statement_not_convertible", "the line is overdue", field="statement")
    stmt_id = conn.execute(
        select(statements.c.id).where(
            statements.c.line_id == row.id, statements.c.statement_date == row.last_statement_date
        )
    ).scalar_one()
    charges = row.fees_fen + row.interest_fen + row.penalty_fen
    amount = min(row.billed_fen, row.stmt_remaining_fen - charges)
    if amount <= 0:
        raise Conflict(
            "statement_not_convertible", "nothing of it is left to convert", field="statement"
        )
    return int(stmt_id), amount


def quote_statement(
    conn: Connection, *, line_id: int, periods: int, clock: Clock, customer_id: int | None = None
) -> rules.InstalmentQuote:
    row = service.lock(conn, line_id, customer_id=customer_id)
    today = calendar.current(conn, clock=clock)
    _, amount = _statement_amount(conn, row, today)
    return rules.quote_instalments(
        principal_fen=amount,
        periods=periods,
        fee_rate=_fee_rate(row),
        terms=rules.DEFAULT_TERMS,
        contract_date=today,
    )


def _create(
    conn: Connection,
    *,
    row: Any,
    source: str,
    source_id: int,
    quote: rules.InstalmentQuote,
    today: date,
    actor: Actor,
    clock: Clock,
) -> Plan:
    if conn.execute(
        select(plans.c.id).where(plans.c.source == source, plans.c.source_id == source_id)
    ).first():
        raise Conflict(
            "already_in_instalments", f"this {source} is already converted", field=source
        )
    plan_id = int(
        conn.execute(
            insert(plans).values(
                line_id=row.id,
                source=source,
                source_id=source_id,
                principal_fen=quote.principal_fen,
                periods=quote.periods,
                fee_ppb=row.instalment_fee_ppb,
                fee_per_period_fen=quote.fee_per_period_fen,
                annual_rate_irr=str(quote.annual_rate_irr),
                state="active",
                created_date=today,
                created_us=service.us(clock),
            )
        ).inserted_primary_key[0]
    )
    books.entry(
        conn,
        line_id=row.id,
        kind="instalment",
        amount=quote.principal_fen,
        business_date=today,
        actor=actor,
        clock=clock,
        plan_id=plan_id,
    )
    audit.record(
        conn,
        actor=actor,
        event="credit_line.instalments",
        object_type="credit_line",
        object_id=row.id,
        detail={
            "plan_id": plan_id,
            "source": source,
            "principal_fen": quote.principal_fen,
            "periods": quote.periods,
            "annual_rate_irr": str(quote.annual_rate_irr),
        },
        clock=clock,
    )
    return _plan(conn.execute(select(plans).where(plans.c.id == plan_id)).one())


def convert_purchase(
    conn: Connection,
    *,
    line_id: int,
    purchase_id: int,
    periods: int,
    actor: Actor,
    clock: Clock,
    customer_id: int | None = None,
) -> Plan:
    """分期 of one purchase of the current cycle: it leaves the coming statement and is billed
    one period a month from then on."""
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    bought = _purchase(conn, row, purchase_id)
    today = calendar.current(conn, clock=clock)
    quote = rules.quote_instalments(
        principal_fen=bought.amount_fen,
        periods=periods,
        fee_rate=_fee_rate(row),
        terms=rules.DEFAULT_TERMS,
        contract_date=today,
    )
    plan = _create(
        conn,
        row=row,
        source="purchase",
        source_id=purchase_id,
        quote=quote,
        today=today,
        actor=actor,
        clock=clock,
    )
    conn.execute(update(entries).where(entries.c.id == purchase_id).values(plan_id=plan.id))
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            unbilled_fen=row.unbilled_fen - quote.principal_fen,
            instalment_fen=row.instalment_fen + quote.principal_fen,
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    return plan


def convert_statement(
    conn: Connection,
    *,
    line_id: int,
    periods: int,
    actor: Actor,
    clock: Clock,
    customer_id: int | None = None,
) -> Plan:
    """账单分期: the statement's unpaid principal (by its due date) into instalments; what is
    left of the statement to pay now is its fees, interest and penalty."""
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    today = calendar.current(conn, clock=clock)
    stmt_id, amount = _statement_amount(conn, row, today)
    quote = rules.quote_instalments(
        principal_fen=amount,
        periods=periods,
        fee_rate=_fee_rate(row),
        terms=rules.DEFAULT_TERMS,
        contract_date=today,
    )
    plan = _create(
        conn,
        row=row,
        source="statement",
        source_id=stmt_id,
        quote=quote,
        today=today,
        actor=actor,
        clock=clock,
    )
    stmt = row.stmt_remaining_fen - amount
    billed = row.billed_fen - amount
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            billed_fen=billed,
            instalment_fen=row.instalment_fen + amount,
            stmt_remaining_fen=stmt,
            min_remaining_fen=min(row.min_remaining_fen, stmt),
            revolving=row.revolving if billed else 0,
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    return plan


def settle_early(
    conn: Connection,
    *,
    line_id: int,
    plan_id: int,
    actor: Actor,
    clock: Clock,
    customer_id: int | None = None,
    channel: DebitChannel | None = None,
) -> Plan:
    """提前结清: pay the plan's principal not yet billed (no further fees); the limit it held
    is available again. With ``channel`` the customer's card is charged."""
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    plan = conn.execute(
        select(plans).where(plans.c.id == plan_id, plans.c.line_id == line_id)
    ).first()
    if plan is None:
        raise NotFound("plan_not_found", f"no instalment plan {plan_id}", field="plan_id")
    if plan.state != "active":
        raise Conflict("plan_state", f"instalment plan {plan_id} is {plan.state}", field="plan_id")
    left = plan.principal_fen - plan.principal_billed_fen
    today = calendar.current(conn, clock=clock)
    entry_id = books.entry(
        conn,
        line_id=line_id,
        kind="payment",
        amount=left,
        business_date=today,
        actor=actor,
        clock=clock,
        reference=f"settle:{plan_id}",
        plan_id=plan_id,
        to_principal_fen=left,
    )
    conn.execute(
        update(plans)
        .where(plans.c.id == plan_id)
        .values(state="early_settled", principal_billed_fen=plan.principal_fen)
    )
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            instalment_fen=row.instalment_fen - left,
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    books.post(
        conn,
        transfer_id=f"cl:{line_id}:{entry_id}",
        legs=books.payment_legs(fees=0, penalty=0, interest=0, principal=left),
        clock=clock,
    )
    if channel is not None and left:
        repayment.charge(
            conn, channel, line_id=line_id, customer_id=row.customer_id, amount=left, clock=clock
        )
    audit.record(
        conn,
        actor=actor,
        event="credit_line.instalments_settled",
        object_type="credit_line",
        object_id=line_id,
        detail={"plan_id": plan_id, "principal_fen": left},
        clock=clock,
    )
    return _plan(conn.execute(select(plans).where(plans.c.id == plan_id)).one())
