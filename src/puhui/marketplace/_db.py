"""Small SQL helpers the marketplace shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select

from puhui.core.clock import Clock
from puhui.db.engine import is_sqlite


def locked(conn: Connection, query: Select[Any]) -> Select[Any]:
    """Lock the selected rows on PostgreSQL (``SELECT … FOR UPDATE``); on SQLite a writer
    already holds the database lock from ``BEGIN IMMEDIATE``."""
    return query if is_sqlite(conn) else query.with_for_update()


def now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)
