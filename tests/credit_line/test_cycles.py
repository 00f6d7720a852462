"""Several billing cycles with exact amounts: a full payer, a minimum payer, an instalment user
and an overdue-then-cured customer, run through the real end-of-day batch; the books agree and
the ledger verifies at the end of each.

Rates (the default terms): interest 14.6% a year (0.04% a day), penalty 0.05% a day cut to
9.4% a year by the 24% cap, minimum payment 10%, instalment fee 0.6% a period. A line granted
on 2026-11-28 (late in the month, so the batch has few days to close before the first
statement) is billed on the 1st and due on the 10th.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from puhui.core.clock import Clock
from puhui.events.models import outbox
from puhui.lending import accounts, debit_channel, jobs
from puhui.lending.credit_line import draws, instalments, repayment, service, views
from puhui.lending.credit_line.models import lines

from .helpers import STAFF, books_agree, line

START = date(2026, 11, 28)
DEC1, DEC10, JAN1, FEB1 = date(2026, 12, 1), date(2026, 12, 10), date(2027, 1, 1), date(2027, 2, 1)


def close_before(engine: Engine, clock: Clock, day: date) -> None:
    """Run the batch up to the start of business date ``day``."""
    jobs.run_eod(engine, clock=clock, through=day - timedelta(days=1))


def buy(engine: Engine, clock: Clock, line_id: int, fen: int, ref: str) -> int:
    with engine.begin() as c:
        return draws.purchase(
            c, line_id=line_id, amount_fen=fen, merchant="sandbox", reference=ref, actor=STAFF,
            clock=clock,
        ).entry_id  # fmt: skip


def pay(engine: Engine, clock: Clock, line_id: int, fen: int) -> repayment.Payment:
    with engine.begin() as c:
        return repayment.pay(c, line_id=line_id, amount_fen=fen, actor=STAFF, clock=clock)


def stmt(engine: Engine, line_id: int, day: date) -> views.Statement:
    with engine.connect() as c:
        return next(s for s in views.all_statements(c, line_id=line_id) if s.statement_date == day)


def state(engine: Engine, clock: Clock, line_id: int) -> service.Line:
    with engine.connect() as c:
        return service.get(c, line_id=line_id, clock=clock)


def verified(engine: Engine) -> None:
    with engine.connect() as c:
        books_agree(c)


def test_full_payer_pays_no_interest(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 100_000, "a")
    close_before(engine, clock, date(2026, 11, 29))
    second = buy(engine, clock, ln.id, 50_000, "b")
    close_before(engine, clock, date(2026, 11, 30))
    with engine.begin() as c:
        draws.refund(
            c, line_id=ln.id, purchase_id=second, amount_fen=10_000, actor=STAFF, clock=clock
        )
    close_before(engine, clock, DEC1 + timedelta(days=1))
    s = stmt(engine, ln.id, DEC1)
    assert (s.due_date, s.opening_fen, s.purchases_fen, s.refunds_fen) == (
        DEC10,
        0,
        150_000,
        10_000,
    )
    assert (s.closing_fen, s.minimum_fen, s.interest_fen) == (140_000, 14_000, 0)
    assert [e.kind for e in s.entries] == ["purchase", "purchase", "refund"]
    pay(engine, clock, ln.id, 140_000)
    buy(engine, clock, ln.id, 30_000, "c")
    close_before(engine, clock, JAN1 + timedelta(days=1))
    s2 = stmt(engine, ln.id, JAN1)
    assert (s2.opening_fen, s2.payments_fen, s2.interest_fen, s2.closing_fen, s2.minimum_fen) == (
        0,
        140_000,
        0,
        30_000,
        3_000,
    )
    got = state(engine, clock, ln.id)
    assert (got.interest_fen, got.penalty_fen, got.billed_fen, got.available_fen) == (
        0,
        0,
        30_000,
        970_000,
    )
    with engine.connect() as c:
        sent = c.execute(
            select(func.count()).select_from(outbox).where(outbox.c.topic == "creditline.statement")
        ).scalar()
    assert sent == 2
    verified(engine)


def test_minimum_payer_pays_daily_interest_on_the_rest(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 100_000, "a")
    close_before(engine, clock, DEC10)
    assert stmt(engine, ln.id, DEC1).minimum_fen == 10_000
    pay(engine, clock, ln.id, 10_000)  # the minimum, on the due date
    close_before(engine, clock, JAN1 + timedelta(days=1))
    # 90,000 × 14.6% / 365 = 36 fen a day, 2026-12-11 … 2027-01-01: 22 days
    s = stmt(engine, ln.id, JAN1)
    assert (s.opening_fen, s.payments_fen, s.interest_fen, s.penalty_fen) == (
        90_000,
        10_000,
        792,
        0,
    )
    assert (s.closing_fen, s.minimum_fen) == (90_792, 9_792)
    got = state(engine, clock, ln.id)
    assert (got.dpd, got.state, got.interest_fen) == (0, "active", 792)
    paid = pay(engine, clock, ln.id, 90_792)
    assert (paid.split.interest_fen, paid.split.billed_fen) == (792, 90_000)
    close_before(engine, clock, FEB1 + timedelta(days=1))
    s2 = stmt(engine, ln.id, FEB1)
    assert (s2.interest_fen, s2.closing_fen) == (0, 0)  # paid in full: no more interest
    assert state(engine, clock, ln.id).available_fen == 1_000_000
    verified(engine)


def test_instalment_user_with_auto_debit_and_early_settlement(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
        debit_channel.fund(c, balances={ln.customer_id: 500_000}, clock=clock)
    bought = buy(engine, clock, ln.id, 120_000, "tv")
    with engine.begin() as c:
        q = instalments.quote_purchase(c, line_id=ln.id, purchase_id=bought, periods=3, clock=clock)
        assert (q.fee_per_period_fen, q.payments_fen) == (720, (40_720, 40_720, 40_720))
        assert q.annual_rate_irr.quantize(Decimal("0.0001")) == Decimal("0.1077")  # 12 × 0.8973%
        assert q.annual_rate_irr <= q.cap == Decimal("0.24")
        plan = instalments.convert_purchase(
            c, line_id=ln.id, purchase_id=bought, periods=3, actor=STAFF, clock=clock
        )
        got = service.get(c, line_id=ln.id, clock=clock)
        assert (got.unbilled_fen, got.instalment_fen, got.available_fen) == (0, 120_000, 880_000)
    close_before(engine, clock, DEC10 + timedelta(days=1))
    s = stmt(engine, ln.id, DEC1)
    assert (s.instalments_fen, s.fees_fen, s.closing_fen, s.minimum_fen) == (
        40_000,
        720,
        40_720,
        40_720,
    )
    assert [e.kind for e in s.entries] == ["purchase", "instalment", "fee"]
    got = state(engine, clock, ln.id)  # the due date's auto-debit paid it from the card
    assert (got.stmt_remaining_fen, got.billed_fen, got.fees_fen, got.available_fen) == (
        0,
        0,
        0,
        920_000,
    )
    with engine.connect() as c:
        card = c.execute(select(debit_channel.debit_sandbox_accounts.c.balance_fen)).scalar()
    assert card == 500_000 - 40_720
    close_before(engine, clock, JAN1 + timedelta(days=5))
    assert stmt(engine, ln.id, JAN1).closing_fen == 40_720
    with engine.begin() as c:
        repayment.pay(c, line_id=ln.id, amount_fen=40_720, actor=STAFF, clock=clock)
        done = instalments.settle_early(c, line_id=ln.id, plan_id=plan.id, actor=STAFF, clock=clock)
        assert (done.state, done.periods_billed) == ("early_settled", 2)
        assert service.get(c, line_id=ln.id, clock=clock).available_fen == 1_000_000
    close_before(engine, clock, FEB1 + timedelta(days=1))
    s3 = stmt(engine, ln.id, FEB1)
    assert (s3.instalments_fen, s3.fees_fen, s3.closing_fen) == (0, 0, 0)
    verified(engine)


def test_overdue_then_cured(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 100_000, "a")
    close_before(engine, clock, DEC10 + timedelta(days=7))  # through 12-16: dpd 6
    got = state(engine, clock, ln.id)
    assert (got.state, got.dpd, got.bucket) == ("active", 6, "M1")
    # 100,000 × 14.6% / 365 = 40 fen a day; 10,000 × 9.4% / 365 = 2.58 → 3 fen a day; 6 days
    assert (got.interest_fen, got.penalty_fen) == (240, 18)
    close_before(engine, clock, DEC10 + timedelta(days=8))
    got = state(engine, clock, ln.id)
    assert (got.state, got.dpd, got.interest_fen, got.penalty_fen) == ("suspended", 7, 280, 21)
    with engine.begin() as c:
        from puhui.core.errors import Conflict

        try:
            draws.purchase(c, line_id=ln.id, amount_fen=1, merchant="m", actor=STAFF, clock=clock)
            raise AssertionError("a suspended line took a purchase")
        except Conflict as e:
            assert e.code == "credit_line_state"
    paid = pay(engine, clock, ln.id, 10_000)  # the overdue minimum: cured
    assert (paid.split.penalty_fen, paid.split.interest_fen, paid.split.billed_fen) == (
        21,
        280,
        9_699,
    )
    assert (paid.line.state, paid.line.dpd, paid.line.bucket) == ("active", 0, "M0")
    close_before(engine, clock, JAN1 + timedelta(days=1))
    # 90,301 × 14.6% / 365 = 36.12 → 36 fen a day, 12-18 … 01-01: 15 days; no more penalty
    s = stmt(engine, ln.id, JAN1)
    assert (s.interest_fen, s.penalty_fen) == (280 + 540, 21)
    assert (s.opening_fen, s.closing_fen) == (90_000, 90_301 + 540)
    assert s.minimum_fen == 9_030 + 540
    with engine.connect() as c:
        assert c.execute(select(lines.c.overdue_since)).scalar() is None
    verified(engine)


def test_thirty_days_overdue_closes_the_line(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 50_000, "a")
    close_before(engine, clock, DEC10 + timedelta(days=31))
    got = state(engine, clock, ln.id)
    assert (got.state, got.dpd, got.bucket, got.available_fen) == ("closed", 30, "M1", 0)
    with engine.connect() as c:
        queue = views.collections_queue(c)
    assert [(q.line_id, q.dpd) for q in queue] == [(ln.id, 30)]
    assert queue[0].overdue_fen == stmt(engine, ln.id, JAN1).minimum_fen
    verified(engine)


def test_statement_into_instalments_then_a_short_card(engine, clock):
    """账单分期 of a 900-yuan statement over 6 periods leaves only the charges due; a card
    short of the next period's amount is debited what it has and the rest falls overdue."""
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 90_000, "a")
    close_before(engine, clock, date(2026, 12, 5))
    with engine.begin() as c:
        q = instalments.quote_statement(c, line_id=ln.id, periods=6, clock=clock)
        assert (q.principal_fen, q.fee_per_period_fen, q.payments_fen[-1]) == (90_000, 540, 15_540)
        plan = instalments.convert_statement(c, line_id=ln.id, periods=6, actor=STAFF, clock=clock)
        assert (plan.source, plan.principal_fen) == ("statement", 90_000)
        got = service.get(c, line_id=ln.id, clock=clock)
        assert (got.billed_fen, got.instalment_fen, got.stmt_remaining_fen) == (0, 90_000, 0)
        from puhui.core.errors import Conflict

        try:
            instalments.convert_statement(c, line_id=ln.id, periods=3, actor=STAFF, clock=clock)
            raise AssertionError("a statement converted twice")
        except Conflict as e:
            assert e.code == "statement_not_convertible"
        debit_channel.fund(c, balances={ln.customer_id: 10_000}, clock=clock)
    close_before(engine, clock, date(2027, 1, 11))
    s = stmt(engine, ln.id, JAN1)
    assert (s.instalments_fen, s.fees_fen, s.closing_fen, s.minimum_fen) == (
        15_000,
        540,
        15_540,
        15_540,
    )
    got = state(engine, clock, ln.id)  # 10,000 taken on 01-10: fee 540, then principal 9,460
    assert (got.stmt_remaining_fen, got.min_remaining_fen, got.billed_fen) == (5_540, 5_540, 5_540)
    assert (got.dpd, got.fees_fen, got.instalment_fen) == (0, 0, 75_000)
    with engine.connect() as c:
        assert c.execute(select(lines.c.overdue_since)).scalar() == date(2027, 1, 10)
    verified(engine)


def test_two_partitions_bill_each_line_once(engine, clock):
    with engine.begin() as c:
        a = line(c, clock, today=START)
        b = line(c, clock, today=START)
    buy(engine, clock, a.id, 10_000, "a")
    buy(engine, clock, b.id, 20_000, "b")
    jobs.run_eod(engine, clock=clock, through=DEC1, partitions=2)
    assert (stmt(engine, a.id, DEC1).closing_fen, stmt(engine, b.id, DEC1).closing_fen) == (
        10_000,
        20_000,
    )
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(outbox)).scalar()
    assert n == 2
    verified(engine)


def test_a_refund_after_the_statement_lowers_what_is_due(engine, clock):
    """A refund of a billed purchase pays the statement down; once nothing is owed the rest of
    it goes back to the customer and the GL moves only by what was owed."""
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    first = buy(engine, clock, ln.id, 60_000, "a")
    close_before(engine, clock, date(2026, 12, 3))
    assert stmt(engine, ln.id, DEC1).minimum_fen == 6_000
    with engine.begin() as c:
        r = draws.refund(
            c, line_id=ln.id, purchase_id=first, amount_fen=20_000, actor=STAFF, clock=clock
        )
        # counted as paid towards the statement: its minimum is met
        assert (r.applied_fen, r.line.stmt_remaining_fen, r.line.min_remaining_fen) == (
            20_000,
            40_000,
            0,
        )
        repayment.pay(c, line_id=ln.id, amount_fen=40_000, actor=STAFF, clock=clock)
        cash = accounts.balances(c)[accounts.AccountCode.COMPANY_CASH]
        r = draws.refund(
            c, line_id=ln.id, purchase_id=first, amount_fen=40_000, actor=STAFF, clock=clock
        )
        assert (r.applied_fen, r.line.outstanding_fen) == (0, 0)
        assert accounts.balances(c)[accounts.AccountCode.COMPANY_CASH] == cash
    close_before(engine, clock, JAN1 + timedelta(days=1))
    s = stmt(engine, ln.id, JAN1)
    assert (s.refunds_fen, s.payments_fen, s.interest_fen, s.closing_fen) == (60_000, 40_000, 0, 0)
    verified(engine)


def test_the_batch_stops_when_the_line_books_differ(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
    buy(engine, clock, ln.id, 10_000, "a")
    with engine.begin() as c:  # a sub-ledger change without its GL posting
        c.execute(lines.update().values(unbilled_fen=lines.c.unbilled_fen + 1))
    from puhui.core.errors import Conflict

    try:
        close_before(engine, clock, START + timedelta(days=1))
        raise AssertionError("the batch closed a date whose books differ")
    except Conflict as e:
        assert e.code == "credit_line_books_differ"
        assert "CREDIT_LINE_RECEIVABLE 10000 ≠ 10001" in e.message
    with engine.connect() as c:
        from puhui.lending import calendar

        assert calendar.current(c, clock=clock) == START  # the date stays open
