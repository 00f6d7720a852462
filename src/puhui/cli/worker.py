"""``puhui worker``: run task workers that take end-of-day and disclosure partitions off the
queue; the dispatchers behind ``puhui eod --distributed`` and ``puhui disclose --distributed``."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

import typer
from sqlalchemy import Engine

from puhui.cli.common import DatabaseOption, console, err_console, run
from puhui.compliance.disclosure import MonthlyFigures
from puhui.core.clock import SYSTEM_CLOCK
from puhui.lending.eod import DayReport
from puhui.tasks import broker as brokers

BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        envvar="PUHUI_BROKER_URL",
        help=f"Broker URL, amqp:// or redis:// (default: {brokers.DEFAULT_BROKER_URL}).",
    ),
]
QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue",
        envvar="PUHUI_TASK_QUEUE",
        help=f"Queue name, shared by the dispatcher and its workers (default: "
        f"{brokers.DEFAULT_QUEUE}).",
    ),
]


def worker(
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads.")] = 2,
    broker: BrokerOption = None,
    queue: QueueOption = None,
    database: DatabaseOption = None,
) -> None:
    """Run end-of-day and disclosure partitions from the queue until SIGTERM or Ctrl-C. Start
    as many as you like, on any machine that reaches the broker and the database; `puhui eod
    --distributed` and `puhui disclose --distributed` send them work."""
    from puhui.tasks import worker as task_worker

    name = _queue(queue)
    # no schema check here: on SQLite it would wait for a batch step holding the write lock
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run(
        lambda: task_worker.run(
            database=database,
            broker_url=broker,
            queue=name,
            threads=threads,
            on_ready=lambda: console.print(f"worker ready on queue {name}", soft_wrap=True),
        )
    )


def _queue(queue: str | None) -> str:
    return run(lambda: brokers.queue_name(queue))


def distributed_eod(
    engine: Engine, start: date, end: date, partitions: int, partition: int | None
) -> list[DayReport]:
    """``puhui eod --distributed``: the dispatcher, with a progress line per date."""
    from puhui.tasks import eod as eod_tasks

    if partition is not None:
        raise typer.BadParameter(
            "--partition runs one partition here; --distributed sends them all",
            param_hint="--partition",
        )
    broker = run(lambda: brokers.make_broker(None))
    try:
        actor = eod_tasks.declare(broker, _queue(None))

        def progress(d: date, done: int, total: int) -> None:
            console.print(f"{d.isoformat()}: {done}/{total} partitions done", soft_wrap=True)

        return run(
            lambda: eod_tasks.run_distributed(
                engine,
                actor,
                start=start,
                through=end,
                partitions=partitions,
                clock=SYSTEM_CLOCK,
                on_progress=progress,
            )
        )
    finally:
        broker.close()


def distributed_disclosure(engine: Engine, period: str, partitions: int) -> MonthlyFigures:
    """``puhui disclose --distributed``: the dispatcher, with progress on stderr (the report
    itself may be going to stdout)."""
    from puhui.tasks import disclosure as disclosure_tasks

    broker = run(lambda: brokers.make_broker(None))
    try:
        actor = disclosure_tasks.declare(broker, _queue(None))

        def progress(done: int, total: int) -> None:
            err_console.print(f"{period}: {done}/{total} partitions done", soft_wrap=True)

        return run(
            lambda: disclosure_tasks.run_distributed(
                engine, actor, period=period, partitions=partitions, on_progress=progress
            )
        )
    finally:
        broker.close()
