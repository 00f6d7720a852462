"""Risk reserve: compensation under the published rule, third-party payment, coverage."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, update

from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict
from puhui.custody.service import Role
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, bids, distribution, listings, reserve, views
from puhui.marketplace.models import compensations, distributions, notes

from .market import SYSTEM, _open, deposit, go_to, lender, open_listing


def funded(c, clock) -> tuple[int, int, int, int]:
    listing = open_listing(c, clock, amount_fen=1_000_000)
    a, b = lender(c, clock), lender(c, clock)
    for who, amount in ((a, 600_000), (b, 400_000)):
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=who,
            amount_fen=amount,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
    return listings.get_listing(c, listing_id=listing.id).loan_id, a, b, listing.borrower_id


def test_reserve_compensates_pro_rata_within_its_balance(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        loan_id, a, b, _ = funded(c, clock)
        fund = accounts.platform_account(c, Role.RISK_RESERVE)
        deposit(c, clock, fund, 500_000, "reserve")  # the platform funds its reserve
        shown = views.reserve(c)
        # R2 listings: 1% expected loss on 1,000,000 outstanding
        assert (shown.balance_fen, shown.expected_loss_fen, shown.coverage_ratio) == (
            500_000,
            10_000,
            "50.0000",
        )
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=10))
        with pytest.raises(Conflict, match="after 90 days"):
            reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=91))  # as aging sets it
        done = reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        assert (done.paid_fen, done.owed_fen, done.notes) == (500_000, 1_000_000, 2)
        paid = dict(c.execute(select(compensations.c.lender_id, compensations.c.amount_fen)).all())
        assert paid == {a: 300_000, b: 200_000}
        assert get_account(c, fund).credit_balance == 0
        assert get_account(c, accounts.user_account(c, a, Role.LENDER)).credit_balance == (
            10_000_000 - 600_000 + 300_000
        )
        assert set(c.execute(select(notes.c.status)).scalars()) == {"defaulted"}
        with pytest.raises(Conflict, match="no active note"):
            reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        assert verify(c) == []


def test_a_guarantor_paying_for_the_borrower_is_recorded_note_by_note(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        loan_id, *_ = funded(c, clock)
        guarantor = lender(c, clock, money=0)
        deposit(c, clock, _open(c, clock, guarantor, "guarantor"), 1_000_000, "guarantor")
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        due = first.principal_fen + first.interest_fen
        go_to(c, clock, first.due_date)
        done = reserve.repay_on_behalf(
            c,
            loan_id=loan_id,
            payer_id=guarantor,
            payer="guarantor",
            amount_fen=due,
            reason="担保代偿",
            actor=SYSTEM,
            clock=clock,
        )
        assert done.notes == 2
        recorded = c.execute(
            select(func.sum(compensations.c.amount_fen)).where(compensations.c.payer == "guarantor")
        ).scalar()
        to_lenders = c.execute(
            select(
                func.sum(
                    distributions.c.principal_fen
                    + distributions.c.interest_fen
                    - distributions.c.fee_fen
                )
            )
        ).scalar()
        assert recorded == to_lenders == done.paid_fen
        assert c.execute(select(func.sum(distributions.c.principal_fen))).scalar() == (
            first.principal_fen
        )
        assert verify(c) == []


def _net(c, **where) -> int:
    d = distributions.c
    q = select(func.sum(d.principal_fen + d.interest_fen + d.penalty_fen - d.fee_fen))
    for k, v in where.items():
        q = q.where(getattr(d, k) == v)
    return int(c.execute(q).scalar() or 0)


def test_recoveries_after_compensation_repay_the_reserve_first(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        loan_id, a, b, borrower_id = funded(c, clock)
        # the borrower's sub-account holds the proceeds and 5,000 yuan more: enough to repay
        deposit(c, clock, accounts.user_account(c, borrower_id, Role.BORROWER), 500_000, "more")
        fund = accounts.platform_account(c, Role.RISK_RESERVE)
        deposit(c, clock, fund, 500_000, "reserve")
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=91))
        done = reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        assert done.paid_fen == 500_000  # a 300,000, b 200,000: half their principal
        lent = {
            w: get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance
            for w in (a, b)
        }
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        go_to(c, clock, first.due_date)
        # the borrower pays the first instalment: it all goes to the reserve, not the lenders
        distribution.repay(
            c,
            loan_id=loan_id,
            amount_fen=first.principal_fen + first.interest_fen,
            actor=SYSTEM,
            clock=clock,
        )
        recovered = _net(c, lender_id=distribution.RESERVE_HOLDER)
        assert 0 < recovered < 500_000
        assert recovered == _net(c)  # every fen of the net share
        for w in (a, b):
            assert (
                get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance == (lent[w])
            )
        fees_to_reserve = get_account(c, fund).credit_balance - recovered
        assert fees_to_reserve >= 0
        # the rest of the loan, prepaid: the reserve is made whole to the fen, then the lenders
        distribution.prepay(c, loan_id=loan_id, mode="full", actor=SYSTEM, clock=clock)
        assert _net(c, lender_id=distribution.RESERVE_HOLDER) == 500_000
        to_lenders = _net(c, lender_id=a) + _net(c, lender_id=b)
        assert to_lenders == _net(c) - 500_000 > 0
        gained = sum(
            get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance - lent[w]
            for w in (a, b)
        )
        assert gained == to_lenders
        # the lenders' portfolios count only what they received
        assert sum(views.portfolio(c, lender_id=w).received_principal_fen for w in (a, b)) == (
            c.execute(
                select(func.sum(distributions.c.principal_fen)).where(
                    distributions.c.lender_id != distribution.RESERVE_HOLDER
                )
            ).scalar()
        )
        assert verify(c) == []


def test_a_fully_compensated_note_pays_the_reserve_only(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        loan_id, a, b, _ = funded(c, clock)
        fund = accounts.platform_account(c, Role.RISK_RESERVE)
        deposit(c, clock, fund, 5_000_000, "reserve")
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=91))
        done = reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        assert done.paid_fen == 1_000_000
        lent = {
            w: get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance
            for w in (a, b)
        }
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        go_to(c, clock, first.due_date)
        due = first.principal_fen + first.interest_fen
        distribution.repay(c, loan_id=loan_id, amount_fen=due, actor=SYSTEM, clock=clock)
        assert _net(c) == _net(c, lender_id=distribution.RESERVE_HOLDER) > 0
        assert {
            w: get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance
            for w in (a, b)
        } == lent
        assert verify(c) == []
