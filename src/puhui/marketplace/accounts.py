"""The custody sub-accounts marketplace money moves between.

Lenders' and borrowers' sub-accounts are the ones the custody domain opens at the bank
(``customer-<id>``, roles lender and borrower). The platform's fee and risk-reserve
sub-accounts are opened at the bank too (``open_platform_accounts``, once, by an operator),
under the marketplace's own name, so no user money ever reaches a company account (十三不得
item 2, CUS-ACC-01/02) and every movement into or out of them reaches the bank.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.core.errors import Conflict, NotFound
from puhui.custody import authorisations, flows
from puhui.custody import service as custody
from puhui.custody.bank import CustodyBank
from puhui.custody.models import custody_accounts
from puhui.custody.service import CustodyAccount, Role
from puhui.db.engine import run_in_transaction
from puhui.lending.models import loans
from puhui.lending.states import LoanState
from puhui.marketplace.models import loan_funding

#: The name the platform's marketplace sub-accounts are held under at the custody bank.
PLATFORM_REF = "marketplace"
PLATFORM_ROLES = (Role.PLATFORM_FEE, Role.RISK_RESERVE)
#: The bank numbers earlier versions recorded without opening the accounts at the bank.
_PLACEHOLDERS = ("MKT-FEE", "MKT-RESERVE")
#: Loan states in which nothing more is repaid (a written-off loan may still recover).
_SETTLED = (LoanState.SETTLED.value, LoanState.CANCELLED.value)


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


def require_grant(conn: Connection, customer_id: int, role: Role) -> None:
    """The customer's standing authorisation (业务授权) for ``role``: without it the bank
    would refuse the instructions this operation queues."""
    authorisations.require(conn, user_ref=custody_ref(customer_id), role=role)


def require_grant_unused(conn: Connection, customer_id: int, role: Role | str) -> None:
    """A borrower's repayment authorisation stays while a marketplace loan of theirs is being
    repaid: the lenders are paid under it."""
    if Role(role) is not Role.BORROWER:
        return
    f = loan_funding.c
    owing = conn.execute(
        select(loans.c.id)
        .join(loan_funding, f.loan_id == loans.c.id)
        .where(loans.c.customer_id == customer_id, loans.c.state.not_in(_SETTLED))
        .limit(1)
    ).first()
    if owing is not None:
        raise Conflict(
            "authorisation_in_use",
            f"marketplace loan {owing.id} is still being repaid to its lenders under this "
            "authorisation",
            field="id",
        )


def platform_account(conn: Connection, role: Role) -> int:
    """The platform fee or risk-reserve sub-account; a clear 409 until it is opened."""
    found = existing_platform_account(conn, role)
    if found is None:
        raise Conflict(
            "marketplace_accounts_not_opened",
            "open the marketplace's fee and reserve sub-accounts at the custody bank first "
            "(`puhui market open-accounts`)",
            field="custody_account",
        )
    return found


def open_platform_accounts(
    engine: Engine, bank: CustodyBank, *, clock: Clock = SYSTEM_CLOCK
) -> list[CustodyAccount]:
    """Open the fee and reserve sub-accounts at the bank, then in the ledger; a rerun is a
    no-op. A database from before they were opened at the bank holds them under placeholder
    numbers: those rows are relinked to the bank's numbers (their earlier movements never
    reached the bank, and reconciliation shows them until a staff member settles them)."""
    opened = []
    for role in PLATFORM_ROLES:
        number = bank.open_sub_account(user_ref=PLATFORM_REF, role=role.value)

        def relink(c: Connection, role: Role = role, number: str = number) -> None:
            c.execute(
                update(custody_accounts)
                .where(
                    custody_accounts.c.user_ref == PLATFORM_REF,
                    custody_accounts.c.role == role.value,
                    custody_accounts.c.bank_account_no.in_(_PLACEHOLDERS),
                )
                .values(bank_account_no=number)
            )

        run_in_transaction(engine, relink)
        opened.append(
            flows.open_account(engine, bank, user_ref=PLATFORM_REF, role=role, clock=clock)
        )
    return opened


def existing_platform_account(conn: Connection, role: Role) -> int | None:
    """The platform sub-account's ledger id if it has been opened (reads never open one)."""
    try:
        return custody.get_account(conn, user_ref=PLATFORM_REF, role=role).ledger_account_id
    except NotFound:
        return None
