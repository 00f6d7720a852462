"""The closing summary of a simulation and the checks every run must pass.

Figures come from the books, not from the simulation's own counters: loans and volume from the
loan tables, overdue rates by bucket from their principal outstanding, the company trial
balance and the sub-ledger check from ``lending.accounts``, and the three verifications a
regulator would run — ``ledger verify``, ``audit verify`` and the custody reconciliation of the
last day. ``book_digest`` hashes the loan tables, so two runs of one seed can be compared.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, func, select

from puhui.custody.breaks import open_breaks
from puhui.identity import audit
from puhui.identity.models import customers
from puhui.ledger.verify import verify as ledger_verify
from puhui.lending import accounts
from puhui.lending.models import applications, installments, loan_transactions, loans

BUCKETS = ("M0", "M1", "M2", "M3", "M4")
#: The tables whose rows make up "the book"; compared across runs of one seed.
BOOK_TABLES: tuple[Table, ...] = (applications, loans, installments, loan_transactions)


@dataclass(frozen=True)
class Summary:
    """What a run produced and whether the books prove it."""

    days: int
    last_date: date
    customers: int
    applications: dict[str, int]
    loans: dict[str, int]
    disbursed_fen: int
    outstanding_fen: int
    #: principal outstanding per overdue bucket (M0 current … M4 over 90 days)
    outstanding_by_bucket: dict[str, int]
    trial_balance: tuple[int, int]
    subledger_differences: dict[str, tuple[int, int]]
    ledger_problems: list[str]
    audit_problems: list[str]
    open_breaks: int
    counts: dict[str, int] = field(default_factory=dict)
    missing_steps: list[str] = field(default_factory=list)

    @property
    def overdue_rates(self) -> dict[str, float]:
        """Share of principal outstanding in each bucket past M0."""
        total = self.outstanding_fen or 1
        return {b: self.outstanding_by_bucket.get(b, 0) / total for b in BUCKETS[1:]}

    @property
    def passed(self) -> bool:
        debits, credits = self.trial_balance
        return (
            debits == credits
            and not self.subledger_differences
            and not self.ledger_problems
            and not self.audit_problems
            and self.open_breaks == 0
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last_date"] = self.last_date.isoformat()
        out["overdue_rates"] = {k: round(v, 6) for k, v in self.overdue_rates.items()}
        out["passed"] = self.passed
        return out


def _grouped(conn: Connection, column: Any) -> dict[str, int]:
    rows = conn.execute(select(column, func.count()).group_by(column).order_by(column))
    return {str(k): int(n) for k, n in rows}


def summarise(
    conn: Connection,
    *,
    days: int,
    last_date: date,
    counts: dict[str, int] | None = None,
    missing: list[str] | None = None,
) -> Summary:
    live = loans.c.state.in_(accounts.ON_BOOK)
    by_bucket = {
        str(b): int(v)
        for b, v in conn.execute(
            select(loans.c.bucket, func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0))
            .where(live)
            .group_by(loans.c.bucket)
        )
    }
    disbursed = conn.execute(
        select(func.coalesce(func.sum(loans.c.principal_fen), 0)).where(
            loans.c.disbursed_us.is_not(None)
        )
    ).scalar_one()
    tb = accounts.trial_balance(conn)
    return Summary(
        days=days,
        last_date=last_date,
        customers=int(conn.execute(select(func.count()).select_from(customers)).scalar_one()),
        applications=_grouped(conn, applications.c.state),
        loans=_grouped(conn, loans.c.state),
        disbursed_fen=int(disbursed),
        outstanding_fen=sum(by_bucket.values()),
        outstanding_by_bucket={b: by_bucket.get(b, 0) for b in BUCKETS},
        trial_balance=(tb.debits, tb.credits),
        subledger_differences={
            code.name: diff for code, diff in accounts.check_subledger(conn).items()
        },
        ledger_problems=[str(p) for p in ledger_verify(conn)],
        audit_problems=[str(p) for p in audit.verify(conn)],
        open_breaks=len(open_breaks(conn, as_of=last_date)),
        counts=dict(sorted((counts or {}).items())),
        missing_steps=sorted(missing or []),
    )


def book_digest(conn: Connection) -> str:
    """SHA-256 over every row of the loan tables in key order: equal for equal books."""
    h = hashlib.sha256()
    for table in BOOK_TABLES:
        h.update(table.name.encode())
        order = list(table.primary_key.columns)
        for row in conn.execute(select(table).order_by(*order)):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()
