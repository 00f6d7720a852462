"""The customer's money on the custody ledger: balances, deposits and withdrawals.

A fund operation needs a verified identity (P2P-OBL-03, AML-KYC-01), the customer's TOTP code
(SEC-AUTH-03) and the authorisation the custody bank checks itself (its transaction password or
its one-time code, passed through untouched: it becomes the instruction's authorisation). The
audit entry is written and committed before the bank is asked: if it cannot be written, the
operation is refused (SEC-AUD-04). POSTs take an ``Idempotency-Key``; each customer has a rate
limit on money endpoints. Another customer's instruction is 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from puhui.api.idempotency import Idempotent
from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    CustomerAuth,
    EngineDep,
    KeysDep,
    customer_limit,
    transact,
)
from puhui.core.clock import Clock
from puhui.core.errors import NotFound
from puhui.custody import authorisations, flows
from puhui.custody import service as custody
from puhui.custody.bank import AuthMethod, Authorisation, CustodyBank, InstructionKind
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import CustodyAccount
from puhui.identity import audit, auth, customers
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.identifiers import mask_card
from puhui.marketplace import accounts as market_accounts

router = APIRouter(prefix="/api/v1", tags=["money"])
Role = Literal["lender", "borrower"]


def get_bank(request: Request) -> CustodyBank:
    state = request.app.state
    if not hasattr(state, "custody_bank"):
        state.custody_bank = SandboxBank(state.engine, clock=state.clock)
    return state.custody_bank


BankDep = Annotated[CustodyBank, Depends(get_bank)]


def user_ref(customer_id: int) -> str:
    """The customer's name at the custody bank (no personal value in it)."""
    return f"customer-{customer_id}"


MoneyLimit = customer_limit("money_customer")


class Balance(BaseModel):
    role: str
    account: str
    balance_fen: int
    available_fen: int
    frozen_fen: int


@router.get("/me/balances", response_model=list[Balance])
def balances(who: Customer, engine: EngineDep) -> list[Balance]:
    """Posted balance, what is available and what is frozen (pending) per custody account."""
    with engine.connect() as c:
        found = custody.balances(c, user_ref=user_ref(who.customer_id))
    return [
        Balance(
            role=b.role.value,
            account=mask_card(b.bank_account_no or ""),
            balance_fen=b.balance,
            available_fen=b.available,
            frozen_fen=b.frozen,
        )
        for b in found
    ]


class AccountIn(Body):
    role: Role


@router.post(
    "/me/custody-accounts", status_code=201, response_model=Balance, dependencies=[MoneyLimit]
)
def open_account(
    body: AccountIn, who: Customer, engine: EngineDep, clock: ClockDep, bank: BankDep
) -> Balance:
    """Open the customer's sub-account at the custody bank (verified customers only)."""
    acc = open_custody_account(
        engine, bank, customer_id=who.customer_id, role=body.role, actor=who.actor, clock=clock
    )
    return Balance(
        role=body.role,
        account=mask_card(acc.bank_account_no or ""),
        balance_fen=0,
        available_fen=0,
        frozen_fen=0,
    )


def open_custody_account(
    engine: Engine, bank: CustodyBank, *, customer_id: int, role: str, actor: Actor, clock: Clock
) -> CustodyAccount:
    """Verified customers only; the audit entry is committed before the bank opens anything.
    Shared by this router and the web pages."""

    audit_first(
        engine,
        lambda c: customers.require_verified(c, customer_id=customer_id),
        actor=actor,
        event="custody.open_account",
        customer_id=customer_id,
        detail={"role": role},
        clock=clock,
    )
    return flows.open_account(engine, bank, user_ref=user_ref(customer_id), role=role, clock=clock)


def audit_first(
    engine: Engine,
    check: Callable[[Connection], None],
    *,
    actor: Actor,
    event: str,
    customer_id: int,
    detail: dict[str, Any],
    clock: Clock,
) -> None:
    """``check``, then the audit entry, committed before the bank is asked: an operation that
    cannot be audited does not happen (SEC-AUD-04)."""

    def work(c: Connection) -> None:
        check(c)
        audit.record(
            c,
            actor=actor,
            event=event,
            object_type="customer",
            object_id=customer_id,
            detail=detail,
            clock=clock,
        )

    transact(engine, work)


class BankAuthorisation(Body):
    method: Literal["password", "otp"]
    secret: Annotated[str, Field(min_length=1, max_length=64, repr=False)]

    def for_bank(self) -> Authorisation:
        """What the bank checks: the method names are the bank's own (``AuthMethod``)."""
        return Authorisation(AuthMethod(self.method), self.secret)


class MoneyIn(Body):
    role: Role
    amount_fen: Annotated[int, Field(gt=0, le=10**12)]
    totp: Annotated[str, Field(pattern=r"^\d{6}$")]
    authorisation: BankAuthorisation


class InstructionOut(BaseModel):
    id: str
    kind: str
    role: str
    amount_fen: int
    status: str
    failure_reason: str | None


def _out(r: custody.InstructionRecord) -> InstructionOut:
    return InstructionOut(
        id=r.id,
        kind=r.kind.value,
        role=str(r.role),
        amount_fen=r.amount,
        status=r.status.value,
        failure_reason=r.failure_reason,
    )


def move_money(
    engine: Engine,
    bank: CustodyBank,
    *,
    keys: Keyring,
    kind: InstructionKind,
    customer_id: int,
    role: str,
    amount_fen: int,
    totp: str,
    authorisation: Authorisation,
    actor: Actor,
    clock: Clock,
    instruction_id: str | None = None,
) -> custody.InstructionRecord:
    """A deposit or withdrawal: verified identity, a TOTP code and the audit entry, committed
    before the bank call, then the custody flow. Shared by this router and the web pages."""
    transact(
        engine,
        lambda c: auth.authorise_funds(
            c,
            keys=keys,
            customer_id=customer_id,
            totp=totp,
            event=f"money.{kind.value}",
            detail={"role": role, "amount_fen": amount_fen},
            actor=actor,
            clock=clock,
        ),
    )
    flow = flows.deposit if kind is InstructionKind.DEPOSIT else flows.withdraw
    return flow(
        engine,
        bank,
        user_ref=user_ref(customer_id),
        role=role,
        amount=amount_fen,
        authorisation=authorisation,
        instruction_id=instruction_id,
        clock=clock,
    )


def _move(
    kind: InstructionKind,
    body: MoneyIn,
    who: CustomerAuth,
    idem: Idempotent,
    engine: Engine,
    clock: Clock,
    keys: Keyring,
    bank: CustodyBank,
) -> Response:
    def work(_: Connection) -> InstructionOut:
        record = move_money(
            engine,
            bank,
            keys=keys,
            kind=kind,
            customer_id=who.customer_id,
            role=body.role,
            amount_fen=body.amount_fen,
            totp=body.totp,
            authorisation=body.authorisation.for_bank(),
            actor=who.actor,
            clock=clock,
        )
        return _out(record)

    return idem.run(work, status_code=201)


@router.post(
    "/me/deposits", status_code=201, response_model=InstructionOut, dependencies=[MoneyLimit]
)
def deposit(
    body: MoneyIn,
    who: Customer,
    idem: Idempotent,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    bank: BankDep,
) -> Response:
    """充值 through the custody bank; the ledger credits the money when the bank confirms."""
    return _move(InstructionKind.DEPOSIT, body, who, idem, engine, clock, keys, bank)


@router.post(
    "/me/withdrawals", status_code=201, response_model=InstructionOut, dependencies=[MoneyLimit]
)
def withdraw(
    body: MoneyIn,
    who: Customer,
    idem: Idempotent,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    bank: BankDep,
) -> Response:
    """提现 to the bound card: the money is frozen at once, paid when the bank confirms."""
    return _move(InstructionKind.WITHDRAWAL, body, who, idem, engine, clock, keys, bank)


@router.get("/me/instructions/{instruction_id}", response_model=InstructionOut)
def instruction(
    instruction_id: Annotated[str, Field(max_length=64)], who: Customer, engine: EngineDep
) -> InstructionOut:
    with engine.connect() as c:
        return _out(own_instruction(c, customer_id=who.customer_id, instruction_id=instruction_id))


def own_instruction(
    conn: Connection, *, customer_id: int, instruction_id: str
) -> custody.InstructionRecord:
    """The customer's own instruction; another customer's is 404 like a missing one."""
    try:
        record = custody.get_instruction(conn, instruction_id)
    except NotFound:
        record = None
    if record is None or record.user_ref != user_ref(customer_id):
        raise NotFound("instruction_not_found", "no such instruction")
    return record


class GrantIn(Body):
    role: Literal["lender", "borrower", "guarantor"]
    totp: Annotated[str, Field(pattern=r"^\d{6}$")]
    authorisation: BankAuthorisation


class GrantOut(BaseModel):
    id: str
    role: str
    account: str
    scope: str
    status: str
    created_us: int
    revoked_us: int | None


def _grant_out(g: authorisations.Grant) -> GrantOut:
    return GrantOut(
        id=g.id,
        role=g.role,
        account=mask_card(g.bank_account_no),
        scope=g.scope,
        status=g.status,
        created_us=g.created_us,
        revoked_us=g.revoked_us,
    )


def grant_authorisation(
    engine: Engine,
    bank: CustodyBank,
    *,
    keys: Keyring,
    customer_id: int,
    role: str,
    totp: str,
    authorisation: Authorisation,
    actor: Actor,
    clock: Clock,
) -> authorisations.Grant:
    """业务授权: TOTP and the audit entry first (as for any fund operation), then the grant at
    the bank with the customer's own password or code. Shared with the web pages."""
    transact(
        engine,
        lambda c: auth.authorise_funds(
            c,
            keys=keys,
            customer_id=customer_id,
            totp=totp,
            event="money.authorise",
            detail={"role": role},
            actor=actor,
            clock=clock,
        ),
    )
    return flows.authorise(
        engine,
        bank,
        user_ref=user_ref(customer_id),
        role=role,
        authorisation=authorisation,
        clock=clock,
    )


@router.post(
    "/me/custody-authorisations",
    status_code=201,
    response_model=GrantOut,
    dependencies=[MoneyLimit],
)
def authorise(
    body: GrantIn,
    who: Customer,
    idem: Idempotent,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    bank: BankDep,
) -> Response:
    """Grant the custody bank a standing authorisation (业务授权) for the platform's
    instructions out of one sub-account: a lender's bids posted at full funding and claims
    bought, a borrower's repayments passed to the note holders, a guarantor's 代偿."""

    def work(_: Connection) -> GrantOut:
        grant = grant_authorisation(
            engine,
            bank,
            keys=keys,
            customer_id=who.customer_id,
            role=body.role,
            totp=body.totp,
            authorisation=body.authorisation.for_bank(),
            actor=who.actor,
            clock=clock,
        )
        return _grant_out(grant)

    return idem.run(work, status_code=201)


@router.get("/me/custody-authorisations", response_model=list[GrantOut])
def my_authorisations(who: Customer, engine: EngineDep) -> list[GrantOut]:
    with engine.connect() as c:
        return [
            _grant_out(g) for g in authorisations.of_user(c, user_ref=user_ref(who.customer_id))
        ]


@router.post(
    "/me/custody-authorisations/{grant_id}/revoke",
    response_model=GrantOut,
    dependencies=[MoneyLimit],
)
def revoke(
    grant_id: Annotated[str, Field(max_length=48)],
    who: Customer,
    engine: EngineDep,
    clock: ClockDep,
    bank: BankDep,
) -> GrantOut:
    """Withdraw a grant; refused while the platform still needs it (frozen bids, money on its
    way to the bank, a marketplace loan still being repaid)."""
    return _grant_out(
        revoke_authorisation(
            engine,
            bank,
            customer_id=who.customer_id,
            grant_id=grant_id,
            actor=who.actor,
            clock=clock,
        )
    )


def revoke_authorisation(
    engine: Engine,
    bank: CustodyBank,
    *,
    customer_id: int,
    grant_id: str,
    actor: Actor,
    clock: Clock,
) -> authorisations.Grant:
    """The checks and the audit entry committed first, then the bank. Shared with the web."""
    ref = user_ref(customer_id)

    def check(c: Connection) -> None:
        grant = authorisations.get(c, grant_id)
        if grant.user_ref != ref:
            raise NotFound("authorisation_not_found", f"no authorisation {grant_id}", field="id")
        authorisations.require_unused(c, grant_id=grant_id)
        market_accounts.require_grant_unused(c, customer_id, grant.role)

    audit_first(
        engine,
        check,
        actor=actor,
        event="money.revoke_authorisation",
        customer_id=customer_id,
        detail={"grant": grant_id},
        clock=clock,
    )
    return flows.revoke_authorisation(engine, bank, user_ref=ref, grant_id=grant_id, clock=clock)
