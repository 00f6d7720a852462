"""The credit line's entries and GL postings, and the check that the two agree.

Principal lives in CREDIT_LINE_RECEIVABLE whether unbilled, billed or in an instalment plan;
fees, interest and penalty each have their own receivable; income goes to lending's income
accounts. Transfer ids are deterministic (``cl:{line}:{entry}`` for an operation,
``eod:{date}:cl_{step}:{partition}`` for the batch) so a retry posts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select

from puhui.core.clock import Clock
from puhui.identity.audit import Actor
from puhui.ledger.codes import AccountCode as A
from puhui.ledger.codes import TransferCode as T
from puhui.lending import accounts
from puhui.lending.accounts import Leg
from puhui.lending.credit_line.models import entries, lines

PRINCIPAL = A.CREDIT_LINE_RECEIVABLE
INTEREST = A.CREDIT_LINE_INTEREST_RECEIVABLE
FEES = A.CREDIT_LINE_FEES_RECEIVABLE
PENALTY = A.CREDIT_LINE_PENALTY_RECEIVABLE


def entry(
    conn: Connection,
    *,
    line_id: int,
    kind: str,
    amount: int,
    business_date: date,
    actor: Actor,
    clock: Clock,
    **values: Any,
) -> int:
    return int(
        conn.execute(
            insert(entries).values(
                line_id=line_id,
                kind=kind,
                amount_fen=amount,
                business_date=business_date,
                actor=actor.principal,
                created_us=int(clock.now().timestamp() * 1_000_000),
                **values,
            )
        ).inserted_primary_key[0]
    )


def earlier(conn: Connection, *, line_id: int, kind: str, reference: str | None) -> Any:
    """The entry already recorded under ``reference``, if any (a repeated request)."""
    if reference is None:
        return None
    return conn.execute(
        select(entries).where(
            entries.c.line_id == line_id, entries.c.kind == kind, entries.c.reference == reference
        )
    ).first()


def post(conn: Connection, *, transfer_id: str, legs: Sequence[Leg], clock: Clock) -> None:
    accounts.post(conn, transfer_id=transfer_id, legs=legs, clock=clock)


def draw_legs(amount: int) -> list[Leg]:
    """The company pays the merchant (or the customer, for a cash draw)."""
    return [Leg(PRINCIPAL, A.COMPANY_CASH, amount, T.DISBURSEMENT)]


def refund_legs(amount: int) -> list[Leg]:
    """The merchant's refund comes back into the company's cash."""
    return [Leg(A.COMPANY_CASH, PRINCIPAL, amount, T.REFUND)]


def payment_legs(*, fees: int, penalty: int, interest: int, principal: int) -> list[Leg]:
    return [
        Leg(A.COMPANY_CASH, FEES, fees, T.REPAYMENT),
        Leg(A.COMPANY_CASH, PENALTY, penalty, T.REPAYMENT),
        Leg(A.COMPANY_CASH, INTEREST, interest, T.REPAYMENT),
        Leg(A.COMPANY_CASH, PRINCIPAL, principal, T.REPAYMENT),
    ]


def subledger_totals(conn: Connection) -> dict[A, int]:
    """What the line rows say each credit-line receivable should hold."""
    c = lines.c
    row = conn.execute(
        select(
            func.coalesce(func.sum(c.unbilled_fen + c.billed_fen + c.instalment_fen), 0),
            func.coalesce(func.sum(c.interest_fen), 0),
            func.coalesce(func.sum(c.fees_fen), 0),
            func.coalesce(func.sum(c.penalty_fen), 0),
        )
    ).one()
    return {PRINCIPAL: int(row[0]), INTEREST: int(row[1]), FEES: int(row[2]), PENALTY: int(row[3])}


def check_subledger(conn: Connection) -> dict[A, tuple[int, int]]:
    """Credit-line receivables that differ from the lines: {code: (gl, lines)}; empty when the
    books agree."""
    gl = accounts.balances(conn)
    return {k: (gl[k], v) for k, v in subledger_totals(conn).items() if gl[k] != v}
