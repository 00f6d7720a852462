"""Who is visiting a page, and whether a form post may be believed.

Pages sign people in with the identity sessions the API uses (``identity.sessions``), kept in an
HttpOnly cookie of their own per area — ``SameSite=Lax`` so a link from elsewhere still opens
the page signed in, ``Secure`` when ``PUHUI_REQUIRE_TLS=1`` — and scoped to the area's path.

Every form post carries a CSRF token in the field ``csrf_token``. A signed-in visitor's token
is the session's own (its hash is kept with the session and checked by ``sessions.csrf_ok``); the
plain value rides in a second HttpOnly cookie so the server can write it into each form. Before
sign-in (the login and registration forms, the code buttons) the token is a random value that
must equal the area's CSRF cookie. A foreign site can make a browser post a form but can read
neither cookie, so it cannot supply the token.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from puhui.api.app import get_clock, get_engine
from puhui.api.identity import CustomerAuth, StaffAuth, actor_for
from puhui.db.engine import run_in_transaction
from puhui.identity import sessions
from puhui.identity import staff as staff_service
from puhui.identity.audit import Actor
from puhui.identity.errors import NotAuthenticated
from puhui.web.nav import Area

CSRF_FIELD = "csrf_token"
_MAX_VALUE = 2000


@dataclass(frozen=True)
class AreaConfig:
    name: Area
    prefix: str
    kind: Literal["customer", "staff"]
    session_cookie: str
    csrf_cookie: str

    @property
    def cookie_path(self) -> str:
        return self.prefix + "/"

    @property
    def login_path(self) -> str:
        return self.prefix + "/login"


CUSTOMER = AreaConfig("customer", "/m", "customer", "puhui_m_session", "puhui_m_csrf")
ADMIN = AreaConfig("admin", "/admin", "staff", "puhui_a_session", "puhui_a_csrf")


class LoginRequired(Exception):
    def __init__(self, area: AreaConfig, request: Request) -> None:
        super().__init__("sign in first")
        self.area = area
        self.next = request.url.path if request.method == "GET" else area.prefix + "/"


class CsrfRefused(Exception):
    """A form post without the right token: answered 403, nothing done."""


class PermissionRefused(Exception):
    def __init__(self, permission: str) -> None:
        super().__init__(permission)
        self.permission = permission


# --------------------------------------------------------------------------------- forms


class Form:
    """A posted form: text values only, each at most 2,000 characters, stripped."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items = items or []

    def get(self, name: str, default: str = "") -> str:
        for key, value in self._items:
            if key == name:
                return value.strip()[:_MAX_VALUE]
        return default

    def getlist(self, name: str) -> list[str]:
        return [v.strip()[:_MAX_VALUE] for k, v in self._items if k == name]

    def values(self, *names: str) -> dict[str, str]:
        """The named fields, to write a refused form back into its inputs (no secrets)."""
        return {n: self.get(n) for n in names}


async def read_form(request: Request) -> Form:
    if request.method != "POST":
        return Form()
    data = await request.form(max_files=0, max_fields=64)
    return Form([(k, v) for k, v in data.multi_items() if isinstance(v, str)])


FormDep = Annotated[Form, Depends(read_form)]


# ------------------------------------------------------------------------------- cookies


def secure_cookies() -> bool:
    return os.environ.get("PUHUI_REQUIRE_TLS") == "1"


def set_cookie(response: Response, area: AreaConfig, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        secure=secure_cookies(),
        samesite="lax",
        path=area.cookie_path,
    )


def clear_cookies(response: Response, area: AreaConfig) -> None:
    for name in (area.session_cookie, area.csrf_cookie):
        response.delete_cookie(name, path=area.cookie_path)


def start_session(response: Response, area: AreaConfig, new: sessions.NewSession) -> None:
    """After a login: the session's token and its CSRF token, both HttpOnly."""
    set_cookie(response, area, area.session_cookie, new.token)
    set_cookie(response, area, area.csrf_cookie, new.csrf_token)


def safe_next(value: str | None, default: str) -> str:
    """A redirect target only inside this site (no scheme, no host, no backslash tricks)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return quote(value, safe="/?=&-_.~")
    return default


# ------------------------------------------------------------------------------ visitors


@dataclass(frozen=True)
class Visitor:
    """Whoever is looking at a page of ``area``: the form they posted, the CSRF token to write
    into the next forms, and their session if they are signed in."""

    area: AreaConfig
    form: Form
    csrf: str
    new_csrf: bool = False
    customer: CustomerAuth | None = None
    staff: StaffAuth | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)

    @property
    def signed_in_customer(self) -> CustomerAuth:
        if self.customer is None:  # only a page without ``CustomerDep`` gets here
            raise RuntimeError("this page needs a signed-in customer")
        return self.customer

    @property
    def signed_in_staff(self) -> StaffAuth:
        if self.staff is None:
            raise RuntimeError("this page needs a signed-in staff member")
        return self.staff

    @property
    def customer_id(self) -> int:
        return self.signed_in_customer.customer_id

    @property
    def actor(self) -> Actor:
        """Who acts, for the audit log: the signed-in customer or staff member."""
        who = self.customer or self.staff
        if who is None:
            raise RuntimeError("nobody is signed in")
        return who.actor

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Refuse (403) unless the signed-in staff member holds ``permission``, the check the
        API's ``require`` makes on the same ``StaffContext``."""
        if permission not in self.permissions:
            raise PermissionRefused(permission)


def _anonymous(request: Request, form: Form, area: AreaConfig) -> Visitor:
    cookie = request.cookies.get(area.csrf_cookie, "")
    if request.method == "POST":
        sent = form.get(CSRF_FIELD)
        if not (cookie and sent and secrets.compare_digest(cookie, sent)):
            raise CsrfRefused
    if cookie:
        return Visitor(area, form, cookie)
    return Visitor(area, form, secrets.token_urlsafe(32), new_csrf=True)


def _session(request: Request, form: Form, area: AreaConfig) -> sessions.Session | None:
    token = request.cookies.get(area.session_cookie)
    if not token:
        return None
    clock = get_clock(request)

    def work(conn: Connection) -> sessions.Session | None:
        try:
            found = sessions.authenticate(conn, token=token, kind=area.kind, clock=clock)
        except NotAuthenticated:
            return None  # commit the expiry the check may have recorded
        if request.method == "POST" and not sessions.csrf_ok(
            conn, session_id=found.id, csrf_token=form.get(CSRF_FIELD)
        ):
            raise CsrfRefused
        return found

    return run_in_transaction(get_engine(request), work)


def _customer(request: Request, form: Form, *, required: bool) -> Visitor:
    found = _session(request, form, CUSTOMER)
    if found is None:
        if required:
            raise LoginRequired(CUSTOMER, request)
        return _anonymous(request, form, CUSTOMER)
    who = CustomerAuth(found.id, found.principal_id, actor_for(request, found.principal))
    return Visitor(CUSTOMER, form, request.cookies.get(CUSTOMER.csrf_cookie, ""), customer=who)


def customer_visitor(request: Request, form: FormDep) -> Visitor:
    """A signed-in customer (else a redirect to the login page)."""
    return _customer(request, form, required=True)


def any_customer_visitor(request: Request, form: FormDep) -> Visitor:
    """A signed-in customer or an anonymous visitor of the customer area."""
    return _customer(request, form, required=False)


def anonymous_visitor(area: AreaConfig) -> Callable[..., Visitor]:
    def dependency(request: Request, form: FormDep) -> Visitor:
        return _anonymous(request, form, area)

    return dependency


def staff_visitor(request: Request, form: FormDep) -> Visitor:
    """A signed-in staff member with their permissions (else a redirect to the login page)."""
    found = _session(request, form, ADMIN)
    if found is None:
        raise LoginRequired(ADMIN, request)
    ctx = run_in_transaction(
        get_engine(request), lambda c: staff_service.context(c, staff_id=found.principal_id)
    )
    who = StaffAuth(found.id, ctx, actor_for(request, found.principal, ctx.roles))
    csrf = request.cookies.get(ADMIN.csrf_cookie, "")
    return Visitor(ADMIN, form, csrf, staff=who, permissions=frozenset(ctx.permissions))


CustomerDep = Annotated[Visitor, Depends(customer_visitor)]
MaybeCustomerDep = Annotated[Visitor, Depends(any_customer_visitor)]
StaffDep = Annotated[Visitor, Depends(staff_visitor)]
CustomerGuestDep = Annotated[Visitor, Depends(anonymous_visitor(CUSTOMER))]
StaffGuestDep = Annotated[Visitor, Depends(anonymous_visitor(ADMIN))]


def html_redirect(url: str, request: Request | None = None) -> Response:
    """A 303 after a post (so a refresh does not post again); htmx follows ``HX-Redirect``."""
    if request is not None and request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return Response(status_code=303, headers={"Location": url})
