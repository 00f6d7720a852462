"""Grant, limits and draws: the available limit is limit − principal owed at every step, and
concurrent purchases never spend past it."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lending import factories
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.credit.policy import CreditPolicy
from puhui.db.engine import run_in_transaction
from puhui.lending import accounts, calendar
from puhui.lending.credit_line import draws, instalments, repayment, rules, service
from puhui.lending.credit_line.models import entries

from .helpers import DAY, STAFF, books_agree, line


def test_grant_limit_from_grade_income_and_caps():
    policy = CreditPolicy()
    # grade A: 0.5 × 300,000 = 150,000; MCL-CAP-01: 300,000 / 3 = 100,000 → 100,000 yuan
    got = rules.grant_limit(
        grade="A", annual_income_fen=30_000_000, owed_elsewhere_fen=0, policy=policy
    )
    assert got == rules.GrantLimit(10_000_000, ("MCL-CAP-01",))
    # a high income: bank.consumer_credit.cap of 200,000 binds
    got = rules.grant_limit(
        grade="A", annual_income_fen=150_000_000, owed_elsewhere_fen=0, policy=policy
    )
    assert got == rules.GrantLimit(20_000_000, ("bank.consumer_credit.cap",))
    # grade C: 0.3 × 60,000 = 18,000 yuan; what is owed elsewhere eats into MCL room
    got = rules.grant_limit(
        grade="C", annual_income_fen=6_000_000, owed_elsewhere_fen=1_000_000, policy=policy
    )
    assert got.limit_fen == 1_000_000  # MCL: 20,000 − 10,000 owed
    assert got.basis == ("MCL-CAP-01",)


def test_grant_open_and_refusals(engine, clock):
    with engine.begin() as conn:
        ln = line(conn, clock, limit_fen=None)
        assert (ln.state, ln.limit_fen, ln.available_fen) == ("active", 10_000_000, 10_000_000)
        assert ln.next_statement_date == date(2026, 12, 1)
        with pytest.raises(Conflict, match="already has"):
            service.grant(
                conn,
                customer_id=ln.customer_id,
                grade="A",
                annual_income_fen=30_000_000,
                actor=STAFF,
                clock=clock,
            )
        cid = factories.customer(conn, clock)
        with pytest.raises(ValidationError, match="above the"):
            service.grant(
                conn,
                customer_id=cid,
                grade="A",
                annual_income_fen=30_000_000,
                limit_fen=10_000_100,
                actor=STAFF,
                clock=clock,
            )
        with pytest.raises(NotFound, match="no customer 999"):
            service.grant(
                conn, customer_id=999, grade="A", annual_income_fen=1, actor=STAFF, clock=clock
            )
        with pytest.raises(Conflict, match="grade E"):
            service.grant(
                conn, customer_id=cid, grade="E", annual_income_fen=1, actor=STAFF, clock=clock
            )


def test_penalty_rate_is_capped_with_the_interest_rate():
    # 0.05% a day is 18.25% a year; with 14.6% interest the 24% cap leaves 9.4%
    assert rules.penalty_rate(rules.DEFAULT_TERMS, contract_date=DAY) == rules.Decimal("0.094")
    low = rules.LineTerms(annual_rate=rules.Decimal("0.05"))
    assert rules.penalty_rate(low, contract_date=DAY) == rules.Decimal("0.1825")
    with pytest.raises(ValidationError, match="above the cap"):
        rules.penalty_rate(rules.LineTerms(annual_rate=rules.Decimal("0.25")), contract_date=DAY)


def test_purchase_refund_adjust_raise_freeze_close(engine, clock):
    with engine.begin() as conn:
        ln = line(conn, clock)
        cash = accounts.balances(conn)[accounts.AccountCode.COMPANY_CASH]
        d = draws.purchase(
            conn,
            line_id=ln.id,
            amount_fen=300_000,
            merchant="sandbox",
            reference="p1",
            actor=STAFF,
            clock=clock,
        )
        assert d.line.available_fen == 700_000
        # the same reference again: the first purchase, nothing more
        again = draws.purchase(
            conn,
            line_id=ln.id,
            amount_fen=300_000,
            merchant="sandbox",
            reference="p1",
            actor=STAFF,
            clock=clock,
        )
        assert again.entry_id == d.entry_id and again.line.available_fen == 700_000
        with pytest.raises(Conflict, match="reference"):
            draws.purchase(
                conn,
                line_id=ln.id,
                amount_fen=1,
                merchant="m",
                reference="p1",
                actor=STAFF,
                clock=clock,
            )
        with pytest.raises(Conflict, match="available"):
            draws.purchase(
                conn, line_id=ln.id, amount_fen=700_001, merchant="m", actor=STAFF, clock=clock
            )
        r = draws.refund(
            conn,
            line_id=ln.id,
            purchase_id=d.entry_id,
            amount_fen=100_000,
            actor=STAFF,
            clock=clock,
        )
        assert (r.applied_fen, r.line.available_fen, r.line.unbilled_fen) == (
            100_000,
            800_000,
            200_000,
        )
        with pytest.raises(Conflict, match="only 200000"):
            draws.refund(
                conn,
                line_id=ln.id,
                purchase_id=d.entry_id,
                amount_fen=200_001,
                actor=STAFF,
                clock=clock,
            )
        assert accounts.balances(conn)[accounts.AccountCode.COMPANY_CASH] == cash - 200_000
        with pytest.raises(Conflict, match="below"):
            service.adjust(conn, line_id=ln.id, limit_fen=199_999, actor=STAFF, clock=clock)
        assert (
            service.adjust(
                conn, line_id=ln.id, limit_fen=200_000, actor=STAFF, clock=clock
            ).available_fen
            == 0
        )
        up = service.raise_temporarily(
            conn,
            line_id=ln.id,
            extra_fen=50_000,
            until=date(2026, 11, 3),
            actor=STAFF,
            clock=clock,
        )
        assert (up.effective_limit_fen, up.available_fen) == (250_000, 50_000)
        calendar.set_date(conn, business_date_=date(2026, 11, 4), clock=clock)
        assert service.get(conn, line_id=ln.id, clock=clock).available_fen == 0  # raise ended
        service.freeze(conn, line_id=ln.id, actor=STAFF, clock=clock)
        with pytest.raises(Conflict, match="frozen"):
            draws.purchase(
                conn, line_id=ln.id, amount_fen=1, merchant="m", actor=STAFF, clock=clock
            )
        service.unfreeze(conn, line_id=ln.id, actor=STAFF, clock=clock)
        with pytest.raises(Conflict, match="owes"):
            service.close(conn, line_id=ln.id, actor=STAFF, clock=clock)
        repayment.pay(conn, line_id=ln.id, amount_fen=200_000, actor=STAFF, clock=clock)
        closed = service.close(conn, line_id=ln.id, actor=STAFF, clock=clock)
        assert (closed.state, closed.available_fen, closed.outstanding_fen) == ("closed", 0, 0)
        with pytest.raises(NotFound):
            service.get(conn, line_id=ln.id, customer_id=ln.customer_id + 1, clock=clock)
        books_agree(conn)


def test_bad_input_changes_nothing(engine, clock):
    with engine.begin() as conn:
        ln = line(conn, clock)
        for bad in (0, -1, True, 1.5):
            with pytest.raises(ValidationError):
                draws.purchase(
                    conn, line_id=ln.id, amount_fen=bad, merchant="m", actor=STAFF, clock=clock
                )
        with pytest.raises(ValidationError, match="more than the 0 fen payable"):
            repayment.pay(conn, line_id=ln.id, amount_fen=1, actor=STAFF, clock=clock)
        assert conn.execute(select(func.count()).select_from(entries)).scalar() == 0
        books_agree(conn)


def _race(engine, clock, line_id: int, n: int, amount: int) -> list[str]:
    outcomes: list[str] = []
    barrier = threading.Barrier(n)

    def buy(k: int) -> None:
        barrier.wait()
        try:
            run_in_transaction(
                engine,
                lambda c: draws.purchase(
                    c,
                    line_id=line_id,
                    amount_fen=amount,
                    merchant="m",
                    reference=f"r{k}",
                    actor=STAFF,
                    clock=clock,
                ),
            )
            outcomes.append("ok")
        except Conflict as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=buy, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _check_race(engine, clock, line_id: int, outcomes: list[str]) -> None:
    assert sorted(outcomes) == ["limit_exceeded"] * 4 + ["ok"] * 4
    with engine.begin() as conn:
        got = service.get(conn, line_id=line_id, clock=clock)
        assert (got.outstanding_fen, got.available_fen) == (1_000_000, 0)
        books_agree(conn)


def test_concurrent_purchases_never_exceed_the_limit(engine, clock):
    """Threads on separate connections (SQLite: the writer lock serialises them)."""
    with engine.begin() as conn:
        ln = line(conn, clock)
    _check_race(engine, clock, ln.id, _race(engine, clock, ln.id, 8, 250_000))


@pytest.mark.postgresql_only
def test_concurrent_purchases_race_on_the_row_lock(engine, clock):
    """Eight purchases of 2,500 yuan race for a 10,000-yuan limit: FOR UPDATE on the line row
    lets exactly four through."""
    with engine.begin() as conn:
        ln = line(conn, clock)
    _check_race(engine, clock, ln.id, _race(engine, clock, ln.id, 8, 250_000))


OPS = st.lists(
    st.tuples(
        st.sampled_from(["buy", "refund", "pay", "convert", "settle", "limit"]),
        st.integers(min_value=1, max_value=600_000),
    ),
    max_size=14,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_available_is_limit_minus_outstanding_at_every_step(engine, clock, ops):
    """Any sequence of purchases, refunds, payments, instalment conversions, early settlements
    and limit changes: available = limit − principal owed (never below 0), and the books
    agree after every step."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            ln = line(conn, clock)
            bought: list[int] = []
            for op, n in ops:
                try:
                    with conn.begin_nested():
                        _do(conn, clock, ln.id, op, n, bought)
                except (Conflict, ValidationError):
                    pass
                got = service.get(conn, line_id=ln.id, clock=clock)
                owed = got.unbilled_fen + got.billed_fen + got.instalment_fen
                assert got.outstanding_fen == owed
                assert got.available_fen == max(0, got.effective_limit_fen - owed)
                assert owed <= got.effective_limit_fen or op == "limit"
                assert service.view(service.lock(conn, ln.id), DAY).available_fen == (
                    got.available_fen
                )
            assert accounts.trial_balance(conn).balanced
            from puhui.lending.credit_line import books

            assert books.check_subledger(conn) == {}
        finally:
            tx.rollback()


def _do(conn, clock, line_id: int, op: str, n: int, bought: list[int]) -> None:
    if op == "buy":
        bought.append(
            draws.purchase(
                conn, line_id=line_id, amount_fen=n, merchant="m", actor=STAFF, clock=clock
            ).entry_id
        )
    elif op == "refund" and bought:
        draws.refund(
            conn,
            line_id=line_id,
            purchase_id=bought[n % len(bought)],
            amount_fen=n % 50_000 + 1,
            actor=STAFF,
            clock=clock,
        )
    elif op == "pay":
        repayment.pay(conn, line_id=line_id, amount_fen=n % 300_000 + 1, actor=STAFF, clock=clock)
    elif op == "convert" and bought:
        instalments.convert_purchase(
            conn,
            line_id=line_id,
            purchase_id=bought[n % len(bought)],
            periods=3,
            actor=STAFF,
            clock=clock,
        )
    elif op == "settle":
        plans = instalments.list_plans(conn, line_id=line_id)
        if plans:
            instalments.settle_early(
                conn, line_id=line_id, plan_id=plans[n % len(plans)].id, actor=STAFF, clock=clock
            )
    elif op == "limit":
        service.adjust(conn, line_id=line_id, limit_fen=n * 2, actor=STAFF, clock=clock)
