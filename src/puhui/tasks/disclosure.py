"""The monthly disclosure (月度运营信息) as tasks: one message per partition of a month.

A partition is the borrowers, lenders and compensated loans whose id leaves remainder ``k``
when divided by the partition count (compliance.disclosure.in_partition), so every distinct
count of the report adds up over partitions and the ten largest borrowers are among the
partitions' ten largest. A task computes its partition's figures and commits them to
``task_disclosure_partials`` in one transaction, keyed by (period, partitions, part); the
dispatcher (``run_distributed``, behind ``puhui disclose --distributed``) clears the month's
rows, sends one message per partition, waits until every partition has its row, and merges
them into the same ``MonthlyFigures`` that ``monthly_figures`` computes in one process.

Why retrying is safe: the figures are read-only queries over history up to the month's end,
and a task's row commits with nothing else. A worker killed before its commit leaves no row
(the database rolls its transaction back) and its unacknowledged message goes to another
worker, which computes the partition again; a message delivered twice finds the row and does
nothing, and two deliveries at once meet at the row's primary key, where the second waits for
the first's commit and then inserts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import dramatiq
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from puhui.compliance import disclosure
from puhui.compliance.disclosure import MonthlyFigures
from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.core.errors import Conflict
from puhui.db.engine import is_sqlite, run_in_transaction
from puhui.tasks.broker import partition_actor, wait_for_partitions
from puhui.tasks.models import disclosure_partials

ACTOR = "disclosure_partition"
#: A partition of a million-loan month takes minutes, not hours.
TIME_LIMIT_MS = 3600 * 1000
#: How long the dispatcher waits for a month's partitions before it gives up.
DEFAULT_TIMEOUT_S = 2 * 3600.0

#: Told ``(period, partition, "inside")`` after a partition's row is written, before its
#: commit: a test's crash hook.
Hook = Callable[[str, int, str], None]
#: Told ``(partitions done, partitions)`` as partitions finish.
OnProgress = Callable[[int, int], None]


def compute_partition(
    engine: Engine,
    *,
    period: str,
    partitions: int,
    partition: int,
    clock: Clock = SYSTEM_CLOCK,
    hook: Hook | None = None,
) -> bool:
    """Compute one partition of ``period`` and record it; False if it was recorded already
    (a redelivery, or a twin delivery that committed first)."""
    disclosure.in_partition(partitions, partition)  # refuse a bad partition before any work

    def work(conn: Connection) -> bool:
        if _recorded(conn, period, partitions, partition):
            return False
        figures = disclosure.partial_figures(
            conn, period=period, partitions=partitions, partition=partition
        )
        inserted = _insert(conn, period, partitions, partition, figures, clock)
        if hook:
            hook(period, partition, "inside")
        return inserted

    return run_in_transaction(engine, work)


def declare(
    broker: dramatiq.Broker,
    queue: str,
    *,
    engine: Callable[[], Engine] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    hook: Hook | None = None,
) -> dramatiq.Actor:
    """The partition actor on ``broker``'s ``queue``. ``engine`` is the worker's database (None
    in a process that only sends); ``hook`` is a crash hook, for tests."""

    def disclosure_partition(period: str, partitions: int, partition: int) -> bool:
        if engine is None:
            raise RuntimeError("this process has no database: it only sends disclosure tasks")
        return compute_partition(
            engine(),
            period=period,
            partitions=partitions,
            partition=partition,
            clock=clock,
            hook=hook,
        )

    return partition_actor(
        disclosure_partition, broker=broker, name=ACTOR, queue=queue, time_limit_ms=TIME_LIMIT_MS
    )


def run_distributed(
    engine: Engine,
    actor: dramatiq.Actor,
    *,
    period: str,
    partitions: int,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = 0.25,
    on_progress: OnProgress | None = None,
) -> MonthlyFigures:
    """``period``'s figures, its partitions computed by the workers.

    The month's earlier partition rows are cleared first, so the figures are as the book stands
    now (a related party flagged since, a late correction), like ``monthly_figures``."""
    disclosure.in_partition(partitions, 0)
    disclosure.cut_off(period)  # refuse a malformed period before anything is sent
    run_in_transaction(engine, lambda c: clear(c, period=period, partitions=partitions))
    for k in range(partitions):
        actor.send(period, partitions, k)
    wait_for_partitions(
        lambda: finished_partitions(engine, period, partitions),
        partitions,
        what=period,
        code="disclosure_partitions_unfinished",
        timeout_s=timeout_s,
        poll_s=poll_s,
        on_progress=on_progress and (lambda n: on_progress(n, partitions)),
    )
    return merged(engine, period=period, partitions=partitions)


def clear(conn: Connection, *, period: str, partitions: int) -> int:
    """Forget ``period``'s partition rows of that count; how many there were."""
    p = disclosure_partials.c
    return conn.execute(
        delete(disclosure_partials).where(p.period == period, p.partitions == partitions)
    ).rowcount


def finished_partitions(engine: Engine, period: str, partitions: int) -> list[int]:
    """The partitions of ``period`` that have committed their figures."""
    p = disclosure_partials.c
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(p.part).where(p.period == period, p.partitions == partitions)
            ).scalars()
        )


def merged(engine: Engine, *, period: str, partitions: int) -> MonthlyFigures:
    """The month's figures from its committed partition rows; every partition must have one."""
    p = disclosure_partials.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.part, p.figures_json).where(p.period == period, p.partitions == partitions)
        ).all()
        missing = sorted(set(range(partitions)) - {r.part for r in rows})
        if missing:
            raise Conflict(
                "disclosure_partitions_unfinished",
                f"{period}: partition(s) {', '.join(map(str, missing))} of {partitions} "
                "have no figures",
                field="partition",
            )
        partials = [json.loads(r.figures_json) for r in rows]
        return disclosure.merge_partials(conn, period=period, partials=partials)


def _recorded(conn: Connection, period: str, partitions: int, partition: int) -> bool:
    p = disclosure_partials.c
    found = conn.execute(
        select(p.part).where(p.period == period, p.partitions == partitions, p.part == partition)
    ).first()
    return found is not None


def _insert(
    conn: Connection,
    period: str,
    partitions: int,
    partition: int,
    figures: dict[str, Any],
    clock: Clock,
) -> bool:
    """Insert the row; False if a twin delivery's row is there (its insert waited for it)."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    stmt = (
        dialect.insert(disclosure_partials)
        .values(
            period=period,
            partitions=partitions,
            part=partition,
            figures_json=json.dumps(figures, sort_keys=True),
            computed_us=int(clock.now().timestamp() * 1_000_000),
        )
        .on_conflict_do_nothing()
        .returning(disclosure_partials.c.part)
    )
    return conn.execute(stmt).first() is not None
