"""Working days (工作日) with public holidays and make-up working days (调休).

Chinese public holidays are rearranged each year by a State Council notice: some weekdays are
off and some weekend days become working days (调休上班). Deadlines counted in working days —
the monthly disclosure (DIS-OPS-01), large-value reports (AML-LVT-03), filing a confirmed
suspicious case — use this calendar. The built-in schedule is data, not code: a newer notice is
loaded with ``WorkingCalendar.from_mapping`` or passed in wherever a calendar is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from puhui.core.errors import ValidationError


def _days(*spans: str) -> frozenset[date]:
    """Dates from "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD" (inclusive) spans."""
    out: set[date] = set()
    for span in spans:
        first, _, last = span.partition("..")
        start = date.fromisoformat(first)
        end = date.fromisoformat(last) if last else start
        while start <= end:
            out.add(start)
            start += timedelta(days=1)
    return frozenset(out)


#: State Council holiday schedules 2024–2026 (国务院办公厅关于部分节假日安排的通知).
CN_HOLIDAYS = _days(
    "2024-01-01",
    "2024-02-10..2024-02-17",
    "2024-04-04..2024-04-06",
    "2024-05-01..2024-05-05",
    "2024-06-10",
    "2024-09-15..2024-09-17",
    "2024-10-01..2024-10-07",
    "2025-01-01",
    "2025-01-28..2025-02-04",
    "2025-04-04..2025-04-06",
    "2025-05-01..2025-05-05",
    "2025-05-31..2025-06-02",
    "2025-10-01..2025-10-08",
    "2026-01-01..2026-01-03",
    "2026-02-15..2026-02-23",
    "2026-04-04..2026-04-06",
    "2026-05-01..2026-05-05",
    "2026-06-19..2026-06-21",
    "2026-09-25..2026-09-27",
    "2026-10-01..2026-10-07",
)
#: Weekend days that are working days (调休上班) in the same notices.
CN_MAKEUP_DAYS = _days(
    "2024-02-04",
    "2024-02-18",
    "2024-04-07",
    "2024-04-28",
    "2024-05-11",
    "2024-09-14",
    "2024-09-29",
    "2024-10-12",
    "2025-01-26",
    "2025-02-08",
    "2025-04-27",
    "2025-09-28",
    "2025-10-11",
    "2026-01-04",
    "2026-02-14",
    "2026-02-28",
    "2026-05-09",
    "2026-09-20",
    "2026-10-10",
)


@dataclass(frozen=True)
class WorkingCalendar:
    """Monday–Friday, minus ``holidays``, plus ``makeup_days``."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        both = self.holidays & self.makeup_days
        if both:
            raise ValidationError(
                "calendar_conflict",
                f"{min(both).isoformat()} is both a holiday and a make-up working day",
                field="makeup_days",
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Iterable[str]]) -> WorkingCalendar:
        """From ``{"holidays": [...spans], "makeup_days": [...spans]}`` (spans as in config)."""
        try:
            return cls(_days(*data.get("holidays", ())), _days(*data.get("makeup_days", ())))
        except ValueError as exc:
            raise ValidationError("calendar_invalid", str(exc), field="calendar") from exc

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself never counts)."""
        if n < 1:
            raise ValidationError("working_days_invalid", "n must be at least 1", field="n")
        found = 0
        while found < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                found += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how far into a deadline ``end`` is."""
        count = 0
        while start < end:
            start += timedelta(days=1)
            count += self.is_working_day(start)
        return count


CN_CALENDAR = WorkingCalendar(CN_HOLIDAYS, CN_MAKEUP_DAYS)


def month_end(period: str) -> date:
    """The last day of a "YYYY-MM" period."""
    year, month = parse_period(period)
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def parse_period(period: str) -> tuple[int, int]:
    try:
        year_s, month_s = period.split("-")
        year, month = int(year_s), int(month_s)
        if len(year_s) != 4 or len(month_s) != 2 or not 1 <= month <= 12:
            raise ValueError
    except (ValueError, AttributeError):
        raise ValidationError(
            "period_invalid", f"{period!r} is not a month like 2026-10", field="month"
        ) from None
    return year, month


def disclosure_deadline(
    period: str, *, calendar: WorkingCalendar = CN_CALENDAR, days: int = 5
) -> date:
    """The last day to publish a month's report: the 5th working day after month end."""
    return calendar.add_working_days(month_end(period), days)
