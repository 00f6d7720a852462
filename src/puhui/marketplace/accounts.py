"""The custody sub-accounts marketplace money moves between.

Lenders' and borrowers' sub-accounts are the ones the custody domain opens at the bank
(``customer-<id>``, roles lender and borrower). The platform's fee and risk-reserve
sub-accounts are opened here on first use, under the marketplace's own name, so no user money
ever reaches a company account (十三不得 item 2, CUS-ACC-01/02).
"""

from __future__ import annotations

from sqlalchemy import Connection

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.custody import service as custody
from puhui.custody.service import Role

#: The name the platform's marketplace sub-accounts are held under at the custody bank.
PLATFORM_REF = "marketplace"
_BANK_NUMBERS = {Role.PLATFORM_FEE: "MKT-FEE", Role.RISK_RESERVE: "MKT-RESERVE"}


def custody_ref(customer_id: int) -> str:
    """The customer's name at the custody bank, as the money API names it."""
    return f"customer-{customer_id}"


def user_account(conn: Connection, customer_id: int, role: Role) -> int:
    """The ledger id of the customer's sub-account in ``role``; a clear 409 when not opened."""
    try:
        return custody.get_account(
            conn, user_ref=custody_ref(customer_id), role=role
        ).ledger_account_id
    except NotFound:
        raise Conflict(
            f"{role.value}_account_required",
            f"open a {role.value} custody account first",
            field="custody_account",
        ) from None


def platform_account(conn: Connection, role: Role, *, clock: Clock) -> int:
    """The platform fee or risk-reserve sub-account, opened the first time it is needed."""
    acc = custody.record_account(
        conn, user_ref=PLATFORM_REF, role=role, bank_account_no=_BANK_NUMBERS[role], clock=clock
    )
    return acc.ledger_account_id


def existing_platform_account(conn: Connection, role: Role) -> int | None:
    """The platform sub-account's ledger id if it has been opened (reads never open one)."""
    try:
        return custody.get_account(conn, user_ref=PLATFORM_REF, role=role).ledger_account_id
    except NotFound:
        return None
