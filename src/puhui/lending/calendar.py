"""The logical business date loans run on (营业日), apart from the wall clock.

Loans are accrued, aged and billed by business date: the end-of-day batch for date D closes D
and moves the calendar to D + 1, so a batch that runs late (or catches up several missed days)
still dates everything right, and tests and the simulation move time without touching the clock.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock, business_date
from puhui.core.errors import Conflict
from puhui.lending.models import calendar


def current(conn: Connection, *, clock: Clock) -> date:
    """The business date; on first use the wall clock's Shanghai date, recorded."""
    row = conn.execute(select(calendar.c.business_date).where(calendar.c.id == 1)).first()
    if row is not None:
        return row.business_date
    today = business_date(clock.now())
    conn.execute(insert(calendar).values(id=1, business_date=today, updated_us=_us(clock)))
    return today


def advance(conn: Connection, *, closed: date, clock: Clock) -> date:
    """Mark ``closed`` as finished: the business date becomes the next day.

    Refuses to move anything but the current date forward, so two batches cannot both close it.
    """
    now = current(conn, clock=clock)
    if closed != now:
        raise Conflict(
            "business_date_mismatch",
            f"the business date is {now.isoformat()}, not {closed.isoformat()}",
            field="business_date",
        )
    nxt = closed + timedelta(days=1)
    conn.execute(
        update(calendar)
        .where(calendar.c.id == 1, calendar.c.business_date == closed)
        .values(business_date=nxt, updated_us=_us(clock))
    )
    return nxt


def set_date(conn: Connection, *, business_date_: date, clock: Clock) -> None:
    """Set the business date outright: for a new installation, migration or tests."""
    current(conn, clock=clock)
    conn.execute(
        update(calendar)
        .where(calendar.c.id == 1)
        .values(business_date=business_date_, updated_us=_us(clock))
    )


def _us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)
