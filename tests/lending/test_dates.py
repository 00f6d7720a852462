from datetime import date
from decimal import Decimal

import pytest

from puhui.lending.dates import (
    DayCount,
    add_months,
    day_term_due_date,
    month_day,
    monthly_due_dates,
)


def test_month_end_start_clamps_each_month_without_drifting():
    assert monthly_due_dates(date(2026, 1, 31), 4) == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]


def test_leap_february():
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2028, 1, 29), 1) == date(2028, 2, 29)
    assert add_months(date(2027, 1, 29), 1) == date(2027, 2, 28)


def test_year_boundary_and_fixed_day():
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert monthly_due_dates(date(2026, 1, 15), 2, day=31) == [date(2026, 2, 28), date(2026, 3, 31)]
    assert month_day(2026, 4, 31) == date(2026, 4, 30)


def test_day_terms():
    assert day_term_due_date(date(2026, 12, 25), 7) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("convention", "fraction"),
    [(DayCount.ACT_360, Decimal(31) / 360), (DayCount.ACT_365, Decimal(31) / 365)],
)
def test_year_fraction(convention, fraction):
    assert convention.year_fraction(date(2026, 1, 1), date(2026, 2, 1)) == fraction
