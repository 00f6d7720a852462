"""The company book's lending accounts (the general ledger) and posting to them.

The loan tables are the sub-ledger; the company book holds one control account per code. Every
money event posts both in the caller's transaction, so ``check_subledger`` can always prove
that the control accounts equal the sum of the loans (docs/lending.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, column, exists, func, or_, select, table

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, ValidationError
from puhui.ledger import service as ledger
from puhui.ledger.codes import AccountCode, AccountFlags, Book, TransferCode
from puhui.ledger.models import accounts as ledger_accounts
from puhui.lending.models import installments, loans

#: Lending's control accounts and the side that may not go negative.
GL_ACCOUNTS: Mapping[AccountCode, AccountFlags] = {
    AccountCode.COMPANY_CASH: AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    AccountCode.LOANS_RECEIVABLE: AccountFlags.NONE,
    AccountCode.INTEREST_RECEIVABLE: AccountFlags.NONE,
    AccountCode.FEES_RECEIVABLE: AccountFlags.NONE,
    AccountCode.PENALTY_RECEIVABLE: AccountFlags.NONE,
    AccountCode.CREDIT_LINE_RECEIVABLE: AccountFlags.NONE,
    AccountCode.CREDIT_LINE_INTEREST_RECEIVABLE: AccountFlags.NONE,
    AccountCode.CREDIT_LINE_FEES_RECEIVABLE: AccountFlags.NONE,
    AccountCode.CREDIT_LINE_PENALTY_RECEIVABLE: AccountFlags.NONE,
    AccountCode.LOAN_LOSS_PROVISION: AccountFlags.NONE,
    AccountCode.BORROWER_CREDIT_BALANCES: AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountCode.EQUITY: AccountFlags.NONE,
    AccountCode.INTEREST_INCOME: AccountFlags.NONE,
    AccountCode.FEE_INCOME: AccountFlags.NONE,
    AccountCode.PENALTY_INCOME: AccountFlags.NONE,
    AccountCode.RECOVERY_INCOME: AccountFlags.NONE,
    AccountCode.PROVISION_EXPENSE: AccountFlags.NONE,
}

#: Owner tag of lending's company-book accounts.
OWNER = "lending"


def ensure_gl_accounts(conn: Connection, *, clock: Clock) -> dict[AccountCode, int]:
    """The control accounts' ids, opening any that are missing."""
    found = gl_accounts(conn)
    for code, flags in GL_ACCOUNTS.items():
        if code not in found:
            found[code] = ledger.create_account(
                conn,
                book=Book.COMPANY,
                code=int(code),
                owner=OWNER,
                name=code.name.lower(),
                flags=flags,
                clock=clock,
            )
    return found


def gl_accounts(conn: Connection) -> dict[AccountCode, int]:
    rows = conn.execute(
        select(ledger_accounts.c.code, func.min(ledger_accounts.c.id))
        .where(
            ledger_accounts.c.book == Book.COMPANY.value,
            ledger_accounts.c.owner == OWNER,
            ledger_accounts.c.parent_id.is_(None),
        )
        .group_by(ledger_accounts.c.code)
    )
    return {AccountCode(code): int(i) for code, i in rows if code in GL_ACCOUNTS}


@dataclass(frozen=True)
class Leg:
    """One GL movement: ``amount`` fen from ``debit`` to ``credit`` (either may be reversed by
    a negative amount, which posts the opposite direction)."""

    debit: AccountCode
    credit: AccountCode
    amount: int
    code: TransferCode


def post(
    conn: Connection,
    *,
    transfer_id: str,
    legs: Sequence[Leg],
    clock: Clock,
    reference: str | None = None,
) -> int:
    """Post legs as one linked chain with ids ``{transfer_id}:{i}``; zero legs are skipped.

    Idempotent: the same id and legs apply once. Any refusal (cash short, a credit balance
    overdrawn) raises, and the caller's transaction rolls back whole. Returns the legs posted.
    """
    ids = ensure_gl_accounts(conn, clock=clock)
    batch: list[ledger.Transfer] = []
    for i, leg in enumerate(legs):
        if leg.amount == 0:
            continue
        debit, credit = (leg.debit, leg.credit) if leg.amount > 0 else (leg.credit, leg.debit)
        batch.append(
            ledger.Transfer(
                id=f"{transfer_id}:{i}",
                debit_account_id=ids[debit],
                credit_account_id=ids[credit],
                amount=abs(leg.amount),
                code=int(leg.code),
                reference=reference,
            )
        )
    if not batch:
        return 0
    linked = [
        ledger.Transfer(**{**t.__dict__, "flags": ledger.TransferFlags.LINKED})
        if i < len(batch) - 1
        else t
        for i, t in enumerate(batch)
    ]
    results = ledger.create_transfers(conn, linked, clock=clock)
    bad = [r for r in results if not r.ok]
    if bad:
        first = next((r for r in bad if r.result.value != "linked_event_failed"), bad[0])
        if first.result.value == "exceeds_debits":
            raise Conflict(
                "insufficient_company_cash",
                "the company's cash account cannot cover this; inject capital first",
                field="amount_fen",
            )
        raise Conflict(f"ledger_{first.result.value}", first.message, field="amount_fen")
    return len(batch)


def inject_capital(conn: Connection, *, amount: int, transfer_id: str, clock: Clock) -> None:
    """注资: fund the company's cash from equity, so it has money to lend."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationError(
            "amount_invalid", "amount is a positive number of fen", field="amount"
        )
    post(
        conn,
        transfer_id=transfer_id,
        legs=[Leg(AccountCode.COMPANY_CASH, AccountCode.EQUITY, amount, TransferCode.CAPITAL)],
        clock=clock,
    )


def balances(conn: Connection) -> dict[AccountCode, int]:
    """Each control account's posted balance on its normal side (debit-normal for assets and
    expenses, credit-normal for liabilities, equity, income and the provision)."""
    credit_normal = {
        AccountCode.LOAN_LOSS_PROVISION,
        AccountCode.BORROWER_CREDIT_BALANCES,
        AccountCode.EQUITY,
        AccountCode.INTEREST_INCOME,
        AccountCode.FEE_INCOME,
        AccountCode.PENALTY_INCOME,
        AccountCode.RECOVERY_INCOME,
    }
    ids = gl_accounts(conn)
    if not ids:
        return dict.fromkeys(GL_ACCOUNTS, 0)
    rows = conn.execute(
        select(
            ledger_accounts.c.id,
            ledger_accounts.c.debits_posted,
            ledger_accounts.c.credits_posted,
        ).where(ledger_accounts.c.id.in_(list(ids.values())))
    )
    by_id = {r.id: (r.debits_posted, r.credits_posted) for r in rows}
    out: dict[AccountCode, int] = {}
    for code in GL_ACCOUNTS:
        if code not in ids:
            out[code] = 0
            continue
        dr, cr = by_id[ids[code]]
        out[code] = cr - dr if code in credit_normal else dr - cr
    return out


@dataclass(frozen=True)
class TrialBalance:
    debits: int
    credits: int

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits


def trial_balance(conn: Connection) -> TrialBalance:
    """Σ debits and Σ credits posted over the whole company book."""
    row = conn.execute(
        select(
            func.coalesce(func.sum(ledger_accounts.c.debits_posted), 0),
            func.coalesce(func.sum(ledger_accounts.c.credits_posted), 0),
        ).where(ledger_accounts.c.book == Book.COMPANY.value)
    ).one()
    return TrialBalance(int(row[0]), int(row[1]))


#: Loan states whose receivables are on the books.
ON_BOOK = ("disbursed", "active")

#: Loans funded by lenders on the marketplace (``mkt_loan_funding``, migration 0013): their
#: money lives in the custody book, so the company book carries none of their receivables.
#: Named here as a bare table so lending does not import the marketplace package.
_marketplace_funded = table("mkt_loan_funding", column("loan_id"))


def company_funded() -> Any:
    """A condition on ``loans``: the company, not marketplace lenders, funded the loan."""
    return ~exists().where(_marketplace_funded.c.loan_id == loans.c.id)


def is_marketplace_loan(conn: Connection, loan_id: int) -> bool:
    """Whether lenders on the marketplace funded the loan (no company-book postings)."""
    q = select(_marketplace_funded.c.loan_id).where(_marketplace_funded.c.loan_id == loan_id)
    return conn.execute(q).first() is not None


def subledger_totals(conn: Connection) -> dict[AccountCode, int]:
    """What the loan tables say each control account should hold.

    Interest and fees are receivable once recognised (the current period's accrual, and the
    installments whose due date has been closed: ``due_date ≤ accrued_through``) less
    everything paid, so interest or a fee paid ahead on the due date itself, before that day's
    end-of-day run recognises it, is counted once. The upfront fee is installment 0, due on the
    start date and charged at disbursement.
    """
    live = loans.c.state.in_(ON_BOOK) & company_funded()
    lo = conn.execute(
        select(
            func.coalesce(func.sum(loans.c.principal_outstanding_fen), 0),
            func.coalesce(func.sum(loans.c.interest_accrued_fen), 0),
            func.coalesce(func.sum(loans.c.provision_fen), 0),
        ).where(live)
    ).one()
    credit = conn.execute(
        select(func.coalesce(func.sum(loans.c.credit_balance_fen), 0)).where(company_funded())
    ).scalar()
    i = installments.c
    charged = or_(i.seq == 0, i.due_date <= loans.c.accrued_through)
    inst = conn.execute(
        select(
            func.coalesce(
                func.sum(case((charged, i.interest_fen), else_=0) - i.paid_interest_fen), 0
            ),
            func.coalesce(func.sum(case((charged, i.fee_fen), else_=0) - i.paid_fee_fen), 0),
            func.coalesce(
                func.sum(
                    i.penalty_fen
                    + i.late_fee_fen
                    - i.paid_penalty_fen
                    - i.paid_late_fee_fen
                    - i.waived_fen
                ),
                0,
            ),
        )
        .select_from(installments.join(loans, loans.c.id == i.loan_id))
        .where(live)
    ).one()
    return {
        AccountCode.LOANS_RECEIVABLE: int(lo[0]),
        AccountCode.INTEREST_RECEIVABLE: int(lo[1]) + int(inst[0]),
        AccountCode.FEES_RECEIVABLE: int(inst[1]),
        AccountCode.PENALTY_RECEIVABLE: int(inst[2]),
        AccountCode.LOAN_LOSS_PROVISION: int(lo[2]),
        AccountCode.BORROWER_CREDIT_BALANCES: int(credit),
    }


def check_subledger(conn: Connection) -> dict[AccountCode, tuple[int, int]]:
    """Control accounts that differ from their sub-ledger: {code: (gl, subledger)}; empty when
    the books agree."""
    gl = balances(conn)
    sub = subledger_totals(conn)
    return {code: (gl[code], want) for code, want in sub.items() if gl[code] != want}
