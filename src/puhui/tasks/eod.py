"""The end-of-day batch as tasks: one message per partition of a business date.

``declare`` binds the partition actor to a broker and queue; a worker process passes the engine
it runs on, a dispatcher passes none (it only sends). ``run_distributed`` is the dispatcher:
per date it starts the run (so every partition cuts the same loan-id ranges), sends one
message per partition, waits until each partition has recorded every step, then closes the
date itself, so a failing closing check is reported to whoever asked for the batch. A worker
may close the date first; closing twice is harmless (the run row is locked and re-read).

Why retrying is safe: each step of a partition commits together with its row in
``lending_eod_steps`` (lending/eod.py), and a worker acknowledges a message only after its
partition has finished. A worker killed inside a step leaves an uncommitted transaction that
the database rolls back; the broker hands the unacknowledged message to another worker, which
skips the steps that have rows and redoes the one that was cut off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import dramatiq
from sqlalchemy import Engine

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.core.errors import ValidationError
from puhui.lending import eod
from puhui.lending.eod import DayReport, Hook
from puhui.lending.eod_steps import EodConfig
from puhui.tasks.broker import partition_actor, wait_for_partitions

ACTOR = "eod_partition"
#: A partition of a million-loan book takes minutes; Dramatiq's default limit is 10 minutes.
TIME_LIMIT_MS = 4 * 3600 * 1000
#: How long the dispatcher waits for one date's partitions before it gives up.
DEFAULT_TIMEOUT_S = 6 * 3600.0

OnDay = Callable[[date, int, int], None]


def declare(
    broker: dramatiq.Broker,
    queue: str,
    *,
    engine: Callable[[], Engine] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    hook: Hook | None = None,
) -> dramatiq.Actor:
    """The partition actor on ``broker``'s ``queue``. ``engine`` is the worker's database (None
    in a process that only sends); ``hook`` is the batch's crash hook, for tests."""

    def eod_partition(
        business_date: str, partitions: int, partition: int, config: dict[str, Any]
    ) -> bool:
        if engine is None:
            raise RuntimeError("this process has no database: it only sends end-of-day tasks")
        day = eod.run_date(
            engine(),
            business_date=date.fromisoformat(business_date),
            clock=clock,
            partitions=partitions,
            partition=partition,
            config=EodConfig(
                provision_bp=dict(config["provision_bp"]),
                write_off_dpd=int(config["write_off_dpd"]),
            ),
            hook=hook,
        )
        return day.closed

    return partition_actor(
        eod_partition, broker=broker, name=ACTOR, queue=queue, time_limit_ms=TIME_LIMIT_MS
    )


def run_distributed(
    engine: Engine,
    actor: dramatiq.Actor,
    *,
    start: date,
    through: date,
    partitions: int,
    clock: Clock = SYSTEM_CLOCK,
    config: EodConfig | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = 0.25,
    on_progress: OnDay | None = None,
) -> list[DayReport]:
    """Close ``start``…``through`` in order, each date's partitions run by the workers.

    ``on_progress(date, partitions done, partitions)`` is told as partitions finish. A date
    already closed is skipped; a rerun after the dispatcher died sends the partitions again,
    and the workers skip what was done."""
    if through < start:
        raise ValidationError("eod_range_inverted", "--through is before --date", field="through")
    config = config or EodConfig()
    payload = {"provision_bp": dict(config.provision_bp), "write_off_dpd": config.write_off_dpd}
    out: list[DayReport] = []
    d = start
    while d <= through:
        run = eod.start_run(engine, business_date=d, partitions=partitions, clock=clock)
        if run.state == "done":
            out.append(eod.report(engine, d, already_closed=True))
        else:
            for k in range(partitions):
                actor.send(d.isoformat(), partitions, k, payload)
            wait_for_partitions(
                lambda d=d: finished_partitions(engine, d, partitions),
                partitions,
                what=d.isoformat(),
                code="eod_partitions_unfinished",
                timeout_s=timeout_s,
                poll_s=poll_s,
                on_progress=on_progress and (lambda n, d=d: on_progress(d, n, partitions)),
            )
            # every partition is done: close here too (a worker may have already), so a
            # failing closing check reaches the caller
            eod.run_date(
                engine,
                business_date=d,
                clock=clock,
                partitions=partitions,
                partition=0,
                config=config,
            )
            out.append(eod.report(engine, d))
        d += timedelta(days=1)
    return out


def finished_partitions(engine: Engine, business_date: date, partitions: int) -> list[int]:
    """The partitions that have committed every step of the date."""
    per: dict[int, int] = {}
    for r in eod.report(engine, business_date).steps:
        if r.partition >= 0:
            per[r.partition] = per.get(r.partition, 0) + 1
    return [k for k in range(partitions) if per.get(k, 0) >= len(eod.STEPS)]
