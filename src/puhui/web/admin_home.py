"""Back-office sign-in (username, password and TOTP: there is no password-only login) and the
dashboard, whose tiles each need the permission of the data they show.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from puhui.api.identity import actor_for, client_ip
from puhui.core.clock import business_date
from puhui.credit.monitoring import monitor
from puhui.custody import breaks
from puhui.identity import auth, customers
from puhui.lending import views
from puhui.web import nav
from puhui.web.charts import Series, bars
from puhui.web.common import (
    ClockDep,
    EngineDep,
    KeysDep,
    ModelDep,
    attempt,
    missing,
    rate_limit,
    sign_out,
    signed_in,
)
from puhui.web.i18n import N_, locale_of, using
from puhui.web.i18n import gettext as _
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import (
    ADMIN,
    StaffDep,
    StaffGuestDep,
    safe_next,
)

router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register("admin", NavItem("dashboard", N_("Dashboard"), "/admin/", 10))


@router.get("/login")
def login_form(request: Request, v: StaffGuestDep) -> Response:
    next_path = safe_next(request.query_params.get("next"), "/admin/")
    return page(request, v, "admin/login.html", form={}, next=next_path)


@router.post("/login")
def login(
    request: Request, v: StaffGuestDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    f = v.form
    values = f.values("username")
    next_path = safe_next(f.get("next"), "/admin/")
    fields = {**values, "password": f.get("password"), "totp": f.get("totp")}
    error = missing(fields, "username", "password", "totp")
    error = error or rate_limit(request, "login_ip", client_ip(request))
    error = error or rate_limit(request, "login_account", f"staff:{values['username']}")
    if error is None:
        done = attempt(
            engine,
            lambda c: auth.login_staff(
                c,
                keys=keys,
                username=values["username"],
                password=f.get("password"),
                totp_code=f.get("totp"),
                actor=actor_for(request),
                user_agent=request.headers.get("user-agent"),
                clock=clock,
            ),
        )
        response = signed_in(done, ADMIN, next_path)
        if response is not None:
            return response
        error = done.error
    return page(
        request, v, "admin/login.html", status=400, form=values, error=error, next=next_path
    )


@router.post("/logout")
def logout(v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    return sign_out(engine, clock, v)


@router.get("/")
def dashboard(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep, model: ModelDep
) -> Response:
    today = business_date(clock.now())
    ctx = v.signed_in_staff.ctx

    def work(c: Connection) -> dict[str, Any]:
        """Only the figures the signed-in role may see."""
        out: dict[str, Any] = {}
        if v.may("customers.read"):
            out["kyc"] = customers.count_by_kyc_status(c, where=ctx.customer_filter())
            out["credit"] = monitor(c, model=model(), since=today - timedelta(days=30), until=today)
        if v.may("finance.read") or v.may("finance.reconcile"):
            out["open_breaks"] = breaks.open_breaks(c, as_of=today)
        if v.may("loans.read"):
            out["loan_book"] = views.book_by_bucket(c)
        return out

    with engine.connect() as c:
        data = work(c)
    charts = _charts(data, request)
    return page(request, v, "admin/dashboard.html", active="dashboard", charts=charts, **data)


def _charts(data: dict[str, Any], request: Request) -> list[Any]:
    """The dashboard's charts, labelled in the visitor's language."""
    out = []
    with using(locale_of(request)):
        if "kyc" in data:
            statuses = ["unverified", "verified", "failed"]
            counts = [data["kyc"].get(s, 0) for s in statuses]
            out.append(
                bars(
                    [_(s.capitalize()) for s in statuses],
                    [Series(_("Customers"), counts)],
                    title=_("Customers by verification status"),
                )
            )
        if "credit" in data:
            m = data["credit"]
            out.append(
                bars(
                    [_("Approve"), _("Review"), _("Reject")],
                    [Series(_("Decisions, last 30 days"), [m.approved, m.review, m.rejected])],
                    title=_("Credit decisions by outcome"),
                )
            )
        if "loan_book" in data:
            book = data["loan_book"]
            out.append(
                bars(
                    [b.bucket for b in book],
                    [
                        Series(
                            _("Outstanding principal (yuan)"),
                            [b.principal_outstanding_fen / 100 for b in book],
                        )
                    ],
                    title=_("Loan book: outstanding principal by overdue bucket"),
                )
            )
    return out
