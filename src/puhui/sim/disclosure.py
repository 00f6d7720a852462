"""Month-end disclosure and the daily compliance run of a simulated day, through ``compliance``.

At the close of a month's last day the monthly operating report (月度运营信息) is computed
from the books (``compliance.disclosure.monthly_figures``), and on the first working day after
it (``CN_CALENDAR``) the compliance officer publishes it, which is how a real platform meets the
deadline of the 5th working day (DIS-OPS-01). A month before the simulation's first day is
published the same way on the first working day, all zeros (late if the simulation starts after
its deadline), so the check sees no gap. Every night after the reconciliation the work of
``compliance daily`` runs (AML monitors, then the regulatory checks); the officer files the
day's large-value reports (大额交易报告) the next morning, inside their five working days. A
finding is counted by rule, so the summary shows anything the simulation did not intend.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from puhui.compliance import aml, checks, publication
from puhui.compliance.calendar import CN_CALENDAR
from puhui.compliance.disclosure import monthly_figures
from puhui.db.engine import run_in_transaction
from puhui.sim.world import World


def _officer(world: World) -> str:
    return f"staff:{world.staff_ids['compliance_officer']}"


def _period(day: Any) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def morning_filings(world: World) -> None:
    """08:30 on working days — the compliance officer files pending large-value reports and
    publishes last month's report when it is not yet published."""
    if not CN_CALENDAR.is_working_day(world.today):
        return
    world.at(8, 30)
    officer = _officer(world)

    def work(conn: Connection) -> tuple[int, str | None]:
        filed = 0
        for report in aml.list_large_value(conn, status="pending", limit=10_000):
            aml.file_large_value(conn, report_id=report.id, by=officer, clock=world.clock)
            filed += 1
        due = publication.due_unpublished(conn, clock=world.clock)
        if due is None:
            return filed, None
        publication.publish(conn, period=due["period"], published_by=officer, clock=world.clock)
        return filed, str(due["period"])

    filed, published = run_in_transaction(world.engine, work)
    if filed:
        world.count("aml_large_value_reports_filed", filed)
    if published is not None:
        world.count("disclosure_reports_published")


def month_end(world: World) -> None:
    """23:45 on a month's last day — the month's report figures, as the books close it."""
    if (world.today + timedelta(days=1)).month == world.today.month:
        return
    world.at(23, 45)
    period = _period(world.today)
    with world.engine.connect() as conn:
        world.month_reports[period] = monthly_figures(conn, period=period).items
    world.count("disclosure_reports_computed")


#: The check that re-verifies the whole ledger (``ledger verify``): its cost grows with the
#: ledger, so a long simulation runs it weekly (Sundays) and on its last day, not nightly; the
#: closing summary verifies the ledger once more.
LEDGER_CHECK = "fund_segregation"


def compliance_daily(world: World) -> None:
    """23:50 — ``puhui compliance daily``: AML monitors for the day, then the checks. On the
    first day there is no yesterday to have reconciled, so CUS-REC-01 waits a day; the whole
    ledger is re-verified on Sundays and on the last day (``LEDGER_CHECK``)."""
    world.at(23, 50)
    day = world.today
    last = world.day_index == world.config.days - 1
    skip: set[str] = set()
    if not world.day_index:
        skip.add("reconciliation")
    if day.weekday() != 6 and not last:
        skip.add(LEDGER_CHECK)
    monitors = run_in_transaction(
        world.engine, lambda c: aml.run_monitors(c, day=day, clock=world.clock)
    )
    only = tuple(name for name, _check in checks.CHECKS if name not in skip)
    ran = checks.run_checks(world.engine, clock=world.clock, business_date_=day, only=only)
    for name, n in sorted(monitors.items()):
        if n:
            world.count(f"aml_{name}", n)
    for finding in ran.findings:
        world.count(f"compliance_finding_{finding.rule_id}")
