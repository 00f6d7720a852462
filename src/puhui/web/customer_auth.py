"""Customer sign-up and sign-in pages: phone, password and a one-time SMS code.

The same identity services and rate limits as ``/api/v1/customers`` and ``/api/v1/auth/login``;
a failure says the same thing whether or not the phone has an account. The "send code" button
works with htmx (it swaps in a one-line status) and without it (the whole form comes back).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.responses import Response

from puhui.api.identity import actor_for, client_ip
from puhui.core.errors import ValidationError
from puhui.identity import auth, customers
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.identifiers import parse_mobile
from puhui.web.common import (
    ClockDep,
    EngineDep,
    KeysDep,
    SmsDep,
    attempt,
    call,
    missing,
    rate_limit,
    sign_out,
    signed_in,
)
from puhui.web.render import fragment, page
from puhui.web.security import (
    CUSTOMER,
    CustomerDep,
    CustomerGuestDep,
    MaybeCustomerDep,
    html_redirect,
    safe_next,
)

router = APIRouter(prefix="/m", include_in_schema=False)
_TEMPLATES = {"register": "customer/register.html", "login": "customer/login.html"}


@router.get("/login")
def login_form(request: Request, v: MaybeCustomerDep) -> Response:
    if v.customer is not None:
        return html_redirect("/m/")
    next_path = safe_next(request.query_params.get("next"), "/m/")
    registered = request.query_params.get("registered") == "1"
    return page(request, v, "customer/login.html", next=next_path, registered=registered)


@router.post("/login")
def login(
    request: Request, v: CustomerGuestDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    f = v.form
    next_path = safe_next(f.get("next"), "/m/")
    values = f.values("phone", "code")
    error = missing({**values, "password": f.get("password")}, "phone", "password", "code")
    error = error or rate_limit(request, "login_ip", client_ip(request))
    if error is None:
        index = call(lambda: auth.phone_index(keys, values["phone"]))
        error = index.error or rate_limit(request, "login_account", index.value or "")
    if error is None:
        done = attempt(
            engine,
            lambda c: auth.login_customer(
                c,
                keys=keys,
                phone=values["phone"],
                password=f.get("password"),
                code=values["code"],
                actor=actor_for(request),
                user_agent=request.headers.get("user-agent"),
                clock=clock,
            ),
        )
        response = signed_in(done, CUSTOMER, next_path)
        if response is not None:
            return response
        error = done.error
    return page(
        request, v, "customer/login.html", status=400, form=values, error=error, next=next_path
    )


@router.get("/register")
def register_form(request: Request, v: CustomerGuestDep) -> Response:
    return page(request, v, "customer/register.html", form={})


@router.post("/register")
def register(
    request: Request, v: CustomerGuestDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    f = v.form
    values = f.values("phone", "code")
    error = missing({**values, "password": f.get("password")}, "phone", "password", "code")
    error = error or rate_limit(request, "login_ip", client_ip(request))
    if error is None and not f.get("agree"):
        error = ValidationError("agreement_required", "accept the agreement", field="agree")
    if error is None:
        done = attempt(
            engine,
            lambda c: customers.register(
                c,
                keys=keys,
                phone=values["phone"],
                password=f.get("password"),
                code=values["code"],
                kind="person",
                actor=actor_for(request),
                clock=clock,
            ),
        )
        if done.ok:
            return html_redirect("/m/login?registered=1", request)
        error = done.error
    return page(request, v, "customer/register.html", status=400, form=values, error=error)


@router.post("/codes")
def send_code(
    request: Request,
    v: MaybeCustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    sms: SmsDep,
) -> Response:
    """Send a one-time code (register, login, or a signed-in customer's step-up)."""
    f = v.form
    purpose = f.get("purpose")
    phone = f.get("phone")
    if purpose == "step_up" and v.customer is not None:
        phone = _own_phone(engine, keys, v.customer_id)
    error = None
    if purpose not in ("register", "login", "step_up"):
        error = ValidationError("code_purpose_unknown", "no such purpose", field="purpose")
    error = error or missing({"phone": phone}, "phone")
    error = error or rate_limit(request, "codes_ip", client_ip(request))
    if error is None:
        parsed = call(lambda: parse_mobile(phone))
        error = parsed.error or rate_limit(
            request, "codes_phone", blind_index(keys, "phone", parsed.value or "")
        )
    if error is None:
        error = attempt(
            engine,
            lambda c: customers.send_code(
                c, keys=keys, phone=phone, purpose=purpose, sender=sms, clock=clock
            ),
        ).error
    if request.headers.get("HX-Request"):
        return fragment(request, "customer/_code_status.html", error=error)
    template = _TEMPLATES.get(purpose, "customer/login.html")
    if v.customer is not None:
        return html_redirect("/m/security")
    return page(
        request,
        v,
        template,
        status=400 if error else 200,
        form=f.values("phone"),
        error=error,
        code_sent=error is None,
        next=safe_next(f.get("next"), "/m/"),
    )


def _own_phone(engine: Engine, keys: Keyring, customer_id: int) -> str:
    """The signed-in customer's own phone, to send a step-up code to (never shown)."""
    with engine.connect() as c:
        found = customers.unmask(c, keys=keys, customer_id=customer_id, fields=["phone"])
    return found["phone"] or ""


@router.post("/logout")
def logout(v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    return sign_out(engine, clock, v)
