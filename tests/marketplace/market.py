"""Marketplace test helpers: a marketplace product, a borrower with an approved application and
a borrower sub-account, lenders with a valid risk assessment, a signed risk notice and money in
their lender sub-account. Everything runs in the caller's connection and never commits."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from lending import factories
from puhui.core.clock import Clock
from puhui.custody import authorisations
from puhui.custody import service as custody
from puhui.custody.service import Role
from puhui.identity import risk
from puhui.identity.audit import Actor
from puhui.ledger.codes import TransferCode
from puhui.ledger.service import Transfer, create_transfers
from puhui.lending.models import applications
from puhui.marketplace import accounts, listings
from puhui.marketplace.listings import Listing
from puhui.sim.seed import MARKETPLACE_LOAN, RISK_ANSWERS

STAFF = Actor("staff:1", roles=("ops_manager",))
SYSTEM = Actor("system")
TERMS = replace(MARKETPLACE_LOAN, terms=(3, 6, 12))
RATE = Decimal("0.09")
DISCLOSURE = {
    "borrower_kind": "自然人 natural person",
    "industry": "零售 retail",
    "income_and_debt": "月收入 8,000 元，负债 12,000 元",
    "credit_overdue_6m": "无 none",
    "other_platform_loans": "无 none",
    "repayment_source": "工资收入 salary",
    "repayment_safeguards": "无担保 none",
    "risk_assessment": "R2: stable income, low debt",
}
_bank_no = [0]


def _open(conn: Connection, clock: Clock, customer_id: int, role: str) -> int:
    """The sub-account as ``flows.open_account`` records it after the bank opened it, with the
    standing authorisation (业务授权) ``flows.authorise`` records after the bank granted it."""
    _bank_no[0] += 1
    platform_accounts(conn, clock)
    ref = accounts.custody_ref(customer_id)
    acc = custody.record_account(
        conn,
        user_ref=ref,
        role=role,
        bank_account_no=f"T{customer_id:06d}{role[:1]}{_bank_no[0]}",
        clock=clock,
    )
    grant(conn, clock, ref, role)
    return acc.ledger_account_id


def grant(conn: Connection, clock: Clock, user_ref: str, role: str) -> None:
    _bank_no[0] += 1
    authorisations.record(
        conn, grant_id=f"AUTEST{_bank_no[0]}", user_ref=user_ref, role=role, clock=clock
    )


def platform_accounts(conn: Connection, clock: Clock) -> None:
    """The custody master and the marketplace's fee and reserve sub-accounts, the reserve with
    the platform's standing authorisation to compensate from it."""
    custody.ensure_platform_accounts(conn, bank_master="MASTER-0001", clock=clock)
    if accounts.existing_platform_account(conn, Role.RISK_RESERVE) is not None:
        return
    for role in accounts.PLATFORM_ROLES:
        custody.record_account(
            conn,
            user_ref=accounts.PLATFORM_REF,
            role=role,
            bank_account_no=f"TPLATFORM-{role.value}",
            clock=clock,
        )
    grant(conn, clock, accounts.PLATFORM_REF, Role.RISK_RESERVE)


def deposit(conn: Connection, clock: Clock, account_id: int, amount: int, tag: str) -> None:
    """The bank confirmed a deposit: master → the sub-account, as custody books it."""
    [r] = create_transfers(
        conn,
        [
            Transfer(
                id=f"test-deposit-{tag}",
                debit_account_id=custody.master_account_id(conn),
                credit_account_id=account_id,
                amount=amount,
                code=TransferCode.DEPOSIT,
            )
        ],
        clock=clock,
    )
    assert r.ok, r


def lender(conn: Connection, clock: Clock, *, money: int = 10_000_000, level: str = "C5") -> int:
    """A verified lender at ``level`` with ``money`` fen in the lender sub-account."""
    cid = factories.customer(conn, clock)
    equip_lender(conn, clock, cid, money=money, level=level)
    return cid


def equip_lender(
    conn: Connection, clock: Clock, cid: int, *, money: int = 10_000_000, level: str = "C5"
) -> None:
    """Give a verified customer a funded lender sub-account, an assessment and the notice."""
    acc = _open(conn, clock, cid, "lender")
    if money:
        deposit(conn, clock, acc, money, f"lender-{cid}")
    definition = risk.current_questionnaire(conn)
    risk.assess(
        conn,
        customer_id=cid,
        version=definition["version"],
        answers=RISK_ANSWERS[level],
        actor=SYSTEM,
        clock=clock,
    )
    risk.sign_notice(
        conn, customer_id=cid, version=str(risk.RISK_NOTICE["version"]), actor=SYSTEM, clock=clock
    )


def borrower(conn: Connection, clock: Clock, *, money: int = 0) -> tuple[int, int]:
    """A verified borrower with a borrower sub-account; (customer id, ledger account id)."""
    cid = factories.customer(conn, clock)
    acc = _open(conn, clock, cid, "borrower")
    if money:
        deposit(conn, clock, acc, money, f"borrower-{cid}")
    return cid, acc


def approved_application(
    conn: Connection,
    clock: Clock,
    *,
    customer_id: int,
    amount_fen: int = 1_000_000,
    term: int = 6,
    rate: Decimal = RATE,
) -> int:
    """An application of the marketplace product in state ``approved``."""
    factories.calendar.set_date(conn, business_date_=factories.DAY, clock=clock)
    version = factories.product(conn, clock, code="P2P", terms=TERMS)
    now = int(clock.now().timestamp() * 1_000_000)
    return int(
        conn.execute(
            insert(applications).values(
                customer_id=customer_id,
                product_version_id=version.version_id,
                amount_fen=amount_fen,
                term=term,
                annual_rate=str(rate),
                purpose="consumption",
                state="approved",
                approved_fen=amount_fen,
                created_us=now,
                updated_us=now,
            )
        ).inserted_primary_key[0]
    )


def open_listing(
    conn: Connection,
    clock: Clock,
    *,
    amount_fen: int = 1_000_000,
    term: int = 6,
    min_bid_fen: int = 10_000,
    step_fen: int = 10_000,
    **kw: Any,
) -> Listing:
    """A published listing for a fresh borrower (no money in the borrower's sub-account)."""
    bid, _ = borrower(conn, clock)
    app_id = approved_application(conn, clock, customer_id=bid, amount_fen=amount_fen, term=term)
    draft = listings.create_listing(
        conn,
        application_id=app_id,
        title=kw.get("title", "小微经营周转"),
        description=kw.get("description", "借款用于店铺进货，按月等额本息还款。"),
        risk_grade=kw.get("risk_grade", "R2"),
        min_bid_fen=min_bid_fen,
        step_fen=step_fen,
        disclosure=kw.get("disclosure", DISCLOSURE),
        actor=STAFF,
        clock=clock,
    )
    return listings.publish(conn, listing_id=draft.id, actor=STAFF, clock=clock)


def go_to(conn: Connection, clock: Any, day: Any) -> None:
    """Move the clock and the business date to ``day`` (the clock keeps its time of day)."""
    clock.set(clock.now().replace(year=day.year, month=day.month, day=day.day))
    factories.calendar.set_date(conn, business_date_=day, clock=clock)
