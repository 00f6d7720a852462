"""The end-of-day batch in one process vs spread over task workers, on two identical books.

    .venv/bin/python bench/eod_distributed.py                 # 30,000 borrowers, 4 partitions
    .venv/bin/python bench/eod_distributed.py --borrowers 100000 --workers 2 --partitions 8

Seeds three fresh PostgreSQL databases with the same simulation (the seed fixes every row), then
closes the next business date on the first with ``puhui eod`` in this process (one partition,
the baseline), on the second with ``puhui eod --partitions P`` in this process (the partitions
one after another), and on the third with ``puhui eod --partitions P --distributed`` and W
``puhui worker`` processes on RabbitMQ (a queue of its own). It prints both wall times and
checks that the three books are the same: every loan and installment row (timestamps aside),
every loan transaction, the GL balances and the snapshot totals, by SHA-256. The databases
are dropped afterwards. Needs RabbitMQ (``PUHUI_BROKER_URL``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from puhui.core.clock import SYSTEM_CLOCK
from puhui.db.engine import database_url, make_engine
from puhui.db.migrate import upgrade
from puhui.identity.crypto import Keyring, new_key_text
from puhui.lending import accounts, jobs
from puhui.lending.eod_models import snapshots
from puhui.lending.models import installments, loan_transactions, loans
from puhui.sim.run import run as simulate
from puhui.sim.world import SimConfig
from puhui.tasks import broker as brokers
from puhui.tasks import eod as eod_tasks

PUHUI = [sys.executable, "-c", "from puhui.cli import main; main()"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--borrowers", type=int, default=30_000)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--threads", type=int, default=1, help="threads per worker")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    base = make_url(database_url(args.pg))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    names = [f"puhui_eodd_{os.getpid()}_{k}" for k in ("one", "seq", "many")]
    keys = Keyring.parse(f"k1:{new_key_text()}", new_key_text())
    queue = f"puhui_bench_{uuid.uuid4().hex[:12]}"
    engines: list[Engine] = []
    try:
        for name in names:
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            url = base.set(database=name).render_as_string(hide_password=False)
            engine = make_engine(url)
            engines.append(engine)
            upgrade(engine)
            t = time.perf_counter()
            simulate(
                SimConfig(
                    seed=args.seed,
                    days=1,
                    borrowers=args.borrowers,
                    investors=20,
                    start=date(2026, 10, 1),
                    statement_dir=Path(f"/tmp/puhui_eodd_{os.getpid()}"),
                    book_at_start=True,
                ),
                engine,
                keys,
            )
            print(f"{name}: simulated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        one, seq, many = engines
        with one.connect() as c:
            live = c.execute(
                select(func.count()).where(loans.c.state.in_(accounts.ON_BOOK))
            ).scalar_one()

        t = time.perf_counter()
        (single,) = jobs.run_eod(one, clock=SYSTEM_CLOCK)
        single_s = time.perf_counter() - t
        t = time.perf_counter()
        (in_turn,) = jobs.run_eod(seq, clock=SYSTEM_CLOCK, partitions=args.partitions)
        in_turn_s = time.perf_counter() - t

        db = ["--database", many.url.render_as_string(hide_password=False)]
        procs = [
            subprocess.Popen(
                [*PUHUI, "worker", "--threads", str(args.threads), "--queue", queue, *db],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        broker = brokers.make_broker(None)
        try:
            actor = eod_tasks.declare(broker, queue)
            time.sleep(3)  # the workers import and connect
            t = time.perf_counter()
            (spread,) = eod_tasks.run_distributed(
                many, actor, start=single.business_date, through=single.business_date,
                partitions=args.partitions, poll_s=0.1,
            )  # fmt: skip
            spread_s = time.perf_counter() - t
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
            broker.close()
            brokers.delete_queue(None, queue)
        same = _digest(one) == _digest(many) == _digest(seq)
        print(
            f"`bench/eod_distributed.py --borrowers {args.borrowers} --partitions "
            f"{args.partitions} --workers {args.workers} --threads {args.threads}`: "
            f"{live:,} loans on the book, {single.business_date}: one process "
            f"{single_s:.1f} s; the same {args.partitions} partitions one after another in "
            f"this process {in_turn_s:.1f} s; on {args.workers} worker "
            f"process(es) {spread_s:.1f} s (incl. dispatch and polling) = "
            f"{spread_s / single_s:.2f}× the single run; books identical: {same}; closed: "
            f"{single.closed} / {spread.closed}; load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        return 0 if same and single.closed and spread.closed and in_turn.closed else 1
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as c:
            for name in names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _digest(engine: Engine) -> str:
    """SHA-256 of the loan rows, installments and loan transactions without ids and
    timestamps, the GL balances, and the snapshot totals by date and bucket."""
    h = hashlib.sha256()

    def rows(table, *order) -> None:  # type: ignore[no-untyped-def]
        cols = [c for c in table.c if not c.name.endswith("_us") and c.name != "id"]
        for r in sorted(tuple(r) for r in conn.execute(select(*cols).order_by(*order))):
            h.update(repr(r).encode())

    with engine.connect() as conn:
        rows(loans, loans.c.id)
        rows(installments, installments.c.loan_id, installments.c.seq)
        rows(loan_transactions, loan_transactions.c.loan_id)
        h.update(repr(sorted(accounts.balances(conn).items())).encode())
        s = snapshots.c
        totals = conn.execute(
            select(s.business_date, s.bucket, func.sum(s.loans), func.sum(s.principal_fen))
            .group_by(s.business_date, s.bucket)
            .order_by(s.business_date, s.bucket)
        ).all()
        h.update(repr([tuple(t) for t in totals]).encode())
    return h.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
