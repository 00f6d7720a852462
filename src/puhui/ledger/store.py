"""The ledger's hot path in plain SQL, one dialect at a time.

``service.create_transfers`` decides; this module only reads and writes, in as few round
trips as the database allows. Building SQLAlchemy statements per call cost more than the
database work itself (a profile showed ~70% of the time in statement construction and cache
keys), so the SQL here is fixed text, built once from the table definitions so that it cannot
drift from the schema.

PostgreSQL: one pipeline locks the accounts (``FOR NO KEY UPDATE``, id order) and reads the
transfers already stored under the batch's ids; one statement writes every transfer, entry and
balance from JSON. The idempotency read may use a snapshot older than the
lock wait; the primary key and the unique ``pending_id`` then refuse the write, and
``run_in_transaction`` retries the whole unit, which reads the winner's row.

SQLite: writers already hold the database lock (``BEGIN IMMEDIATE``), so plain reads and
``executemany`` on the driver cursor are exact and fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from puhui.ledger.models import accounts, entries, transfers

ACCOUNT_COLUMNS = [c.name for c in accounts.columns]
TRANSFER_COLUMNS = [c.name for c in transfers.columns]
ENTRY_COLUMNS = [c.name for c in entries.columns if c.name != "id"]
BALANCE_UPDATE = (
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
    "entry_seq",
    "head_hash",
)

_BALANCE_KEYS = ("id", *BALANCE_UPDATE)
_ACC = ", ".join(ACCOUNT_COLUMNS)
_TR = ", ".join(TRANSFER_COLUMNS)
_EN = ", ".join(ENTRY_COLUMNS)

# NO KEY UPDATE: rows elsewhere that reference an account take KEY SHARE locks on it, which
# must not deadlock with a transfer that locks the same account.
PG_LOCK = f"SELECT {_ACC} FROM ledger_accounts WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
PG_TRANSFERS = f"SELECT {_TR} FROM ledger_transfers WHERE id = ANY(%s)"
PG_RESOLUTIONS = "SELECT pending_id, flags FROM ledger_transfers WHERE pending_id = ANY(%s)"
PG_WRITE = (
    f"WITH t AS (INSERT INTO ledger_transfers ({_TR}) SELECT {_TR} "
    "FROM json_populate_recordset(NULL::ledger_transfers, %s::json)), "
    f"e AS (INSERT INTO ledger_entries ({_EN}) SELECT {_EN} "
    "FROM json_populate_recordset(NULL::ledger_entries, %s::json)) "
    "UPDATE ledger_accounts a SET "
    + ", ".join(f"{c} = v.{c}" for c in BALANCE_UPDATE)
    + " FROM json_populate_recordset(NULL::ledger_accounts, %s::json) AS v "
    "WHERE a.id = v.id AND a.id = ANY(%s::bigint[])"
)
"""Rows travel as JSON, which the server parses in C: dumping them as typed arrays cost more
Python time than the statement's whole server time. The repeated ids give the planner an
index condition instead of a join over every account."""

SQLITE_LOCK = (
    f"SELECT {_ACC} FROM ledger_accounts WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
)
SQLITE_TRANSFERS = (
    f"SELECT {_TR} FROM ledger_transfers WHERE id IN (SELECT value FROM json_each(?))"
)
SQLITE_RESOLUTIONS = (
    "SELECT pending_id, flags FROM ledger_transfers "
    "WHERE pending_id IN (SELECT value FROM json_each(?))"
)
SQLITE_INSERT_TRANSFER = (
    f"INSERT INTO ledger_transfers ({_TR}) VALUES ({', '.join('?' * len(TRANSFER_COLUMNS))})"
)
SQLITE_INSERT_ENTRY = (
    f"INSERT INTO ledger_entries ({_EN}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"
)
SQLITE_UPDATE_ACCOUNT = (
    "UPDATE ledger_accounts SET " + ", ".join(f"{c} = ?" for c in BALANCE_UPDATE) + " WHERE id = ?"
)


def _cursor(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def load_transfers(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stored transfers by id (pending transfers a post or void names, or earlier attempts)."""
    ids = sorted(ids)
    if not ids:
        return {}
    cur = _cursor(conn)
    if _is_pg(conn):
        cur.execute(PG_TRANSFERS, (ids,))
    else:
        cur.execute(SQLITE_TRANSFERS, (json.dumps(ids),))
    rows = {r[0]: dict(zip(TRANSFER_COLUMNS, r, strict=True)) for r in cur.fetchall()}
    cur.close()
    if rows and not _is_pg(conn):
        from datetime import date

        for r in rows.values():
            if isinstance(r["business_date"], str):
                r["business_date"] = date.fromisoformat(r["business_date"])
    return rows


def lock_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Read and lock accounts in id order, so that two writers never wait on each other."""
    ids = sorted(ids)
    if not ids:
        return {}
    cur = _cursor(conn)
    if _is_pg(conn):
        cur.execute(PG_LOCK, (ids,))
    else:
        cur.execute(SQLITE_LOCK, (json.dumps(ids),))
    out: dict[int, dict[str, Any]] = {}
    for r in cur.fetchall():
        row = dict(zip(ACCOUNT_COLUMNS, r, strict=True))
        row["_seq0"], row["_head0"] = row["entry_seq"], row["head_hash"]
        out[row["id"]] = row
    cur.close()
    return out


def lock_and_load(
    conn: Connection,
    account_ids: Iterable[int],
    transfer_ids: Iterable[str],
    pending_ids: Iterable[str],
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
    """Lock the accounts, then read the batch's stored transfers and resolved pendings.

    On PostgreSQL the three statements go in one pipeline (one round trip); the server runs
    them in order, so the two reads start after the lock is held.
    """
    if not _is_pg(conn):
        return (
            lock_accounts(conn, account_ids),
            load_transfers(conn, transfer_ids),
            load_resolutions(conn, pending_ids),
        )
    acc_ids, t_ids, p_ids = sorted(account_ids), sorted(transfer_ids), sorted(pending_ids)
    raw = conn.connection.dbapi_connection
    with raw.pipeline():  # type: ignore[union-attr]
        c1, c2, c3 = raw.cursor(), raw.cursor(), raw.cursor()  # type: ignore[union-attr]
        if acc_ids:
            c1.execute(PG_LOCK, (acc_ids,))
        if t_ids:
            c2.execute(PG_TRANSFERS, (t_ids,))
        if p_ids:
            c3.execute(PG_RESOLUTIONS, (p_ids,))
    locked: dict[int, dict[str, Any]] = {}
    for r in c1.fetchall() if acc_ids else ():
        row = dict(zip(ACCOUNT_COLUMNS, r, strict=True))
        row["_seq0"], row["_head0"] = row["entry_seq"], row["head_hash"]
        locked[row["id"]] = row
    existing = {
        r[0]: dict(zip(TRANSFER_COLUMNS, r, strict=True)) for r in (c2.fetchall() if t_ids else ())
    }
    resolved = {pid: flags for pid, flags in (c3.fetchall() if p_ids else ())}
    for c in (c1, c2, c3):
        c.close()
    return locked, existing, resolved


def load_resolutions(conn: Connection, pending_ids: Iterable[str]) -> dict[str, int]:
    """For each pending id already posted or voided, the flags of the transfer that did it."""
    ids = sorted(pending_ids)
    if not ids:
        return {}
    cur = _cursor(conn)
    if _is_pg(conn):
        cur.execute(PG_RESOLUTIONS, (ids,))
    else:
        cur.execute(SQLITE_RESOLUTIONS, (json.dumps(ids),))
    out = {pid: flags for pid, flags in cur.fetchall()}
    cur.close()
    return out


def write(
    conn: Connection,
    transfer_rows: Sequence[dict[str, Any]],
    entry_rows: Sequence[tuple[Any, ...]],
    balances: Sequence[tuple[Any, ...]],
) -> None:
    """Insert transfers and entries and store balances; ``balances`` rows are
    ``(id, *BALANCE_UPDATE)`` and ``entry_rows`` follow ``ENTRY_COLUMNS``."""
    cur = _cursor(conn)
    if _is_pg(conn):
        cur.execute(
            PG_WRITE,
            (
                json.dumps(transfer_rows, default=str),
                json.dumps([dict(zip(ENTRY_COLUMNS, e, strict=True)) for e in entry_rows]),
                json.dumps([dict(zip(_BALANCE_KEYS, b, strict=True)) for b in balances]),
                [b[0] for b in balances],
            ),
        )
    else:
        cur.executemany(
            SQLITE_INSERT_TRANSFER,
            [
                tuple(r[c].isoformat() if c == "business_date" else r[c] for c in TRANSFER_COLUMNS)
                for r in transfer_rows
            ],
        )
        cur.executemany(SQLITE_INSERT_ENTRY, entry_rows)
        cur.executemany(SQLITE_UPDATE_ACCOUNT, [(*b[1:], b[0]) for b in balances])
    cur.close()
