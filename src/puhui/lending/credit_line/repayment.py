"""Paying a credit line (还款): one-off from the customer's card, or by the batch's auto-debit.

A payment is split by ``rules.allocate`` (fees and penalty → interest → billed principal →
principal not yet billed), reduces the current statement's amount and minimum, and cures an
overdue line whose minimum is paid: dpd back to 0 and a suspended line active again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.lending import calendar, debit_channel
from puhui.lending.credit_line import books, rules, service
from puhui.lending.credit_line.models import lines
from puhui.lending.debit_channel import DebitChannel


@dataclass(frozen=True)
class Payment:
    entry_id: int
    amount_fen: int
    split: rules.Split
    line: service.Line


def statement_after(row: Any, *, paid: int, billed_left: int) -> dict[str, Any]:
    """The line's statement columns after ``paid`` fen went to the current statement."""
    stmt = max(0, row.stmt_remaining_fen - paid)
    minimum = min(max(0, row.min_remaining_fen - paid), stmt)
    out: dict[str, Any] = {
        "stmt_remaining_fen": stmt,
        "min_remaining_fen": minimum,
        "revolving": row.revolving if billed_left else 0,
    }
    if minimum == 0 and row.overdue_since is not None:  # cured
        out.update(overdue_since=None, dpd=0, bucket="M0")
        if row.state == "suspended":
            out["state"] = "active"
    return out


def pay(
    conn: Connection,
    *,
    line_id: int,
    amount_fen: int,
    actor: Actor,
    clock: Clock,
    reference: str | None = None,
    customer_id: int | None = None,
    channel: DebitChannel | None = None,
) -> Payment:
    """Apply a payment; with ``channel`` the customer's card is charged for it in the same
    transaction (a declined card undoes everything)."""
    amount = service._amount(amount_fen)
    row = service.lock_outside_batch(conn, line_id, customer_id=customer_id)
    found = books.earlier(conn, line_id=line_id, kind="payment", reference=reference)
    if found is not None:
        if found.amount_fen != amount:
            raise Conflict(
                "reference_reused", "this reference paid another amount", field="reference"
            )
        return Payment(
            found.id,
            found.amount_fen,
            rules.Split(found.to_fees_fen, 0, found.to_interest_fen, found.to_principal_fen, 0),
            service.reread(conn, line_id, clock),
        )
    split = rules.allocate(
        amount,
        fees=row.fees_fen,
        penalty=row.penalty_fen,
        interest=row.interest_fen,
        billed=row.billed_fen,
        unbilled=row.unbilled_fen,
    )
    today = calendar.current(conn, clock=clock)
    entry_id = books.entry(
        conn,
        line_id=line_id,
        kind="payment",
        amount=amount,
        business_date=today,
        actor=actor,
        clock=clock,
        reference=reference,
        to_fees_fen=split.fees_fen + split.penalty_fen,
        to_interest_fen=split.interest_fen,
        to_principal_fen=split.principal_fen,
    )
    billed_left = row.billed_fen - split.billed_fen
    conn.execute(
        update(lines)
        .where(lines.c.id == line_id)
        .values(
            fees_fen=row.fees_fen - split.fees_fen,
            penalty_fen=row.penalty_fen - split.penalty_fen,
            interest_fen=row.interest_fen - split.interest_fen,
            billed_fen=billed_left,
            unbilled_fen=row.unbilled_fen - split.unbilled_fen,
            **statement_after(row, paid=amount, billed_left=billed_left),
            version=lines.c.version + 1,
            updated_us=service.us(clock),
        )
    )
    books.post(
        conn,
        transfer_id=f"cl:{line_id}:{entry_id}",
        legs=books.payment_legs(
            fees=split.fees_fen,
            penalty=split.penalty_fen,
            interest=split.interest_fen,
            principal=split.principal_fen,
        ),
        clock=clock,
    )
    if channel is not None:
        charge(
            conn, channel, line_id=line_id, customer_id=row.customer_id, amount=amount, clock=clock
        )
    audit.record(
        conn,
        actor=actor,
        event="credit_line.pay",
        object_type="credit_line",
        object_id=line_id,
        detail={"entry_id": entry_id, "amount_fen": amount},
        clock=clock,
    )
    return Payment(entry_id, amount, split, service.reread(conn, line_id, clock))


def charge(
    conn: Connection,
    channel: DebitChannel,
    *,
    line_id: int,
    customer_id: int,
    amount: int,
    clock: Clock,
) -> None:
    """Take ``amount`` from the customer's card, or refuse (the channel works in the caller's
    transaction, so nothing moves)."""
    debit_channel.charge_one(
        conn, channel, key_id=line_id, customer_id=customer_id, amount=amount, clock=clock
    )
