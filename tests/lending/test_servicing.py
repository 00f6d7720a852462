"""Servicing on a real database: every operation keeps the sub-ledger equal to the GL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select

from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity.audit import Actor
from puhui.ledger.verify import verify
from puhui.lending import accounts, calendar, servicing
from puhui.lending.models import installments, loan_transactions, loans

from . import factories

STAFF = Actor("staff:1")
D0 = factories.DAY


def books_agree(conn: Connection) -> None:
    assert accounts.check_subledger(conn) == {}
    assert accounts.trial_balance(conn).balanced


@pytest.fixture(autouse=True)
def ledger_verifies(engine: Engine):
    """After every test, ``ledger verify`` passes on what it committed (in a connection of its
    own: verify streams its reads)."""
    yield
    with engine.connect() as conn:
        assert verify(conn) == []


def go(conn: Connection, clock, day: date, loan_id: int) -> servicing.Result:
    """Move the business date to ``day`` and bring the loan up to it."""
    calendar.set_date(conn, business_date_=day, clock=clock)
    return servicing.replay(conn, loan_id=loan_id, actor=STAFF, clock=clock)


def snapshot(conn: Connection, loan_id: int) -> tuple:
    loan = conn.execute(select(loans).where(loans.c.id == loan_id)).one()
    keep = {k: v for k, v in loan._mapping.items() if k not in ("version", "updated_us")}
    rows = conn.execute(
        select(installments).where(installments.c.loan_id == loan_id).order_by(installments.c.seq)
    ).all()
    return keep, [tuple(r) for r in rows]


@pytest.fixture
def book(engine: Engine, clock):
    with engine.begin() as conn:
        b = factories.setup(conn, clock)
        servicing.disburse(conn, loan_id=b.loan_id, actor=STAFF, clock=clock)
    return b


def due(conn: Connection, loan_id: int, seq: int):
    return conn.execute(
        select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == seq)
    ).one()


def test_disburse_posts_the_principal_and_the_schedule(engine, clock, book):
    with engine.begin() as conn:
        loan = conn.execute(select(loans).where(loans.c.id == book.loan_id)).one()
        assert (loan.state, loan.start_date, loan.principal_outstanding_fen) == (
            "disbursed",
            D0,
            1_200_000,
        )
        assert loan.maturity_date == date(2027, 11, 2)
        first = due(conn, book.loan_id, 1)
        assert (first.due_date, first.principal_fen, first.interest_fen) == (
            date(2026, 12, 2),
            94_619,
            12_000,
        )
        bal = accounts.balances(conn)
        assert bal[accounts.AccountCode.LOANS_RECEIVABLE] == 1_200_000
        assert bal[accounts.AccountCode.COMPANY_CASH] == factories.CAPITAL - 1_200_000
        books_agree(conn)


def test_on_time_then_settled(engine, clock, book):
    with engine.begin() as conn:
        rows = conn.execute(
            select(installments)
            .where(installments.c.loan_id == book.loan_id, installments.c.seq > 0)
            .order_by(installments.c.seq)
        ).all()
        for r in rows:
            go(conn, clock, r.due_date, book.loan_id)
            res = servicing.repay(
                conn,
                loan_id=book.loan_id,
                amount_fen=r.principal_fen + r.interest_fen,
                actor=STAFF,
                clock=clock,
            )
            assert res.allocation.principal_fen == r.principal_fen
            assert res.allocation.interest_fen == r.interest_fen
            books_agree(conn)
        assert res.state == "settled"
        loan = conn.execute(select(loans).where(loans.c.id == book.loan_id)).one()
        assert (loan.closed_date, loan.principal_outstanding_fen, loan.provision_fen) == (
            date(2027, 11, 2),
            0,
            0,
        )
        bal = accounts.balances(conn)
        assert bal[accounts.AccountCode.INTEREST_INCOME] == sum(r.interest_fen for r in rows)
        assert bal[accounts.AccountCode.COMPANY_CASH] == factories.CAPITAL + sum(
            r.interest_fen for r in rows
        )


def test_overdue_then_cured(engine, clock, book):
    with engine.begin() as conn:
        res = go(conn, clock, date(2026, 12, 13), book.loan_id)  # closed 12-12: 10 days late
        assert (res.dpd, res.state) == (10, "active")
        first = due(conn, book.loan_id, 1)
        # 7 days of penalty at 18% / 360 on 94,619 fen (47.31 → 47 fen a day) and the late fee
        assert (first.penalty_fen, first.late_fee_fen) == (7 * 47, 5_000)
        loan = conn.execute(select(loans).where(loans.c.id == book.loan_id)).one()
        assert (loan.bucket, loan.classification, loan.provision_fen) == (
            "M1",
            "special_mention",
            24_000,
        )
        books_agree(conn)
        res = servicing.repay(
            conn, loan_id=book.loan_id, amount_fen=200_000, actor=STAFF, clock=clock
        )
        a = res.allocation
        assert (a.penalty_fen, a.late_fee_fen, a.interest_fen, a.principal_fen) == (
            329,
            5_000,
            12_000,
            94_619,
        )
        assert a.overpayment_fen == 200_000 - 329 - 5_000 - 12_000 - 94_619
        res = go(conn, clock, date(2026, 12, 14), book.loan_id)
        assert res.dpd == 0
        books_agree(conn)
        # On the next due date the credit balance pays installment 2 first.
        res = go(conn, clock, date(2027, 1, 3), book.loan_id)
        second = due(conn, book.loan_id, 2)
        assert second.paid_interest_fen == second.interest_fen
        assert second.paid_principal_fen == 88_052 - second.interest_fen == 76_998
        assert res.credit_balance_fen == 0 and res.dpd == 0  # due yesterday: not late yet
        assert go(conn, clock, date(2027, 1, 4), book.loan_id).dpd == 1
        books_agree(conn)


def test_written_off_then_recovered(engine, clock, book):
    with engine.begin() as conn:
        res = go(conn, clock, date(2027, 6, 1), book.loan_id)  # closed 05-31: 180 days late
        assert res.state == "active" and res.dpd == 180
        res = go(conn, clock, date(2027, 6, 2), book.loan_id)  # 181 days: written off
        assert res.state == "written_off"
        loan = conn.execute(select(loans).where(loans.c.id == book.loan_id)).one()
        assert loan.closed_date == date(2027, 6, 1)
        assert loan.written_off_fen > 1_200_000
        books_agree(conn)
        bal = accounts.balances(conn)
        assert bal[accounts.AccountCode.LOANS_RECEIVABLE] == 0
        assert bal[accounts.AccountCode.LOAN_LOSS_PROVISION] == 0
        with pytest.raises(Conflict):
            servicing.repay(conn, loan_id=book.loan_id, amount_fen=1, actor=STAFF, clock=clock)
        servicing.recover(conn, loan_id=book.loan_id, amount_fen=300_000, actor=STAFF, clock=clock)
        assert accounts.balances(conn)[accounts.AccountCode.RECOVERY_INCOME] == 300_000
        loan = conn.execute(select(loans).where(loans.c.id == book.loan_id)).one()
        assert loan.recovered_fen == 300_000
        books_agree(conn)


def test_backdated_repayment_equals_the_right_history(engine, clock):
    with engine.begin() as conn:
        a = factories.setup(conn, clock)
        b = factories.setup(conn, clock, capital=0)
        for x in (a, b):
            servicing.disburse(conn, loan_id=x.loan_id, actor=STAFF, clock=clock)
        # a: paid on time on the due date; b: the same payment recorded three days late.
        go(conn, clock, date(2026, 12, 2), a.loan_id)
        servicing.repay(conn, loan_id=a.loan_id, amount_fen=106_619, actor=STAFF, clock=clock)
        go(conn, clock, date(2026, 12, 5), a.loan_id)
        go(conn, clock, date(2026, 12, 5), b.loan_id)
        servicing.repay(
            conn,
            loan_id=b.loan_id,
            amount_fen=106_619,
            value_date=date(2026, 12, 2),
            actor=STAFF,
            clock=clock,
        )
        books_agree(conn)
        sa, sb = snapshot(conn, a.loan_id), snapshot(conn, b.loan_id)
        strip = ("id", "application_id", "customer_id", "contract_text", "contract_sha256")
        assert {k: v for k, v in sa[0].items() if k not in strip} == {
            k: v for k, v in sb[0].items() if k not in strip
        }
        assert [r[1:] for r in sa[1]] == [r[1:] for r in sb[1]]


def test_reversal_equals_never_having_paid(engine, clock):
    with engine.begin() as conn:
        a = factories.setup(conn, clock)
        b = factories.setup(conn, clock, capital=0)
        for x in (a, b):
            servicing.disburse(conn, loan_id=x.loan_id, actor=STAFF, clock=clock)
        go(conn, clock, date(2026, 12, 2), b.loan_id)
        wrong = servicing.repay(
            conn, loan_id=b.loan_id, amount_fen=106_619, actor=STAFF, clock=clock
        )
        go(conn, clock, date(2026, 12, 20), a.loan_id)
        go(conn, clock, date(2026, 12, 20), b.loan_id)
        servicing.reverse(
            conn, loan_id=b.loan_id, txn_id=wrong.txn_id, reason="bounced", actor=STAFF, clock=clock
        )
        books_agree(conn)
        sa, sb = snapshot(conn, a.loan_id), snapshot(conn, b.loan_id)
        strip = ("id", "application_id", "customer_id", "contract_text", "contract_sha256")
        assert {k: v for k, v in sa[0].items() if k not in strip} == {
            k: v for k, v in sb[0].items() if k not in strip
        }
        assert [r[1:] for r in sa[1]] == [r[1:] for r in sb[1]]
        assert sb[0]["dpd"] == 17
        with pytest.raises(Conflict):
            servicing.reverse(
                conn,
                loan_id=b.loan_id,
                txn_id=wrong.txn_id,
                reason="again",
                actor=STAFF,
                clock=clock,
            )


def test_partial_then_prepaid_in_full(engine, clock, book):
    with engine.begin() as conn:
        go(conn, clock, date(2026, 12, 2), book.loan_id)
        res = servicing.repay(
            conn, loan_id=book.loan_id, amount_fen=50_000, actor=STAFF, clock=clock
        )
        assert (res.allocation.interest_fen, res.allocation.principal_fen) == (12_000, 38_000)
        go(conn, clock, date(2026, 12, 17), book.loan_id)
        q = servicing.quote(conn, loan_id=book.loan_id, clock=clock)
        # still due: 56,619 of installment 1 and its penalty/late fee; 15 days of interest on
        # the 1,105,381 not yet due; and that principal
        assert q.principal_fen == 1_200_000 - 94_619
        res = servicing.prepay(conn, loan_id=book.loan_id, mode="full", actor=STAFF, clock=clock)
        assert res.state == "settled" and res.principal_outstanding_fen == 0
        books_agree(conn)


@pytest.mark.parametrize("mode", ["shorter_term", "lower_installment"])
def test_partial_prepayment(engine, clock, book, mode):
    with engine.begin() as conn:
        go(conn, clock, date(2026, 12, 2), book.loan_id)


def test_refusals_change_nothing(engine, clock, book):
    with engine.begin() as conn:
        before = snapshot(conn, book.loan_id)
        n = conn.execute(select(func.count()).select_from(loan_transactions)).scalar()
        cases = [
            (
                NotFound,
                lambda: servicing.repay(conn, loan_id=999, amount_fen=1, actor=STAFF, clock=clock),
            ),
            (
                ValidationError,
                lambda: servicing.repay(
                    conn, loan_id=book.loan_id, amount_fen=0, actor=STAFF, clock=clock
                ),
            ),
            (
                ValidationError,
                lambda: servicing.repay(
                    conn, loan_id=book.loan_id, amount_fen=1.5, actor=STAFF, clock=clock
                ),
            ),
            (
                ValidationError,
                lambda: servicing.repay(
                    conn, loan_id=book.loan_id, amount_fen=-5, actor=STAFF, clock=clock
                ),
            ),
            (
                ValidationError,
                lambda: servicing.repay(
                    conn,
                    loan_id=book.loan_id,
                    amount_fen=100,
                    value_date=D0 + timedelta(days=1),
                    actor=STAFF,
                    clock=clock,
                ),
            ),
            (
                Conflict,
                lambda: servicing.disburse(conn, loan_id=book.loan_id, actor=STAFF, clock=clock),
            ),
            (
                Conflict,
                lambda: servicing.refund_credit_balance(
                    conn, loan_id=book.loan_id, actor=STAFF, clock=clock
                ),
            ),
            (
                ValidationError,
                lambda: servicing.prepay(
                    conn, loan_id=book.loan_id, mode="soon", actor=STAFF, clock=clock
                ),
            ),
        ]
        for kind, call in cases:
            with pytest.raises(kind):
                call()
        assert snapshot(conn, book.loan_id) == before
        assert conn.execute(select(func.count()).select_from(loan_transactions)).scalar() == n
        books_agree(conn)


def test_two_concurrent_repayments_never_over_allocate(engine, clock):
    """Both lock the loan row first (PostgreSQL FOR UPDATE; SQLite's BEGIN IMMEDIATE writer
    lock): the second waits, then sees the first's allocation."""
    import threading

    from puhui.db.engine import run_in_transaction

    with engine.begin() as conn:
        b = factories.setup(conn, clock)
        servicing.disburse(conn, loan_id=b.loan_id, actor=STAFF, clock=clock)
        go(conn, clock, date(2026, 12, 2), b.loan_id)
    results: list[servicing.Result] = []

    def pay() -> None:
        results.append(
            run_in_transaction(
                engine,
                lambda c: servicing.repay(
                    c, loan_id=b.loan_id, amount_fen=106_619, actor=STAFF, clock=clock
                ),
            )
        )

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.allocation.overpayment_fen for r in results) == [0, 106_619]
    with engine.begin() as conn:
        first = due(conn, b.loan_id, 1)
        assert first.paid_principal_fen == first.principal_fen
        assert conn.execute(select(loans.c.credit_balance_fen)).scalar() == 106_619
        books_agree(conn)
