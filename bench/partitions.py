"""Query plans for the journal and the daily snapshots, plain and partitioned by date (PostgreSQL).

    .venv/bin/python bench/partitions.py                      # 2,000,000 transfers over 2 years
    .venv/bin/python bench/partitions.py --transfers 500000 --markdown /tmp/plans.md

In a scratch database (created and dropped here) it migrates the schema, fills
``ledger_transfers`` and ``lending_eod_snapshots`` set-based with synthetic rows spread over
``--days`` business dates, copies both into tables partitioned by month on ``business_date``
(the DDL docs/scale.md proposes), and runs the queries the platform sends to these tables
against both, with ``EXPLAIN (ANALYZE, BUFFERS)``: the best of three runs, the plan's shape
and the buffers it touched. The rows are synthetic: only their spread over dates, ids and
references matters to a plan.
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

END = date(2026, 11, 30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--transfers", type=int, default=2_000_000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args()
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
            _partitioned_copies(conn, start, END)
            conn.exec_driver_sql("ANALYZE")
            print(f"filled and copied in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        with engine.connect() as conn:
            out = _measure(conn, start)
        header = (
            f"`bench/partitions.py --transfers {args.transfers} --days {args.days}`: "
            f"{args.transfers:,} transfers and "
            f"{_count(engine, 'lending_eod_snapshots'):,} snapshot rows over {args.days} "
            f"dates; partitions by month ({_count_parts(engine)} for the journal). "
            f"Best of 3, ms; buffers = shared hit + read.\n\n"
        )
        report = header + out
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


def partition_ddl(table: str, key: str, start: date, end: date) -> list[str]:
    """Monthly range partitions of ``table`` on ``key`` covering start…end, and a default."""
    out = [f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"]
    m = date(start.year, start.month, 1)
    while m <= end:
        nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
        out.append(
            f"CREATE TABLE {table}_{m:%Y%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{m}') TO ('{nxt}')"
        )
        m = nxt
    return out


def _partitioned_copies(conn: Connection, start: date, end: date) -> None:
    """``p_transfers`` and ``p_snapshots``: the same rows in tables partitioned by month.

    A partitioned table's unique keys must contain the partition key, so the journal's primary
    key becomes ``(id, business_date)``; the lookup by id alone has no pruning (measured)."""
    conn.exec_driver_sql(
        "CREATE TABLE p_transfers (LIKE ledger_transfers INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (business_date)"
    )
    conn.exec_driver_sql("ALTER TABLE p_transfers ADD PRIMARY KEY (id, business_date)")
    conn.exec_driver_sql("CREATE INDEX ON p_transfers (business_date)")
    conn.exec_driver_sql("CREATE INDEX ON p_transfers (reference) WHERE reference IS NOT NULL")
    conn.exec_driver_sql("CREATE INDEX ON p_transfers (expires_us) WHERE expires_us IS NOT NULL")
    conn.exec_driver_sql(
        "CREATE TABLE p_snapshots (LIKE lending_eod_snapshots INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (business_date)"
    )
    conn.exec_driver_sql(
        "ALTER TABLE p_snapshots ADD PRIMARY KEY "
        "(business_date, part, product_version_id, bucket, classification)"
    )
    for table in ("p_transfers", "p_snapshots"):
        for ddl in partition_ddl(table, "business_date", start, end):
            conn.exec_driver_sql(ddl)
    conn.exec_driver_sql("INSERT INTO p_transfers SELECT * FROM ledger_transfers")
    conn.exec_driver_sql("INSERT INTO p_snapshots SELECT * FROM lending_eod_snapshots")


def _queries(start: date) -> list[tuple[str, str]]:
    day = END - timedelta(days=3)
    month = date(day.year, day.month, 1)
    ids = ", ".join(f"'t{i}'" for i in range(5, 2_000_000, 20_011))
    return [
        (
            "reconcile: a day's posted transfers (custody/reconcile.py)",
            f"SELECT id, reference FROM {{t}} WHERE business_date = '{day}' AND flags & 1 = 0",
        ),
        (
            "reconcile: transfers after a date in the custody book",
            f"SELECT count(*) FROM {{t}} WHERE business_date > '{day}' AND book = 'custody'",
        ),
        (
            "by id, up to a date (custody reconcile, compliance feed)",
            f"SELECT id, amount FROM {{t}} WHERE id IN ({ids}) AND business_date <= '{day}'",
        ),
        (
            "by id alone (the ledger's idempotent create: PK lookup)",
            "SELECT id, request_hash FROM {t} WHERE id = 't123457'",
        ),
        (
            "a month's totals by code (reports)",
            f"SELECT code, sum(amount) FROM {{t}} WHERE business_date >= '{month}' "
            f"AND business_date < '{month}'::date + interval '1 month' GROUP BY code",
        ),
        (
            "pending transfers past their timeout (ledger expire)",
            "SELECT id FROM {t} WHERE expires_us IS NOT NULL AND expires_us <= 1700000000200000",
        ),
        (
            "snapshots: a date's loans (eod snapshot step)",
            f"SELECT COALESCE(SUM(loans), 0) FROM {{s}} WHERE business_date = '{day}'",
        ),
        (
            "snapshots: a year by bucket (disclosure)",
            f"SELECT bucket, sum(principal_fen) FROM {{s}} WHERE business_date > "
            f"'{day}'::date - 365 GROUP BY bucket",
        ),
    ]


def _measure(conn: Connection, start: date) -> str:
    rows = [
        "| query | plain: ms | plain: plan | buffers | by month: ms | by month: plan | buffers |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for label, sql in _queries(start):
        cells = [label]
        for t, s in (("ledger_transfers", "lending_eod_snapshots"), ("p_transfers", "p_snapshots")):
            q = sql.format(t=t, s=s)
            best, shape, buffers = float("inf"), "", 0
            for _ in range(3):
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {q}")
                lines = [r[0] for r in plan]
                ms = float(re.search(r"Execution Time: ([\d.]+)", "\n".join(lines)).group(1))
                if ms < best:
                    best, shape, buffers = ms, _shape(lines), _buffers(lines)
            cells += [f"{best:,.2f}", shape, f"{buffers:,}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _shape(lines: list[str]) -> str:
    """The plan's node types, outermost first, repeats folded ("Index Scan ×25")."""
    nodes: list[str] = []
    for line in lines:
        m = re.match(
            r"\s*(?:->\s*)?((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Heap Scan|"
            r"Bitmap Index Scan|Seq Scan|Append|HashAggregate|GroupAggregate|Aggregate|"
            r"Hash Join|Nested Loop|Sort|Gather|Finalize Aggregate|Partial Aggregate|Result))"
            r"(?: using (\S+))?",
            line,
        )
        if m:
            node = m.group(1) + (f" ({m.group(2)})" if m.group(2) else "")
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


def _count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _count_parts(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(
            c.exec_driver_sql(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'p_transfers'::regclass"
            ).scalar_one()
        )


if __name__ == "__main__":
    sys.exit(main())
