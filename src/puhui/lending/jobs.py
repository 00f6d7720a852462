"""The end-of-day batch's public entry points, for the command line and the task queue.

``run_eod`` closes one date or catches up a range; ``steps_for`` says how many steps that will
be, for a progress bar. Everything else is in eod.py (runs, partitions, closing a date) and
eod_steps.py (the daily rules, set-based).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from puhui.core.clock import Clock
from puhui.db.engine import run_in_transaction
from puhui.lending import calendar
from puhui.lending.debit_channel import DebitChannel
from puhui.lending.eod import DayReport, Hook, OnStep, report, run_range
from puhui.lending.eod_steps import STEPS, EodConfig


def business_date(engine: Engine, *, clock: Clock) -> date:
    """The date the next batch closes."""
    return run_in_transaction(engine, lambda c: calendar.current(c, clock=clock))


def run_eod(
    engine: Engine,
    *,
    clock: Clock,
    start: date | None = None,
    through: date | None = None,
    partitions: int = 1,
    partition: int | None = None,
    channel: DebitChannel | None = None,
    config: EodConfig | None = None,
    on_step: OnStep | None = None,
    hook: Hook | None = None,
) -> list[DayReport]:
    """``puhui eod``: close ``start`` (default: the business date) through ``through`` (default:
    ``start``) in order; a date already closed is skipped."""
    first = start or business_date(engine, clock=clock)
    return run_range(
        engine,
        start=first,
        through=through or first,
        clock=clock,
        partitions=partitions,
        partition=partition,
        channel=channel,
        config=config,
        on_step=on_step,
        hook=hook,
    )


def steps_for(start: date, through: date, *, partitions: int, partition: int | None) -> int:
    """How many steps ``run_eod`` will report, for a progress bar."""
    days = (through - start).days + 1
    return days * len(STEPS) * (partitions if partition is None else 1)


__all__ = ["DayReport", "business_date", "report", "run_eod", "steps_for"]
