"""What the customer and staff routers share: keys and sandboxes on ``app.state``, sessions from
a bearer token or a cookie (with CSRF protection for cookies), permission checks, database-kept
rate limits, the acting principal for the audit log, and transactions that commit a refusal's
bookkeeping before answering it.

``install`` mounts the routers and the security-headers middleware on an app. The keyring, the
SMS sender and the KYC verifier are created on first use unless a test or deployment has put
its own on ``app.state`` (``keyring``, ``sms``, ``verifier``, ``rate_limits``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine

from puhui.api.app import get_clock, get_engine
from puhui.api.errors import ApiError
from puhui.core.clock import Clock
from puhui.db.engine import run_in_transaction
from puhui.identity import ratelimit, sessions
from puhui.identity import staff as staff_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.errors import Forbidden, NotAuthenticated, Refused
from puhui.identity.kyc import SandboxVerifier, Verifier
from puhui.identity.otp import SmsSender, sandbox_sms
from puhui.identity.ratelimit import Limit, RateLimited
from puhui.identity.staff import StaffContext

T = TypeVar("T")
CUSTOMER_COOKIE = "puhui_session"
STAFF_COOKIE = "puhui_admin_session"
CSRF_COOKIE = "puhui_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

DEFAULT_LIMITS: dict[str, Limit] = {
    lim.bucket: lim
    for lim in (
        Limit("login_ip", 30, timedelta(minutes=10)),
        Limit("login_account", 10, timedelta(minutes=10)),
        Limit("codes_ip", 30, timedelta(hours=1)),
        Limit("codes_phone", 5, timedelta(minutes=10)),
        Limit("money_customer", 30, timedelta(minutes=1)),
        Limit("sensitive_customer", 20, timedelta(minutes=10)),
    )
}


class Body(BaseModel):
    """Request bodies: unknown fields are refused (422), nothing is silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- app.state


def _state(request: Request, name: str, make: Callable[[], Any]) -> Any:
    state = request.app.state
    if not hasattr(state, name):
        setattr(state, name, make())
    return getattr(state, name)


def get_keys(request: Request) -> Keyring:
    return _state(request, "keyring", Keyring.from_env)


def get_sms(request: Request) -> SmsSender:
    return _state(request, "sms", sandbox_sms)


def get_verifier(request: Request) -> Verifier:
    return _state(request, "verifier", SandboxVerifier)


KeysDep = Annotated[Keyring, Depends(get_keys)]
SmsDep = Annotated[SmsSender, Depends(get_sms)]
VerifierDep = Annotated[Verifier, Depends(get_verifier)]


def transact(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction; a ``Refused`` commits first, then answers its error."""
    refused: list[Refused] = []

    def attempt(conn: Connection) -> Any:
        refused.clear()
        try:
            return work(conn)
        except Refused as exc:
            refused.append(exc)
            return None

    result = run_in_transaction(engine, attempt)
    if refused:
        raise refused[0].error
    return result


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "-"


def actor_for(request: Request, principal: str = "anonymous", roles: tuple[str, ...] = ()) -> Actor:
    return Actor(
        principal, roles, client_ip(request), getattr(request.state, "request_id", None) or "-"
    )


def limit(request: Request, bucket: str, subject: str) -> None:
    """Count a hit against a rate limit in its own committed transaction; 429 when over."""
    limits = _state(request, "rate_limits", lambda: dict(DEFAULT_LIMITS))
    engine, clock = get_engine(request), get_clock(request)
    try:
        run_in_transaction(
            engine,
            lambda c: ratelimit.hit(c, limit=limits[bucket], subject=subject, clock=clock),
        )
    except RateLimited as exc:
        raise ApiError(
            429,
            "rate_limited",
            "rate_limited",
            exc.message,
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None


def ip_limit(bucket: str) -> Callable[[Request], None]:
    def dependency(request: Request) -> None:
        limit(request, bucket, client_ip(request))

    return dependency


# ------------------------------------------------------------------------------ sessions


def _token(request: Request, cookie: str) -> tuple[str, bool]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    value = request.cookies.get(cookie)
    if value:
        return value, True
    raise NotAuthenticated("not_signed_in", "sign in first")


def _session(request: Request, kind: str, cookie: str) -> sessions.Session:
    token, via_cookie = _token(request, cookie)
    engine, clock = get_engine(request), get_clock(request)

    def work(conn: Connection) -> sessions.Session:
        found = sessions.authenticate(conn, token=token, kind=kind, clock=clock)
        if via_cookie and request.method not in _SAFE_METHODS:
            csrf = request.headers.get(CSRF_HEADER)
            if not sessions.csrf_ok(conn, session_id=found.id, csrf_token=csrf):
                raise Forbidden("csrf_failed", f"send the {CSRF_HEADER} header of this session")
        return found

    return run_in_transaction(engine, work)


@dataclass(frozen=True)
class CustomerAuth:
    session_id: int
    customer_id: int
    actor: Actor


def current_customer(request: Request) -> CustomerAuth:
    found = _session(request, "customer", CUSTOMER_COOKIE)
    return CustomerAuth(found.id, found.principal_id, actor_for(request, found.principal))


Customer = Annotated[CustomerAuth, Depends(current_customer)]


def customer_limit(bucket: str) -> Any:
    """A dependency counting the signed-in customer's requests against a rate limit."""

    def dependency(request: Request, who: Customer) -> None:
        limit(request, bucket, who.actor.principal)

    return Depends(dependency)


@dataclass(frozen=True)
class StaffAuth:
    session_id: int
    ctx: StaffContext
    actor: Actor


def current_staff(request: Request) -> StaffAuth:
    found = _session(request, "staff", STAFF_COOKIE)
    ctx = run_in_transaction(
        get_engine(request), lambda c: staff_service.context(c, staff_id=found.principal_id)
    )
    return StaffAuth(found.id, ctx, actor_for(request, found.principal, ctx.roles))


StaffMember = Annotated[StaffAuth, Depends(current_staff)]


def require(permission: str) -> Callable[..., StaffAuth]:
    """A dependency: the signed-in staff member, who must hold ``permission`` (else 403)."""

    def dependency(auth: StaffMember) -> StaffAuth:
        if permission not in auth.ctx.permissions:
            raise Forbidden("permission_required", f"this needs the {permission} permission")
        return auth

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def install(app: FastAPI) -> None:
    from puhui.api import auth, customers, money, security, staff

    app.add_middleware(security.SecurityHeaders)
    for router in (auth.public, auth.admin, customers.router, money.router, staff.router):
        app.include_router(router)
