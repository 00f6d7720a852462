"""The Decimal schedule path: literal tables, the numpy-financial reference, properties."""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.errors import ValidationError
from puhui.lending.schedules import LoanTerms, Method, Schedule, build_schedule

START = date(2026, 1, 15)


def table(schedule: Schedule) -> list[tuple]:
    return [
        (
            i.period,
            i.due_date.isoformat(),
            i.principal_fen,
            i.interest_fen,
            i.fee_fen,
            i.total_fen,
            i.remaining_principal_fen,
        )
        for i in schedule.installments
    ]


def loan(principal_fen=1_000_000, rate="0.12", term=12, method="equal_installment", **kw):
    return build_schedule(
        LoanTerms(principal_fen, Decimal(rate), term, Method(method), kw.pop("start", START), **kw)
    )


def test_equal_installment_table():
    # 10,000.00 at 12% over 3 months, starting on 31 January: month-end due dates.
    assert table(loan(term=3, start=date(2026, 1, 31))) == [
        (1, "2026-02-28", 330022, 10000, 0, 340022, 669978),
        (2, "2026-03-31", 333322, 6700, 0, 340022, 336656),
        (3, "2026-04-30", 336656, 3366, 0, 340022, 0),
    ]


def test_equal_installment_100k_pays_8884_88():
    schedule = loan(principal_fen=10_000_000)
    assert schedule.payments_fen == (888488,) * 12
    assert schedule.total_interest_fen == 661856


def test_equal_principal_table_last_absorbs():
    assert table(loan(term=3, method="equal_principal", principal_fen=1_000_000)) == [
        (1, "2026-02-15", 333333, 10000, 0, 343333, 666667),
        (2, "2026-03-15", 333333, 6667, 0, 340000, 333334),
        (3, "2026-04-15", 333334, 3333, 0, 336667, 0),
    ]


def test_interest_only_and_bullet_tables():
    assert table(loan(term=3, method="interest_only", period_fee_fen=500)) == [
        (1, "2026-02-15", 0, 10000, 500, 10500, 1_000_000),
        (2, "2026-03-15", 0, 10000, 500, 10500, 1_000_000),
        (3, "2026-04-15", 1_000_000, 10000, 500, 1_010_500, 0),
    ]
    assert table(loan(term=6, method="bullet")) == [
        (1, "2026-07-15", 1_000_000, 60000, 0, 1_060_000, 0)
    ]


def test_day_term_bullet_accrues_by_day_count():
    # 30 days at 12%: ACT/360 → 1%; ACT/365 → 0.9863…%
    s360 = loan(term=30, method="bullet", term_unit="day")
    s365 = loan(term=30, method="bullet", term_unit="day", day_count="ACT/365")
    assert table(s360) == [(1, "2026-02-14", 1_000_000, 10000, 0, 1_010_000, 0)]
    assert s365.installments[0].interest_fen == 9863


def test_broken_first_period_accrues_by_days():
    # Start 15 January, repayment day the 20th: the first period runs 36 days.
    schedule = loan(term=3, method="equal_principal", repayment_day=20)
    assert table(schedule) == [
        (1, "2026-02-20", 333333, 12000, 0, 345333, 666667),
        (2, "2026-03-20", 333333, 6667, 0, 340000, 333334),
        (3, "2026-04-20", 333334, 3333, 0, 336667, 0),
    ]
    assert schedule.period_times == (Decimal("1.2"), Decimal("2.2"), Decimal("3.2"))


def test_broken_period_equal_installment_keeps_the_principal_curve():
    plain = loan(term=6)
    broken = loan(term=6, repayment_day=25)  # 41 days to 25 February
    assert broken.installments[0].interest_fen == 13667  # 10,000 × 12% × 41/360 = 136.666…
    assert broken.installments[0].due_date == date(2026, 2, 25)
    amounts = [
        (i.principal_fen, i.interest_fen, i.remaining_principal_fen) for i in plain.installments
    ]
    assert [
        (i.principal_fen, i.interest_fen, i.remaining_principal_fen) for i in broken.installments
    ][1:] == amounts[1:]
    assert broken.installments[0].principal_fen == plain.installments[0].principal_fen


def test_zero_rate_equal_installment_has_no_interest():
    schedule = loan(principal_fen=1000, rate="0", term=3)
    assert [i.principal_fen for i in schedule.installments] == [333, 334, 333]
    assert schedule.total_interest_fen == 0


def test_tiny_equal_principal_never_goes_negative():
    schedule = loan(principal_fen=13, term=8, method="equal_principal")
    assert [i.principal_fen for i in schedule.installments] == [1] * 7 + [6]


def test_fees_upfront_separate_and_totals():
    schedule = loan(upfront_fee_fen=10_000, period_fee_fen=500)
    assert schedule.net_received_fen == 990_000
    assert schedule.total_fee_fen == 10_000 + 12 * 500
    assert all(i.fee_fen == 500 for i in schedule.installments)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"principal_fen": -1}, "amount_negative"),
        ({"principal_fen": 0}, "amount_must_be_positive"),
        ({"term": 0}, "term_out_of_range"),
        ({"term": 361}, "term_out_of_range"),
        ({"rate": "10.01"}, "rate_out_of_range"),
        ({"rate": "-0.01"}, "rate_out_of_range"),
        ({"method": "balloon"}, "unknown_method"),
        ({"term": 6, "term_unit": "day", "method": "bullet"}, "term_out_of_range"),
        ({"term": 30, "term_unit": "day"}, "day_term_needs_bullet"),
        ({"upfront_fee_fen": 1_000_000}, "upfront_fee_too_large"),
        ({"repayment_day": 32}, "repayment_day_out_of_range"),
        ({"method": "bullet", "repayment_day": 5}, "repayment_day_not_applicable"),
        ({"day_count": "30/360"}, "unknown_day_count"),
    ],
)
def test_refuses_what_cannot_be_a_loan(kwargs, code):
    args = {"principal_fen": 1_000_000, "rate": "0.12", "term": 12, "method": "equal_installment"}
    args.update(kwargs)
    rate, method = args.pop("rate"), args.pop("method")
    with pytest.raises(ValidationError) as err:
        LoanTerms(annual_rate=Decimal(rate), method=method, start=START, **args)
    assert err.value.code == code


def test_refuses_a_float_rate():
    with pytest.raises(ValidationError, match="not a float"):
        LoanTerms(1000, 0.12, 12, Method.BULLET, START)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# against numpy-financial, and properties

principals = st.integers(min_value=1, max_value=10**11)
rates = st.integers(min_value=0, max_value=360_000).map(lambda r: Decimal(r) / 1_000_000)
month_terms = st.integers(min_value=1, max_value=60)
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@pytest.mark.parametrize(
    ("principal_fen", "rate", "term"),
    [(10_000_000, "0.12", 12), (1_000_000, "0.0435", 360), (500_000, "0.3599", 36), (1, "0.1", 2)],
)
def test_equal_installment_matches_numpy_financial(principal_fen, rate, term):
    _check_against_npf(loan(principal_fen=principal_fen, rate=rate, term=term))


#: numpy-financial works in floats: (1 + i)^n - 1 cancels for tiny rates, so the reference is
#: only good to well under a fen for rates of 0.1% and up and principals up to 100 million yuan.
reference_rates = st.integers(min_value=1_000, max_value=360_000).map(
    lambda r: Decimal(r) / 1_000_000
)


@settings(max_examples=300, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=10**10),
    rate=reference_rates,
    term=month_terms,
    start=starts,
)
def test_equal_installment_within_a_fen_of_numpy_financial(principal, rate, term, start):
    _check_against_npf(loan(principal_fen=principal, rate=rate, term=term, start=start))


def _check_against_npf(schedule: Schedule) -> None:
    """Every period's payment, interest and principal within 1 fen of the textbook values."""
    t = schedule.terms
    i, n, p = float(t.annual_rate) / 12, t.term, t.principal_fen
    payment = float(npf.pmt(i, n, -p))
    for line in schedule.installments:
        assert abs(line.total_fen - payment) <= 1 + 1e-6
        assert abs(line.interest_fen - float(npf.ipmt(i, line.period, n, -p))) <= 1 + 1e-6
        assert abs(line.principal_fen - float(npf.ppmt(i, line.period, n, -p))) <= 1 + 1e-6


methods = st.sampled_from(list(Method))


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=rates, term=month_terms, method=methods, start=starts)
def test_principal_sums_exactly_and_nothing_is_negative(principal, rate, term, method, start):
    schedule = loan(principal_fen=principal, rate=rate, term=term, method=method, start=start)
    assert schedule.total_principal_fen == principal
    assert schedule.installments[-1].remaining_principal_fen == 0
    for line in schedule.installments:
        assert min(line.principal_fen, line.interest_fen, line.total_fen) >= 0
        assert line.remaining_principal_fen >= 0


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates, term=month_terms)
def test_equal_installments_differ_by_at_most_a_fen(principal, rate, term):
    totals = loan(principal_fen=principal, rate=rate, term=term).payments_fen
    assert max(totals[:-1], default=totals[0]) - min(totals[:-1], default=totals[0]) <= 1
    assert max(totals) - min(totals) <= 1  # and the last too, by construction


@settings(max_examples=200, deadline=None)
@given(principal=principals, rate=rates, term=month_terms)
def test_equal_principal_interest_never_rises(principal, rate, term):
    interest = [i.interest_fen for i in loan(principal, rate, term, "equal_principal").installments]
    assert all(a >= b for a, b in pairwise(interest))
