"""Read models of loans: lists, a loan's detail, its schedule as it stands and its transactions.

Kept apart from the write path (servicing, the end-of-day batch): these are plain queries over
the sub-ledger tables that the HTTP API, the CLI and the web pages share. A borrower's reads
pass ``customer_id``, so another borrower's loan answers 404 exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Select, func, select

from puhui.core.clock import Clock
from puhui.core.errors import NotFound
from puhui.lending import calendar, eod_models
from puhui.lending.contracts import IRR_LABEL
from puhui.lending.models import installments, loan_transactions, loans


@dataclass(frozen=True, kw_only=True)
class LoanSummary:
    id: int
    customer_id: int
    application_id: int
    state: str
    principal_fen: int
    principal_outstanding_fen: int
    #: The contract rate and the IRR annual rate (RATE-APR-01), decimal strings, side by side,
    #: with the IRR rate's label (RATE-APR-02/03).
    annual_rate: str
    irr_annual_rate: str
    irr_label: str = IRR_LABEL
    start_date: date
    maturity_date: date
    dpd: int
    bucket: str
    classification: str
    credit_balance_fen: int
    closed_date: date | None


@dataclass(frozen=True, kw_only=True)
class LoanDetail(LoanSummary):
    product_version_id: int
    method: str
    term_unit: str
    term: int
    penalty_rate: str
    grace_days: int
    upfront_fee_fen: int
    interest_accrued_fen: int
    accrued_through: date | None
    provision_fen: int
    written_off_fen: int
    recovered_fen: int
    rollovers: int
    contract_sha256: str
    signed_us: int
    cooling_off_until_us: int
    disbursed_us: int | None


@dataclass(frozen=True)
class InstallmentView:
    seq: int
    period_start: date
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    late_fee_fen: int
    penalty_fen: int
    paid_principal_fen: int
    paid_interest_fen: int
    paid_fee_fen: int
    paid_late_fee_fen: int
    paid_penalty_fen: int
    waived_fen: int
    paid_date: date | None
    #: Everything charged on the installment, what is still unpaid, and where it stands on the
    #: business date: paid, overdue, due (today) or upcoming.
    total_fen: int
    unpaid_fen: int
    status: str


@dataclass(frozen=True)
class TransactionView:
    id: int
    loan_id: int
    kind: str
    value_date: date
    booked_date: date
    amount_fen: int
    principal_fen: int
    interest_fen: int
    fee_fen: int
    late_fee_fen: int
    penalty_fen: int
    overpayment_fen: int
    external_ref: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    actor: str
    created_us: int


_SUMMARY = [loans.c[f] for f in LoanSummary.__dataclass_fields__ if f != "irr_label"]
_DETAIL = [loans.c[f] for f in LoanDetail.__dataclass_fields__ if f != "irr_label"]


def list_loans(
    conn: Connection,
    *,
    customer_id: int | None = None,
    state: str | None = None,
    bucket: str | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> list[LoanSummary]:
    """Loans by id, up to ``limit`` after ``after_id``, optionally one borrower's, one state's
    or one overdue bucket's."""
    stmt = select(*_SUMMARY)
    if customer_id is not None:
        stmt = stmt.where(loans.c.customer_id == customer_id)
    if state is not None:
        stmt = stmt.where(loans.c.state == state)
    if bucket is not None:
        stmt = stmt.where(loans.c.bucket == bucket)
    return [
        LoanSummary(**r._asdict()) for r in conn.execute(_page(stmt, loans.c.id, after_id, limit))
    ]


def get_loan(conn: Connection, *, loan_id: int, customer_id: int | None = None) -> LoanDetail:
    """One loan; with ``customer_id`` only that borrower's (anything else is not found)."""
    stmt = select(*_DETAIL).where(loans.c.id == loan_id)
    if customer_id is not None:
        stmt = stmt.where(loans.c.customer_id == customer_id)
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return LoanDetail(**row._asdict())


def schedule(
    conn: Connection, *, loan_id: int, clock: Clock, customer_id: int | None = None
) -> list[InstallmentView]:
    """The loan's installments as they stand: charged, paid, unpaid and status. Rows with
    nothing charged (the fee installment of a loan without an upfront fee) are left out."""
    get_loan(conn, loan_id=loan_id, customer_id=customer_id)
    today = calendar.current(conn, clock=clock)
    rows = conn.execute(
        select(installments).where(installments.c.loan_id == loan_id).order_by(installments.c.seq)
    ).mappings()
    found = (_installment(r, today) for r in rows)
    return [i for i in found if i.total_fen > 0]  # seq 0 holds an upfront fee, if any


def _installment(r: Any, today: date) -> InstallmentView:
    charged = ("principal_fen", "interest_fen", "fee_fen", "late_fee_fen", "penalty_fen")
    total = sum(r[k] for k in charged)
    unpaid = total - sum(r[f"paid_{k}"] for k in charged) - r["waived_fen"]
    if unpaid <= 0:
        status = "paid"
    elif r["due_date"] < today:
        status = "overdue"
    else:
        status = "due" if r["due_date"] == today else "upcoming"
    fields = {k: r[k] for k in InstallmentView.__dataclass_fields__ if k in r}
    return InstallmentView(**fields, total_fen=total, unpaid_fen=unpaid, status=status)


def transactions(
    conn: Connection,
    *,
    loan_id: int,
    customer_id: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[TransactionView]:
    """The loan's transactions by id (reversed ones included, marked by ``reversed_by_id``)."""
    get_loan(conn, loan_id=loan_id, customer_id=customer_id)
    stmt = select(loan_transactions).where(loan_transactions.c.loan_id == loan_id)
    rows = conn.execute(_page(stmt, loan_transactions.c.id, after_id, limit)).mappings()
    return [TransactionView(**r) for r in rows]


def _page(stmt: Select[Any], column: Any, after_id: int | None, limit: int) -> Select[Any]:
    if after_id is not None:
        stmt = stmt.where(column > after_id)
    return stmt.order_by(column).limit(limit)


@dataclass(frozen=True)
class EodRun:
    """One business date's end-of-day run: ``running`` until every partition is done."""

    business_date: date
    partitions: int
    state: str
    started_us: int
    finished_us: int | None


def eod_runs(conn: Connection, *, before: date | None = None, limit: int = 20) -> list[EodRun]:
    """End-of-day runs, latest date first, up to ``limit`` dated before ``before``."""
    r = eod_models.runs.c
    stmt = select(r.business_date, r.partitions, r.state, r.started_us, r.finished_us)
    if before is not None:
        stmt = stmt.where(r.business_date < before)
    rows = conn.execute(stmt.order_by(r.business_date.desc()).limit(limit))
    return [EodRun(**row._asdict()) for row in rows]


BUCKETS = ("M0", "M1", "M2", "M3", "M4")


@dataclass(frozen=True)
class BucketTotal:
    """The loan book in one overdue bucket: loans paid out and not closed, their principal."""

    bucket: str
    loans: int
    principal_outstanding_fen: int


def book_by_bucket(conn: Connection) -> list[BucketTotal]:
    """Principal outstanding of loans in ``disbursed``/``active`` per bucket, M0 to M4 (every
    bucket, empty ones as zero), in one grouped query: what the dashboard draws."""
    stmt = (
        select(
            loans.c.bucket,
            func.count(),
            func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0),
        )
        .where(loans.c.state.in_(("disbursed", "active")))
        .group_by(loans.c.bucket)
    )
    found = {b: (int(n), int(fen)) for b, n, fen in conn.execute(stmt)}
    return [BucketTotal(b, *found.get(b, (0, 0))) for b in BUCKETS]
