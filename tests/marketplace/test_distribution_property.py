"""Property: whatever the notes and however the borrower pays (short, exact, over), every fen
the engine allocates is passed on exactly once — lenders' principal equals what the loan
repaid, each note's outstanding equals its principal less what it received, and the borrower's
sub-account paid exactly what was distributed."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from puhui.core.clock import FixedClock
from puhui.custody.service import Role
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, bids, distribution, listings
from puhui.marketplace.models import distributions, loan_funding, notes

from .market import SYSTEM, deposit, go_to, lender, open_listing

pieces = st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=5).filter(
    lambda p: sum(p) >= 10  # the product lends from 1,000 yuan
)
payments = st.lists(st.integers(min_value=1, max_value=250_000), min_size=1, max_size=6)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pieces=pieces, paid=payments)
def test_every_allocated_fen_is_distributed_once(
    engine: Engine, clock: FixedClock, pieces: list[int], paid: list[int]
) -> None:
    amount = sum(pieces) * 10_000
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=amount, min_bid_fen=10_000, step_fen=10_000)
        for k in pieces:
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=lender(c, clock),
                amount_fen=k * 10_000,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        borrower = accounts.user_account(c, listing.borrower_id, Role.BORROWER)
        deposit(c, clock, borrower, 3_000_000, f"prop-{listing.id}")
        dues = (
            c.execute(
                select(installments.c.due_date)
                .where(installments.c.loan_id == loan_id, installments.c.seq > 0)
                .order_by(installments.c.seq)
            )
            .scalars()
            .all()
        )
        start = get_account(c, borrower).credit_balance
        for day, amount_paid in zip(dues, paid, strict=False):
            go_to(c, clock, day)
            distribution.repay(
                c, loan_id=loan_id, amount_fen=amount_paid, actor=SYSTEM, clock=clock
            )
        loan = c.execute(select(loans).where(loans.c.id == loan_id)).one()
        d = distributions.c
        p, i, pen, _fee = c.execute(
            select(
                func.coalesce(func.sum(d.principal_fen), 0),
                func.coalesce(func.sum(d.interest_fen), 0),
                func.coalesce(func.sum(d.penalty_fen), 0),
                func.coalesce(func.sum(d.fee_fen), 0),
            ).where(d.loan_id == loan_id)
        ).one()
        assert p == amount - loan.principal_outstanding_fen
        fund = c.execute(select(loan_funding).where(loan_funding.c.loan_id == loan_id)).one()
        assert (fund.distributed_principal_fen, fund.distributed_interest_fen) == (p, i)
        for n in c.execute(select(notes).where(notes.c.loan_id == loan_id)):
            got = c.execute(
                select(func.coalesce(func.sum(d.principal_fen), 0)).where(d.note_id == n.id)
            ).scalar()
            assert n.outstanding_principal_fen == n.principal_fen - got >= 0
        spent = start - get_account(c, borrower).credit_balance
        assert spent == p + i + pen + fund.distributed_fee_fen
        assert spent + loan.credit_balance_fen == sum(paid[: len(dues)])
        assert verify(c) == []
