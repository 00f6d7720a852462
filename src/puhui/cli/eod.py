"""``puhui eod``: run the end-of-day batch for a business date or a range of missed dates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.core.money import format_fen
from puhui.lending import jobs
from puhui.lending.eod import DayReport
from puhui.lending.eod_steps import StepResult


def eod(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="Business date to close (default: the current one)."),
    ] = None,
    through: Annotated[
        str | None, typer.Option(help="Catch up every date from --date through this one.")
    ] = None,
    partitions: Annotated[
        int, typer.Option(min=1, help="Split the loans into this many id ranges.")
    ] = 1,
    partition: Annotated[
        int | None,
        typer.Option(min=0, help="Run only this partition (0-based): one worker of several."),
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Send the partitions to `puhui worker` processes over the task queue "
            "(PUHUI_BROKER_URL, PUHUI_TASK_QUEUE) and wait for them.",
        ),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """日终: accrue, auto-debit, age, penalise, classify, provision, write off, snapshot, check
    the sub-ledger against the GL, and move the business date on. Safe to rerun."""
    engine = run(lambda: open_engine(database))
    try:
        start = (
            _date(date_) if date_ else run(lambda: jobs.business_date(engine, clock=SYSTEM_CLOCK))
        )
        end = _date(through) if through else start
        if distributed:
            from puhui.cli.worker import distributed_eod

            for day in distributed_eod(engine, start, end, partitions, partition):
                _print(day)
            return
        total = jobs.steps_for(start, end, partitions=partitions, partition=partition)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("end of day", total=total)

            def on_step(d: date, k: int, step: str, _result: StepResult | None) -> None:
                bar.update(task, advance=1, description=f"{d.isoformat()} p{k} {step}")

            days = run(
                lambda: jobs.run_eod(
                    engine,
                    clock=SYSTEM_CLOCK,
                    start=start,
                    through=end,
                    partitions=partitions,
                    partition=partition,
                    on_step=on_step,
                )
            )
        for day in days:
            _print(day)
    finally:
        engine.dispose()


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _print(day: DayReport) -> None:
    state = "already closed" if day.already_closed else "closed" if day.closed else "open"
    console.print(f"end of day {day.business_date.isoformat()}: {state}", soft_wrap=True)
    table = Table()
    table.add_column("step")
    table.add_column("loans", justify="right")
    table.add_column("yuan", justify="right")
    for step, (loans, fen) in day.totals().items():
        table.add_row(step, f"{loans:,}", format_fen(fen, grouping=True))
    console.print(table)
