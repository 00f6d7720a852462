"""Investments as operations counts them (出借记录): who invested how much, for how long,
through which advisor, team and channel.

The marketplace owns bids and holdings; it tells operations of each new investment with
``record_investment`` in the bid's own transaction. The row keeps the advisor, team and channel
of that moment, so performance is credited to whoever served the customer when they invested,
even after the customer moves to another advisor. Recording the same reference again is a
no-op. The customer's lead moves to ``first_investment`` or ``repeat`` at once, and a first
investment of a referred customer earns the referrer's invite reward.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.core.money import check_fen
from puhui.identity.models import customers
from puhui.identity.times import now_us
from puhui.lending.dates import add_months
from puhui.ops import campaigns, leads
from puhui.ops.models import investments
from puhui.ops.models import leads as lead_table


@dataclass(frozen=True)
class Investment:
    id: int
    investment_ref: str
    customer_id: int
    advisor_id: int | None
    team_id: int | None
    channel_id: int | None
    product_code: str
    amount_fen: int
    term_months: int
    invested_on: date
    matures_on: date


def record_investment(
    conn: Connection,
    *,
    investment_ref: str,
    customer_id: int,
    amount_fen: int,
    term_months: int,
    product_code: str,
    invested_on: date,
    clock: Clock,
) -> tuple[Investment, bool]:
    """Record an investment (idempotent per reference); returns it and whether it is new."""
    check_fen(amount_fen, field="amount_fen", allow_zero=False)
    if (
        isinstance(term_months, bool)
        or not isinstance(term_months, int)
        or not 1 <= term_months <= 600
    ):
        raise ValidationError("term_invalid", "term is 1 to 600 months", field="term_months")
    if not investment_ref or len(investment_ref) > 64:
        raise ValidationError(
            "investment_ref_invalid", "investment_ref is 1-64 characters", field="investment_ref"
        )
    existing = _find(conn, investment_ref)
    if existing is not None:
        return existing, False
    owner = conn.execute(
        select(customers.c.advisor_id, customers.c.team_id).where(customers.c.id == customer_id)
    ).first()
    if owner is None:
        raise NotFound("customer_not_found", "no such customer", field="customer_id")
    channel = conn.execute(
        select(lead_table.c.channel_id).where(lead_table.c.customer_id == customer_id)
    ).scalar()
    first = (
        conn.execute(select(func.count()).where(investments.c.customer_id == customer_id)).scalar()
        == 0
    )
    try:
        with conn.begin_nested():
            conn.execute(
                investments.insert().values(
                    investment_ref=investment_ref,
                    customer_id=customer_id,
                    advisor_id=owner.advisor_id,
                    team_id=owner.team_id,
                    channel_id=channel,
                    product_code=product_code,
                    amount_fen=amount_fen,
                    term_months=term_months,
                    invested_on=invested_on,
                    matures_on=add_months(invested_on, term_months),
                    created_us=now_us(clock),
                )
            )
    except IntegrityError:  # a concurrent twin recorded it
        found = _find(conn, investment_ref)
        assert found is not None
        return found, False
    leads.sync(conn, clock=clock, customer_id=customer_id)
    if first:
        campaigns.reward_referrer(conn, invitee_id=customer_id, clock=clock)
    found = _find(conn, investment_ref)
    assert found is not None
    return found, True


def _find(conn: Connection, ref: str) -> Investment | None:
    row = conn.execute(select(investments).where(investments.c.investment_ref == ref)).first()
    if row is None:
        return None
    return Investment(**{k: getattr(row, k) for k in Investment.__dataclass_fields__})
