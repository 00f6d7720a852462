"""The monthly disclosure in one process vs in partitions, in turn and over task workers.

    .venv/bin/python bench/disclosure_distributed.py                  # 100,000 loans, 4 partitions
    .venv/bin/python bench/disclosure_distributed.py --loans 30000 --partitions 8 --workers 2

Builds ``bench/disclosure.py``'s book (bench/eod.py's loans with the history the report is
rebuilt from: repayments, a reversal, write-offs, borrowers with several loans, notes of 5,000
lenders, some sold on, compensations, related parties) in a fresh PostgreSQL database next to
``--pg``, then times, each after a warm-up run of ``monthly_figures``:

1. ``compliance.disclosure.monthly_figures`` in this process (the baseline);
2. the ``--partitions`` partitions one after another in this process
   (``tasks.disclosure.compute_partition``), then the merge;
3. the same partitions sent by ``tasks.disclosure.run_distributed`` to ``--workers``
   ``puhui worker`` processes on RabbitMQ (a queue of its own, deleted afterwards).

Both partitioned results must equal the baseline item for item before any time is printed.
The database is dropped afterwards. Needs RabbitMQ (``PUHUI_BROKER_URL``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from puhui.compliance import disclosure
from puhui.db.engine import database_url, make_engine, run_in_transaction
from puhui.tasks import broker as brokers
from puhui.tasks import disclosure as tasks

sys.path.insert(0, str(Path(__file__).parent))
import disclosure as book  # bench/disclosure.py: the history and the period
import eod  # bench/eod.py: the loans

PUHUI = [sys.executable, "-c", "from puhui.cli import main; main()"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--loans", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    args = p.parse_args()
    base = make_url(database_url(args.pg))
    url = eod._fresh_pg(base.set(database=f"puhui_disc_{os.getpid()}").render_as_string(False))
    try:
        return _run(args, url)
    finally:
        eod.drop("PostgreSQL", url)


def _run(args: argparse.Namespace, url: str) -> int:
    t0 = time.perf_counter()
    eod.build(url, args.loans)
    engine = make_engine(url)
    sizes = book.add_history(engine, args.loans)
    print(f"book built in {time.perf_counter() - t0:.1f} s: {sizes}", flush=True)
    period, n = book.PERIOD, args.partitions
    with engine.connect() as conn:
        disclosure.monthly_figures(conn, period=period)  # warm the cache
        t0 = time.perf_counter()
        alone = disclosure.monthly_figures(conn, period=period).items
        one_s = time.perf_counter() - t0

    run_in_transaction(engine, lambda c: tasks.clear(c, period=period, partitions=n))
    t0 = time.perf_counter()
    each = []
    for k in range(n):
        t = time.perf_counter()
        tasks.compute_partition(engine, period=period, partitions=n, partition=k)
        each.append(time.perf_counter() - t)
    in_turn = tasks.merged(engine, period=period, partitions=n).items
    turn_s = time.perf_counter() - t0
    assert in_turn == alone, "partitions in turn differ from monthly_figures"

    queue = f"puhui_bench_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [*PUHUI, "worker", "--threads", "1", "--database", url, "--queue", queue]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(args.workers)
    ]
    broker = brokers.make_broker(None)
    try:
        for proc in procs:
            assert proc.stdout is not None
            while "worker ready" not in (line := proc.stdout.readline()):
                assert line, "a worker exited before it was ready"
            threading.Thread(target=proc.stdout.read, daemon=True).start()
        actor = tasks.declare(broker, queue)
        t0 = time.perf_counter()
        spread = tasks.run_distributed(engine, actor, period=period, partitions=n, poll_s=0.05)
        spread_s = time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        broker.close()
        brokers.delete_queue(None, queue)
        engine.dispose()
    assert spread.items == alone, "distributed figures differ from monthly_figures"

    print(
        f"`bench/disclosure_distributed.py --loans {args.loans} --partitions {n} "
        f"--workers {args.workers}` (PostgreSQL; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}): all 21 items equal\n"
        f"- one process, monthly_figures: {one_s:.2f} s\n"
        f"- {n} partitions in turn, one process: {turn_s:.2f} s "
        f"(each {', '.join(f'{x:.2f}' for x in each)} s)\n"
        f"- {n} partitions on {args.workers} worker processes: {spread_s:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
