"""The regulator feed (监管数据报送): customers, loans, notes, repayments and daily balances as
one JSON document, so a regulator can trace any loan to its lenders' money (穿透式监管).

The trace: ``loans[].loan_id`` → ``notes[]`` (who holds the claim, how much, since when, sold on
from which note) → ``bids[]`` (the ledger transfer that moved the lender's money,
``transfer_id``) → ``ledger_transfers[]`` (debit and credit sub-accounts, amount, date) →
``balances[]`` and ``accounts[]`` (the lender's custody sub-account and its balance at the day's
end). Repayments come back the same way through ``distributions[]``.

Customers are masked as spec/identifiers.md asks for staff without the PII permission (ID
number first 3 and last 4, phone first 3 and last 4, name surname kept); only customers who
borrow or lend appear. The schema is documented in docs/compliance.md and versioned by
``schema``. Everything but the masking of personal values is set-based SQL.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, or_, select

from puhui.compliance.disclosure import loan_positions
from puhui.core.clock import SHANGHAI
from puhui.custody.models import custody_accounts
from puhui.identity.models import customers
from puhui.ledger.models import entries, transfers
from puhui.lending.engine import PAYMENTS
from puhui.lending.models import loan_transactions, loans
from puhui.marketplace.models import bids, compensations, distributions, notes

SCHEMA = "puhui.regulator.feed/1"
REF_PREFIX = "customer-"


def _end_us(day: date) -> int:
    return int(datetime.combine(day, time(23, 59, 59, 999_999), tzinfo=SHANGHAI).timestamp() * 1e6)


def _masked(conn: Connection, ids: list[int], keys: Any | None) -> list[dict[str, Any]]:
    cu = customers.c
    rows = (
        conn.execute(select(customers).where(cu.id.in_(ids)).order_by(cu.id)).all() if ids else []
    )
    out = []
    for row in rows:
        item: dict[str, Any] = {
            "customer_id": row.id,
            "kind": row.kind,
            "kyc_status": row.kyc_status,
            "birth_year": row.birth_year,
            "name": None,
            "id_number": None,
            "phone": None,
        }
        sealed = row.name_ct or row.id_number_ct or row.phone_ct
        if keys is not None and sealed:
            from puhui.identity.customers import PERSONAL
            from puhui.identity.identifiers import mask_id, mask_name, mask_phone
            from puhui.identity.sealed import open_columns

            values = open_columns(keys, customers, row, PERSONAL)
            if values.get("name_ct"):
                item["name"] = mask_name(values["name_ct"])
            if values.get("id_number_ct"):
                item["id_number"] = mask_id(values["id_number_ct"], mode="holder")
            if values.get("phone_ct"):
                item["phone"] = mask_phone(values["phone_ct"])
        out.append(item)
    return out


def build_feed(conn: Connection, *, as_of: date, keys: Any | None = None) -> dict[str, Any]:
    """The feed as at the end of ``as_of`` (Shanghai)."""
    end_us = _end_us(as_of)
    pos = loan_positions(as_of)
    ln = loans.c
    loan_rows = conn.execute(
        select(
            pos.c.loan_id,
            pos.c.customer_id,
            pos.c.principal,
            pos.c.outstanding,
            pos.c.interest,
            pos.c.oldest_due,
            ln.annual_rate,
            ln.irr_annual_rate,
            ln.start_date,
            ln.maturity_date,
            ln.product_version_id,
        )
        .join(loans, ln.id == pos.c.loan_id)
        .order_by(pos.c.loan_id)
    ).all()
    n = notes.c
    note_rows = conn.execute(select(notes).where(n.acquired_at <= end_us).order_by(n.id)).all()
    b = bids.c
    bid_rows = conn.execute(
        select(b.id, b.listing_id, b.lender_id, b.amount_fen, b.status, b.transfer_id, b.created_at)
        .where(b.created_at <= end_us, b.status.in_(("frozen", "posted")))
        .order_by(b.id)
    ).all()
    t = loan_transactions.c
    repayments = conn.execute(
        select(
            t.id,
            t.loan_id,
            t.kind,
            t.value_date,
            t.amount_fen,
            t.principal_fen,
            t.interest_fen,
            t.fee_fen,
            t.penalty_fen + t.late_fee_fen,
        )
        .where(
            t.kind.in_(PAYMENTS),
            t.reversed_by_id.is_(None),
            t.value_date <= as_of,
        )
        .order_by(t.loan_id, t.value_date, t.id)
    ).all()
    d = distributions.c
    dist_rows = conn.execute(
        select(distributions).where(d.business_date <= as_of).order_by(d.id)
    ).all()
    cp = compensations.c
    comp_rows = conn.execute(
        select(compensations).where(cp.business_date <= as_of).order_by(cp.id)
    ).all()
    # Ledger transfers named by the bids, distributions and compensations, and the posts of the
    # bids' pending transfers.
    named = {r.transfer_id for r in bid_rows} | {r.transfer_id for r in dist_rows}
    named |= {r.transfer_id for r in comp_rows if r.transfer_id}
    tr = transfers.c
    transfer_rows = (
        conn.execute(
            select(
                tr.id,
                tr.debit_account_id,
                tr.credit_account_id,
                tr.amount,
                tr.code,
                tr.flags,
                tr.pending_id,
                tr.business_date,
            )
            .where(or_(tr.id.in_(named), tr.pending_id.in_(named)), tr.business_date <= as_of)
            .order_by(tr.business_date, tr.id)
        ).all()
        if named
        else []
    )
    # Custody sub-accounts and their balances at the end of the day.
    ca = custody_accounts.c
    e = entries.c
    # Entries hold each transfer's change to the account: the balance is their sum.
    sums = (
        select(
            e.account_id,
            func.sum(e.credits_posted - e.debits_posted).label("balance"),
            func.sum(e.debits_pending).label("frozen"),
        )
        .join(transfers, tr.id == e.transfer_id)
        .where(tr.business_date <= as_of)
        .group_by(e.account_id)
        .subquery()
    )
    balance_rows = conn.execute(
        select(ca.user_ref, ca.role, ca.ledger_account_id, sums.c.balance, sums.c.frozen)
        .join(sums, sums.c.account_id == ca.ledger_account_id)
        .order_by(ca.ledger_account_id)
    ).all()
    people = {r.customer_id for r in loan_rows} | {r.lender_id for r in note_rows}
    return {
        "schema": SCHEMA,
        "as_of": datetime.combine(as_of, time(23, 59, 59), tzinfo=SHANGHAI).isoformat(),
        "customers": _masked(conn, sorted(people), keys),
        "loans": [
            {
                "loan_id": r.loan_id,
                "borrower_id": r.customer_id,
                "product_version_id": r.product_version_id,
                "principal_fen": int(r.principal),
                "outstanding_principal_fen": int(r.outstanding),
                "outstanding_interest_fen": int(r.interest),
                "annual_rate": r.annual_rate,
                "irr_annual_rate": r.irr_annual_rate,
                "start_date": r.start_date.isoformat(),
                "maturity_date": r.maturity_date.isoformat(),
                "oldest_unpaid_due": (str(r.oldest_due)[:10] if r.oldest_due is not None else None),
            }
            for r in loan_rows
        ],
        "notes": [
            {
                "note_id": r.id,
                "loan_id": r.loan_id,
                "listing_id": r.listing_id,
                "lender_id": r.lender_id,
                "principal_fen": r.principal_fen,
                "status": r.status,
                "source": r.source,
                "parent_note_id": r.parent_note_id,
                "acquired_at": datetime.fromtimestamp(r.acquired_at / 1e6, tz=SHANGHAI).isoformat(),
            }
            for r in note_rows
        ],
        "bids": [
            {
                "bid_id": r.id,
                "listing_id": r.listing_id,
                "lender_id": r.lender_id,
                "amount_fen": r.amount_fen,
                "status": r.status,
                "transfer_id": r.transfer_id,
            }
            for r in bid_rows
        ],
        "repayments": [
            {
                "transaction_id": r[0],
                "loan_id": r[1],
                "kind": r[2],
                "value_date": r[3].isoformat() if hasattr(r[3], "isoformat") else str(r[3]),
                "amount_fen": r[4],
                "principal_fen": r[5],
                "interest_fen": r[6],
                "fee_fen": r[7],
                "penalty_fen": r[8],
            }
            for r in repayments
        ],
        "distributions": [
            {
                "distribution_id": r.id,
                "note_id": r.note_id,
                "loan_id": r.loan_id,
                "lender_id": r.lender_id,
                "business_date": r.business_date.isoformat(),
                "principal_fen": r.principal_fen,
                "interest_fen": r.interest_fen,
                "penalty_fen": r.penalty_fen,
                "fee_fen": r.fee_fen,
                "transfer_id": r.transfer_id,
            }
            for r in dist_rows
        ],
        "compensations": [
            {
                "loan_id": r.loan_id,
                "note_id": r.note_id,
                "lender_id": r.lender_id,
                "payer": r.payer,
                "amount_fen": r.amount_fen,
                "business_date": r.business_date.isoformat(),
                "transfer_id": r.transfer_id,
            }
            for r in comp_rows
        ],
        "ledger_transfers": [
            {
                "transfer_id": r.id,
                "debit_account_id": r.debit_account_id,
                "credit_account_id": r.credit_account_id,
                "amount_fen": r.amount,
                "code": r.code,
                "flags": r.flags,
                "pending_id": r.pending_id,
                "business_date": r.business_date.isoformat(),
            }
            for r in transfer_rows
        ],
        "accounts": [
            {
                "ledger_account_id": r.ledger_account_id,
                "owner": (
                    int(r.user_ref[len(REF_PREFIX) :])
                    if r.user_ref.startswith(REF_PREFIX) and r.user_ref[len(REF_PREFIX) :].isdigit()
                    else r.user_ref
                ),
                "role": r.role,
            }
            for r in balance_rows
        ],
        "balances": [
            {
                "date": as_of.isoformat(),
                "ledger_account_id": r.ledger_account_id,
                "balance_fen": int(r.balance),
                "frozen_fen": int(r.frozen),
            }
            for r in balance_rows
        ],
    }
