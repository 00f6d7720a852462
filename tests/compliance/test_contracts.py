"""Related parties, banned phrases, the working-day calendar and the migration."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st

from puhui.compliance import models  # noqa: F401  (registers the tables)
from puhui.compliance.calendar import (
    CN_CALENDAR,
    WorkingCalendar,
    disclosure_deadline,
    month_end,
)
from puhui.compliance.phrases import BANNED_PHRASES, find_banned
from puhui.compliance.related import flag_related_party, related_party
from puhui.core.errors import ValidationError
from puhui.db.metadata import metadata


def test_migration_matches_the_models(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = ("related_parties", "compliance_", "aml_")
    assert [d for d in diffs if any(t in repr(d) for t in ours)] == []


def test_related_party_round_trip(engine, clock):
    with engine.begin() as c:
        assert related_party(c, 7) is None
        rp = flag_related_party(
            c, customer_id=7, relation="shareholder", disclosed=True, clock=clock
        )
        assert (rp.customer_id, rp.relation, rp.disclosed) == (7, "shareholder", True)
        assert rp.flagged_at == clock.now()
        clock.advance(timedelta(hours=1))
        again = flag_related_party(
            c, customer_id=7, relation="director", disclosed=False, clock=clock
        )
        assert (again.relation, again.disclosed, again.flagged_at) == (
            "director",
            False,
            clock.now(),
        )
        assert related_party(c, 7) == again
        with pytest.raises(ValidationError) as err:
            flag_related_party(c, customer_id=8, relation=" ", disclosed=True, clock=clock)
        assert err.value.field == "relation"
        assert related_party(c, 8) is None


def test_banned_phrases():
    assert find_banned("本项目保 本保息，刚性兑付") == ["保本", "保息", "刚性兑付"]
    assert find_banned("Guaranteed  RETURNS, risk-free!") == ["guaranteed returns", "risk free"]
    assert find_banned("100％安全") == ["100%安全"]
    assert find_banned("a piano risk; 出借有风险，投资需谨慎") == []
    assert find_banned("") == []


def test_deadline_with_national_day_make_up_day():
    """DIS-OPS-01: 10-01..07 off, 10-12 (a Saturday) a make-up working day."""
    assert disclosure_deadline("2024-09") == date(2024, 10, 12)
    assert CN_CALENDAR.is_working_day(date(2024, 10, 12))
    assert not CN_CALENDAR.is_working_day(date(2024, 10, 7))
    # Without the make-up day the fifth working day is the Monday after.
    plain = WorkingCalendar(holidays=CN_CALENDAR.holidays)
    assert disclosure_deadline("2024-09", calendar=plain) == date(2024, 10, 14)
    # A month with no holiday: 2026-10 ends on a Saturday, 5 working days = Fri 11-06.
    assert disclosure_deadline("2026-10") == date(2026, 11, 6)
    assert month_end("2024-02") == date(2024, 2, 29)
    assert month_end("2026-12") == date(2026, 12, 31)


def test_calendar_refuses_bad_input():
    with pytest.raises(ValidationError):
        disclosure_deadline("2026-13")
    with pytest.raises(ValidationError):
        WorkingCalendar.from_mapping({"holidays": ["2024-10-12"], "makeup_days": ["2024-10-12"]})
    cal = WorkingCalendar.from_mapping({"holidays": ["2024-10-01..2024-10-07"]})
    assert cal.add_working_days(date(2024, 9, 30), 1) == date(2024, 10, 8)


@given(st.dates(date(2024, 1, 1), date(2026, 12, 1)), st.integers(1, 30))
def test_working_day_arithmetic_agrees_with_itself(day, n):
    end = CN_CALENDAR.add_working_days(day, n)
    assert CN_CALENDAR.is_working_day(end)
    assert CN_CALENDAR.working_days_between(day, end) == n
    assert CN_CALENDAR.working_days_between(day, end - timedelta(days=1)) == n - 1


@given(st.sampled_from([p for p in BANNED_PHRASES if not p.isascii()]), st.data())
def test_spaces_inside_a_chinese_phrase_do_not_hide_it(phrase, data):
    cut = data.draw(st.integers(1, len(phrase) - 1))
    text = f"本项目{phrase[:cut]} \u3000{phrase[cut:]}，欢迎出借"
    assert phrase in find_banned(text)
