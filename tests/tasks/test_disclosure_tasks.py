"""The monthly disclosure computed in partitions by task workers on the local RabbitMQ equals
the one-process ``monthly_figures`` to the fen and the count, over the compliance tests' book
(borrowers with several loans, a related party, overdue loans either side of 90 days, notes
sold on, compensations either side of the cut-off); a partition recorded twice is recorded
once; and a worker killed inside a partition, before its commit, changes nothing."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from compliance.book import PERIOD, build
from puhui.cli import app
from puhui.compliance import publication
from puhui.compliance.disclosure import ITEM_CODES, monthly_figures, partial_figures
from puhui.core.errors import Conflict, ValidationError
from puhui.db.metadata import metadata
from puhui.tasks import broker as brokers
from puhui.tasks import disclosure as disclosure_tasks
from puhui.tasks import worker
from puhui.tasks.models import disclosure_partials
from tasks.workers import kill_and_replace, start, stop_all

PAUSING = [
    sys.executable,
    str(Path(__file__).with_name("pausing_worker.py")),
    "--job",
    "disclosure",
]


@pytest.fixture
def book(engine: Engine, clock: Any) -> Any:
    with engine.begin() as conn:
        return build(conn, clock)


def one_process(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return monthly_figures(conn, period=PERIOD).items


def recorded(engine: Engine) -> list[tuple[str, int, int]]:
    p = disclosure_partials.c
    with engine.connect() as conn:
        return sorted(conn.execute(select(p.period, p.partitions, p.part)).tuples())


@pytest.mark.parametrize("partitions", [1, 2, 3, 7])
def test_merged_partitions_equal_the_one_process_figures(engine, book, partitions):
    for k in range(partitions):
        assert disclosure_tasks.compute_partition(
            engine, period=PERIOD, partitions=partitions, partition=k
        )
    figures = disclosure_tasks.merged(engine, period=PERIOD, partitions=partitions)
    assert figures.items == one_process(engine)
    assert figures.period == PERIOD and figures.as_of == "2026-10-31T23:59:59+08:00"
    # the book's hand counts (tests/compliance/book.py), so "equal" is not "equally empty"
    items = figures.items
    assert (items["cum_loan_count"], items["cum_borrowers"], items["current_borrowers"]) == (
        14,
        12,
        11,
    )
    assert (items["cum_lenders"], items["current_lenders"]) == (4, 3)
    assert (items["cum_compensated_amount"], items["cum_compensated_count"]) == (260_000, 1)
    assert items["other_info"]["top1_outstanding_fen"] == 1_000_000  # A's three loans
    assert recorded(engine) == [(PERIOD, partitions, k) for k in range(partitions)]


def test_a_partition_is_whole_borrowers_so_distinct_counts_add_up(engine, book):
    """Borrower A's three loans all fall in one partition, counted once there."""
    with engine.connect() as conn:
        parts = [partial_figures(conn, period=PERIOD, partitions=3, partition=k) for k in range(3)]
    assert [p["cum_loan_count"] for p in parts] != [0, 0, 0]
    assert sum(p["cum_borrowers"] for p in parts) == 12
    assert sum(p["cum_loan_count"] for p in parts) == 14
    assert sum(len(p["top_borrowers_fen"]) for p in parts) == 11  # owing borrowers, ≤ 10 each


def test_a_partition_task_run_twice_records_once(engine, book):
    args = {"period": PERIOD, "partitions": 2, "partition": 1}
    assert disclosure_tasks.compute_partition(engine, **args) is True
    p = disclosure_partials.c
    with engine.connect() as conn:
        first = conn.execute(select(p.figures_json, p.computed_us)).one()
    assert disclosure_tasks.compute_partition(engine, **args) is False  # a redelivery
    with engine.connect() as conn:
        assert conn.execute(select(p.figures_json, p.computed_us)).all() == [first]
    assert recorded(engine) == [(PERIOD, 2, 1)]
    with pytest.raises(Conflict, match=r"partition\(s\) 0 of 2 have no figures"):
        disclosure_tasks.merged(engine, period=PERIOD, partitions=2)
    with pytest.raises(ValidationError) as bad:
        disclosure_tasks.compute_partition(engine, period=PERIOD, partitions=2, partition=2)
    assert bad.value.code == "disclosure_partition_invalid"


def test_a_worker_killed_inside_a_partition_changes_nothing(
    engine, book, backend, database_url_for_test, broker_url, queue, tmp_path
):
    alone = one_process(engine)
    partitions = 4
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    marker = tmp_path / "paused"
    args = ["--database", database_url_for_test, "--broker", broker_url, "--queue", queue]
    procs = [start([*PAUSING, *args, "--marker", str(marker)], env)]
    broker = brokers.make_broker(broker_url)
    actor = disclosure_tasks.declare(broker, queue)
    outcome: list[Any] = []

    def dispatch() -> None:
        try:
            outcome.append(
                disclosure_tasks.run_distributed(
                    engine, actor, period=PERIOD, partitions=partitions, timeout_s=120, poll_s=0.1
                )
            )
        except BaseException as exc:  # reported below
            outcome.append(exc)

    dispatcher = threading.Thread(target=dispatch)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the worker never reached a partition"
            assert procs[0].poll() is None
            time.sleep(0.05)
        pid, paused = map(int, marker.read_text().split())
        assert pid == procs[0].pid
        if backend == "postgresql":  # (on SQLite the paused worker holds the write lock)
            # the paused partition's row is written but not committed: nobody sees it
            assert (PERIOD, partitions, paused) not in recorded(engine)
        kill_and_replace(procs, args, env, dispatcher, join_s=150)
    finally:
        stop_all(procs, broker)

    (figures,) = outcome
    assert not isinstance(figures, BaseException), figures
    assert figures.items == alone
    # one row per partition: the killed worker's partition was redone once, nothing doubled
    assert recorded(engine) == [(PERIOD, partitions, k) for k in range(partitions)]


def test_puhui_disclose_distributed_with_a_worker_in_this_process(
    engine, book, database_url_for_test, broker_url, queue, monkeypatch
):
    """The command line's dispatcher and a worker's threads: the preview it prints carries the
    one-process figures; a second run starts afresh (the month's rows are replaced); with
    --publish, the workers' figures are what is published."""
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
    monkeypatch.setenv("PUHUI_BROKER_URL", broker_url)
    monkeypatch.setenv("PUHUI_TASK_QUEUE", queue)
    command = ["disclose", "--month", PERIOD, "--distributed", "--partitions", "3"]
    try:
        db = ["--database", database_url_for_test]
        runs = [CliRunner().invoke(app, [*command, *db]) for _ in range(2)]
        published = CliRunner().invoke(app, [*command, "--publish", *db])
    finally:
        stop.set()
        thread.join(30)
    expected = json.loads(json.dumps(one_process(engine)))
    for result in [*runs, published]:
        assert result.exit_code == 0, result.output
        assert f"{PERIOD}: 3/3 partitions done" in result.stderr
        report = json.loads(result.stdout)
        assert report["items"] == expected
    assert [json.loads(r.stdout)["publication"]["preview"] for r in runs] == [True, True]
    # --publish publishes the workers' figures: version 1, the one-process items
    assert json.loads(published.stdout)["publication"]["version"] == 1
    with engine.connect() as conn:
        assert publication.latest(conn, period=PERIOD).snapshot["items"] == expected
    assert set(report["items"]) == set(ITEM_CODES)
    assert recorded(engine) == [(PERIOD, 3, k) for k in range(3)]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(disclosure_partials)).scalar() == 3


def test_without_workers_the_dispatcher_says_which_partitions_are_missing(
    engine, book, broker_url, queue
):
    broker = brokers.make_broker(broker_url)
    try:
        actor = disclosure_tasks.declare(broker, queue)
        with pytest.raises(Conflict) as err:
            disclosure_tasks.run_distributed(
                engine, actor, period=PERIOD, partitions=2, timeout_s=0.5
            )
        assert err.value.code == "disclosure_partitions_unfinished"
        assert "partition(s) 0, 1" in err.value.message
        with pytest.raises(ValidationError):
            disclosure_tasks.run_distributed(engine, actor, period="2026-13", partitions=2)
    finally:
        broker.close()


def test_the_migration_creates_the_table_the_model_declares(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "task_disclosure_partials" in repr(d)] == []
