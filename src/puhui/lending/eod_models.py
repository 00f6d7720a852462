"""The end-of-day batch's tables, and the staging tables its set-based updates go through.

A run (``lending_eod_runs``) is one business date; it fixes how the loans are split into
partitions when it starts, so every worker and every rerun sees the same loan ranges. Each step
of each partition commits together with its row in ``lending_eod_steps``: a step either happened
whole, with its record, or not at all, which is what makes the batch resumable. The snapshot
tables hold the day's portfolio aggregated by product × bucket × classification (never one row
per loan per day) and the control accounts' balances. ``lending_debit_sandbox_accounts`` is the
sandbox auto-debit (代扣) channel's own view of the borrowers' bank cards.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    text,
)

from puhui.db.engine import is_sqlite
from puhui.db.metadata import metadata

runs = Table(
    "lending_eod_runs",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("partitions", Integer, nullable=False),
    #: The live loan ids when the run started; partition bounds are cut from them.
    Column("min_loan_id", BigInteger, nullable=False),
    Column("max_loan_id", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),  # running | done
    Column("report_json", Text, nullable=False, server_default="{}"),
    Column("started_us", BigInteger, nullable=False),
    Column("finished_us", BigInteger, nullable=True),
)

steps = Table(
    "lending_eod_steps",
    metadata,
    Column("business_date", Date, primary_key=True),
    #: 0…partitions−1 for per-partition steps, −1 for the run's closing step.
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("step", String(20), primary_key=True),
    Column("loans", BigInteger, nullable=False, server_default="0"),
    Column("amount_fen", BigInteger, nullable=False, server_default="0"),
    Column("detail_json", Text, nullable=False, server_default="{}"),
    Column("finished_us", BigInteger, nullable=False),
)

snapshots = Table(
    "lending_eod_snapshots",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("product_version_id", BigInteger, primary_key=True, autoincrement=False),
    Column("bucket", String(4), primary_key=True),
    Column("classification", String(20), primary_key=True),
    Column("loans", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),  # accrued + due unpaid
    Column("fee_fen", BigInteger, nullable=False),
    Column("penalty_fen", BigInteger, nullable=False),  # penalty + late fees unpaid
    Column("provision_fen", BigInteger, nullable=False),
    Column("credit_fen", BigInteger, nullable=False),
)

gl_snapshots = Table(
    "lending_eod_gl_snapshots",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("code", String(40), primary_key=True),
    Column("balance_fen", BigInteger, nullable=False),
)

debit_sandbox_accounts = Table(
    "lending_debit_sandbox_accounts",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

TABLES = (runs, steps, snapshots, gl_snapshots, debit_sandbox_accounts)


def stage(
    conn: Connection, name: str, columns: Mapping[str, np.ndarray], *, key: tuple[str, ...] = ()
) -> str:
    """Load integer columns into a temporary table for an ``UPDATE … FROM`` and return its name.

    A per-row ``UPDATE`` from Python is what makes batches slow; loading the new values in bulk
    (COPY on PostgreSQL, executemany on SQLite) and joining once keeps the work set-based. The
    table lives until the transaction ends (PostgreSQL) or is emptied on reuse (SQLite).
    """
    table = f"eod_stage_{name}"
    cols = ", ".join(f"{c} BIGINT" for c in columns)
    if key:
        cols += f", PRIMARY KEY ({', '.join(key)})"
    arrays = [np.asarray(a, dtype=np.int64) for a in columns.values()]
    if is_sqlite(conn):
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({cols})")
        conn.exec_driver_sql(f"DELETE FROM {table}")
        marks = ", ".join("?" for _ in columns)
        rows = list(zip(*(a.tolist() for a in arrays), strict=True))
        if rows:
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", rows)
        return table
    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    conn.execute(text(f"CREATE TEMP TABLE {table} ({cols}) ON COMMIT DROP"))
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:  # type: ignore[union-attr]
        if arrays and len(arrays[0]):
            lines = zip(*(map(str, a.tolist()) for a in arrays), strict=True)
            copy.write("".join("\t".join(line) + "\n" for line in lines))
    conn.execute(text(f"ANALYZE {table}"))
    return table


#: The installments that may still owe something, as SQL over ``lending_installments i``.
#: An installment is given a ``paid_date`` only when every component is paid (engine and
#: batch alike), and nothing is charged to it afterwards (penalty runs on unpaid principal, the
#: late fee on what is still owed), so "owes anything" implies this predicate; installment 0
#: without an upfront fee never owes anything. Queries that look for what is due or overdue
#: add it so that they can use ``ix_lending_installments_unpaid`` below.
UNPAID = "i.paid_date IS NULL AND (i.seq > 0 OR i.fee_fen > 0)"

#: Due dates of the installments still open (migration 0012): the batch's auto-debit, aging
#: and penalty want the few installments due by ``D`` and unpaid among a million loans'
#: schedules, most of them paid or not yet due. A plain due-date index ranges over every
#: installment ever due; this partial one holds only the unpaid ones, so ``due_date <= D`` is
#: a short range (the loans due today and the overdue ones). Plain SQL, not an ``Index`` on
#: the table object: migration 0007 creates the table with every index attached to it.
#: The accrual's view of the schedules (migration 0012): for the current installments, found
#: by a range of due dates, everything the accrual reads is in the index, so a million loans
#: cost a read of a million short index entries rather than as many heap pages.
ACCRUAL_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_lending_installments_accrual "
    "ON lending_installments (due_date, period_start, loan_id, seq, interest_fen)"
)
UNPAID_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_lending_installments_unpaid "
    "ON lending_installments (due_date, loan_id) "
    "WHERE paid_date IS NULL AND (seq > 0 OR fee_fen > 0)"
)
