"""The marketplace in the back office: listings by status with their funding progress, publish
a draft, close (withdraw) a listing before it funds, run the expiry (流标) of listings whose
window closed unfilled, and the risk reserve (风险备付金) with its coverage ratio.

Each page asks for the permission of its ``/admin/api/v1/marketplace`` twin
(``marketplace.read`` to see, ``marketplace.manage`` to act) and calls the same domain
functions, which write the audit entry in the transaction that does the work; a role that may
only read sees no action buttons. A refusal (a draft whose disclosure is incomplete, a listing
already funded) is shown beside the form it concerns.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.marketplace import jobs, listings, rules, views
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, attempt
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import ERROR_TEXT, page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register("admin", NavItem("market", N_("Marketplace"), "/admin/market", 68, "marketplace.read"))

STATUSES = ("draft", "open", "funded", "failed", "closed")
ERROR_TEXT.update(
    {
        "listing_not_draft": N_("Only a draft can be published."),
        "listing_not_closable": N_("Only a draft or open listing can be closed."),
        "disclosure_incomplete": N_("Fill in every disclosure field (DIS-PRJ-01) first."),
    }
)
#: Words of the listing states shown as ``_(value|capitalize)``.
STATE_WORDS = (N_("Draft"), N_("Open"), N_("Funded"), N_("Failed"), N_("Closed"))


def _market_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    v.require("marketplace.read")
    q = request.query_params
    status = q.get("status", "open")
    status = status if status in STATUSES else ""
    grade = q.get("grade", "")
    grade = grade if grade in rules.GRADES else ""
    with engine.connect() as c:
        rows, more = listings.list_listings(
            c, status=status or None, risk_grade=grade or None, limit=100
        )
        reserve = views.reserve(c)
    error: PuhuiError | None = extra.get("error")
    return page(
        request,
        v,
        "admin/market.html",
        status=422 if error and error.status == 404 else (error.status if error else 200),
        active="market",
        rows=rows,
        more=more,
        status_filter=status,
        grade=grade,
        statuses=STATUSES,
        grades=rules.GRADES,
        reserve=reserve,
        row_fields=("expire", *(f"listing-{x.id}" for x in rows)),
        done=q.get("done"),
        expired={
            k: int(q.get(k, "0")) for k in ("listings", "bids", "fen") if q.get(k, "").isdigit()
        }
        if q.get("expired")
        else None,
        may_manage=v.may("marketplace.manage"),
        **extra,
    )


@router.get("/market")
def market(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Listings of one status (open by default) and how far each has funded."""
    return _market_page(request, v, engine)


@router.post("/market/expire")
def expire(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """流标: fail every open listing whose window closed unfilled; its bids are released. A
    second run finds nothing more to do."""
    v.require("marketplace.manage")
    actor = v.actor
    done = attempt(engine, lambda c: jobs.expire_listings(c, actor=actor, clock=clock))
    if done.ok and done.value is not None:
        x = done.value
        query = f"listings={x.listings}&bids={x.bids_voided}&fen={x.fen_released}"
        return html_redirect(f"/admin/market?status=failed&expired=1&{query}", request)
    return _market_page(request, v, engine, error=on_field(done.error, {}, default="expire"))


@router.post("/market/{listing_id:int}/{action}")
def listing_action(
    listing_id: int,
    action: str,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
) -> Response:
    """``publish`` a draft, or ``close`` a draft or open listing with a reason (its frozen bids
    are voided); a second post is refused by the listing's state and shown beside the row."""
    v.require("marketplace.manage")
    if action not in ("publish", "close"):
        raise NotFound("page_not_found", "no such action")
    actor = v.actor
    reason = v.form.get("reason")
    field = f"listing-{listing_id}"
    if action == "close" and not 5 <= len(reason) <= 200:
        error = ValidationError("reason_required", "state the reason", field=field)
        return _market_page(request, v, engine, error=error)

    def work(c: Connection) -> None:
        if action == "publish":
            listings.publish(c, listing_id=listing_id, actor=actor, clock=clock)
        else:
            jobs.close_listing(c, listing_id=listing_id, reason=reason, actor=actor, clock=clock)

    done = attempt(engine, work)
    if done.ok:
        target = "open" if action == "publish" else "closed"
        return html_redirect(f"/admin/market?status={target}&done={action}-{listing_id}", request)
    return _market_page(request, v, engine, error=on_field(done.error, {}, default=field))
