"""The end-of-day batch (日终批处理): runs, partitions, resumption and catch-up.

A run closes one business date. When it starts it records how many partitions the live loans
are cut into and the loan ids it cut them from, so every worker (``partition=k``) and every
rerun works on the same ranges. Each step of each partition (eod_steps.STEPS) runs in its own
transaction together with its row in ``lending_eod_steps``: after a crash the step that was
running left nothing, and a rerun starts at the first step without a row. The last partition
to finish closes the date: the GL balances are snapshotted, the sub-ledger is checked against
the GL and the trial balance must balance (a mismatch stops the batch, the date stays open),
and only then does the business calendar move to the next day. A date already closed is
skipped, so running it twice changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, ValidationError
from puhui.db.engine import is_sqlite, run_in_transaction
from puhui.lending import accounts, calendar, credit_outcomes
from puhui.lending.debit_channel import DebitChannel, SandboxChannel
from puhui.lending.eod_models import gl_snapshots, runs, steps
from puhui.lending.eod_steps import STEPS, Ctx, EodConfig, StepResult
from puhui.lending.models import loans

#: The step that closes a date once every partition is done (recorded with partition −1).
CLOSE = "close"
#: Bounds wider than any loan id, for the first and last partition.
NO_ID = 2**62
MAX_PARTITIONS = 256

#: Called with the date and ``before:{step}`` or ``inside:{step}`` (after the work, before the
#: commit); tests raise from it to simulate a crash there.
Hook = Callable[[date, str], None]
#: Told of every step as it finishes: (date, partition, step, result or None if already done).
OnStep = Callable[[date, int, str, StepResult | None], None]


@dataclass(frozen=True)
class StepRecord:
    partition: int
    step: str
    loans: int
    amount_fen: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class DayReport:
    """What the batch did for one date: every step record so far, and whether it is closed."""

    business_date: date
    partitions: int
    closed: bool
    steps: tuple[StepRecord, ...] = ()
    already_closed: bool = False
    checks: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per step, summed over partitions: (loans, fen)."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.steps:
            n, fen = out.get(r.step, (0, 0))
            out[r.step] = (n + r.loans, fen + r.amount_fen)
        return out


def run_date(
    engine: Engine,
    *,
    business_date: date,
    clock: Clock,
    partitions: int = 1,
    partition: int | None = None,
    channel: DebitChannel | None = None,
    config: EodConfig | None = None,
    on_step: OnStep | None = None,
    hook: Hook | None = None,
) -> DayReport:
    """Run the steps of ``business_date`` for one partition (or all, one after another), then
    close the date if every partition has finished."""
    _check_partitions(partitions, partition)
    run = start_run(engine, business_date=business_date, partitions=partitions, clock=clock)
    if run.state == "done":
        return report(engine, business_date, already_closed=True)
    channel = channel or SandboxChannel()
    config = config or EodConfig()
    hook = hook or (lambda _day, _where: None)
    for k in range(partitions) if partition is None else (partition,):
        lo, hi = bounds(run.min_loan_id, run.max_loan_id, partitions, k)
        for name, fn in STEPS:
            hook(business_date, f"before:{name}")
            step = Step(business_date, k, lo, hi, clock, channel, config)
            result = run_in_transaction(
                engine, lambda c, s=step, n=name, f=fn: s.run(c, n, f, hook)
            )
            if on_step:
                on_step(business_date, k, name, result)
    hook(business_date, f"before:{CLOSE}")
    run_in_transaction(
        engine, lambda c: _close_with_settings(c, business_date, partitions, clock, hook)
    )
    return report(engine, business_date)


def start_run(engine: Engine, *, business_date: date, partitions: int, clock: Clock) -> Any:
    """The date's run row, started with ``partitions`` if need be. A dispatcher calls this
    before it hands the partitions to other processes (puhui.tasks), so a wrong date or a
    partition count that disagrees with a started run is refused here, once, not by each task."""
    _check_partitions(partitions, None)
    run = run_in_transaction(
        engine,
        lambda c: _open_run(c, business_date=business_date, partitions=partitions, clock=clock),
    )
    if run.state != "done" and run.partitions != partitions:
        raise Conflict(
            "eod_partitions_mismatch",
            f"the run for {business_date.isoformat()} was started with {run.partitions} "
            f"partition(s), not {partitions}",
            field="partitions",
        )
    return run


@dataclass(frozen=True)
class Step:
    """One step of one partition, run in the caller's transaction with its record."""

    business_date: date
    partition: int
    lo: int
    hi: int
    clock: Clock
    channel: DebitChannel
    config: EodConfig

    def run(
        self, conn: Connection, name: str, fn: Callable[[Ctx], StepResult], hook: Hook
    ) -> StepResult | None:
        """The step's result, or None if its record exists (done before, or by a worker
        whose commit this one waited for)."""
        if not _claim(conn, self.business_date, self.partition, name, self.clock):
            return None
        ctx = Ctx(
            conn,
            self.business_date,
            self.partition,
            self.lo,
            self.hi,
            self.clock,
            self.channel,
            self.config,
        )
        with batch_settings(conn):
            result = fn(ctx)
        _record(conn, self.business_date, self.partition, name, result)
        hook(self.business_date, f"inside:{name}")
        return result


#: SQLite page cache for a batch step, in KiB (negative: a size, not pages). A step's
#: ``UPDATE`` of a million loans dirties more pages than the connection's usual 32 MiB cache
#: holds; spilling them to the WAL mid-transaction writes many pages twice. Durability is
#: unchanged: journal mode and ``synchronous`` stay as the engine set them.
SQLITE_BATCH_CACHE_KIB = 262_144
#: PostgreSQL memory per sort or hash for a batch step (``SET LOCAL``: this transaction only),
#: so the snapshot's and the closing check's aggregates over the book stay in memory.
PG_BATCH_WORK_MEM = "128MB"


@contextmanager
def batch_settings(conn: Connection) -> Iterator[None]:
    """Give one step's transaction the memory a set-based pass over the book wants, and give
    the pooled connection back as it was."""
    if not is_sqlite(conn):
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{PG_BATCH_WORK_MEM}'")
        # JIT compiles each large statement anew (~0.3 s each, measured) and a step runs a
        # few such statements once; plain execution is as fast for these simple predicates.
        conn.exec_driver_sql("SET LOCAL jit = off")
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_BATCH_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or 0)}")


def run_range(
    engine: Engine,
    *,
    start: date,
    through: date,
    clock: Clock,
    wait_seconds: float = 3600.0,
    **kwargs: Any,
) -> list[DayReport]:
    """Catch up ``start``…``through`` in order. A partition worker waits for the other
    partitions to close a date before it starts the next."""
    if through < start:
        raise ValidationError("eod_range_inverted", "--through is before --date", field="through")
    out: list[DayReport] = []
    d = start
    while d <= through:
        day = run_date(engine, business_date=d, clock=clock, **kwargs)
        deadline = time.monotonic() + wait_seconds
        while not day.closed and d < through:
            if time.monotonic() > deadline:
                raise Conflict(
                    "eod_partitions_unfinished",
                    f"other partitions have not finished {d.isoformat()}",
                    field="partition",
                )
            time.sleep(0.5)
            day = report(engine, d)
        out.append(day)
        d += timedelta(days=1)
    return out


def bounds(min_id: int, max_id: int, partitions: int, k: int) -> tuple[int, int]:
    """Partition ``k``'s loan ids ``lo ≤ id < hi``: equal slices of the ids the run started
    with, the first and last open-ended so no loan falls outside."""
    span = max_id - min_id + 1
    lo = -NO_ID if k == 0 else min_id + span * k // partitions
    hi = NO_ID if k == partitions - 1 else min_id + span * (k + 1) // partitions
    return lo, hi


def closing(conn: Connection, *, loan_id: int, business_date: date) -> bool:
    """Whether the batch is part-way through closing ``business_date`` for this loan.

    Between its steps the batch commits, so a loan can be accrued for the date but not yet
    aged or provisioned. Servicing refuses to touch such a loan until its partition has
    finished every step (the batch window): a replay in between would book a half-closed day.
    """
    run = conn.execute(select(runs).where(runs.c.business_date == business_date)).first()
    if run is None or run.state == "done":
        return False
    k = next(
        k
        for k in range(run.partitions)
        if loan_id < bounds(run.min_loan_id, run.max_loan_id, run.partitions, k)[1]
    )
    last = STEPS[-1][0]
    done = conn.execute(
        select(steps.c.step).where(
            steps.c.business_date == business_date, steps.c.part == k, steps.c.step == last
        )
    ).first()
    return done is None


def report(engine: Engine, business_date: date, *, already_closed: bool = False) -> DayReport:
    """The date's run as recorded."""
    with engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.business_date == business_date)).first()
        rows = conn.execute(
            select(steps)
            .where(steps.c.business_date == business_date)
            .order_by(steps.c.part, steps.c.finished_us)
        ).all()
    order = {name: i for i, (name, _) in enumerate(STEPS)}
    records = sorted(
        (
            StepRecord(r.part, r.step, r.loans, r.amount_fen, json.loads(r.detail_json))
            for r in rows
        ),
        key=lambda r: (r.partition < 0, r.partition, order.get(r.step, len(order))),
    )
    return DayReport(
        business_date=business_date,
        partitions=run.partitions if run else 0,
        closed=bool(run and run.state == "done"),
        steps=tuple(records),
        already_closed=already_closed,
        checks=json.loads(run.report_json) if run else {},
    )


def _check_partitions(partitions: int, partition: int | None) -> None:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValidationError(
            "eod_partitions_invalid", f"partitions must be 1–{MAX_PARTITIONS}", field="partitions"
        )
    if partition is not None and not 0 <= partition < partitions:
        raise ValidationError(
            "eod_partition_invalid", f"partition must be 0–{partitions - 1}", field="partition"
        )


def _open_run(conn: Connection, *, business_date: date, partitions: int, clock: Clock) -> Any:
    """The date's run, started if need be: only on the current business date."""
    q = select(runs).where(runs.c.business_date == business_date)
    found = conn.execute(q).first()
    if found is not None and found.state == "done":
        return found
    today = calendar.current(conn, clock=clock)
    if today != business_date:
        raise Conflict(
            "business_date_mismatch",
            f"the business date is {today.isoformat()}: close the dates before "
            f"{business_date.isoformat()} first"
            if today < business_date
            else f"the business date is {today.isoformat()}; {business_date.isoformat()} "
            "was closed without the batch",
            field="business_date",
        )
    if found is not None:
        return found
    live = loans.c.state.in_(accounts.ON_BOOK)
    lo, hi = conn.execute(select(func.min(loans.c.id), func.max(loans.c.id)).where(live)).one()
    dialect = sqlite if is_sqlite(conn) else postgresql
    conn.execute(
        dialect.insert(runs)
        .values(
            business_date=business_date,
            partitions=partitions,
            min_loan_id=lo or 0,
            max_loan_id=hi or 0,
            state="running",
            started_us=_us(clock),
        )
        .on_conflict_do_nothing()
    )
    return conn.execute(q).one()


def _claim(conn: Connection, business_date: date, partition: int, step: str, clock: Clock) -> bool:
    """Insert the step's row; False if it is there already (done, or another worker has it:
    its insert then waits for that worker's commit)."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    stmt = (
        dialect.insert(steps)
        .values(business_date=business_date, part=partition, step=step, finished_us=_us(clock))
        .on_conflict_do_nothing()
        .returning(steps.c.step)
    )
    return conn.execute(stmt).first() is not None


def _record(
    conn: Connection, business_date: date, partition: int, step: str, result: StepResult
) -> None:
    conn.execute(
        update(steps)
        .where(
            steps.c.business_date == business_date,
            steps.c.part == partition,
            steps.c.step == step,
        )
        .values(loans=result.loans, amount_fen=result.amount_fen, detail_json=result.detail_json())
    )


def _close_with_settings(
    conn: Connection, business_date: date, partitions: int, clock: Clock, hook: Hook
) -> bool:
    """``_close`` with a batch step's memory: its sub-ledger check aggregates the whole book."""
    with batch_settings(conn):
        return _close(conn, business_date, partitions, clock, hook)


def _close(
    conn: Connection, business_date: date, partitions: int, clock: Clock, hook: Hook
) -> bool:
    """Close the date if every partition has run every step: GL snapshot, the sub-ledger and
    trial-balance checks, the calendar advanced. False while partitions are still running."""
    q = select(runs).where(runs.c.business_date == business_date)
    run = conn.execute(q if is_sqlite(conn) else q.with_for_update()).one()
    if run.state == "done":
        return True
    done = conn.execute(
        select(func.count())
        .select_from(steps)
        .where(steps.c.business_date == business_date, steps.c.part >= 0)
    ).scalar()
    if done < partitions * len(STEPS):
        return False
    balances = accounts.balances(conn)
    conn.execute(
        insert(gl_snapshots),
        [
            {"business_date": business_date, "code": code.name, "balance_fen": amount}
            for code, amount in balances.items()
        ],
    )
    mismatches = accounts.check_subledger(conn)
    if mismatches:
        raise Conflict(
            "subledger_mismatch",
            "the sub-ledger does not agree with the GL: "
            + "; ".join(f"{c.name} GL {gl} ≠ loans {sub}" for c, (gl, sub) in mismatches.items()),
            field="business_date",
        )
    tb = accounts.trial_balance(conn)
    if not tb.balanced:
        raise Conflict(
            "trial_balance_unbalanced",
            f"the company book's debits {tb.debits} ≠ credits {tb.credits}",
            field="business_date",
        )
    # credit monitoring's bad rates, fed with the book as it stands tonight (issue 6)
    outcomes = credit_outcomes.record_outcomes(conn, business_date=business_date, clock=clock)
    nxt = calendar.advance(conn, closed=business_date, clock=clock)
    checks = {
        "subledger": "agrees",
        "trial_balance": tb.debits,
        "next_business_date": str(nxt),
        "credit_outcomes": {"observed": outcomes.observed, "turned_bad": outcomes.turned_bad},
    }
    conn.execute(
        update(runs)
        .where(runs.c.business_date == business_date)
        .values(state="done", finished_us=_us(clock), report_json=json.dumps(checks))
    )
    conn.execute(
        insert(steps).values(
            business_date=business_date,
            part=-1,
            step=CLOSE,
            detail_json=json.dumps(checks),
            finished_us=_us(clock),
        )
    )
    hook(business_date, f"inside:{CLOSE}")
    return True


def _us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)
