"""Disclosure benchmark: the 21 monthly figures in our SQL against the same aggregates in DuckDB.

    .venv/bin/python bench/disclosure.py --ours-repeat 0       # 100,000 loans on SQLite
    .venv/bin/python bench/disclosure.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_disclosure
    .venv/bin/python bench/disclosure.py --loans 20000 --markdown bench/results/disclosure.md

The book is ``bench/eod.py``'s (12-month equal-installment loans started over eleven months,
~4% overdue by one to three installments) with the history the report is rebuilt from added
set-based: a disbursement per loan, a repayment per paid installment (5% auto-debits), a
repayment reversed on 0.5% of loans, write-offs of 10% of the overdue loans, borrowers with
several loans, notes held by 5,000 lenders on 30% of the loans (some sold on), compensations
on a third of the overdue marketplace loans, and 0.5% of borrowers flagged as related parties.
The report is for the month before the bench date (so loans and payments after the cut-off
are left out by the history filters).

Ours is ``compliance.disclosure.monthly_figures`` on the database (a SQLite file or a fresh
PostgreSQL database, created and dropped). The baseline is the same definitions written as
DuckDB SQL over the columns those queries read, copied from the same tables into DuckDB
tables first (that copy is timed apart and is not in the query time). Every figure must agree
exactly (fen, counts, ratios, the fee schedule) before the times are compared. Each side is
timed best of ``--repeat`` after a warm-up; DuckDB with its default threads (2 here) and with
one thread, as ours runs on one. Ours is timed on its first (checked) call plus
``--ours-repeat`` more: on SQLite at 100,000 loans one call takes minutes (the lender figures'
correlated ``NOT EXISTS`` on the unindexed ``mkt_notes.parent_note_id``; see
bench/results/disclosure.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, text

from puhui.compliance import disclosure as dis
from puhui.compliance.models import related_parties
from puhui.db.engine import is_sqlite, make_engine
from puhui.lending.engine import PAYMENTS
from puhui.lending.models import installments, loan_transactions, loans, product_versions, products
from puhui.marketplace.models import compensations, listings, notes

sys.path.insert(0, str(Path(__file__).parent))
import eod  # the book builder of bench/eod.py

PERIOD = "2027-02"  # the month before eod.DAY (2027-03-15)
LENDERS = 5_000

#: The tables and columns the disclosure queries read, copied into DuckDB.
COLUMNS: dict[str, tuple[str, ...]] = {
    loans.name: ("id", "customer_id", "principal_fen"),
    loan_transactions.name: (
        "loan_id",
        "kind",
        "value_date",
        "principal_fen",
        "interest_fen",
        "reversed_by_id",
    ),
    installments.name: (
        "loan_id",
        "due_date",
        "paid_date",
        "principal_fen",
        "interest_fen",
        "fee_fen",
    ),
    related_parties.name: ("customer_id",),
    notes.name: ("id", "loan_id", "lender_id", "acquired_at", "parent_note_id"),
    compensations.name: ("loan_id", "note_id", "amount_fen", "business_date"),
    products.name: ("id", "code", "name"),
    product_versions.name: ("product_id", "version", "mode", "terms_json", "effective_from"),
}
DATES = {"value_date", "due_date", "paid_date", "business_date", "effective_from"}


def _us(d: np.ndarray) -> np.ndarray:
    """Midday Shanghai (04:00 UTC) of each date, in µs since the epoch."""
    return (d.astype("datetime64[D]").astype(np.int64) * 86_400 + 4 * 3_600) * 1_000_000


def add_history(engine: Engine, n: int, seed: int = 11) -> dict[str, int]:
    """What the report is rebuilt from and ``eod.load`` does not write: transactions, repeat
    borrowers, notes, compensations and related parties. Returns the row counts."""
    rng = np.random.default_rng(seed)
    book = eod.generate(n)  # deterministic (seeded): the same book eod.load wrote
    ids = np.arange(1, n + 1)
    start = book["start"].astype("datetime64[D]")
    due = book["i_due"]
    paid = book["i_paid"].copy()
    # 1% of loans stopped paying after their first installment: overdue beyond 90 days
    deep = ids[(ids % 97 == 0) & (paid.sum(axis=1) >= 5)] - 1
    paid[deep, 1:] = False
    # one row per disbursement, paid installment, reversed pair and write-off
    li, ki = np.nonzero(paid)
    pay_kind = np.where(rng.random(len(li)) < 0.05, "auto_debit", "repayment")
    dup = ids[(rng.random(n) < 0.005) & (paid.sum(axis=1) > 0)] - 1  # a repayment reversed
    dup_k = paid[dup].sum(axis=1) - 1
    overdue = ids[book["dpd"] > 0] - 1
    written = overdue[rng.random(len(overdue)) < 0.10]
    n_pay, n_dup, n_w = len(li), len(dup), len(written)
    total = n + n_pay + 2 * n_dup + n_w
    tx_id = np.arange(1, total + 1)
    o_dup = n + n_pay
    o_rev, o_w = o_dup + n_dup, o_dup + 2 * n_dup
    w_date = np.minimum(
        np.datetime64(eod.DAY) - 1, due[written, 0] + rng.integers(60, 200, n_w)
    ).astype("datetime64[D]")
    dup_due = due[dup, dup_k].astype("datetime64[D]")
    kind = np.concatenate(
        [
            np.full(n, "disbursement"),
            pay_kind,
            np.full(n_dup, "repayment"),
            np.full(n_dup, "reversal"),
            np.full(n_w, "write_off"),
        ]
    )
    value = np.concatenate([start, due[li, ki], dup_due, dup_due + 1, w_date]).astype(
        "datetime64[D]"
    )
    principal = np.concatenate(
        [
            book["principal"],
            book["i_principal"][li, ki],
            book["i_principal"][dup, dup_k],
            np.zeros(n_dup, np.int64),
            book["outstanding"][written],
        ]
    )
    interest = np.concatenate(
        [
            np.zeros(n, np.int64),
            book["i_interest"][li, ki],
            book["i_interest"][dup, dup_k],
            np.zeros(n_dup, np.int64),
            np.zeros(n_w, np.int64),
        ]
    )
    reversed_by = np.full(total, None, dtype=object)
    reversed_by[o_dup:o_rev] = tx_id[o_rev:o_w]
    reverses = np.full(total, None, dtype=object)
    reverses[o_rev:o_w] = tx_id[o_dup:o_rev]
    loan_of = np.concatenate([ids, li + 1, dup + 1, dup + 1, written + 1])
    tx_cols = {
        "id": tx_id,
        "loan_id": loan_of,
        "kind": kind,
        "value_date": value.astype(str),
        "booked_date": value.astype(str),
        "amount_fen": principal + interest,
        "principal_fen": principal,
        "interest_fen": interest,
        "reverses_id": reverses,
        "reversed_by_id": reversed_by,
        "actor": np.full(total, "bench"),
        "created_us": _us(value),
    }
    # notes: 30% of loans, one to three lenders each; 3% sold on later (a child note)
    funded = ids[rng.random(n) < 0.30]
    per = rng.integers(1, 4, len(funded))
    note_loan = np.repeat(funded, per)
    m = len(note_loan)
    note_id = np.arange(1, m + 1)
    acquired = _us(np.repeat(start[funded - 1], per))
    sold = note_id[rng.random(m) < 0.03]
    k = len(sold)
    all_loan = np.concatenate([note_loan, note_loan[sold - 1]])
    note_principal = book["principal"][all_loan - 1] // 3
    parent = np.full(m + k, None, dtype=object)
    parent[m:] = sold
    note_cols = {
        "id": np.arange(1, m + k + 1),
        "listing_id": np.ones(m + k, np.int64),
        "loan_id": all_loan,
        "lender_id": rng.integers(1, LENDERS + 1, m + k),
        "principal_fen": note_principal,
        "outstanding_principal_fen": note_principal,
        "status": np.full(m + k, "active"),
        "acquired_at": np.concatenate(
            [acquired, acquired[sold - 1] + rng.integers(1, 200, k) * 86_400_000_000]
        ),
        "source": np.concatenate([np.full(m, "bid"), np.full(k, "claim_transfer")]),
        "parent_note_id": parent,
    }
    # compensations: a third of the overdue loans' original notes, 30–120 days after due
    ov_note = note_id[(book["dpd"][note_loan - 1] > 0) & (rng.random(m) < 0.34)]
    c = len(ov_note)
    comp_day = (start[note_loan[ov_note - 1] - 1] + rng.integers(30, 330, c)).astype(
        "datetime64[D]"
    )
    comp_cols = {
        "loan_id": note_loan[ov_note - 1],
        "note_id": ov_note,
        "lender_id": note_cols["lender_id"][ov_note - 1],
        "payer": np.full(c, "risk_reserve"),
        "amount_fen": note_principal[ov_note - 1] + rng.integers(0, 5_000, c),
        "business_date": comp_day.astype(str),
        "reason": np.full(c, "overdue"),
    }
    borrowers = max(1, int(n * 0.85))
    related = np.unique(rng.integers(1, borrowers + 1, max(1, n // 200)))
    rp_cols = {
        "customer_id": related,
        "relation": np.full(len(related), "staff"),
        "disclosed": np.ones(len(related), dtype=bool),
        "flagged_us": np.zeros(len(related), np.int64),
    }
    with engine.begin() as conn:
        # several loans per borrower: 85% as many borrowers as loans
        conn.execute(
            text(f"UPDATE {loans.name} SET customer_id = 1 + (id * 7919) % :b"), {"b": borrowers}
        )
        conn.execute(
            text(
                f"UPDATE {installments.name} SET paid_date = NULL, paid_principal_fen = 0, "
                "paid_interest_fen = 0 WHERE loan_id = :id AND seq >= 2"
            ),
            [{"id": int(j) + 1} for j in deep],
        )
        eod._bulk(conn, loan_transactions.name, tx_cols)
        conn.execute(
            listings.insert().values(
                id=1,
                application_id=1,
                borrower_id=1,
                product_code="BENCH",
                title="bench",
                description="bench",
                purpose="other",
                amount_fen=1,
                annual_rate="0.1",
                term_count=12,
                method="equal_installment",
                risk_grade="R2",
                min_bid_fen=1,
                step_fen=1,
                status="funded",
                created_at=0,
                updated_at=0,
            )
        )
        eod._bulk(conn, notes.name, note_cols)
        eod._bulk(conn, compensations.name, comp_cols)
        eod._bulk(conn, related_parties.name, rp_cols)
        if is_sqlite(conn):
            conn.exec_driver_sql("ANALYZE")
        else:
            for t in (loan_transactions, notes, compensations, related_parties, loans):
                conn.exec_driver_sql(f"ANALYZE {t.name}")
    return {
        "loans": n,
        "installments": n * eod.TERM,
        "transactions": total,
        "notes": m + k,
        "compensations": c,
        "related parties": len(related),
    }


def to_duckdb(conn: Connection, db: duckdb.DuckDBPyConnection) -> None:
    """Copy the columns the report reads into DuckDB tables (dates as DATE)."""
    for table, cols in COLUMNS.items():
        frame = pd.read_sql_query(text(f"SELECT {', '.join(cols)} FROM {table}"), conn)
        db.register("src", frame)
        select = ", ".join(f"CAST({c} AS DATE) AS {c}" if c in DATES else c for c in cols)
        db.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM src")
        db.unregister("src")


def duck_figures(db: duckdb.DuckDBPyConnection, period: str) -> dict[str, Any]:
    """The 21 items, with the definitions of ``compliance.disclosure`` written as DuckDB SQL."""
    day, as_of_us = dis.cut_off(period)
    d = f"DATE '{day.isoformat()}'"
    d90 = f"DATE '{(day - timedelta(days=dis.OVERDUE_BUCKET_DAYS)).isoformat()}'"
    pays = ", ".join(f"'{k}'" for k in PAYMENTS)
    lt, inst, ln = loan_transactions.name, installments.name, loans.name
    pos = f"""
    CREATE OR REPLACE TEMP TABLE pos AS
    WITH live AS (
        SELECT * FROM {lt}
        WHERE reversed_by_id IS NULL AND kind <> 'reversal' AND value_date <= {d}),
    dis AS (SELECT DISTINCT loan_id FROM live WHERE kind = 'disbursement'),
    paid AS (
        SELECT loan_id, sum(principal_fen) AS principal, sum(interest_fen) AS interest
        FROM live WHERE kind IN ({pays}) GROUP BY loan_id),
    wo AS (SELECT DISTINCT loan_id FROM live WHERE kind = 'write_off'),
    sched AS (
        SELECT loan_id, sum(interest_fen) AS interest,
               min(due_date) FILTER (WHERE due_date < {d}
                   AND (paid_date IS NULL OR paid_date > {d})
                   AND principal_fen + interest_fen + fee_fen > 0) AS oldest_due
        FROM {inst} GROUP BY loan_id),
    base AS (
        SELECT l.id AS loan_id, l.customer_id, l.principal_fen AS principal,
               CASE WHEN wo.loan_id IS NOT NULL THEN 0
                    ELSE greatest(l.principal_fen - coalesce(paid.principal, 0), 0)
               END AS outstanding,
               coalesce(sched.interest, 0) - coalesce(paid.interest, 0) AS interest_left,
               sched.oldest_due
        FROM {ln} l JOIN dis ON dis.loan_id = l.id
        LEFT JOIN paid ON paid.loan_id = l.id
        LEFT JOIN wo ON wo.loan_id = l.id
        LEFT JOIN sched ON sched.loan_id = l.id)
    SELECT *, CASE WHEN outstanding > 0 AND interest_left > 0 THEN interest_left ELSE 0 END
              AS interest,
           customer_id IN (SELECT customer_id FROM {related_parties.name}) AS related
    FROM base"""
    db.execute(pos)
    names = dis.ITEM_CODES[:5] + dis.ITEM_CODES[6:7] + dis.ITEM_CODES[8:9] + dis.ITEM_CODES[11:17]
    row = db.execute(
        f"""
        SELECT coalesce(sum(principal), 0), count(*),
               coalesce(sum(outstanding) FILTER (WHERE outstanding > 0), 0),
               count(*) FILTER (WHERE outstanding > 0),
               coalesce(sum(interest), 0),
               count(DISTINCT customer_id),
               count(DISTINCT customer_id) FILTER (WHERE outstanding > 0),
               coalesce(sum(outstanding) FILTER (WHERE outstanding > 0 AND related), 0),
               count(*) FILTER (WHERE outstanding > 0 AND related),
               coalesce(sum(outstanding) FILTER (WHERE outstanding > 0 AND oldest_due < {d}), 0),
               count(*) FILTER (WHERE outstanding > 0 AND oldest_due < {d}),
               coalesce(sum(outstanding) FILTER (WHERE outstanding > 0 AND oldest_due < {d90}), 0),
               count(*) FILTER (WHERE outstanding > 0 AND oldest_due < {d90})
        FROM pos"""
    ).fetchone()
    assert row is not None
    f: dict[str, Any] = {k: int(v) for k, v in zip(names, row, strict=True)}
    top = [
        int(v)
        for (v,) in db.execute(
            "SELECT sum(outstanding) AS owed FROM pos WHERE outstanding > 0 "
            "GROUP BY customer_id ORDER BY owed DESC LIMIT 10"
        ).fetchall()
    ]
    whole = f["outstanding_principal"]
    f["top10_borrower_share"] = dis._ratio(sum(top), whole)
    f["top1_borrower_share"] = dis._ratio(top[0] if top else 0, whole)
    nt, cp = notes.name, compensations.name
    lenders = db.execute(
        f"""
        SELECT count(DISTINCT lender_id) FILTER (WHERE acquired_at <= {as_of_us}),
               count(DISTINCT lender_id) FILTER (
                   WHERE acquired_at <= {as_of_us}
                   AND loan_id IN (SELECT loan_id FROM pos WHERE outstanding > 0)
                   AND NOT EXISTS (SELECT 1 FROM {nt} c
                                   WHERE c.parent_note_id = n.id AND c.acquired_at <= {as_of_us})
                   AND NOT EXISTS (SELECT 1 FROM {cp} k
                                   WHERE k.note_id = n.id AND k.business_date <= {d}))
        FROM {nt} n"""
    ).fetchone()
    comp = db.execute(
        f"SELECT coalesce(sum(amount_fen), 0), count(DISTINCT loan_id) FROM {cp} "
        f"WHERE business_date <= {d}"
    ).fetchone()
    assert lenders is not None and comp is not None
    f["cum_lenders"], f["current_lenders"] = int(lenders[0]), int(lenders[1])
    f["cum_compensated_amount"], f["cum_compensated_count"] = int(comp[0]), int(comp[1])
    fees = db.execute(
        f"""
        SELECT p.code, p.name, v.version, v.mode, v.terms_json
        FROM {product_versions.name} v JOIN {products.name} p ON p.id = v.product_id
        WHERE v.version = (SELECT max(version) FROM {product_versions.name} x
                           WHERE x.product_id = v.product_id AND x.effective_from <= {d})
        ORDER BY p.code"""
    ).fetchall()
    f["fee_schedule"] = {
        "borrower": [
            {
                "product": code,
                "name": name,
                "version": version,
                "mode": mode,
                "fees": {k: t[k] for k in dis.FEE_KEYS if k in (t := json.loads(terms))},
            }
            for code, name, version, mode, terms in fees
        ],
        "lender": {"investment_fee": "0"},
    }
    f["other_info"] = {
        "project_overdue_rate": dis._ratio(f["overdue_count"], f["outstanding_count"]),
        "amount_overdue_rate": dis._ratio(f["overdue_amount"], whole),
        "average_loan_fen": (
            f["cum_loan_amount"] // f["cum_loan_count"] if f["cum_loan_count"] else 0
        ),
        "top10_outstanding_fen": sum(top),
        "top1_outstanding_fen": top[0] if top else 0,
    }
    return {code: f[code] for code in dis.ITEM_CODES}


def best_of(fn: Callable[[], object], repeat: int, *, warm: bool = True) -> list[float]:
    if warm:
        fn()  # warm-up: caches, plans, page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _fmt(ts: list[float]) -> str:
    return f"{min(ts):.3f} s (median {statistics.median(ts):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--loans", type=int, default=100_000)
    ap.add_argument(
        "--database",
        help="a PostgreSQL URL: the database is created fresh and dropped afterwards "
        "(default: a temporary SQLite file)",
    )
    ap.add_argument("--repeat", type=int, default=5, help="timed DuckDB runs after a warm-up")
    ap.add_argument(
        "--ours-repeat",
        type=int,
        default=4,
        help="timed runs of ours after the first (which is timed too, and checked)",
    )
    ap.add_argument("--markdown", type=Path, help="append the results here")
    args = ap.parse_args()
    console = Console()
    load_before = _uptime()
    tmp = None
    if args.database:
        url = eod._fresh_pg(args.database)
        backend = "PostgreSQL"
    else:
        tmp = tempfile.mkdtemp()
        url = f"sqlite:///{tmp}/disclosure.db"
        backend = "SQLite"
    try:
        t0 = time.perf_counter()
        eod.build(url, args.loans)
        engine = make_engine(url)
        sizes = add_history(engine, args.loans)
        built = time.perf_counter() - t0
        with engine.connect() as conn:
            t0 = time.perf_counter()
            ours = dis.monthly_figures(conn, period=PERIOD).items
            ours_t = [time.perf_counter() - t0]  # the first call counts: it can take minutes
            ours_t += best_of(
                lambda: dis.monthly_figures(conn, period=PERIOD), args.ours_repeat, warm=False
            )
            db = duckdb.connect()
            t0 = time.perf_counter()
            to_duckdb(conn, db)
            copy_t = time.perf_counter() - t0
        threads = int(db.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[index]
        theirs = duck_figures(db, PERIOD)
        differ = [k for k in dis.ITEM_CODES if ours[k] != theirs[k]]
        assert not differ, f"figures differ: {[(k, ours[k], theirs[k]) for k in differ]}"
        duck_t = best_of(lambda: duck_figures(db, PERIOD), args.repeat)
        db.execute("SET threads = 1")
        duck1_t = best_of(lambda: duck_figures(db, PERIOD), args.repeat)
        db.close()
        engine.dispose()
    finally:
        if args.database:
            eod.drop(backend, url)
        elif tmp:
            for f in Path(tmp).iterdir():
                f.unlink()
            os.rmdir(tmp)
    load_after = _uptime()
    ratio, ratio1 = min(ours_t) / min(duck_t), min(ours_t) / min(duck1_t)
    table = Table(title=f"disclosure {PERIOD}, {args.loans:,} loans, {backend}")
    for col in ("", "time (best)", "ours ÷ this"):
        table.add_column(col)
    table.add_row(f"ours: monthly_figures on {backend}", _fmt(ours_t), "1")
    table.add_row(f"DuckDB SQL, {threads} threads", _fmt(duck_t), f"{ratio:.2f}")
    table.add_row("DuckDB SQL, 1 thread", _fmt(duck1_t), f"{ratio1:.2f}")
    table.add_row("copy into DuckDB (not in the above)", f"{copy_t:.2f} s", "")
    console.print(table)
    money = {k: ours[k] for k in dis.ITEM_CODES if k in dis.MONEY_ITEMS}
    console.print(f"all 21 items equal; e.g. {money}")
    command = " ".join(["python", "bench/disclosure.py", *sys.argv[1:]])
    md = [
        f"### {backend}, {args.loans:,} loans",
        "",
        f"    .venv/bin/{command}",
        "",
        f"uptime before: `{load_before}`; after: `{load_after}`  ",
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"duckdb {duckdb.__version__}; book built in {built:.1f} s (not timed)  ",
        "rows: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()),
        "",
        f"| | time: best of {len(ours_t)} (ours), {args.repeat} (DuckDB) | ours ÷ this |",
        "|---|---|---|",
        f"| **ours**: `monthly_figures` on {backend} | {_fmt(ours_t)} | 1 |",
        f"| DuckDB SQL, same definitions, {threads} threads | {_fmt(duck_t)} | {ratio:.2f} |",
        f"| DuckDB SQL, 1 thread | {_fmt(duck1_t)} | {ratio1:.2f} |",
        f"| copying the {len(COLUMNS)} tables' columns into DuckDB (apart) | {copy_t:.2f} s | |",
        "",
        "All 21 items equal (fen, counts, ratios, fee schedule). Amounts: "
        + ", ".join(f"{k} {v:,}" for k, v in money.items())
        + "; counts: "
        + ", ".join(
            f"{k} {ours[k]:,}"
            for k in dis.ITEM_CODES
            if k not in dis.MONEY_ITEMS and isinstance(ours[k], int)
        )
        + ".",
        "",
    ]
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as out:
            out.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
