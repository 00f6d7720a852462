"""The batch and the per-loan engine implement the same daily rules: over two months of
auto-debits, manual, partial and missed payments, every loan the batch keeps equals what
``engine.run`` computes from the loan's contract and transactions, every day."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from puhui.identity.audit import SYSTEM
from puhui.ledger.codes import AccountCode as A
from puhui.lending import accounts, servicing
from puhui.lending import engine as loan_engine
from puhui.lending.models import installments, loans

from .test_eod import D0, assert_books_agree, close, make_book

#: Manual repayments (day after D0 → loan index → fen) between the batch's days.
PAYMENTS = {10: {2: 3_000}, 31: {1: 20_000}, 33: {2: 150_000}, 45: {1: 500_000}, 50: {2: 40_000}}
INCOME = (A.INTEREST_INCOME, A.FEE_INCOME, A.PENALTY_INCOME, A.PROVISION_EXPENSE)


def test_the_batch_agrees_with_the_engine_every_day(engine, clock):
    # a: always paid by the card; b: a card that runs dry; c: no card, pays by hand, late
    ids = make_book(engine, clock, cards=(10_000_000, 150_000, None), today=D0)
    for day in range(61):
        d = D0 + timedelta(days=day)
        with engine.begin() as conn:
            for k, fen in PAYMENTS.get(day, {}).items():
                servicing.repay(conn, loan_id=ids[k], amount_fen=fen, actor=SYSTEM, clock=clock)
        (report,) = close(engine, clock, d, d)
        assert report.closed
        with engine.connect() as conn:
            journal: dict[A, int] = defaultdict(int)
            for loan_id in ids:
                row = conn.execute(select(loans).where(loans.c.id == loan_id)).one()
                want = loan_engine.run(
                    servicing.contract(conn, row),
                    servicing.transactions(conn, loan_id),
                    through=d,
                    closed_through=d,
                )
                assert _loan(row, live=want.state in accounts.ON_BOOK) == _loan(
                    want, live=want.state in accounts.ON_BOOK
                ), (day, loan_id)
                got = conn.execute(
                    select(installments)
                    .where(installments.c.loan_id == loan_id)
                    .order_by(installments.c.seq)
                ).all()
                assert [_inst(i) for i in got] == [_inst(i) for i in want.installments], (
                    day,
                    loan_id,
                )
                for (debit, credit, _code), amount in want.journal.items():
                    journal[debit] += amount
                    journal[credit] -= amount
            gl = accounts.balances(conn)
        # income and expense: credit-normal incomes, debit-normal expense
        assert {a: gl[a] for a in INCOME} == {
            a: journal[a] if a is A.PROVISION_EXPENSE else -journal[a] for a in INCOME
        }, day
    with engine.connect() as conn:
        states = [s for (s,) in conn.execute(select(loans.c.state).order_by(loans.c.id))]
    assert states[0] == "active"
    assert_books_agree(engine)


def _loan(x: object, *, live: bool) -> dict[str, object]:
    out = {c: getattr(x, c) for c in servicing.LOAN_COLUMNS}
    out["state"] = x.state
    if not live:  # the batch leaves closed loans alone; the engine keeps dating them
        out.pop("accrued_through")
    return out


def _inst(i: object) -> tuple[object, ...]:
    return (
        i.seq,
        i.due_date,
        i.paid_date,
        *(getattr(i, c) for c in servicing.INSTALLMENT_COLUMNS),
    )
