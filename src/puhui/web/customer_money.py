"""Money pages: balances (available and frozen), opening a custody sub-account, deposit and
withdrawal with the bank's transaction password and the customer's authenticator code.

The work is ``puhui.api.money``'s own (``open_custody_account``, ``move_money``): verified
identity, TOTP and the audit entry committed before the bank is asked. A form carries a key
chosen when the form was drawn and the instruction id derives from it, so a double submit or
a refresh finds the instruction already made instead of moving the money twice.

The sandbox custody bank's "set transaction password" page stands in for the bank's own page
and exists only while the app talks to the sandbox bank.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from puhui.api.money import (
    grant_authorisation,
    move_money,
    open_custody_account,
    own_instruction,
    revoke_authorisation,
    user_ref,
)
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.custody import authorisations
from puhui.custody import service as custody
from puhui.custody.bank import AuthMethod, Authorisation, InstructionKind
from puhui.custody.sandbox import SandboxBank
from puhui.web.common import BankDep, ClockDep, EngineDep, KeysDep, attempt, call, missing
from puhui.web.render import fragment, page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m", include_in_schema=False)
ROLES = ("lender", "borrower")
_KINDS = {"deposit": InstructionKind.DEPOSIT, "withdraw": InstructionKind.WITHDRAWAL}


def _balances(engine: Any, customer_id: int) -> list[custody.SubAccountBalance]:
    with engine.connect() as c:
        return custody.balances(c, user_ref=user_ref(customer_id))


@router.get("/money")
def money(request: Request, v: CustomerDep, engine: EngineDep, bank: BankDep) -> Response:
    return _money_page(request, v, engine, bank)


def _done_or_again(
    request: Request,
    v: Visitor,
    engine: Any,
    bank: Any,
    error: PuhuiError | None,
    *,
    to: str = "/m/money",
) -> Response:
    """After a money form: on to ``to``, or the money page again with the error shown."""
    if error is None:
        return html_redirect(to, request)
    return _money_page(request, v, engine, bank, error=error)


def _money_page(
    request: Request, v: Visitor, engine: Any, bank: Any, *, error: PuhuiError | None = None
) -> Response:
    balances = _balances(engine, v.customer_id)
    opened = {b.role.value for b in balances}
    with engine.connect() as c:
        grants = authorisations.of_user(c, user_ref=user_ref(v.customer_id))
    granted = {g.role for g in grants if g.status == authorisations.ACTIVE}
    return page(
        request,
        v,
        "customer/money.html",
        status=400 if error else 200,
        active="money",
        balances=balances,
        closed_roles=[r for r in ROLES if r not in opened],
        grants=grants,
        ungranted=[r for r in ROLES if r in opened and r not in granted],
        sandbox=isinstance(bank, SandboxBank),
        error=error,
    )


@router.post("/money/accounts")
def open_account(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep, bank: BankDep
) -> Response:
    actor = v.actor
    role = v.form.get("role")
    error = (
        ValidationError("role_invalid", "choose lender or borrower", field="role")
        if role not in ROLES
        else call(
            lambda: open_custody_account(
                engine, bank, customer_id=v.customer_id, role=role, actor=actor, clock=clock
            )
        ).error
    )
    return _done_or_again(request, v, engine, bank, error)


@router.post("/money/authorisations")
def grant(
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    bank: BankDep,
) -> Response:
    """业务授权 with the bank's transaction password and the authenticator code; a second
    submit of the same form finds the account already granted and changes nothing."""
    f = v.form
    values = {"role": f.get("role"), "bank_password": f.get("bank_password"), "totp": f.get("totp")}
    error = missing(values, "role", "bank_password", "totp")
    if error is None and values["role"] not in ROLES:
        error = ValidationError("role_invalid", "choose lender or borrower", field="role")
    if error is None:
        with engine.connect() as c:
            grants = authorisations.of_user(c, user_ref=user_ref(v.customer_id))
        if any(g.role == values["role"] and g.status == authorisations.ACTIVE for g in grants):
            return html_redirect("/m/money#authorisations", request)
        error = call(
            lambda: grant_authorisation(
                engine,
                bank,
                keys=keys,
                customer_id=v.customer_id,
                role=values["role"],
                totp=values["totp"],
                authorisation=Authorisation(AuthMethod.PASSWORD, values["bank_password"]),
                actor=v.actor,
                clock=clock,
            )
        ).error
    return _done_or_again(request, v, engine, bank, error, to="/m/money#authorisations")


@router.post("/money/authorisations/{grant_id}/revoke")
def revoke_grant(
    grant_id: str,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    bank: BankDep,
) -> Response:
    error = call(
        lambda: revoke_authorisation(
            engine,
            bank,
            customer_id=v.customer_id,
            grant_id=grant_id[:48],
            actor=v.actor,
            clock=clock,
        )
    ).error
    return _done_or_again(request, v, engine, bank, error, to="/m/money#authorisations")


@router.get("/deposit")
@router.get("/withdraw")
def move_form(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    kind = request.url.path.rsplit("/", 1)[-1]
    return _move_page(request, v, engine, kind, form={"role": "lender"})


def _move_page(request: Request, v: Visitor, engine: Any, kind: str, **extra: Any) -> Response:
    return page(
        request,
        v,
        "customer/move.html",
        status=400 if extra.get("error") else 200,
        active="money",
        kind=kind,
        balances=_balances(engine, v.customer_id),
        form_key=uuid.uuid4().hex,
        **extra,
    )


def _instruction_id(customer_id: int, kind: str, form_key: str) -> str:
    """A stable instruction id per drawn form: the same form posted twice is one instruction."""
    digest = hashlib.sha256(f"{customer_id}\x1f{kind}\x1f{form_key}".encode()).hexdigest()
    return f"web-{digest[:40]}"


@router.post("/deposit")
@router.post("/withdraw")
def move(
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    bank: BankDep,
) -> Response:
    """A deposit or withdrawal of the form's amount, authorised by the bank's transaction
    password and the customer's authenticator code."""
    kind = request.url.path.rsplit("/", 1)[-1]
    actor = v.actor
    f = v.form
    values = f.values("role", "amount")
    secrets_ = {"bank_password": f.get("bank_password"), "totp": f.get("totp")}
    error = missing({**values, **secrets_}, "role", "amount", "bank_password", "totp")
    if error is None and values["role"] not in ROLES:
        error = ValidationError("role_invalid", "choose lender or borrower", field="role")
    amount = call(lambda: parse_yuan(values["amount"], field="amount", allow_zero=False))
    error = error or amount.error
    if error is None:
        instruction_id = _instruction_id(v.customer_id, kind, f.get("form_key") or uuid.uuid4().hex)
        earlier = attempt(
            engine,
            lambda c: own_instruction(c, customer_id=v.customer_id, instruction_id=instruction_id),
        )
        if earlier.ok:  # the same form again: show what it already did
            return html_redirect(f"/m/instructions/{instruction_id}", request)
        done = call(
            lambda: move_money(
                engine,
                bank,
                keys=keys,
                kind=_KINDS[kind],
                customer_id=v.customer_id,
                role=values["role"],
                amount_fen=amount.value or 0,
                totp=secrets_["totp"],
                authorisation=Authorisation(AuthMethod.PASSWORD, secrets_["bank_password"]),
                actor=actor,
                clock=clock,
                instruction_id=instruction_id,
            )
        )
        if done.ok:
            return html_redirect(f"/m/instructions/{instruction_id}", request)
        error = done.error
    return _move_page(request, v, engine, kind, form=values, error=error)


@router.get("/instructions/{instruction_id}")
def instruction(
    instruction_id: str, request: Request, v: CustomerDep, engine: EngineDep
) -> Response:
    """The instruction's status; while the bank works, htmx asks again every few seconds."""
    with engine.connect() as c:
        record = own_instruction(c, customer_id=v.customer_id, instruction_id=instruction_id[:64])
    balances = _balances(engine, v.customer_id)
    context = {"record": record, "balances": balances}
    if request.headers.get("HX-Request"):
        return fragment(request, "customer/_instruction.html", **context)
    return page(request, v, "customer/instruction.html", active="money", **context)


# ------------------------------------------------------------------- sandbox custody bank


@router.get("/bank-sandbox")
def sandbox_bank(request: Request, v: CustomerDep, engine: EngineDep, bank: BankDep) -> Response:
    return _sandbox_page(request, v, engine, bank)


def _sandbox_page(request: Request, v: Visitor, engine: Any, bank: Any, **extra: Any) -> Response:
    if not isinstance(bank, SandboxBank):
        raise NotFound("page_not_found", "no such page")
    return page(
        request,
        v,
        "customer/bank_sandbox.html",
        status=400 if extra.get("error") else 200,
        active="money",
        balances=_balances(engine, v.customer_id),
        **extra,
    )


@router.post("/bank-sandbox")
def sandbox_password(
    request: Request, v: CustomerDep, engine: EngineDep, bank: BankDep
) -> Response:
    """What the customer would do on the custody bank's own page: the platform never keeps the
    transaction password, it goes straight to the (sandbox) bank."""
    if not isinstance(bank, SandboxBank):
        raise NotFound("page_not_found", "no such page")
    role, password = v.form.get("role"), v.form.get("bank_password")
    error = missing({"role": role, "bank_password": password}, "role", "bank_password")
    if error is None and not (password.isdigit() and len(password) == 6):
        error = ValidationError("bank_password_invalid", "six digits", field="bank_password")

    def account(c: Connection) -> str:
        return (
            custody.get_account(c, user_ref=user_ref(v.customer_id), role=role).bank_account_no
            or ""
        )

    if error is None:
        found = attempt(engine, account)
        error = (
            found.error
            or call(lambda: bank.set_transaction_password(found.value or "", password)).error
        )
    if error is None:
        return html_redirect("/m/money", request)
    return _sandbox_page(request, v, engine, bank, error=error)
