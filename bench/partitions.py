"""Query plans for the journal and the daily snapshots, plain and partitioned by date (PostgreSQL).

    .venv/bin/python bench/partitions.py                      # 2,000,000 transfers over 2 years
    .venv/bin/python bench/partitions.py --transfers 500000 --markdown /tmp/plans.md
    .venv/bin/python bench/partitions.py --ledger -- --filter even --clients 1,8 --duration 4
    .venv/bin/python bench/partitions.py --locks              # locks of one ledger transaction

In a scratch database (created and dropped here) it migrates the schema, fills
``ledger_transfers`` and ``lending_eod_snapshots`` set-based with synthetic rows spread over
``--days`` business dates and runs the queries the platform sends to these tables with
``EXPLAIN (ANALYZE, BUFFERS)`` (the best of three runs, the plan's shape and the buffers it
touched); then converts both tables in place with ``puhui.db.partitioning.partition_journal``
(monthly partitions, the id registry and its trigger) and runs the same queries again. The
rows are synthetic: only their spread over dates, ids and references matters to a plan.

``--ledger``: the ledger's write cost instead. Runs ``bench/ledger.py`` (arguments after
``--``) twice, once as it is and once with its scratch database partitioned right after its
accounts are funded (``--months-ahead`` monthly partitions: 24 by default, as many as two
years of journal would have, since a lookup by id probes each), ``--rounds`` times in turn,
and prints the tables.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from puhui.db.engine import database_url, make_engine
from puhui.db.migrate import upgrade
from puhui.db.partitioning import partition_journal

END = date(2026, 11, 30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--transfers", type=int, default=2_000_000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--ledger", action="store_true", help="bench/ledger.py, plain vs partitioned")
    p.add_argument(
        "--locks", action="store_true", help="relation locks of one ledger transaction instead"
    )
    p.add_argument("--rounds", type=int, default=1, help="--ledger: plain/partitioned pairs")
    p.add_argument(
        "--months-ahead",
        type=int,
        default=24,
        help="--ledger: monthly partitions to create (the ledger's id lookups probe each one)",
    )
    p.add_argument("ledger_args", nargs="*", help="after --: bench/ledger.py's arguments")
    args = p.parse_args()
    if args.ledger:
        return _ledger_write_cost(args.ledger_args, args.rounds, args.months_ahead)
    if args.locks:
        return _with_scratch(args.pg, lambda engine: _ledger_locks(engine, args.months_ahead))
    name = f"puhui_plans_{os.getpid()}"
    base = make_url(database_url(args.pg))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        start = END - timedelta(days=args.days - 1)
        with engine.begin() as conn:
            t = time.perf_counter()
            _fill(conn, args.transfers, start, args.days)
            print(f"filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        _analyze(engine)
        with engine.connect() as conn:
            plain = _measure(conn, partitioned=False)
        t = time.perf_counter()
        converted = partition_journal(engine, months_ahead=1, today=END)
        took = time.perf_counter() - t
        print(f"converted in {took:.1f} s: {converted.rows_copied}", file=sys.stderr)
        _analyze(engine)
        with engine.connect() as conn:
            by_month = _measure(conn, partitioned=True)
        header = (
            f"`bench/partitions.py --transfers {args.transfers} --days {args.days}`: "
            f"{args.transfers:,} transfers and "
            f"{_count(engine, 'lending_eod_snapshots'):,} snapshot rows over {args.days} "
            f"dates. `partition_journal` converted both in place in {took:.1f} s (one "
            f"transaction; {_count_parts(engine)} journal partitions incl. the default, "
            f"registry filled). Best of 3, ms; buffers = shared hit + read.\n\n"
        )
        report = header + _table(plain, by_month)
        print(report)
        if args.markdown:
            args.markdown.write_text(report)
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


def _fill(conn: Connection, n: int, start: date, days: int) -> None:
    """``n`` transfers, evenly over the dates; one pending in 50 with a timeout, one in 3 with
    a reference; snapshots: 60 rows a date (3 product versions × 5 buckets × 4 classes)."""
    conn.execute(
        text(
            """
            INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount,
                pending_id, code, flags, timeout, expires_us, reference, book, currency, ts_us,
                business_date, request_hash)
            SELECT 't' || g, 1 + g % 5000, 5001 + g % 5000, 100 + g % 100000,
                NULL, 1 + g % 20, CASE WHEN g % 50 = 0 THEN 1 ELSE 0 END,
                CASE WHEN g % 50 = 0 THEN 3600 ELSE 0 END,
                CASE WHEN g % 50 = 0 THEN 1700000000000000 + g ELSE NULL END,
                CASE WHEN g % 3 = 0 THEN 'ref-' || g ELSE NULL END,
                CASE WHEN g % 4 = 0 THEN 'custody' ELSE 'company' END, 'CNY',
                1700000000000000 + g, CAST(:start AS date) + (g * :days / :n), md5(g::text)
            FROM generate_series(0, :n - 1) AS g
            """
        ),
        {"n": n, "days": days, "start": start},
    )
    conn.execute(
        text(
            """
            INSERT INTO lending_eod_snapshots
            SELECT CAST(:start AS date) + d, 0, v, b, c, 10 + d % 7, 1000000 + d, 5000, 0, 0,
                100, 0
            FROM generate_series(0, :days - 1) AS d,
                 generate_series(1, 3) AS v,
                 unnest(ARRAY['C', 'M1', 'M2', 'M3', 'M4+']) AS b,
                 unnest(ARRAY['normal', 'special', 'sub', 'doubtful']) AS c
            """
        ),
        {"days": days, "start": start},
    )


def _analyze(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")


def _queries() -> list[tuple[str, str, str]]:
    """(label, plain SQL, partitioned SQL): the same question; the two differ only where the
    partitioned table is better asked through the id registry, which knows each id's date."""
    day = END - timedelta(days=3)
    month = date(day.year, day.month, 1)
    ids = ", ".join(f"'t{i}'" for i in range(5, 2_000_000, 20_011))
    by_ids = (
        f"SELECT id, amount FROM ledger_transfers WHERE id IN ({ids}) AND business_date <= '{day}'"
    )
    by_id = "SELECT id, request_hash FROM ledger_transfers WHERE id = 't123457'"
    both = [
        (
            "reconcile: a day's posted transfers (custody/reconcile.py)",
            f"SELECT id, reference FROM ledger_transfers WHERE business_date = '{day}' "
            "AND flags & 1 = 0",
        ),
        (
            "reconcile: transfers after a date in the custody book",
            f"SELECT count(*) FROM ledger_transfers WHERE business_date > '{day}' "
            "AND book = 'custody'",
        ),
        ("by id, up to a date (custody reconcile, compliance feed), as sent today", by_ids),
        ("by id alone (the ledger's idempotent create, as the ledger sends it)", by_id),
        (
            "outcomes by pending_id (the ledger's resolutions read)",
            "SELECT pending_id, flags FROM ledger_transfers WHERE pending_id = ANY("
            "ARRAY['t100', 't200000', 't1999900'])",
        ),
        (
            "a month's totals by code (reports)",
            f"SELECT code, sum(amount) FROM ledger_transfers WHERE business_date >= '{month}' "
            f"AND business_date < '{month}'::date + interval '1 month' GROUP BY code",
        ),
        (
            "pending transfers past their timeout (ledger expire)",
            "SELECT id FROM ledger_transfers WHERE expires_us IS NOT NULL "
            "AND expires_us <= 1700000000200000",
        ),
        (
            "snapshots: a date's loans (eod snapshot step)",
            "SELECT COALESCE(SUM(loans), 0) FROM lending_eod_snapshots "
            f"WHERE business_date = '{day}'",
        ),
        (
            "snapshots: a year by bucket (disclosure)",
            f"SELECT bucket, sum(principal_fen) FROM lending_eod_snapshots WHERE business_date > "
            f"'{day}'::date - 365 GROUP BY bucket",
        ),
    ]
    out = [(label, q, q) for label, q in both]
    registry = (
        "SELECT t.id, {cols} FROM ledger_transfer_ids r JOIN ledger_transfers t "
        "ON t.id = r.id AND t.business_date = r.business_date WHERE {where}"
    )
    out.insert(
        3,
        (
            "by id, up to a date: through the registry",
            by_ids,
            registry.format(
                cols="t.amount", where=f"r.id IN ({ids}) AND r.business_date <= '{day}'"
            ),
        ),
    )
    out.insert(
        5,
        (
            "by id alone: through the registry",
            by_id,
            # The date as an init plan: a join would carry the constant id to every partition
            # (an equivalence) and probe them all; this prunes to the one month at run time.
            "SELECT id, request_hash FROM ledger_transfers WHERE id = 't123457' AND "
            "business_date = (SELECT business_date FROM ledger_transfer_ids WHERE id = 't123457')",
        ),
    )
    return out


def _measure(conn: Connection, *, partitioned: bool) -> list[tuple[float, str, int]]:
    """Each query's best time of three, with that run's plan shape and buffers."""
    out = []
    for _label, plain, by_month in _queries():
        q = by_month if partitioned else plain
        best, shape, buffers = float("inf"), "", 0
        for _ in range(3):
            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {q}")
            lines = [r[0] for r in plan]
            ms = float(re.search(r"Execution Time: ([\d.]+)", "\n".join(lines)).group(1))
            if ms < best:
                best, shape, buffers = ms, _shape(lines), _buffers(lines)
        out.append((best, shape, buffers))
    return out


def _table(plain: list[tuple[float, str, int]], by_month: list[tuple[float, str, int]]) -> str:
    rows = [
        "| query | plain: ms | plain: plan | buffers | by month: ms | by month: plan | buffers |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for (label, _, _), a, b in zip(_queries(), plain, by_month, strict=True):
        cells = [label]
        for ms, shape, buffers in (a, b):
            cells += [f"{ms:,.2f}", shape, f"{buffers:,}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _shape(lines: list[str]) -> str:
    """The plan's node types, outermost first, repeats folded ("Index Scan ×25")."""
    nodes: list[str] = []
    for line in lines:
        m = re.match(
            r"\s*(?:->\s*)?((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Heap Scan|"
            r"Bitmap Index Scan|Seq Scan|Append|HashAggregate|GroupAggregate|Aggregate|"
            r"Hash Join|Nested Loop|Memoize|Sort|Gather|Finalize Aggregate|Partial Aggregate|"
            r"Result))"
            r"(?: using (\S+)| on (\S+))?",
            line,
        )
        if m and "never executed" not in line:
            index = m.group(2) or (m.group(3) if m.group(1) == "Bitmap Index Scan" else None)
            node = m.group(1) + (f" ({index})" if index else "")
            nodes.append(re.sub(r"_\d{6}|_default", "", node))
    folded: list[str] = []
    for node in nodes:
        if folded and folded[-1].split(" ×")[0] == node:
            n = int(folded[-1].split(" ×")[1]) if " ×" in folded[-1] else 1
            folded[-1] = f"{node} ×{n + 1}"
        else:
            folded.append(node)
    return " → ".join(folded)


def _buffers(lines: list[str]) -> int:
    """Shared buffers of the top node (it includes its children's)."""
    for line in lines:
        m = re.search(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?", line)
        if m:
            return int(m.group(1) or 0) + int(m.group(2) or 0)
    return 0


def _with_scratch(pg: str, work) -> int:  # type: ignore[no-untyped-def]
    """``work(engine)`` on a migrated scratch database, dropped afterwards."""
    name = f"puhui_locks_{os.getpid()}"
    base = make_url(database_url(pg))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        return work(engine)
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _ledger_locks(engine, months_ahead: int) -> int:  # type: ignore[no-untyped-def]
    """Relation locks one ``create_transfers`` transaction holds before commit, in and out of
    the backend's fast path, on the plain journal and then on ``months_ahead`` + 2 partitions."""
    from puhui.db.engine import run_in_transaction
    from puhui.ledger.codes import AccountCode, Book, TransferCode
    from puhui.ledger.service import Transfer, create_account, create_transfers

    a, b = run_in_transaction(
        engine,
        lambda c: [
            create_account(c, book=Book.CUSTODY, code=code, owner=o)
            for code, o in ((AccountCode.CUSTODY_MASTER, None), (AccountCode.LENDER, "x"))
        ],
    )

    def count(label: str, n: int) -> None:
        with engine.begin() as c:
            batch = [Transfer(f"{label}{i}", a, b, 1, TransferCode.DEPOSIT) for i in range(n)]
            create_transfers(c, batch)
            rows = c.exec_driver_sql(
                "SELECT fastpath, count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND locktype = 'relation' GROUP BY 1"
            ).all()
        print(
            f"{label}: {n} transfers: "
            + ", ".join(f"{'fast path' if f else 'shared'} {k}" for f, k in rows)
        )

    count("plain", 1)
    count("plain-b", 100)
    report = partition_journal(engine, months_ahead=months_ahead)
    print(f"partitioned: {len(report.created)} months", file=sys.stderr)
    count("partitioned", 1)
    count("partitioned-b", 100)
    return 0


def _ledger_write_cost(argv: list[str], rounds: int, months_ahead: int) -> int:
    """bench/ledger.py, as it is and then on a partitioned journal, one after the other.

    Its scratch databases get names of their own here, so a concurrent run of bench/ledger.py
    by someone else is neither dropped nor measured; pgbench is off (``--no-pgbench``)."""
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location(
        "bench_ledger", Path(__file__).with_name("ledger.py")
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_ledger"] = bench  # its dataclasses look their module up by name
    spec.loader.exec_module(bench)
    bench.PG_DB, bench.PGBENCH_DB = f"puhui_partbench_{os.getpid()}", f"pgb_partbench_{os.getpid()}"
    setup = bench.setup_ledger

    def partitioned_setup(url: str, n_users: int, n_shards: int):  # type: ignore[no-untyped-def]
        ledger = setup(url, n_users, n_shards)
        if url.startswith("postgresql"):
            engine = make_engine(url, pool_size=1)
            report = partition_journal(engine, months_ahead=months_ahead)
            print(f"partitioned: {len(report.created)} months created", file=sys.stderr)
            engine.dispose()
        return ledger

    tune = bench.tune_pg

    def tune_partitioned(admin, args) -> None:  # type: ignore[no-untyped-def]
        """bench/ledger.py's autovacuum switch, on the journal's partitions: a partitioned
        table itself takes no storage parameters."""
        with bench.psycopg.connect(
            host=args.pg_host,
            port=args.pg_port,
            user=args.pg_user,
            dbname=bench.PG_DB,
            autocommit=True,
        ) as c:
            leaves = c.execute(
                "SELECT relid::regclass::text FROM pg_partition_tree('ledger_transfers') "
                "WHERE isleaf"
            ).fetchall()
            for (t,) in [("ledger_accounts",), ("ledger_entries",), *leaves]:
                c.execute(f"ALTER TABLE {t} SET (autovacuum_enabled = false)")

    out = Path(tempfile.mkdtemp(prefix="puhui-partbench-"))
    codes = []
    runs = [("plain", setup, tune), ("partitioned", partitioned_setup, tune_partitioned)] * rounds
    for i, (name, fn, tuner) in enumerate(runs):
        bench.setup_ledger, bench.tune_pg = fn, tuner
        md = out / f"{i // 2 + 1}-{name}.md"
        codes.append(bench.main([*argv, "--no-pgbench", "--markdown", str(md)]))
    for md in sorted(out.iterdir()):
        print(f"\n## round {md.stem}\n\n" + md.read_text())
    return max(codes)


def _count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _count_parts(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(
            c.exec_driver_sql(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'ledger_transfers'::regclass"
            ).scalar_one()
        )


if __name__ == "__main__":
    sys.exit(main())
