"""A manual repayment racing the batch's auto-debit on the same loan (PostgreSQL, where both
really run at once): whichever locks the loan first pays the installment; the other waits,
then sees it paid. Nothing is allocated twice. A repayment arriving between the batch's steps
is refused until the batch has finished the loan's day (docs/lending.md, Concurrency)."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from puhui.core.errors import Conflict
from puhui.identity.audit import SYSTEM
from puhui.lending import servicing
from puhui.lending.debit_channel import debit_sandbox_accounts
from puhui.lending.models import installments, loans

from .test_eod import DUE, assert_books_agree, close, make_book

CARD = 10_000_000
DUE_FEN = 106_619  # installment 1: principal and interest


#: SQLite runs one writer at a time: there is no race to lose there.
pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def loan_id(engine: Engine, clock, backend: str) -> int:
    (a,) = make_book(engine, clock, cards=(CARD,))
    close(engine, clock, DUE - timedelta(days=1), DUE - timedelta(days=1))
    return a


def _paid(engine: Engine, loan_id: int) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        i = conn.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        credit = conn.execute(
            select(loans.c.credit_balance_fen).where(loans.c.id == loan_id)
        ).scalar()
        card = conn.execute(select(debit_sandbox_accounts.c.balance_fen)).scalar()
    return (
        i.paid_principal_fen + i.paid_interest_fen,
        i.principal_fen + i.interest_fen,
        credit,
        card,
    )


def test_the_batch_waits_for_a_repayment_in_flight(engine, clock, loan_id):
    conn = engine.connect()
    trans = conn.begin()
    servicing.repay(conn, loan_id=loan_id, amount_fen=DUE_FEN, actor=SYSTEM, clock=clock)
    batch = threading.Thread(target=close, args=(engine, clock, DUE, DUE))
    batch.start()
    time.sleep(1.0)
    assert batch.is_alive()  # blocked on the loan's row lock
    trans.commit()
    conn.close()
    batch.join(60)
    paid, owed, credit, card = _paid(engine, loan_id)
    assert (paid, owed, credit, card) == (DUE_FEN, DUE_FEN, 0, CARD)  # the card was not debited
    assert_books_agree(engine)


def test_a_repayment_during_the_batch_window_is_refused_then_goes_through(engine, clock, loan_id):
    """The racer waits for the batch's lock on the loan, then finds the day half-closed (the
    card has paid, aging and provision have not run): it is refused whole with a clear code,
    and the same payment after the batch stays on the borrower's credit balance."""
    outcome: list[object] = []

    def repay() -> None:
        try:
            with engine.begin() as conn:
                servicing.repay(
                    conn, loan_id=loan_id, amount_fen=DUE_FEN, actor=SYSTEM, clock=clock
                )
            outcome.append("paid")
        except Conflict as exc:
            outcome.append(exc.code)

    racer = threading.Thread(target=repay)

    def hook(day: date, where: str) -> None:
        if where == "inside:debit":  # the batch holds the loan, its debit not yet committed
            racer.start()
            time.sleep(1.0)
            assert racer.is_alive()

    close(engine, clock, DUE, DUE, hook=hook)
    racer.join(60)
    assert outcome == ["end_of_day_in_progress"]
    paid, owed, credit, card = _paid(engine, loan_id)
    # the card paid the installment; the refused payment changed nothing
    assert (paid, owed, credit, card) == (DUE_FEN, DUE_FEN, 0, CARD - DUE_FEN)
    assert_books_agree(engine)
    with engine.begin() as conn:
        servicing.repay(conn, loan_id=loan_id, amount_fen=DUE_FEN, actor=SYSTEM, clock=clock)
    paid, owed, credit, card = _paid(engine, loan_id)
    assert (paid, credit) == (DUE_FEN, DUE_FEN)  # nothing due: it stays a credit balance
    assert_books_agree(engine)
