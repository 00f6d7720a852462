"""Lender views: portfolio, repayment calendar (回款日历) and the XIRR of actual flows."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select

from puhui.core.clock import FixedClock
from puhui.custody.service import Role
from puhui.lending.models import installments
from puhui.marketplace import accounts, bids, distribution, listings, views

from .market import SYSTEM, deposit, go_to, lender, open_listing


def test_calendar_portfolio_and_xirr(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a, b = lender(c, clock), lender(c, clock)
        for who, amount in ((a, 750_000), (b, 250_000)):
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=who,
                amount_fen=amount,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        sched = c.execute(
            select(installments)
            .where(installments.c.loan_id == loan_id, installments.c.seq > 0)
            .order_by(installments.c.seq)
        ).all()
        days = views.repayment_calendar(c, lender_id=b)
        assert [d.due_date for d in days] == [i.due_date for i in sched]
        assert [d.principal_fen for d in days] == [i.principal_fen // 4 for i in sched]
        assert [d.interest_fen for d in days] == [i.interest_fen // 4 for i in sched]
        assert views.xirr(c, lender_id=b, clock=clock) is None  # lent today, nothing back yet
        deposit(
            c,
            clock,
            accounts.user_account(c, listing.borrower_id, Role.BORROWER),
            2_000_000,
            "views",
        )
        for i in sched[:3]:
            go_to(c, clock, i.due_date)
            distribution.repay(
                c,
                loan_id=loan_id,
                amount_fen=i.principal_fen + i.interest_fen,
                actor=SYSTEM,
                clock=clock,
            )
        assert [d.due_date for d in views.repayment_calendar(c, lender_id=b)] == [
            i.due_date for i in sched[3:]
        ]
        mine = views.portfolio(c, lender_id=b)
        got_principal = sum(n.received_principal_fen for n in mine.notes)
        assert mine.outstanding_principal_fen == 250_000 - got_principal
        assert abs(got_principal - sum(i.principal_fen for i in sched[:3]) // 4) <= 1
        for i in sched[3:]:
            go_to(c, clock, i.due_date)
            distribution.repay(
                c,
                loan_id=loan_id,
                amount_fen=i.principal_fen + i.interest_fen,
                actor=SYSTEM,
                clock=clock,
            )
        assert views.repayment_calendar(c, lender_id=b) == []
        # 9% a year less the 10% service fee on interest: about 8.1% nominal, 8.4% effective
        rate = Decimal(views.xirr(c, lender_id=b, clock=clock))
        assert Decimal("0.080") < rate < Decimal("0.086"), rate
        assert views.portfolio(c, lender_id=b).outstanding_principal_fen == 0
