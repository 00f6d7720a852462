"""Read models for lenders and staff: a lender's notes and returns, the risk reserve.

Queries only: the portfolio is what the notes and distributions say; received returns are
what reached the lender's sub-account (interest and penalty less the service fee).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from puhui.core.clock import Clock, business_date
from puhui.core.errors import NotFound, ValidationError
from puhui.custody.service import Role
from puhui.ledger.service import get_account
from puhui.lending import apr, calendar
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts
from puhui.marketplace.models import (
    bids,
    claim_offers,
    compensations,
    distributions,
    listings,
    notes,
)
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig


@dataclass(frozen=True)
class NoteView:
    id: int
    listing_id: int
    loan_id: int
    principal_fen: int
    outstanding_principal_fen: int
    status: str
    source: str
    received_principal_fen: int
    received_interest_fen: int
    #: the loan as the end of day left it: days past due (逾期天数) and its 五级分类
    loan_dpd: int = 0
    loan_classification: str = "normal"


@dataclass(frozen=True)
class Portfolio:
    lender_id: int
    outstanding_principal_fen: int
    received_principal_fen: int
    received_income_fen: int  # interest + penalty − service fee
    notes: list[NoteView]


def portfolio(conn: Connection, *, lender_id: int) -> Portfolio:
    d = distributions.c
    got = (
        select(
            d.note_id,
            func.sum(d.principal_fen).label("p"),
            func.sum(d.interest_fen + d.penalty_fen - d.fee_fen).label("i"),
        )
        .where(d.lender_id == lender_id)
        .group_by(d.note_id)
        .subquery()
    )
    rows = conn.execute(
        select(notes, got.c.p, got.c.i, loans.c.dpd, loans.c.classification)
        .select_from(
            notes.outerjoin(got, got.c.note_id == notes.c.id).join(
                loans, loans.c.id == notes.c.loan_id
            )
        )
        .where(notes.c.lender_id == lender_id)
        .order_by(notes.c.id)
    ).all()
    views = [
        NoteView(
            r.id,
            r.listing_id,
            r.loan_id,
            r.principal_fen,
            r.outstanding_principal_fen,
            r.status,
            r.source,
            int(r.p or 0),
            int(r.i or 0),
            int(r.dpd),
            r.classification,
        )
        for r in rows
    ]
    return Portfolio(
        lender_id,
        sum(v.outstanding_principal_fen for v in views if v.status == "active"),
        sum(v.received_principal_fen for v in views),
        sum(v.received_interest_fen for v in views),
        views,
    )


@dataclass(frozen=True)
class Reserve:
    """风险备付金: never a guarantee; its balance against expected losses."""

    balance_fen: int
    expected_loss_fen: int
    coverage_ratio: str | None


def reserve(conn: Connection, *, config: MarketConfig = DEFAULT_CONFIG) -> Reserve:
    found = conn.execute(
        select(listings.c.risk_grade, func.sum(notes.c.outstanding_principal_fen))
        .select_from(notes.join(listings, listings.c.id == notes.c.listing_id))
        .where(notes.c.status == "active")
        .group_by(listings.c.risk_grade)
    ).all()
    rates = dict(config.expected_loss)
    expected = sum(int(Decimal(int(amount)) * rates[grade]) for grade, amount in found)
    account = accounts.existing_platform_account(conn, Role.RISK_RESERVE)
    balance = get_account(conn, account).credit_balance if account else 0
    ratio = (
        str((Decimal(balance) / Decimal(expected)).quantize(Decimal("0.0001")))
        if expected
        else None
    )
    return Reserve(balance, expected, ratio)


@dataclass(frozen=True)
class CalendarDay:
    """回款日历: what the lender's notes are expected to bring on one due date (estimated by
    each note's share of its loan's outstanding principal; distributions are exact)."""

    due_date: date
    principal_fen: int
    interest_fen: int
    notes: int


def repayment_calendar(conn: Connection, *, lender_id: int) -> list[CalendarDay]:
    """Future unpaid installments of the loans behind the lender's active notes, by date."""
    i, n, ln = installments.c, notes.c, loans.c
    share_p = (i.principal_fen - i.paid_principal_fen) * n.outstanding_principal_fen
    share_i = (i.interest_fen - i.paid_interest_fen) * n.outstanding_principal_fen
    rows = conn.execute(
        select(
            i.due_date,
            func.sum(share_p // ln.principal_outstanding_fen),
            func.sum(share_i // ln.principal_outstanding_fen),
            func.count(),
        )
        .select_from(
            notes.join(loans, ln.id == n.loan_id).join(installments, i.loan_id == n.loan_id)
        )
        .where(
            n.lender_id == lender_id,
            n.status == "active",
            ln.principal_outstanding_fen > 0,
            i.seq > 0,
            i.paid_date.is_(None),
        )
        .group_by(i.due_date)
        .order_by(i.due_date)
    ).all()
    return [CalendarDay(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


def _day(us: int) -> date:
    return business_date(datetime.fromtimestamp(us / 1_000_000, tz=UTC))


def cash_flows(conn: Connection, *, lender_id: int) -> list[tuple[date, int]]:
    """The lender's actual marketplace cash flows: − lent (notes from bids) and claims bought,
    + distributions received, claims sold (net of the fee) and compensations."""
    flows: list[tuple[date, int]] = []
    for acquired, principal in conn.execute(
        select(notes.c.acquired_at, notes.c.principal_fen).where(
            notes.c.lender_id == lender_id, notes.c.source == "bid"
        )
    ):
        flows.append((_day(acquired), -principal))
    o = claim_offers.c
    for sold, price, fee, buyer in conn.execute(
        select(o.sold_at, o.price_fen, o.fee_fen, o.buyer_id).where(
            o.status == "sold", (o.buyer_id == lender_id) | (o.seller_id == lender_id)
        )
    ):
        flows.append((_day(sold), -price if buyer == lender_id else price - fee))
    d = distributions.c
    flows.extend(
        (r[0], int(r[1]))
        for r in conn.execute(
            select(
                d.business_date, d.principal_fen + d.interest_fen + d.penalty_fen - d.fee_fen
            ).where(d.lender_id == lender_id)
        )
    )
    flows.extend(
        (r[0], int(r[1]))
        for r in conn.execute(
            select(compensations.c.business_date, compensations.c.amount_fen).where(
                compensations.c.lender_id == lender_id,
                compensations.c.payer == "risk_reserve",
            )
        )
    )
    return flows


def xirr(conn: Connection, *, lender_id: int, clock: Clock) -> str | None:
    """The annual rate (XIRR, ACT/365) of the lender's actual cash flows, with what is still
    outstanding counted at par today; None until there are flows both ways."""
    flows = cash_flows(conn, lender_id=lender_id)
    held = conn.execute(
        select(func.coalesce(func.sum(notes.c.outstanding_principal_fen), 0)).where(
            notes.c.lender_id == lender_id, notes.c.status == "active"
        )
    ).scalar_one()
    if held:
        flows.append((calendar.current(conn, clock=clock), int(held)))
    try:
        return str(apr.xirr(flows))
    except ValidationError:
        return None


def own_marketplace_loan(conn: Connection, *, loan_id: int, customer_id: int) -> None:
    """The customer's own marketplace loan, else 404 as if it did not exist."""
    found = conn.execute(
        select(loans.c.id)
        .select_from(loans.join(listings, listings.c.loan_id == loans.c.id))
        .where(loans.c.id == loan_id, loans.c.customer_id == customer_id)
    ).first()
    if found is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")


@dataclass(frozen=True)
class FrozenBid:
    id: int
    listing_id: int
    amount_fen: int
    created_at: int
    title: str


def frozen_bids(conn: Connection, *, lender_id: int) -> list[FrozenBid]:
    """The lender's bids still frozen on open listings, newest first, with the listing's
    title: what is at stake before a listing funds."""
    b, x = bids.c, listings.c
    rows = conn.execute(
        select(b.id, b.listing_id, b.amount_fen, b.created_at, x.title)
        .select_from(bids.join(listings, x.id == b.listing_id))
        .where(b.lender_id == lender_id, b.status == "frozen")
        .order_by(b.id.desc())
    )
    return [FrozenBid(*r) for r in rows]
