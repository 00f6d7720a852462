"""Invariants of the pure money rules: the boost payout and the commission plan."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from puhui.ops.coupons import boost_amount
from puhui.ops.performance import Plan, month_bounds

rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.36"), places=4)


@given(st.integers(min_value=0, max_value=10**10), rates, rates)
def test_a_boost_is_the_interest_scaled_to_the_boost_rate(interest, boost, base):
    got = boost_amount(interest, boost, base)
    exact = Decimal(interest) * boost / base
    assert abs(Decimal(got) - exact) <= Decimal("0.5")
    assert got == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if boost <= base:
        assert got <= interest


PLAN = Plan(
    "p",
    "p",
    ((0, Decimal("0.002")), (500_000, Decimal("0.005")), (1_000_000, Decimal("0.008"))),
    10_000,
)


@given(
    st.integers(min_value=0, max_value=10**11),
    st.integers(min_value=0, max_value=10**11),
    st.integers(0, 50),
)
def test_commission_never_falls_as_the_annualised_amount_rises(a, b, new):
    low, high = sorted((a, b))
    assert PLAN.commission(low, new) <= PLAN.commission(high, new)
    assert PLAN.commission(high, new + 1) - PLAN.commission(high, new) == 10_000


@given(st.integers(min_value=2000, max_value=2100), st.integers(min_value=1, max_value=12))
def test_month_bounds_cover_the_whole_month(year, month):
    first, last = month_bounds(f"{year}-{month:02d}")
    assert (first.day, first.month, last.month) == (1, month, month)
    assert (last.toordinal() + 1) == (
        month_bounds(f"{year + month // 12}-{month % 12 + 1:02d}")[0].toordinal()
    )
