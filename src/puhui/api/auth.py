"""Signing in and out: customers (phone, password, SMS code) and staff (name, password, TOTP).

A login answers the bearer token once and also sets it as an HttpOnly, Secure, SameSite=Strict
cookie for browser forms, with a CSRF token (body and a readable cookie) that every
state-changing cookie request must echo in ``X-CSRF-Token``. Failures say the same thing
whether or not the account exists; login and code sending are rate limited by IP and account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from puhui.api.identity import (
    CSRF_COOKIE,
    CUSTOMER_COOKIE,
    STAFF_COOKIE,
    Body,
    ClockDep,
    Customer,
    EngineDep,
    KeysDep,
    SmsDep,
    StaffMember,
    actor_for,
    ip_limit,
    limit,
    transact,
)
from puhui.core.clock import Clock
from puhui.identity import auth, customers, sessions
from puhui.identity import staff as staff_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import blind_index
from puhui.identity.errors import Refused
from puhui.identity.identifiers import parse_mobile
from puhui.identity.models import staff as staff_table

public = APIRouter(prefix="/api/v1", tags=["customer auth"])
admin = APIRouter(prefix="/admin/api/v1", tags=["staff auth"])

Phone = Annotated[str, Field(min_length=11, max_length=16, examples=["13800138000"])]
Secret = Annotated[str, Field(min_length=1, max_length=128)]
Code = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^\d{6}$")]


class CodeIn(Body):
    phone: Phone
    purpose: Literal["register", "login", "step_up", "new_phone"]


class Accepted(BaseModel):
    status: str


class RegisterIn(Body):
    phone: Phone
    password: Secret
    code: Code
    kind: Literal["person", "entity"] = "person"


class Created(BaseModel):
    id: int


class CustomerLoginIn(Body):
    phone: Phone
    password: Secret
    code: Code


class SessionOut(BaseModel):
    token: str
    csrf_token: str
    expires_us: int
    idle_timeout_s: int


def _set_cookies(response: Response, cookie: str, new: sessions.NewSession, path: str) -> None:
    common = {"secure": True, "samesite": "strict", "path": path}
    response.set_cookie(cookie, new.token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, new.csrf_token, httponly=False, **common)  # type: ignore[arg-type]


_COOKIE_PATHS = {CUSTOMER_COOKIE: "/api/", STAFF_COOKIE: "/admin/"}


def _sign_in(
    request: Request,
    response: Response,
    engine: Engine,
    cookie: str,
    sign_in: Callable[[Connection, Actor, str | None], auth.Login],
) -> SessionOut:
    agent = request.headers.get("user-agent")
    login = transact(engine, lambda c: sign_in(c, actor_for(request), agent))
    _set_cookies(response, cookie, login.session, _COOKIE_PATHS[cookie])
    return _session_out(login.session)


def _sign_out(
    engine: Engine, clock: Clock, session_id: int, principal: str, cookie: str
) -> Response:
    transact(
        engine,
        lambda c: sessions.revoke(
            c, session_id=session_id, principal=principal, reason="logout", clock=clock
        ),
    )
    response = Response(status_code=204)
    response.delete_cookie(cookie, path=_COOKIE_PATHS[cookie])
    return response


def _session_out(new: sessions.NewSession) -> SessionOut:
    return SessionOut(
        token=new.token,
        csrf_token=new.csrf_token,
        expires_us=new.expires_us,
        idle_timeout_s=new.idle_seconds,
    )


@public.post(
    "/auth/codes",
    status_code=202,
    response_model=Accepted,
    dependencies=[Depends(ip_limit("codes_ip"))],
)
def send_code(
    body: CodeIn, request: Request, engine: EngineDep, clock: ClockDep, keys: KeysDep, sms: SmsDep
) -> Accepted:
    """Send a one-time code by SMS; the answer is the same whether or not the phone has an
    account."""
    limit(request, "codes_phone", blind_index(keys, "phone", parse_mobile(body.phone)))
    transact(
        engine,
        lambda c: customers.send_code(
            c, keys=keys, phone=body.phone, purpose=body.purpose, sender=sms, clock=clock
        ),
    )
    return Accepted(status="sent")


@public.post(
    "/customers",
    status_code=201,
    response_model=Created,
    dependencies=[Depends(ip_limit("login_ip"))],
)
def register(
    body: RegisterIn, request: Request, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Created:
    """Open an account with a phone proven by a registration code."""
    new_id = transact(
        engine,
        lambda c: customers.register(
            c,
            keys=keys,
            phone=body.phone,
            password=body.password,
            code=body.code,
            kind=body.kind,
            actor=actor_for(request),
            clock=clock,
        ),
    )
    return Created(id=new_id)


@public.post("/auth/login", response_model=SessionOut, dependencies=[Depends(ip_limit("login_ip"))])
def customer_login(
    body: CustomerLoginIn,
    request: Request,
    response: Response,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
) -> SessionOut:
    """Sign in with phone, password and a login code. Five failures lock the account for 30
    minutes; every failure answers the same."""
    limit(request, "login_account", auth.phone_index(keys, body.phone))
    return _sign_in(
        request,
        response,
        engine,
        CUSTOMER_COOKIE,
        lambda c, actor, agent: auth.login_customer(
            c,
            keys=keys,
            phone=body.phone,
            password=body.password,
            code=body.code,
            actor=actor,
            user_agent=agent,
            clock=clock,
        ),
    )


@public.post("/auth/logout", status_code=204)
def customer_logout(who: Customer, engine: EngineDep, clock: ClockDep) -> Response:
    return _sign_out(engine, clock, who.session_id, who.actor.principal, CUSTOMER_COOKIE)


# --------------------------------------------------------------------------------- staff


class StaffLoginIn(Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Secret
    totp: Code


class PasswordChangeIn(StaffLoginIn):
    new_password: Secret


@admin.post("/auth/login", response_model=SessionOut, dependencies=[Depends(ip_limit("login_ip"))])
def staff_login(
    body: StaffLoginIn,
    request: Request,
    response: Response,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
) -> SessionOut:
    """Sign in with username, password and the TOTP code: there is no password-only login."""
    limit(request, "login_account", f"staff:{body.username}")
    return _sign_in(
        request,
        response,
        engine,
        STAFF_COOKIE,
        lambda c, actor, agent: auth.login_staff(
            c,
            keys=keys,
            username=body.username,
            password=body.password,
            totp_code=body.totp,
            actor=actor,
            user_agent=agent,
            clock=clock,
        ),
    )


@admin.post("/auth/password", status_code=204, dependencies=[Depends(ip_limit("login_ip"))])
def staff_change_password(
    body: PasswordChangeIn, request: Request, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    """Change a password (also an expired one) with the old password and a TOTP code."""
    limit(request, "login_account", f"staff:{body.username}")

    def work(c):  # type: ignore[no-untyped-def]
        try:
            login = auth.login_staff(
                c,
                keys=keys,
                username=body.username,
                password=body.password,
                totp_code=body.totp,
                actor=actor_for(request),
                user_agent=request.headers.get("user-agent"),
                clock=clock,
            )
            staff_id = int(login.principal.split(":")[1])
        except Refused as exc:
            if exc.error.code != "password_expired":
                raise
            staff_id = (
                c.execute(staff_table.select().where(staff_table.c.username == body.username))
                .one()
                .id
            )
        staff_service.change_password(
            c,
            staff_id=staff_id,
            new_password=body.new_password,
            actor=actor_for(request, f"staff:{staff_id}"),
            clock=clock,
        )

    transact(engine, work)
    return Response(status_code=204)


@admin.post("/auth/logout", status_code=204)
def staff_logout(who: StaffMember, engine: EngineDep, clock: ClockDep) -> Response:
    return _sign_out(engine, clock, who.session_id, who.actor.principal, STAFF_COOKIE)
