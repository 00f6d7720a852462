"""The annual rate by IRR: the regulation's four vectors, pyxirr and numpy-financial as
references, XIRR by day count, and the vectorised solver."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import numpy_financial as npf
import pytest
import pyxirr
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.errors import ValidationError
from puhui.core.rates import format_percent
from puhui.lending.apr import (
    LABEL,
    annual_rates,
    dated_rates,
    irr,
    irr_many,
    month_step,
    schedule_rates,
    xirr,
)
from puhui.lending.dates import DayCount, add_months
from puhui.lending.schedules import LoanTerms, Method, build_schedule


@pytest.mark.parametrize(
    ("case", "received_fen", "payment_fen", "monthly", "nominal", "effective"),
    [
        ("A plain annuity", 10_000_000, 888_488, "1.0000%", "12.00%", "12.68%"),
        ("B upfront fee", 9_900_000, 883_330, "1.0670%", "12.80%", "13.58%"),
        ("C 砍头息", 900_000, 88_849, "2.7084%", "32.50%", "37.81%"),
        ("D flat fee", 1_000_000, 83_333 + 5_000, "0.9080%", "10.90%", "11.46%"),
    ],
)
def test_regulation_vectors(case, received_fen, payment_fen, monthly, nominal, effective):
    rates = annual_rates(
        received_fen=received_fen, payments_fen=[payment_fen] * 12, periods_per_year=12
    )
    assert format_percent(rates.periodic_rate, 4) == monthly
    assert format_percent(rates.annual_rate_irr) == nominal
    assert format_percent(rates.effective_annual_rate) == effective
    assert rates.label == LABEL == "年化利率（按内部收益率法）"


def test_a_schedule_with_an_upfront_fee_costs_more_than_its_contract_rate():
    # 100,000 at 12% for 12 months with a 1,000 fee paid at disbursement: the borrower has
    # the use of 99,000 and repays 12 × 8,884.88.
    schedule = build_schedule(
        LoanTerms(
            10_000_000,
            Decimal("0.12"),
            12,
            Method.EQUAL_INSTALLMENT,
            date(2026, 1, 15),
            upfront_fee_fen=100_000,
        )
    )
    rates = schedule_rates(schedule)
    assert format_percent(rates.annual_rate_irr) == "13.91%"
    reference = pyxirr.irr([-9_900_000] + [888_488] * 12) * 12
    assert float(rates.annual_rate_irr) == pytest.approx(reference, abs=1e-10)


@settings(max_examples=200, deadline=None)
@given(
    received=st.integers(min_value=1_000, max_value=10**10),
    payments=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40),
)
def test_irr_matches_pyxirr_and_numpy_financial(received, payments):
    if sum(payments) == 0 or sum(payments) > received * 50:
        return
    flows = [-received, *payments]
    ours = float(irr(flows))
    reference = pyxirr.irr(flows)
    if reference is None:
        # pyxirr gives up this close to −100%; ours must still be a root of the NPV.
        terms = [f / (1 + ours) ** i for i, f in enumerate(flows)]
        assert ours > -1 and abs(sum(terms)) <= 1e-9 * max(abs(t) for t in terms)
        return
    assert ours == pytest.approx(reference, abs=1e-10)
    assert ours == pytest.approx(float(npf.irr(flows)), abs=1e-9)


def test_irr_with_fractional_times():
    # 1,000 received, 1,100 repaid after 2.5 periods: (1.1)^(1/2.5) − 1.
    rate = irr([1000, -1100], [Decimal(0), Decimal("2.5")])
    assert float(rate) == pytest.approx(1.1 ** (1 / 2.5) - 1, abs=1e-15)


@pytest.mark.parametrize(
    ("flows", "code"),
    [
        ([100, 50], "irr_needs_both_signs"),
        ([100], "irr_needs_flows"),
        ([-5, 0], "irr_needs_both_signs"),
    ],
)
def test_irr_refuses_flows_without_a_rate(flows, code):
    with pytest.raises(ValidationError) as err:
        irr(flows)
    assert err.value.code == code


@settings(max_examples=100, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    gaps=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    payment=st.integers(min_value=1_000, max_value=10**8),
    rate=st.sampled_from([0.03, 0.12, 0.24, 0.36]),
)
def test_xirr_matches_pyxirr(start, gaps, payment, rate):
    days = np.cumsum(gaps)
    when = [start] + [start + timedelta(days=int(d)) for d in days]
    # Received: the payments discounted at ``rate``, rounded to the fen.
    received = round(sum(payment / (1 + rate) ** (d / 365) for d in days))
    flows = list(zip(when, [received] + [-payment] * len(gaps), strict=True))
    ours = xirr(flows)
    reference = pyxirr.xirr(when, [received] + [-payment] * len(gaps))
    # pyxirr's XIRR stops within about 1e-9 of the root; ours is solved in Decimal.
    assert float(ours) == pytest.approx(reference, abs=1e-8)


def test_xirr_act_360_and_same_day_flows_merge():
    flows = [
        (date(2026, 1, 1), 100_000),
        (date(2026, 1, 1), -1_000),
        (date(2026, 12, 27), -100_000),
    ]
    # 360 days later: 99,000 grew to 100,000 in exactly one ACT/360 year.
    assert float(xirr(flows, day_count=DayCount.ACT_360)) == pytest.approx(1000 / 99000, abs=1e-10)


def test_dated_rates_on_a_monthly_grid():
    start = date(2026, 1, 31)
    flows = [(start, 9_900_000)] + [(add_months(start, k), -883_330) for k in range(1, 13)]
    rates = dated_rates(flows)
    assert rates.regular is not None
    assert format_percent(rates.regular.annual_rate_irr) == "12.80%"
    assert format_percent(rates.regular.effective_annual_rate) == "13.58%"
    assert rates.day_count is DayCount.ACT_365


def test_dated_rates_off_the_grid_give_only_xirr():
    flows = [(date(2026, 1, 1), 100), (date(2026, 2, 3), -60), (date(2026, 3, 1), -60)]
    assert dated_rates(flows).regular is None
    assert month_step([date(2026, 1, 15), date(2026, 7, 15), date(2027, 1, 15)]) == 6


# --------------------------------------------------------------------------------------
# a schedule without fees costs exactly its contract rate


def _fee_free_loans() -> st.SearchStrategy[LoanTerms]:
    """Loans of 10,000 yuan and up (rounding to the fen then moves the IRR by < 0.002%)."""
    principal = st.integers(min_value=1_000_000, max_value=10**10)
    rate = st.integers(min_value=0, max_value=3_600).map(lambda r: Decimal(r) / 10_000)
    start = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 1, 1))
    monthly = st.builds(
        LoanTerms,
        principal,
        rate,
        st.integers(min_value=1, max_value=60),
        st.sampled_from(list(Method)),
        start,
    )
    daily = st.builds(
        LoanTerms,
        principal,
        rate,
        st.integers(min_value=7, max_value=365),
        st.just(Method.BULLET),
        start,
        term_unit=st.just("day"),
        day_count=st.sampled_from(list(DayCount)),
    )
    return st.one_of(monthly, daily)


@settings(max_examples=250, deadline=None)
@given(terms=_fee_free_loans())
def test_irr_of_a_schedule_without_fees_is_its_contract_rate(terms):
    rates = schedule_rates(build_schedule(terms))
    assert abs(rates.annual_rate_irr - terms.annual_rate) < Decimal("0.0001")


# --------------------------------------------------------------------------------------
# many at once


def test_irr_many_matches_pyxirr_to_1e_10():
    rng = np.random.default_rng(7)
    m, n = 2_000, 24
    principal = rng.integers(100_000, 10**9, m).astype(float)
    monthly = rng.uniform(0.0, 0.05, m)
    payment = np.floor(
        principal * np.where(monthly > 0, monthly / (1 - (1 + monthly) ** -n), 1 / n) + 0.5
    )
    fee = rng.integers(0, 10_000, m).astype(float)
    flows = np.empty((m, n + 1))
    flows[:, 0] = principal - fee
    flows[:, 1:] = -payment[:, None]
    ours = irr_many(flows)
    reference = np.array(pyxirr.rate(n, -payment, principal - fee))
    assert np.max(np.abs(ours - reference)) < 1e-10
    for j in range(0, m, 97):
        assert ours[j] == pytest.approx(pyxirr.irr(flows[j]), abs=1e-10)


def test_irr_many_falls_back_and_marks_rows_without_a_rate():
    flows = np.array(
        [
            [100.0, -50.0, -60.0],  # a loan
            [100.0, 50.0, 60.0],  # no rate: every flow one sign
            [-100.0, 230.0, -132.0],  # two sign changes: roots at 10% and 20%
        ]
    )
    rates = irr_many(flows)
    assert rates[0] == pytest.approx(pyxirr.irr(flows[0]), abs=1e-12)
    assert np.isnan(rates[1])
    value = flows[2, 0] + flows[2, 1] / (1 + rates[2]) + flows[2, 2] / (1 + rates[2]) ** 2
    assert abs(value) < 1e-8
