"""The platform's own marketing money and how a coupon is paid from it (营销资金).

Coupons are paid by the platform, never by another customer, and booked in both books:

* custody book — the platform's marketing sub-account (``PLATFORM_MARKETING``, credit-normal,
  may never go below zero) is funded from the platform's own funds (Dr custody master, Cr
  marketing), and a coupon moves money from it into the investor's lender sub-account (Dr
  marketing, Cr lender). No user sub-account is ever debited.
* company book — the same money is the company's: funding moves own cash into an asset
  ``MARKETING_FUNDS`` (Dr marketing funds, Cr company cash), and a payout is an expense
  (Dr ``MARKETING_EXPENSE``, Cr marketing funds).

So ``check_books`` can always prove that what the company believes is in the custody marketing
account is what the custody book holds there. A payout the marketing account cannot cover is
refused (409 ``marketing_budget_exhausted``) and the caller's transaction rolls back whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.custody import service as custody
from puhui.ledger import service as ledger
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode
from puhui.lending import accounts as gl

#: Owner tag of the marketing accounts in both books.
OWNER = "platform-marketing"


def custody_ref(customer_id: int) -> str:
    """The customer's name at the custody bank (as ``puhui.api.money.user_ref``)."""
    return f"customer-{customer_id}"


@dataclass(frozen=True)
class Accounts:
    custody_marketing: int
    funds: int
    expense: int


def _find(conn: Connection, book: Book, code: AccountCode) -> int | None:
    found = ledger.find_accounts(conn, book=book, code=int(code), owner=OWNER)
    return found[0].id if found else None


def accounts(conn: Connection) -> Accounts:
    """The marketing accounts (404 until the first funding opens them)."""
    ids = (
        _find(conn, Book.CUSTODY, AccountCode.PLATFORM_MARKETING),
        _find(conn, Book.COMPANY, AccountCode.MARKETING_FUNDS),
        _find(conn, Book.COMPANY, AccountCode.MARKETING_EXPENSE),
    )
    if None in ids:
        raise NotFound("marketing_account_missing", "the marketing account has not been funded yet")
    return Accounts(*ids)  # type: ignore[arg-type]


def ensure_accounts(conn: Connection, *, clock: Clock) -> Accounts:
    specs = (
        (Book.CUSTODY, AccountCode.PLATFORM_MARKETING, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
        (Book.COMPANY, AccountCode.MARKETING_FUNDS, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
        (Book.COMPANY, AccountCode.MARKETING_EXPENSE, AccountFlags.NONE),
    )
    for book, code, flags in specs:
        if _find(conn, book, code) is None:
            ledger.create_account(
                conn,
                book=book,
                code=int(code),
                owner=OWNER,
                name=code.name.lower(),
                flags=flags,
                clock=clock,
            )
    return accounts(conn)


def _apply(conn: Connection, batch: list[ledger.Transfer], clock: Clock, *, short: str) -> None:
    results = ledger.create_transfers(conn, batch, clock=clock)
    bad = [r for r in results if not r.ok and r.result is not Result.EXISTS]
    if not bad:
        return
    first = next((r for r in bad if r.result is not Result.LINKED_EVENT_FAILED), bad[0])
    if first.result in (Result.EXCEEDS_CREDITS, Result.EXCEEDS_DEBITS):
        raise Conflict(short, first.message, field="amount_fen")
    raise Conflict(f"ledger_{first.result.value}", first.message, field="amount_fen")


def fund(conn: Connection, *, amount_fen: int, transfer_id: str, clock: Clock) -> None:
    """注入营销资金: move the company's own cash into the custody marketing sub-account."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError(
            "amount_invalid", "amount is a positive number of fen", field="amount_fen"
        )
    acc = ensure_accounts(conn, clock=clock)
    cash = gl.ensure_gl_accounts(conn, clock=clock)[AccountCode.COMPANY_CASH]
    master = custody.master_account_id(conn)
    code = int(TransferCode.MARKETING_FUNDING)
    _apply(
        conn,
        [
            ledger.Transfer(f"{transfer_id}:gl", acc.funds, cash, amount_fen, code),
            ledger.Transfer(f"{transfer_id}:cus", master, acc.custody_marketing, amount_fen, code),
        ],
        clock,
        short="insufficient_company_cash",
    )


def pay(
    conn: Connection,
    *,
    customer_id: int,
    amount_fen: int,
    transfer_id: str,
    reference: str,
    clock: Clock,
) -> None:
    """Pay ``amount_fen`` of marketing money into the customer's lender sub-account."""
    acc = accounts(conn)
    lender = custody.get_account(conn, user_ref=custody_ref(customer_id), role=custody.Role.LENDER)
    code = int(TransferCode.MARKETING_REWARD)
    _apply(
        conn,
        [
            ledger.Transfer(
                f"{transfer_id}:cus",
                acc.custody_marketing,
                lender.ledger_account_id,
                amount_fen,
                code,
                reference=reference,
            ),
            ledger.Transfer(
                f"{transfer_id}:gl", acc.expense, acc.funds, amount_fen, code, reference=reference
            ),
        ],
        clock,
        short="marketing_budget_exhausted",
    )


@dataclass(frozen=True)
class Books:
    """The marketing money on both sides: they agree when nothing is amiss."""

    custody_balance: int
    company_funds: int
    expense: int

    @property
    def agree(self) -> bool:
        return self.custody_balance == self.company_funds


def check_books(conn: Connection) -> Books:
    try:
        acc = accounts(conn)
    except NotFound:
        return Books(0, 0, 0)
    got = ledger.get_accounts(conn, [acc.custody_marketing, acc.funds, acc.expense])
    return Books(
        got[acc.custody_marketing].credit_balance,
        got[acc.funds].debit_balance,
        got[acc.expense].debit_balance,
    )
