"""The lending end of day over a book with a company loan and a marketplace loan, on both
databases: the marketplace loan ages, accrues and is charged penalty like any other, its
borrower's custody sub-account pays its instalments to the note holders, and the company GL
is exactly what the company loan alone makes it."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, update

from lending import factories
from lending.test_eod import reset  # noqa: F401  (the fixture: a second history)
from puhui.custody import service as custody
from puhui.custody.service import Role
from puhui.identity.audit import SYSTEM as SYSTEM_ACTOR
from puhui.ledger.codes import TransferCode
from puhui.ledger.service import Transfer, create_transfers, get_account
from puhui.ledger.verify import verify
from puhui.lending import accounts as gl
from puhui.lending import calendar, debit_channel, jobs, servicing
from puhui.lending.eod_steps import EodConfig
from puhui.lending.models import installments, loan_transactions, loans
from puhui.marketplace import accounts, bids, distribution, listings, views
from puhui.marketplace.eod import CustodyChannel
from puhui.marketplace.models import distributions

from . import market
from .market import SYSTEM, deposit, lender, open_listing

DUE = date(2026, 12, 2)
NO_GRACE = factories.replace(factories.TERMS, grace_days=0)


def _book(engine: Engine, clock: Any, *, market: bool) -> dict[str, int]:
    """A company loan with a well-funded card; with ``market``, a marketplace loan of
    10,000 yuan funded 60/40 whose borrower took the proceeds out and left 1,000 yuan."""
    with engine.begin() as c:
        book = factories.setup(c, clock, terms=NO_GRACE)
        servicing.disburse(c, loan_id=book.loan_id, actor=SYSTEM_ACTOR, clock=clock)
        debit_channel.fund(c, balances={book.customer_id: 10_000_000}, clock=clock)
        out = {"company": book.loan_id}
        if market:
            listing = open_listing(c, clock, amount_fen=1_000_000, term=6)
            a, b = lender(c, clock), lender(c, clock)
            for who, fen in ((a, 600_000), (b, 400_000)):
                bids.place_bid(
                    c,
                    listing_id=listing.id,
                    lender_id=who,
                    amount_fen=fen,
                    disclosure_version=1,
                    actor=SYSTEM,
                    clock=clock,
                )
            acc = accounts.user_account(c, listing.borrower_id, Role.BORROWER)
            [r] = create_transfers(
                c,
                [
                    Transfer(
                        "test-withdraw-proceeds",
                        acc,
                        custody.master_account_id(c),
                        1_000_000,
                        TransferCode.WITHDRAWAL,
                    )
                ],
                clock=clock,
            )
            assert r.ok
            deposit(c, clock, acc, 100_000, "first")
            loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
            assert loan_id is not None
            out |= {"market": loan_id, "a": a, "b": b, "account": acc}
        calendar.set_date(c, business_date_=DUE - timedelta(days=1), clock=clock)
    return out


def _close(engine: Engine, clock: Any, start: date, through: date) -> None:
    days = jobs.run_eod(engine, clock=clock, start=start, through=through)
    assert all(d.closed for d in days)  # each close passed its sub-ledger and balance checks


def test_end_of_day_with_a_marketplace_loan(engine, clock, reset):  # noqa: F811
    # the company loan alone: the GL this history must end in
    _book(engine, clock, market=False)
    _close(engine, clock, DUE - timedelta(days=1), DUE + timedelta(days=6))
    with engine.connect() as c:
        alone = gl.balances(c)
    reset()

    ids = _book(engine, clock, market=True)
    m, acc = ids["market"], ids["account"]
    _close(engine, clock, DUE - timedelta(days=1), DUE + timedelta(days=5))
    with engine.connect() as c:
        first = c.execute(
            select(installments).where(installments.c.loan_id == m, installments.c.seq == 1)
        ).one()
        loan = c.execute(select(loans).where(loans.c.id == m)).one()
        # the due date took the 1,000 yuan in the custody sub-account: interest, then principal
        paid = first.paid_interest_fen + first.paid_principal_fen
        assert paid == 100_000 and first.paid_interest_fen == first.interest_fen
        assert get_account(c, acc).credit_balance == 0
        # five days overdue, on the loan and on the lenders' notes
        assert (loan.dpd, loan.bucket, loan.classification) == (5, "M1", "special_mention")
        assert first.penalty_fen > 0 and loan.provision_fen > 0
        for who in (ids["a"], ids["b"]):
            held = views.portfolio(c, lender_id=who).notes
            assert [(n.loan_dpd, n.loan_classification) for n in held] == [(5, "special_mention")]
        owed = (
            first.principal_fen
            - first.paid_principal_fen
            + first.penalty_fen
            + first.late_fee_fen
            - first.waived_fen
        )
        assert gl.check_subledger(c) == {}

    # the borrower pays the rest in: the next day's auto-debit collects and distributes it
    with engine.begin() as c:
        deposit(c, clock, acc, owed + 12_345, "second")
    _close(engine, clock, DUE + timedelta(days=6), DUE + timedelta(days=6))
    with engine.connect() as c:
        first = c.execute(
            select(installments).where(installments.c.loan_id == m, installments.c.seq == 1)
        ).one()
        loan = c.execute(select(loans).where(loans.c.id == m)).one()
        assert first.paid_date == DUE + timedelta(days=6)
        assert (loan.dpd, loan.bucket) == (0, "M0")
        # what the borrower paid is what was distributed, to the fen, and 123.45 yuan stays
        collected = c.execute(
            select(func.sum(loan_transactions.c.amount_fen)).where(
                loan_transactions.c.loan_id == m, loan_transactions.c.kind == "auto_debit"
            )
        ).scalar()
        assert collected == 100_000 + owed
        d = distributions.c
        shared = c.execute(
            select(func.sum(d.principal_fen + d.interest_fen + d.penalty_fen)).where(d.loan_id == m)
        ).scalar()
        product_fees = c.execute(
            select(func.sum(installments.c.paid_fee_fen)).where(installments.c.loan_id == m)
        ).scalar()
        assert shared + product_fees == collected
        assert get_account(c, acc).credit_balance == 12_345
        # the lenders got their shares less the service fee, the platform the rest
        lent = sum(
            get_account(c, accounts.user_account(c, w, Role.LENDER)).credit_balance
            for w in (ids["a"], ids["b"])
        )
        assert lent == 2 * 10_000_000 - 1_000_000 + shared - _service_fees(c, m)
        assert gl.check_subledger(c) == {}
        assert gl.trial_balance(c).balanced
        assert verify(c) == []
        # the company GL is exactly the company loan's, as if the marketplace loan were not
        assert gl.balances(c) == alone


def _service_fees(c: Any, loan_id: int) -> int:
    d = distributions.c
    return int(c.execute(select(func.sum(d.fee_fen)).where(d.loan_id == loan_id)).scalar() or 0)


def test_write_off_of_a_marketplace_loan_leaves_the_company_gl_alone(engine, clock):
    ids = _book(engine, clock, market=True)
    with engine.begin() as c:  # neither borrower pays anything
        debit_channel.fund(c, balances={_customer(c, ids["company"]): 0}, clock=clock)
        acc = ids["account"]
        [r] = create_transfers(
            c,
            [
                Transfer(
                    "test-withdraw-rest",
                    acc,
                    custody.master_account_id(c),
                    100_000,
                    TransferCode.WITHDRAWAL,
                )
            ],
            clock=clock,
        )
        assert r.ok
    days = jobs.run_eod(
        engine,
        clock=clock,
        start=DUE - timedelta(days=1),
        through=DUE + timedelta(days=2),
        config=EodConfig(write_off_dpd=1),
    )
    assert all(d.closed for d in days)
    with engine.connect() as c:
        states = dict(c.execute(select(loans.c.id, loans.c.state)).all())
        assert states[ids["company"]] == states[ids["market"]] == "written_off"
        written = c.execute(select(loans).where(loans.c.id == ids["market"])).one()
        assert written.written_off_fen > written.principal_fen
        assert gl.check_subledger(c) == {}
        # the company wrote off its own loan's receivables, not the lenders'
        assert gl.balances(c)[gl.AccountCode.LOANS_RECEIVABLE] == 0
        assert verify(c) == []


def _customer(c: Any, loan_id: int) -> int:
    return int(c.execute(select(loans.c.customer_id).where(loans.c.id == loan_id)).scalar())


def test_the_custody_channel_serves_a_borrowers_loans_in_id_order(engine, clock):
    with engine.begin() as c:
        borrower_id, acc = market.borrower(c, clock)
        made = []
        for _ in range(2):
            app_id = market.approved_application(
                c, clock, customer_id=borrower_id, amount_fen=500_000
            )
            draft = listings.create_listing(
                c,
                application_id=app_id,
                title="小微经营周转",
                description="借款用于店铺进货，按月等额本息还款。",
                risk_grade="R2",
                min_bid_fen=10_000,
                step_fen=10_000,
                disclosure=market.DISCLOSURE,
                actor=market.STAFF,
                clock=clock,
            )
            listings.publish(c, listing_id=draft.id, actor=market.STAFF, clock=clock)
            bids.place_bid(
                c,
                listing_id=draft.id,
                lender_id=lender(c, clock),
                amount_fen=500_000,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
            made.append(listings.get_listing(c, listing_id=draft.id).loan_id)
        first, second = sorted(made)
        # the proceeds (1,000,000) are in the sub-account; 300,000 of it is the first loan's
        # credit balance (an overpayment kept there), which only that loan may use
        c.execute(update(loans).where(loans.c.id == first).values(credit_balance_fen=300_000))
        got = CustodyChannel().collect(
            c,
            loan_ids=np.array([second, first], dtype=np.int64),
            customer_ids=np.array([borrower_id, borrower_id], dtype=np.int64),
            amounts=np.array([500_000, 400_000], dtype=np.int64),
            business_date=DUE,
            clock=clock,
        )
        # 700,000 free: the first loan (lower id) takes its 400,000, the second the 300,000 left
        assert got.tolist() == [300_000, 400_000]
        assert get_account(c, acc).credit_balance == 1_000_000  # the channel moves nothing


@pytest.mark.postgresql_only
def test_the_batch_waits_for_a_marketplace_repayment_in_flight(engine, clock, backend):
    """A borrower's own repayment holds the loan (and its funding row) when the batch reaches
    it: the batch waits, then finds the instalment paid and collects nothing more. The
    borrower's money moves once; no deadlock between the two lock orders."""
    ids = _book(engine, clock, market=True)
    m, acc = ids["market"], ids["account"]
    with engine.connect() as c:
        first = c.execute(
            select(installments).where(installments.c.loan_id == m, installments.c.seq == 1)
        ).one()
    due = first.principal_fen + first.interest_fen
    with engine.begin() as c:  # 1,000 yuan there already: now the instalment and 500 more
        deposit(c, clock, acc, due - 100_000 + 50_000, "race")
    _close(engine, clock, DUE - timedelta(days=1), DUE - timedelta(days=1))
    conn = engine.connect()
    trans = conn.begin()
    distribution.repay(conn, loan_id=m, amount_fen=due, actor=SYSTEM_ACTOR, clock=clock)
    batch = threading.Thread(target=_close, args=(engine, clock, DUE, DUE))
    batch.start()
    time.sleep(1.0)
    assert batch.is_alive()  # waiting for the loan's row lock
    trans.commit()
    conn.close()
    batch.join(120)
    assert not batch.is_alive()
    with engine.connect() as c:
        paid = c.execute(
            select(installments).where(installments.c.loan_id == m, installments.c.seq == 1)
        ).one()
        assert paid.paid_principal_fen + paid.paid_interest_fen == due
        assert get_account(c, acc).credit_balance == 50_000
        d = distributions.c
        shared = c.execute(
            select(func.sum(d.principal_fen + d.interest_fen + d.penalty_fen)).where(d.loan_id == m)
        ).scalar()
        assert shared == due
        auto = c.execute(
            select(func.count()).where(
                loan_transactions.c.loan_id == m, loan_transactions.c.kind == "auto_debit"
            )
        ).scalar()
        assert auto == 0
        assert gl.check_subledger(c) == {}
        assert verify(c) == []
