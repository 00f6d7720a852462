"""Due dates and day counts.

A monthly loan falls due on one fixed day of the month, counted from the start date rather than
from the previous due date, so a loan started on 31 January falls due on 28 (or 29) February,
31 March and 30 April: clamping to the month's end never drifts the later dates.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum


class DayCount(StrEnum):
    """How a part of a year is counted: actual days over a 360- or a 365-day year."""

    ACT_360 = "ACT/360"
    ACT_365 = "ACT/365"

    @property
    def basis(self) -> int:
        """Days in the year the convention divides by."""
        return 360 if self is DayCount.ACT_360 else 365

    def year_fraction(self, start: date, end: date) -> Decimal:
        """The fraction of a year between two dates (exact, as a Decimal)."""
        return Decimal((end - start).days) / Decimal(self.basis)


def month_day(year: int, month: int, day: int) -> date:
    """Day ``day`` of a month, or the month's last day when the month is shorter."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def add_months(start: date, months: int, *, day: int | None = None) -> date:
    """The date ``months`` calendar months after ``start``, on ``day`` (default: start's day)."""
    index = start.year * 12 + start.month - 1 + months
    return month_day(index // 12, index % 12 + 1, day or start.day)


def monthly_due_dates(start: date, count: int, *, day: int | None = None) -> list[date]:
    """``count`` due dates, one a month after ``start``, each on ``day`` of its month.

    With ``day`` unset the loan falls due on the start's own day of the month. With a fixed
    repayment day the first due date is that day in the month after the start month, so the
    first period is broken (shorter or longer than a month) and accrues interest by days.
    """
    return [add_months(start, k, day=day) for k in range(1, count + 1)]


def day_term_due_date(start: date, days: int) -> date:
    """The single due date of a loan counted in days (a 7–365-day loan)."""
    return start + timedelta(days=days)
