"""The customer's own pages: home, real-name verification, bank cards, the authenticator app,
the risk questionnaire and notice, and "my data" with consents.

Each page calls the identity services the ``/api/v1/me`` endpoints call, with the signed-in
customer as the only possible owner, so another customer's card or consent is simply not found.
Changing a card asks for the password and a step-up code again, as the API does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from puhui.api.money import user_ref
from puhui.core.errors import ValidationError
from puhui.custody import service as custody
from puhui.identity import auth, consents, customers, risk, sessions
from puhui.identity.otp import provisioning_uri
from puhui.web import nav
from puhui.web.common import (
    ClockDep,
    EngineDep,
    KeysDep,
    VerifierDep,
    attempt,
    missing,
)
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m", include_in_schema=False)
T = TypeVar("T")

for _item in (
    NavItem("home", N_("My account"), "/m/", 10),
    NavItem("verify", N_("Real-name verification"), "/m/verify", 20),
    NavItem("risk", N_("Risk assessment"), "/m/risk", 30),
    NavItem("money", N_("Deposit and withdraw"), "/m/money", 40),
    NavItem("credit", N_("Credit decisions"), "/m/credit", 60),
    NavItem("cards", N_("Bank cards"), "/m/cards", 70),
    NavItem("security", N_("Security"), "/m/security", 80),
    NavItem("data", N_("My data"), "/m/data", 90),
):
    nav.register("customer", _item)


def _read(engine: Any, work: Callable[[Connection], T]) -> T:
    with engine.connect() as c:
        return work(c)


@router.get("/")
def home(request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep, clock: ClockDep):
    def work(c: Connection) -> dict[str, Any]:
        me = customers.view(c, keys=keys, customer_id=v.customer_id)
        notice = any(
            x.purpose == "risk_notice" and x.withdrawn_us is None
            for x in consents.list_for(c, customer_id=v.customer_id)
        )
        return {
            "me": me,
            "assessment": risk.valid_assessment(c, customer_id=v.customer_id, clock=clock),
            "notice_signed": notice,
            "balances": custody.balances(c, user_ref=user_ref(v.customer_id)),
        }

    return page(request, v, "customer/home.html", active="home", **_read(engine, work))


# ------------------------------------------------------------------------- verification


@router.get("/verify")
def verify_form(request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep) -> Response:
    me = _read(engine, lambda c: customers.view(c, keys=keys, customer_id=v.customer_id))
    return page(request, v, "customer/verify.html", active="verify", me=me, form={})


@router.post("/verify")
def verify(
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    verifier: VerifierDep,
) -> Response:
    """Four-element verification; the bank-card consent (sensitive, given on its own) is asked
    on the same form, as a separate tick box."""
    f, actor = v.form, v.actor
    values = f.values("name", "id_number", "card_number")
    error = missing(values, "name", "id_number", "card_number")

    def work(c: Connection) -> customers.KycResult:
        if f.get("consent_bank_card"):
            consents.grant(
                c, customer_id=v.customer_id, purposes=["bank_card"], ip=actor.ip, clock=clock
            )
        return customers.verify_identity(
            c,
            keys=keys,
            verifier=verifier,
            customer_id=v.customer_id,
            name=values["name"],
            id_number=values["id_number"],
            card_number=values["card_number"],
            actor=actor,
            clock=clock,
        )

    result = None
    if error is None:
        done = attempt(engine, work)
        result, error = done.value, done.error
    me = _read(engine, lambda c: customers.view(c, keys=keys, customer_id=v.customer_id))
    failed = error is not None or (result is not None and not result.passed)
    return page(
        request,
        v,
        "customer/verify.html",
        status=400 if failed else 200,
        active="verify",
        me=me,
        form=values if failed else {},
        error=error,
        result=result,
    )


# --------------------------------------------------------------------------- bank cards


def _step_up(v: Visitor, keys: Any, clock: Any, then: Callable[[Connection], T]):
    """Password and a step-up code again, then ``then``, in one transaction."""
    who = v.signed_in_customer

    def work(c: Connection) -> T:
        auth.step_up(
            c,
            keys=keys,
            customer_id=who.customer_id,
            password=v.form.get("password"),
            second_factor=v.form.get("second_factor"),
            require_totp=False,
            actor=who.actor,
            clock=clock,
        )
        return then(c)

    return work


def _cards_page(request: Request, v: Visitor, engine: Any, keys: Any, **extra: Any) -> Response:
    cards = _read(engine, lambda c: customers.list_cards(c, keys=keys, customer_id=v.customer_id))
    status = 400 if extra.get("error") else 200
    return page(
        request, v, "customer/cards.html", status=status, active="cards", cards=cards, **extra
    )


@router.get("/cards")
def cards(request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep) -> Response:
    return _cards_page(request, v, engine, keys, form={})


@router.post("/cards")
def bind_card(
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    verifier: VerifierDep,
) -> Response:
    actor = v.actor
    values = v.form.values("card_number")
    fields = {**values, "password": v.form.get("password"), "code": v.form.get("second_factor")}
    error = missing(fields, "card_number", "password", "code")
    if error is None:
        error = attempt(
            engine,
            _step_up(
                v,
                keys,
                clock,
                lambda c: customers.bind_card(
                    c,
                    keys=keys,
                    verifier=verifier,
                    customer_id=v.customer_id,
                    card_number=values["card_number"],
                    actor=actor,
                    clock=clock,
                ),
            ),
        ).error
    if error is None:
        return html_redirect("/m/cards", request)
    return _cards_page(request, v, engine, keys, form=values, error=error)


@router.post("/cards/{card_id}/unbind")
def unbind_card(
    card_id: int,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
) -> Response:
    actor = v.actor
    _read(
        engine,
        lambda c: customers.get_card(c, keys=keys, customer_id=v.customer_id, card_id=card_id),
    )
    error = attempt(
        engine,
        _step_up(
            v,
            keys,
            clock,
            lambda c: customers.unbind_card(
                c, keys=keys, customer_id=v.customer_id, card_id=card_id, actor=actor, clock=clock
            ),
        ),
    ).error
    if error is None:
        return html_redirect("/m/cards", request)
    return _cards_page(request, v, engine, keys, form={}, error=error, failed_card=card_id)


# ---------------------------------------------------------------- authenticator (TOTP)


@router.get("/security")
def security(request: Request, v: CustomerDep) -> Response:
    return page(request, v, "customer/security.html", active="security")


@router.post("/security/totp")
def enrol_totp(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    """Start enrolling an authenticator app after the password and an SMS step-up code."""
    fields = {"password": v.form.get("password"), "code": v.form.get("second_factor")}
    error = missing(fields, "password", "code")
    cid = v.customer_id
    secret = None
    if error is None:
        enrol = _step_up(
            v, keys, clock, lambda c: customers.enrol_totp(c, keys=keys, customer_id=cid)
        )
        done = attempt(engine, enrol)
        secret, error = done.value, done.error
    uri = provisioning_uri(secret, account=f"customer-{v.customer_id}") if secret else None
    return page(
        request,
        v,
        "customer/security.html",
        status=400 if error else 200,
        active="security",
        error=error,
        secret=secret,
        uri=uri,
    )


@router.post("/security/totp/confirm")
def confirm_totp(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    actor = v.actor
    error = (
        missing({"code": v.form.get("code")}, "code")
        or attempt(
            engine,
            lambda c: customers.confirm_totp(
                c,
                keys=keys,
                customer_id=v.customer_id,
                code=v.form.get("code"),
                actor=actor,
                clock=clock,
            ),
        ).error
    )
    return page(
        request,
        v,
        "customer/security.html",
        status=400 if error else 200,
        active="security",
        error=error,
        confirmed=error is None,
    )


# ----------------------------------------------------------------------- suitability


def _risk_page(request: Request, v: Visitor, engine: Any, clock: Any, **extra: Any) -> Response:
    def work(c: Connection) -> dict[str, Any]:
        found = risk.valid_assessment(c, customer_id=v.customer_id, clock=clock)
        return {
            "questionnaire": risk.current_questionnaire(c),
            "assessment": found,
            "limits": risk.limits_for(c, found.level) if found else None,
        }

    status = 400 if extra.get("error") else 200
    context = _read(engine, work) | extra
    return page(request, v, "customer/risk.html", status=status, active="risk", **context)


@router.get("/risk")
def questionnaire(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep):
    return _risk_page(request, v, engine, clock, answers={})


@router.post("/risk")
def assess(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    actor = v.actor
    form = v.form
    version = form.get("version")
    definition = _read(engine, risk.current_questionnaire)
    answers = {q["id"]: form.get(q["id"]) for q in definition["questions"] if form.get(q["id"])}
    unanswered = [q["id"] for q in definition["questions"] if q["id"] not in answers]
    error = (
        ValidationError("form_incomplete", "answer every question", field=unanswered[0])
        if unanswered
        else attempt(
            engine,
            lambda c: risk.assess(
                c,
                customer_id=v.customer_id,
                version=version,
                answers=answers,
                actor=actor,
                clock=clock,
            ),
        ).error
    )
    if error is None:
        return html_redirect("/m/risk", request)
    return _risk_page(request, v, engine, clock, answers=answers, error=error)


@router.get("/risk/notice")
def notice(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    return page(request, v, "customer/notice.html", active="risk", notice=risk.RISK_NOTICE)


@router.post("/risk/notice")
def sign_notice(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Active confirmation of the risk notice (P2P-LND-04): the box must be ticked."""
    actor = v.actor
    error = None
    if not v.form.get("confirm"):
        error = ValidationError("confirmation_required", "tick the box", field="confirm")
    else:
        error = attempt(
            engine,
            lambda c: risk.sign_notice(
                c,
                customer_id=v.customer_id,
                version=v.form.get("version"),
                actor=actor,
                clock=clock,
            ),
        ).error
    if error is None:
        return html_redirect("/m/", request)
    return page(
        request,
        v,
        "customer/notice.html",
        status=400,
        active="risk",
        notice=risk.RISK_NOTICE,
        error=error,
    )


# ----------------------------------------------------------------------------- my data


def _data_page(
    request: Request, v: Visitor, engine: Any, keys: Any, clock: Any, **extra: Any
) -> Response:
    principal = v.actor.principal

    def work(c: Connection) -> dict[str, Any]:
        given = consents.list_for(c, customer_id=v.customer_id)
        live = {x.purpose: x for x in given if x.withdrawn_us is None}
        return {
            "me": customers.view(c, keys=keys, customer_id=v.customer_id),
            "purposes": list(consents.PURPOSES.values()),
            "live": live,
            "consents": given,
            "requests": customers.list_requests(c, customer_id=v.customer_id),
            "sessions": sessions.list_live(c, principal=principal, clock=clock),
            "history": auth.history(c, principal=principal, limit=10),
        }

    status = 400 if extra.get("error") else 200
    context = _read(engine, work) | extra
    return page(request, v, "customer/data.html", status=status, active="data", **context)


@router.get("/data")
def my_data(request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep, clock: ClockDep):
    return _data_page(request, v, engine, keys, clock)


@router.get("/data/export")
def export(v: CustomerDep, engine: EngineDep, keys: KeysDep) -> Response:
    """A copy of everything held about the customer (PI-DSR-01), masked, as a JSON file."""
    data = _read(engine, lambda c: customers.export(c, keys=keys, customer_id=v.customer_id))
    body = json.dumps(_plain(data), ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="puhui-my-data.json"',
            "Cache-Control": "no-store",
        },
    )


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_plain(x) for x in value]
    return value


@router.post("/consents")
def give_consent(
    request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> Response:
    """Consent to one purpose per click, so a sensitive one is always given on its own."""
    ip = v.actor.ip
    purpose = v.form.get("purpose")
    error = attempt(
        engine,
        lambda c: consents.grant(
            c, customer_id=v.customer_id, purposes=[purpose], ip=ip, clock=clock
        ),
    ).error
    if error is None:
        return html_redirect("/m/data", request)
    return _data_page(request, v, engine, keys, clock, error=error)


@router.post("/consents/{consent_id}/withdraw")
def withdraw_consent(
    consent_id: int,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    keys: KeysDep,
    clock: ClockDep,
) -> Response:
    """Withdrawing takes one click, like giving (PI-CON-02)."""
    error = attempt(
        engine,
        lambda c: consents.withdraw(
            c, customer_id=v.customer_id, consent_id=consent_id, clock=clock
        ),
    ).error
    if error is None:
        return html_redirect("/m/data", request)
    return _data_page(request, v, engine, keys, clock, error=error)


@router.post("/data/delete")
def request_deletion(
    request: Request, v: CustomerDep, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> Response:
    actor = v.actor
    if not v.form.get("confirm"):
        error = ValidationError("confirmation_required", "tick the box", field="confirm")
        return _data_page(request, v, engine, keys, clock, error=error)
    error = attempt(
        engine,
        lambda c: customers.request_deletion(
            c, keys=keys, customer_id=v.customer_id, actor=actor, clock=clock
        ),
    ).error
    if error is None:
        return html_redirect("/m/data", request)
    return _data_page(request, v, engine, keys, clock, error=error)
