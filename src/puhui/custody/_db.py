"""Small SQL helpers the custody tables need on both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Select, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.core.errors import PuhuiError
from puhui.db.engine import is_sqlite


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its key exists; return whether it was inserted.

    Lets two concurrent writers create the same row without one of them failing the whole
    transaction on a unique violation.
    """
    dialect = sqlite if is_sqlite(conn) else postgresql
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, because drivers need not report a row count for an INSERT (psycopg gives -1).
    return conn.execute(stmt.returning(*table.primary_key.columns)).first() is not None


def for_update(conn: Connection, query: Select[Any]) -> Select[Any]:
    """Lock the selected rows on PostgreSQL; SQLite writers already hold the database lock."""
    return query if is_sqlite(conn) else query.with_for_update()


def serialise(conn: Connection, name: str) -> None:
    """Take a transaction-scoped lock named ``name`` (PostgreSQL advisory lock).

    Used where a row that should exist once is created on first use: the second creator waits,
    then finds the row. On SQLite ``BEGIN IMMEDIATE`` already serialises writers.
    """
    if not is_sqlite(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})


def now_us(clock: Clock) -> int:
    """The integer microseconds since the epoch that every custody table stores."""
    return int(clock.now().timestamp() * 1_000_000)


def first_or_raise(conn: Connection, query: Select[Any], missing: PuhuiError) -> RowMapping:
    """The first row of ``query``, or ``missing`` raised (usually a ``NotFound``)."""
    row = conn.execute(query).mappings().first()
    if row is None:
        raise missing
    return row
