"""Server-rendered pages (Jinja2 + htmx): the customer H5 under ``/m/`` and the back office
under ``/admin/``, in Simplified Chinese by default and English on request.

``install(app)`` mounts them on the API's app: the page routers, the vendored static files
under ``/assets/`` (htmx is served from here: a page loads nothing from another host), the
language switch, a content-security policy for HTML that allows this site's own scripts and
styles only, and HTML error pages for the page paths (the API keeps its JSON errors).

Pages call the domain services directly — identity, custody, credit — with the collaborators
the API keeps on ``app.state``; the domains never import this package. See docs/web.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from puhui.api.errors import as_puhui_error
from puhui.core.errors import PuhuiError
from puhui.web import i18n
from puhui.web.i18n import N_
from puhui.web.render import page
from puhui.web.security import (
    ADMIN,
    CUSTOMER,
    AreaConfig,
    CsrfRefused,
    Form,
    LoginRequired,
    PermissionRefused,
    Visitor,
    html_redirect,
    safe_next,
)

STATIC = Path(__file__).parent / "static"
PAGE_PREFIXES = ("/m/", "/admin/")
#: pages may load this site's scripts, styles and images, post forms to it, and nothing else
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the training report is one self-contained page with its own <style> and inline PNG
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
REPORT_PATH = "/admin/credit/report"


def is_page(path: str) -> bool:
    return path.startswith(PAGE_PREFIXES) and not path.startswith("/admin/api/")


class PageSecurityHeaders:
    """Replace the API's no-content policy on HTML pages with one that lets them load their own
    assets; every other response keeps the API's headers untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    csp = REPORT_CSP if path == REPORT_PATH else WEB_CSP
                    headers["Content-Security-Policy"] = csp
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install(app: FastAPI) -> None:
    from puhui.web import (
        admin_audit,
        admin_credit,
        admin_customers,
        admin_finance,
        admin_home,
        admin_partners,
        admin_staff,
        compliance_admin,
        credit_line_admin,
        credit_line_customer,
        customer_auth,
        customer_credit,
        customer_money,
        customer_pages,
        disclosure,
        lending_admin,
        lending_customer,
        marketplace_admin,
        marketplace_customer,
        ops_admin,
    )

    for module in (
        customer_auth,
        customer_pages,
        customer_money,
        customer_credit,
        lending_customer,
        credit_line_customer,
        admin_home,
        admin_customers,
        admin_finance,
        admin_credit,
        admin_audit,
        lending_admin,
        credit_line_admin,
        marketplace_customer,
        marketplace_admin,
        disclosure,
        compliance_admin,
        ops_admin,
        admin_staff,
        admin_partners,
    ):
        app.include_router(module.router)
    app.mount("/assets", StaticFiles(directory=STATIC), name="web-assets")
    app.add_api_route("/", _root, include_in_schema=False)
    app.add_api_route("/m", _root, include_in_schema=False)
    app.add_api_route("/admin", _admin_root, include_in_schema=False)
    app.add_api_route("/lang/{code}", _switch_language, include_in_schema=False)
    app.add_middleware(PageSecurityHeaders)
    _install_error_pages(app)


def _root() -> Response:
    return RedirectResponse("/m/", status_code=307)


def _admin_root() -> Response:
    return RedirectResponse("/admin/", status_code=307)


def _switch_language(code: str, request: Request) -> Response:
    """Remember the chosen language (a preference, not a state change: a plain link)."""
    target = safe_next(request.query_params.get("next"), "/m/")
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", httponly=True, path="/"
        )
    return response


# ---------------------------------------------------------------------------- error pages


def _area(path: str) -> AreaConfig:
    return ADMIN if path.startswith("/admin/") else CUSTOMER


def _error_page(request: Request, status: int, title: str, detail: str = "") -> HTMLResponse:
    visitor = Visitor(_area(request.url.path), Form(), "")
    return page(request, visitor, "error.html", status=status, title=title, detail=detail)


async def _login_required(request: Request, exc: Exception) -> Response:
    area = exc.area if isinstance(exc, LoginRequired) else _area(request.url.path)
    target = safe_next(getattr(exc, "next", None), area.prefix + "/")
    return html_redirect(f"{area.login_path}?next={target}", request)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return _error_page(
        request, 403, N_("The form has expired"), N_("Reload the page and try again.")
    )


async def _permission_refused(request: Request, exc: Exception) -> Response:
    return _error_page(request, 403, N_("Not allowed"), N_("Your role does not include this page."))


def _install_error_pages(app: FastAPI) -> None:
    """HTML for the page paths; the API's JSON error shape everywhere else."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PermissionRefused, _permission_refused)
    for exc_class in (PuhuiError, RequestValidationError, HTTPException):
        api_handler = app.exception_handlers[exc_class]

        async def handler(request: Request, exc: Exception, api_handler=api_handler) -> Response:
            if not is_page(request.url.path):
                return await api_handler(request, exc)
            err = as_puhui_error(exc, request.scope)
            status = err.status if err is not None else 500
            titles = {404: N_("Not found"), 403: N_("Not allowed"), 401: N_("Sign in first")}
            return _error_page(request, status, titles.get(status, N_("Something went wrong")))

        app.add_exception_handler(exc_class, handler)
