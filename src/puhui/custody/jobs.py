"""Custody end-of-day steps: fetch the bank's statement and reconcile the day.

The day may close only when ``close_blockers`` is empty (CUS-REC-01): every break, whatever
its age, holds the close until an approved adjustment or a late match resolves it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.custody.bank import CustodyBank
from puhui.custody.breaks import BreakView, open_breaks
from puhui.custody.reconcile import ReconResult, reconcile
from puhui.custody.statement import write_csv
from puhui.db.engine import run_in_transaction


def statement_path(directory: Path, business_date: date) -> Path:
    return directory / f"custody-statement-{business_date.isoformat()}.csv"


def fetch_statement(bank: CustodyBank, *, business_date: date, directory: Path) -> Path:
    """Download the day's statement from the bank into ``directory`` (kept as evidence)."""
    return write_csv(
        bank.statement(business_date=business_date), statement_path(directory, business_date)
    )


def reconcile_day(
    engine: Engine,
    bank: CustodyBank,
    *,
    business_date: date,
    directory: Path,
    clock: Clock = SYSTEM_CLOCK,
) -> ReconResult:
    path = fetch_statement(bank, business_date=business_date, directory=directory)
    return run_in_transaction(
        engine,
        lambda c: reconcile(c, business_date=business_date, statement_path=path, clock=clock),
    )


def close_blockers(conn: Connection, *, business_date: date) -> list[BreakView]:
    """The breaks that keep ``business_date`` from closing."""
    return open_breaks(conn, as_of=business_date)
