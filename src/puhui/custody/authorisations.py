"""Standing authorisations (业务授权) the platform holds for its users' sub-accounts.

Money leaves a sub-account only on its holder's instruction (CUS-INS-01). Some money must
leave on the platform's initiative, after the fact, with nobody at the keyboard: a lender's
frozen bid when the listing fills, a borrower's repayment passed on to the note holders, the
reserve's compensation. For those the holder grants the custody bank, once and with their own
password or code, a standing authorisation; the bank keeps it and gives it an id, and the
platform sends that id with each such instruction. The platform keeps only the id (never a
secret), so it can refuse a bid up front that the bank would refuse at funding, and so the
holder can see and revoke what they granted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.custody._db import now_us
from puhui.custody.models import authorisations, instructions
from puhui.custody.service import Role, Status, get_account
from puhui.ledger import service as ledger

ACTIVE = "active"
REVOKED = "revoked"

#: What a grant lets the platform do, by the role of the sub-account that grants it.
SCOPES = {
    Role.LENDER: "invest",  # post bids at full funding, pay for claims bought
    Role.BORROWER: "repay",  # pass repayments to the note holders, pay the platform's fees
    Role.GUARANTOR: "compensate",  # repay on the borrower's behalf (代偿)
    Role.RISK_RESERVE: "compensate",  # compensate lenders on defaulted loans
    Role.PLATFORM_FEE: "fee",
}


@dataclass(frozen=True)
class Grant:
    id: str
    user_ref: str
    role: str
    bank_account_no: str
    scope: str
    status: str
    created_us: int
    revoked_us: int | None


def scope_of(role: Role | str) -> str:
    return SCOPES[Role(role)]


def record(
    conn: Connection, *, grant_id: str, user_ref: str, role: Role | str, clock: Clock
) -> Grant:
    """Keep the id of a grant the bank confirmed for the user's sub-account in ``role``."""
    acc = get_account(conn, user_ref=user_ref, role=role)
    if acc.bank_account_no is None:
        raise Conflict("not_a_bank_account", f"{user_ref}/{role} has no bank sub-account")
    conn.execute(
        insert(authorisations).values(
            id=grant_id,
            user_ref=user_ref,
            role=acc.role.value,
            bank_account_no=acc.bank_account_no,
            scope=scope_of(acc.role),
            status=ACTIVE,
            created_us=now_us(clock),
        )
    )
    return get(conn, grant_id)


def get(conn: Connection, grant_id: str) -> Grant:
    row = conn.execute(select(authorisations).where(authorisations.c.id == grant_id)).first()
    if row is None:
        raise NotFound("authorisation_not_found", f"no authorisation {grant_id}", field="id")
    return Grant(**row._mapping)


def of_user(conn: Connection, *, user_ref: str) -> list[Grant]:
    """Every grant the user made, newest first."""
    a = authorisations.c
    q = select(authorisations).where(a.user_ref == user_ref).order_by(a.created_us.desc(), a.id)
    return [Grant(**r._mapping) for r in conn.execute(q)]


def active_by_account(conn: Connection, bank_numbers: set[str]) -> dict[str, str]:
    """Bank sub-account number → the id of its newest active grant."""
    if not bank_numbers:
        return {}
    a = authorisations.c
    q = (
        select(a.bank_account_no, a.id)
        .where(a.bank_account_no.in_(sorted(bank_numbers)), a.status == ACTIVE)
        .order_by(a.created_us, a.id)
    )
    return {n: i for n, i in conn.execute(q)}


def require(conn: Connection, *, user_ref: str, role: Role | str) -> str:
    """The active grant of the user's sub-account in ``role``, or a clear refusal: checked
    before a bid or a purchase is accepted, so the bank never refuses it at funding."""
    acc = get_account(conn, user_ref=user_ref, role=role)
    found = active_by_account(conn, {acc.bank_account_no} if acc.bank_account_no else set())
    if not found:
        raise Conflict(
            "custody_authorisation_required",
            f"authorise the custody bank to move money from your {acc.role.value} sub-account "
            "on the platform's instruction (业务授权) first",
            field="authorisation",
        )
    return next(iter(found.values()))


def require_unused(conn: Connection, *, grant_id: str) -> None:
    """Refuse to revoke a grant the platform still relies on: money frozen in the account
    (a bid the bank will post under it) or instructions from it not yet sent."""
    grant = get(conn, grant_id)
    acc = get_account(conn, user_ref=grant.user_ref, role=grant.role)
    frozen = ledger.get_account(conn, acc.ledger_account_id).debits_pending
    c = instructions.c
    waiting = conn.execute(
        select(c.id)
        .where(c.status == Status.QUEUED.value, c.bank_from == grant.bank_account_no)
        .limit(1)
    ).first()
    if grant.status == ACTIVE and (frozen or waiting is not None):
        raise Conflict(
            "authorisation_in_use",
            "money in this sub-account is frozen or on its way under this authorisation; "
            "revoke it once that has settled",
            field="id",
        )


def mark_revoked(conn: Connection, *, grant_id: str, user_ref: str, clock: Clock) -> Grant:
    """Record that the bank revoked the grant; only its own holder may have asked."""
    grant = get(conn, grant_id)
    if grant.user_ref != user_ref:
        raise NotFound("authorisation_not_found", f"no authorisation {grant_id}", field="id")
    if grant.status == ACTIVE:
        conn.execute(
            update(authorisations)
            .where(authorisations.c.id == grant_id)
            .values(status=REVOKED, revoked_us=now_us(clock))
        )
    return get(conn, grant_id)
