"""The end-of-day batch spread over real worker processes on the local RabbitMQ, with one
worker killed (SIGKILL) inside a step that moves money: the book ends exactly as one process
running the batch alone leaves it, and the ledger verifies."""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from lending.test_eod import DUE, assert_books_agree, close, make_book
from puhui.cli import app
from puhui.core.errors import Conflict
from puhui.lending import accounts, calendar, debit_channel, eod
from puhui.lending.eod_models import runs, snapshots, steps
from puhui.lending.models import installments, loan_transactions, loans
from puhui.tasks import broker as brokers
from puhui.tasks import eod as eod_tasks
from puhui.tasks import worker
from tasks.workers import kill_and_replace, start, stop_all

CARDS = (10_000_000, 50_000, None, 20_000, 3_000_000, None)
START, END = DUE - timedelta(days=1), DUE + timedelta(days=1)
PARTITIONS = 4
PAUSING = [sys.executable, str(Path(__file__).with_name("pausing_worker.py"))]


def book(engine: Engine) -> dict[str, Any]:
    """Every loan, installment and loan transaction without ids and timestamps (the workers
    run on the system clock, the reference on the test's), the GL, the sandbox cards, the
    snapshot totals (one row per partition and bucket, so summed) and the business date."""

    def rows(table: Any, *order: Any) -> list[tuple]:
        cols = [c for c in table.c if not c.name.endswith("_us") and c.name != "id"]
        with engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(select(*cols).order_by(*order)))

    with engine.connect() as conn:
        cards = debit_channel.debit_sandbox_accounts.c
        s = snapshots.c
        return {
            "loans": rows(loans, loans.c.id),
            "installments": rows(installments, installments.c.loan_id, installments.c.seq),
            "transactions": rows(loan_transactions, loan_transactions.c.loan_id),
            "gl": accounts.balances(conn),
            "cards": sorted(conn.execute(select(cards.customer_id, cards.balance_fen)).tuples()),
            "snapshot_totals": sorted(
                conn.execute(
                    select(
                        s.business_date,
                        func.sum(s.principal_fen),
                        func.sum(s.interest_fen),
                    ).group_by(s.business_date)
                ).tuples()
            ),
            "date": calendar.current(conn, clock=None),  # type: ignore[arg-type]
        }


def test_a_worker_killed_mid_partition_loses_nothing_and_doubles_nothing(
    engine, clock, reset, backend, database_url_for_test, broker_url, queue, tmp_path
):
    make_book(engine, clock, cards=CARDS)
    close(engine, clock, START, END)
    alone = book(engine)
    assert_books_agree(engine)
    reset()
    make_book(engine, clock, cards=CARDS)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    marker = tmp_path / "paused"
    args = ["--database", database_url_for_test, "--broker", broker_url, "--queue", queue]
    pause = ["--pause-at", "inside:debit", "--on", DUE.isoformat()]
    procs = [
        start(
            [*PAUSING, *args, *pause, "--marker", str(marker)],
            env,
        )
    ]
    broker = brokers.make_broker(broker_url)
    actor = eod_tasks.declare(broker, queue)
    outcome: list[Any] = []

    def dispatch() -> None:
        try:
            outcome.append(
                eod_tasks.run_distributed(
                    engine,
                    actor,
                    start=START,
                    through=END,
                    partitions=PARTITIONS,
                    clock=clock,
                    timeout_s=300,
                    poll_s=0.1,
                )
            )
        except BaseException as exc:  # reported below
            outcome.append(exc)

    dispatcher = threading.Thread(target=dispatch)
    dispatcher.start()
    try:
        # generous: the first date's whole batch runs before the pause, and CI runs two test
        # processes on two cores next to this worker
        deadline = time.monotonic() + 180
        while not marker.exists():  # the only worker is inside the due date's debit step
            assert time.monotonic() < deadline, "the worker never reached the debit step"
            assert procs[0].poll() is None
            time.sleep(0.05)
        assert int(marker.read_text()) == procs[0].pid
        # (on SQLite the paused worker holds the one write lock, and every transaction here
        # starts with BEGIN IMMEDIATE: look inside only on PostgreSQL)
        with nullcontext() if backend == "sqlite" else engine.connect() as conn:
            if conn is not None:
                # the first date was closed by it alone; the due date's debit is uncommitted
                assert calendar.current(conn, clock=clock) == DUE
                debited = conn.execute(
                    select(func.count()).where(
                        steps.c.business_date == DUE, steps.c.step == "debit"
                    )
                ).scalar()
                assert debited == 0
        kill_and_replace(procs, args, env, dispatcher, join_s=330)
    finally:
        stop_all(procs, broker)

    (days,) = outcome
    assert not isinstance(days, BaseException), days
    assert [d.business_date for d in days] == [START, DUE, END]
    assert all(d.closed for d in days)
    assert book(engine) == alone
    assert_books_agree(engine)
    with engine.connect() as conn:
        # one record per partition and step and date, one close per date: nothing ran twice
        per_date = conn.execute(
            select(steps.c.business_date, func.count())
            .group_by(steps.c.business_date)
            .order_by(steps.c.business_date)
        ).all()
    assert [n for _, n in per_date] == [PARTITIONS * len(eod.STEPS) + 1] * 3


def test_puhui_eod_distributed_with_a_worker_in_this_process(
    engine, clock, database_url_for_test, broker_url, queue, monkeypatch
):
    """The command line's dispatcher and a worker's threads (no kill): the dates close, the
    run records the partitions it was cut into."""
    make_book(engine, clock, cards=(10_000_000, 50_000))
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        kwargs={
            "database": database_url_for_test,
            "broker_url": broker_url,
            "queue": queue,
            "threads": 2,
            "stop": stop,
        },
    )
    thread.start()
    db = ["--database", database_url_for_test]
    monkeypatch.setenv("PUHUI_BROKER_URL", broker_url)
    monkeypatch.setenv("PUHUI_TASK_QUEUE", queue)
    try:
        result = CliRunner().invoke(
            app,
            ["eod", "--through", DUE.isoformat(), "--partitions", "3", "--distributed", *db],
        )
    finally:
        stop.set()
        thread.join(30)
    assert result.exit_code == 0, result.output
    assert f"{DUE.isoformat()}: 3/3 partitions done" in result.output
    assert f"end of day {DUE.isoformat()}: closed" in result.output
    assert_books_agree(engine)
    with engine.connect() as conn:
        assert calendar.current(conn, clock=clock) == DUE + timedelta(days=1)
        assert sorted(conn.execute(select(runs.c.partitions, runs.c.state)).tuples()) == [
            (3, "done"),
            (3, "done"),
        ]


def test_without_workers_the_dispatcher_says_which_partitions_are_missing(
    engine, clock, broker_url, queue
):
    make_book(engine, clock, cards=(10_000_000,))
    broker = brokers.make_broker(broker_url)
    try:
        actor = eod_tasks.declare(broker, queue)
        with pytest.raises(Conflict) as err:
            eod_tasks.run_distributed(
                engine, actor, start=START, through=START, partitions=2, clock=clock, timeout_s=0.5
            )
        assert err.value.code == "eod_partitions_unfinished"
        assert "partition(s) 0, 1" in err.value.message
        # a second dispatcher with another partition count is refused before sending anything
        with pytest.raises(Conflict) as again:
            eod_tasks.run_distributed(
                engine, actor, start=START, through=START, partitions=3, clock=clock
            )
        assert again.value.code == "eod_partitions_mismatch"
    finally:
        broker.close()
    with engine.connect() as conn:
        assert calendar.current(conn, clock=clock) == START  # nothing closed


def test_a_bad_broker_url_or_queue_is_a_clear_error():
    result = CliRunner().invoke(app, ["worker", "--broker", "http://x", "--queue", "ok"])
    assert result.exit_code == 2
    assert "broker_url_invalid" in result.output
    result = CliRunner().invoke(app, ["worker", "--queue", "no spaces"])
    assert result.exit_code == 2
    assert "queue_invalid" in result.output
