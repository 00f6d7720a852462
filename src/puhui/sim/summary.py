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

from puhui.compliance import publication
from puhui.compliance.disclosure import ITEM_CODES, MONEY_ITEMS, RATIO_ITEMS
from puhui.compliance.models import alerts as compliance_alerts
from puhui.compliance.models import reports as compliance_reports
from puhui.custody.breaks import open_breaks
from puhui.identity import audit
from puhui.identity.models import customers
from puhui.ledger.verify import verify as ledger_verify
from puhui.lending import accounts
from puhui.lending.credit_line import books as credit_line_books
from puhui.lending.credit_line import models as cl
from puhui.lending.models import applications, installments, loan_transactions, loans
from puhui.marketplace import models as mkt

BUCKETS = ("M0", "M1", "M2", "M3", "M4")
#: The tables whose rows make up "the book"; compared across runs of one seed.
BOOK_TABLES: tuple[Table, ...] = (
    applications,
    loans,
    installments,
    loan_transactions,
    compliance_reports,
    mkt.listings,
    mkt.bids,
    mkt.notes,
    mkt.distributions,
    mkt.loan_funding,
    mkt.auto_invest,
    mkt.claim_offers,
    cl.lines,
    cl.entries,
    cl.statements,
    cl.plans,
)
#: Columns left out of the digest: the marketplace names its ledger transfers with random
#: ids (``uuid4``), which say nothing about the book.
DIGEST_SKIP = frozenset({"transfer_id"})
#: The monthly report's items shown in the closing summary (counts, fen and ratios).
DISCLOSED = tuple(
    c for c in ITEM_CODES if c in MONEY_ITEMS or c in RATIO_ITEMS or c.endswith(("_count", "ers"))
)


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
    #: unresolved compliance alerts by rule: a breach the simulation did not intend
    compliance_alerts: dict[str, int] = field(default_factory=dict)
    #: the credit lines' book: lines by state, purchases, statements, plans, owed
    credit_lines: dict[str, int] = field(default_factory=dict)
    #: the marketplace's book: listings by status, bids, notes, distributions, claims sold
    marketplace: dict[str, int] = field(default_factory=dict)
    #: the latest published monthly report: period, version, late, and its figures
    disclosure: dict[str, Any] = field(default_factory=dict)
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
            and not self.compliance_alerts
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


def latest_disclosure(conn: Connection) -> dict[str, Any]:
    """The newest published month's report as the public page shows it."""
    periods = publication.published_periods(conn)
    if not periods:
        return {}
    latest = max(periods, key=lambda p: (p["period"], p["version"]))
    report = publication.latest(conn, period=latest["period"])
    items = report.snapshot.get("items") or {}
    return {
        "period": report.period,
        "version": report.version,
        "late": report.late,
        "deadline": report.deadline.isoformat(),
        "items": {code: items.get(code) for code in DISCLOSED},
    }


def marketplace_figures(conn: Connection) -> dict[str, int]:
    """Counts and fen of the marketplace tables (empty when nothing was listed)."""
    out = {f"listings_{k}": v for k, v in _grouped(conn, mkt.listings.c.status).items()}
    if not out:
        return {}
    b, n, d, o = mkt.bids.c, mkt.notes.c, mkt.distributions.c, mkt.claim_offers.c

    for name, query in (
        ("bids_posted", select(func.count()).where(b.status == "posted")),
        ("bids_posted_fen", select(_sum(b.amount_fen)).where(b.status == "posted")),
        ("notes", select(func.count()).select_from(mkt.notes)),
        ("notes_from_claim_transfers", select(func.count()).where(n.source != "bid")),
        ("auto_investors", select(func.count()).select_from(mkt.auto_invest)),
        ("distributed_principal_fen", select(_sum(d.principal_fen))),
        ("distributed_interest_fen", select(_sum(d.interest_fen))),
        ("claims_sold", select(func.count()).where(o.status == "sold")),
    ):
        out[name] = int(conn.execute(query).scalar_one())
    return out


def _sum(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


def credit_line_figures(conn: Connection) -> dict[str, int]:
    """Counts and fen of the credit-line tables (empty when no line was granted)."""
    out = {f"lines_{k}": v for k, v in _grouped(conn, cl.lines.c.state).items()}
    if not out:
        return {}
    ln, e = cl.lines.c, cl.entries.c
    owed = ln.unbilled_fen + ln.billed_fen + ln.instalment_fen
    for name, query in (
        ("purchases", select(func.count()).where(e.kind == "purchase")),
        ("purchases_fen", select(_sum(e.amount_fen)).where(e.kind == "purchase")),
        ("payments_fen", select(_sum(e.amount_fen)).where(e.kind == "payment")),
        ("statements", select(func.count()).select_from(cl.statements)),
        ("instalment_plans", select(func.count()).select_from(cl.plans)),
        ("principal_owed_fen", select(_sum(owed))),
        ("overdue_lines", select(func.count()).where(ln.dpd > 0)),
    ):
        out[name] = int(conn.execute(query).scalar_one())
    return out


def _open_alerts(conn: Connection) -> dict[str, int]:
    a = compliance_alerts.c
    rows = conn.execute(
        select(a.rule_id, func.count()).where(a.status != "resolved").group_by(a.rule_id)
    )
    return {str(rule): int(n) for rule, n in rows}


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
            code.name: diff
            for check in (accounts.check_subledger, credit_line_books.check_subledger)
            for code, diff in check(conn).items()
        },
        ledger_problems=[str(p) for p in ledger_verify(conn)],
        audit_problems=[str(p) for p in audit.verify(conn)],
        open_breaks=len(open_breaks(conn, as_of=last_date)),
        compliance_alerts=_open_alerts(conn),
        marketplace=marketplace_figures(conn),
        credit_lines=credit_line_figures(conn),
        disclosure=latest_disclosure(conn),
        counts=dict(sorted((counts or {}).items())),
        missing_steps=sorted(missing or []),
    )


def book_digest(conn: Connection) -> str:
    """SHA-256 over every row of the book's tables in key order: equal for equal books."""
    h = hashlib.sha256()
    for table in BOOK_TABLES:
        h.update(table.name.encode())
        order = list(table.primary_key.columns)
        kept = [c for c in table.columns if c.name not in DIGEST_SKIP]
        for row in conn.execute(select(*kept).order_by(*order)):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()
