"""Engines for the embedded default (SQLite) and production (PostgreSQL through psycopg 3).

Writers on SQLite take the database lock at ``BEGIN IMMEDIATE`` rather than on their first
write, so two writers never both read a balance and then fail to upgrade their lock; on
PostgreSQL rows are locked with ``SELECT … FOR UPDATE`` in id order instead.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

DEFAULT_URL = "sqlite:///puhui.db"
T = TypeVar("T")


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``PUHUI_DATABASE_URL``, else ./puhui.db."""
    raw = url or os.environ.get("PUHUI_DATABASE_URL") or DEFAULT_URL
    u = make_url(raw)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str | None = None, *, pool_size: int = 10, echo: bool = False) -> Engine:
    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        engine = create_engine(
            resolved,
            echo=echo,
            connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 60},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        resolved, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        # The write path's cost was mostly the WAL checkpoint (every 1,000 pages by default,
        # with an fsync). A checkpoint every 16,000 pages writes a page that changed many
        # times once instead of many times; the cache keeps the hot b-tree pages in memory.
        cur.execute("PRAGMA wal_autocheckpoint=16000")
        cur.execute("PRAGMA journal_size_limit=67108864")
        cur.execute("PRAGMA cache_size=-32768")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(conn_or_engine: Connection | Engine) -> bool:
    return conn_or_engine.dialect.name == "sqlite"


_RETRYABLE_PG = {"40001", "40P01"}  # serialization failure, deadlock detected
#: Unique constraints on client-chosen ids whose violation means "someone else just did it".
_RACES = {"pk_ledger_transfers", "uq_ledger_transfers_pending_id"}


def is_retryable(exc: BaseException) -> bool:
    """Whether a database error is a transient conflict that a fresh attempt can clear.

    Accepts SQLAlchemy's wrapped errors and the drivers' own, since the ledger's hot path
    talks to the driver cursor directly.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            # The server went away (restart, failover): the pool drops the connection and a
            # new attempt gets a fresh one. Cheaper than pinging before every checkout.
            return True
        orig: BaseException = exc.orig or exc
    elif isinstance(exc, psycopg.Error | sqlite3.Error):
        orig = exc
    else:
        return False
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _RETRYABLE_PG:
        return True
    if code == "23505" and getattr(getattr(orig, "diag", None), "constraint_name", "") in _RACES:
        # Two writers raced to insert one client-chosen id; the retry reads the winner's row.
        return True
    return isinstance(orig, sqlite3.OperationalError) and "database is locked" in str(orig)


def run_in_transaction(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run ``work`` in one transaction, committing on success.

    A deadlock or serialization failure aborts the whole transaction, so the only correct retry
    is of the whole unit of work; callers never see such a failure unless it persists.
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except (DBAPIError, psycopg.Error, sqlite3.Error) as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            time.sleep(min(0.002 * 2**attempt, 0.2))
    raise AssertionError("unreachable")  # pragma: no cover
