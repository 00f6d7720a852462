"""Draws on a credit line: a purchase at a merchant, a cash draw (取现) where the product
allows it, and a merchant's refund.

The line row is locked before the available limit is read, so two purchases racing for the
last yuan of a limit run one after the other and the second is refused: the limit is never
overspent. A reference makes each draw idempotent (the same reference and amount answer the
first draw; a different amount is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from puhui.compliance import aml
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.lending import calendar
from puhui.lending.credit_line import books, repayment, service
from puhui.lending.credit_line.models import entries, lines


@dataclass(frozen=True)
class Draw:
    entry_id: int
    kind: str
    amount_fen: int
    #: A refund: the part that reduced what is owed; the rest goes back to the customer.
    applied_fen: int
    line: service.Line


def _reference(reference: str | None) -> str | None:
    if reference is not None and not 1 <= len(reference) <= 64:
        raise ValidationError(
            "reference_invalid", "a reference is 1–64 characters", field="reference"
        )
    return reference


def _repeat(conn: Connection, found: Any, amount: int, clock: Clock) -> Draw:
    if found.amount_fen != amount:
        raise Conflict(
            "reference_reused",
            f"reference {found.reference!r} was used for {found.amount_fen} fen",
            field="reference",
        )
    return Draw(
        found.id,
        found.kind,
        found.amount_fen,
        found.to_principal_fen,
        service.reread(conn, found.line_id, clock),
    )


def purchase(
    conn: Connection,
    *,
    line_id: int,
    amount_fen: int,
    merchant: str,
    actor: Actor,
    clock: Clock,
    reference: str | None = None,
    customer_id: int | None = None,
    cash: bool = False,
) -> Draw:
    """消费 (or 取现 with ``cash``): pay the merchant from the company's cash and owe it on
    the line, within the available limit."""
    amount = service._amount(amount_fen)
    if not 1 <= len(merchant) <= 64:
        raise ValidationError("merchant_invalid", "a merchant is 1–64 characters", field="merchant")
    kind = "cash_draw" if cash else "purchase"
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    aml.require_not_blocked(conn, row.customer_id)  # AML-STR-02: a watch-list match spends nothing
    found = books.earlier(conn, line_id=line_id, kind=kind, reference=_reference(reference))
    if found is not None:
        return _repeat(conn, found, amount, clock)
    if row.state != "active":
        raise Conflict("credit_line_state", f"credit line {line_id} is {row.state}", field="state")
    if cash and not row.cash_draw_allowed:
        raise Conflict("cash_draw_not_allowed", "this line allows no cash draw", field="kind")
    today = calendar.current(conn, clock=clock)
    available = service.view(row, today).available_fen
    if amount > available:
        raise Conflict(
            "limit_exceeded",
            f"{amount} fen is more than the {available} fen available",
            field="amount_fen",
        )
    entry_id = books.entry(
        conn,
        line_id=line_id,
        kind=kind,
        amount=amount,
        business_date=today,
        actor=actor,
        clock=clock,
        merchant=merchant,
        reference=reference,
    )
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            unbilled_fen=lines.c.unbilled_fen + amount,
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    books.post(
        conn, transfer_id=f"cl:{line_id}:{entry_id}", legs=books.draw_legs(amount), clock=clock
    )
    audit.record(
        conn,
        actor=actor,
        event=f"credit_line.{kind}",
        object_type="credit_line",
        object_id=line_id,
        detail={"entry_id": entry_id, "amount_fen": amount, "merchant": merchant},
        clock=clock,
    )
    return Draw(entry_id, kind, amount, amount, service.reread(conn, line_id, clock))


def refund(
    conn: Connection,
    *,
    line_id: int,
    purchase_id: int,
    amount_fen: int,
    actor: Actor,
    clock: Clock,
    reference: str | None = None,
    customer_id: int | None = None,
) -> Draw:
    """退款: the merchant returns (part of) a purchase. It pays off principal not yet billed,
    then billed principal (and the current statement with it); anything beyond what is owed
    goes back to the customer. A purchase converted into instalments is settled through its
    plan instead."""
    amount = service._amount(amount_fen)
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    found = books.earlier(conn, line_id=line_id, kind="refund", reference=_reference(reference))
    if found is not None:
        return _repeat(conn, found, amount, clock)
    bought = conn.execute(
        select(entries).where(
            entries.c.id == purchase_id,
            entries.c.line_id == line_id,
            entries.c.kind.in_(("purchase", "cash_draw")),
        )
    ).first()
    if bought is None:
        raise NotFound("purchase_not_found", f"no purchase {purchase_id}", field="purchase_id")
    if bought.plan_id is not None:
        raise Conflict(
            "purchase_in_instalments",
            "this purchase is in an instalment plan; settle the plan early instead",
            field="purchase_id",
        )
    left = bought.amount_fen - bought.refunded_fen
    if amount > left:
        raise Conflict(
            "refund_exceeds_purchase", f"only {left} fen of it can be refunded", field="amount_fen"
        )
    today = calendar.current(conn, clock=clock)
    from_unbilled = min(amount, row.unbilled_fen)
    from_billed = min(amount - from_unbilled, row.billed_fen)
    applied = from_unbilled + from_billed
    entry_id = books.entry(
        conn,
        line_id=line_id,
        kind="refund",
        amount=amount,
        business_date=today,
        actor=actor,
        clock=clock,
        reference=reference,
        purchase_id=purchase_id,
        to_principal_fen=applied,
    )
    conn.execute(
        update(entries)
        .where(entries.c.id == purchase_id)
        .values(refunded_fen=entries.c.refunded_fen + amount)
    )
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            unbilled_fen=row.unbilled_fen - from_unbilled,
            billed_fen=row.billed_fen - from_billed,
            **repayment.statement_after(
                row, paid=from_billed, billed_left=row.billed_fen - from_billed
            ),
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    books.post(
        conn, transfer_id=f"cl:{line_id}:{entry_id}", legs=books.refund_legs(applied), clock=clock
    )
    audit.record(
        conn,
        actor=actor,
        event="credit_line.refund",
        object_type="credit_line",
        object_id=line_id,
        detail={"entry_id": entry_id, "purchase_id": purchase_id, "amount_fen": amount},
        clock=clock,
    )
    return Draw(entry_id, "refund", amount, applied, service.reread(conn, line_id, clock))
