"""Operations in the back office (运营后台): the CRM dashboard, leads, events and the marketing
calendar, channels and coupons, and performance with rankings, charts and exports.

Every page asks for ``ops.read`` (the coupon rules and the marketing books also for
``operations.manage``) and reads through the same domain functions as ``/admin/api/v1/ops``,
so the team hierarchy narrows a page exactly as it narrows the API: an advisor sees their own
leads and figures, a team manager the team's, a sales director the center's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.core.clock import business_date
from puhui.core.errors import ValidationError
from puhui.ops import campaigns, channels, coupons, events, exports, leads, marketing, performance
from puhui.ops.scope import viewer
from puhui.web import nav
from puhui.web.charts import Series, bars
from puhui.web.common import ClockDep, EngineDep, KeysDep
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import StaffDep, Visitor

router = APIRouter(prefix="/admin/ops", include_in_schema=False)
for _item in (
    NavItem("ops", N_("Operations"), "/admin/ops", 70, "ops.read"),
    NavItem("ops-leads", N_("Leads"), "/admin/ops/leads", 71, "ops.read"),
    NavItem("ops-events", N_("Events"), "/admin/ops/events", 72, "ops.read"),
    NavItem("ops-campaigns", N_("Campaigns"), "/admin/ops/campaigns", 73, "ops.read"),
    NavItem("ops-performance", N_("Performance"), "/admin/ops/performance", 74, "ops.read"),
):
    nav.register("admin", _item)


def _read(engine: Engine, v: Visitor, work: Callable[[Connection, Any], Any]) -> Any:
    with engine.connect() as c:
        return work(c, viewer(c, staff_id=v.signed_in_staff.ctx.id))


def _month(request: Request, clock: Any) -> str:
    month = request.query_params.get("month") or business_date(clock.now()).strftime("%Y-%m")
    try:
        performance.month_bounds(month)
    except ValidationError:
        month = business_date(clock.now()).strftime("%Y-%m")
    return month


def _ranking_chart(rows: list[performance.Row], title: str) -> Any:
    return bars(
        [str(r.subject_id) for r in rows],
        [Series(title, [r.annualised_fen / 100 for r in rows])],
        title=title,
    )


@router.get("")
def dashboard(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """The day's work: the pipeline, the reminders due, and this month's ranking."""
    v.require("ops.read")
    month = _month(request, clock)
    today = business_date(clock.now())

    def work(c: Connection, who: Any) -> dict[str, Any]:
        return {
            "funnel": leads.funnel(c, viewer=who),
            "due": leads.reminders(c, viewer=who, today=today),
            "rows": performance.monthly(c, month=month, group="advisor", viewer=who),
        }

    data = _read(engine, v, work)
    funnel = data["funnel"]
    chart = bars(
        list(funnel), [Series("leads", [float(n) for n in funnel.values()])], title="funnel"
    )
    return page(
        request,
        v,
        "admin/ops_dashboard.html",
        active="ops",
        month=month,
        funnel_chart=chart,
        ranking_chart=_ranking_chart(data["rows"], "annualised"),
        **data,
    )


@router.get("/leads")
def lead_list(request: Request, v: StaffDep, engine: EngineDep, keys: KeysDep) -> Response:
    v.require("ops.read")
    stage = request.query_params.get("stage") or None
    stage = stage if stage in (*leads.STAGES, "lost") else None
    rows = _read(
        engine, v, lambda c, who: leads.list_leads(c, keys=keys, viewer=who, stage=stage, limit=100)
    )
    return page(
        request,
        v,
        "admin/ops_leads.html",
        active="ops-leads",
        rows=rows,
        stage=stage,
        stages=(*leads.STAGES, "lost"),
    )


@router.get("/events")
def event_list(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    v.require("ops.read")
    month = _month(request, clock)
    first, last = performance.month_bounds(month)

    def work(c: Connection, who: Any) -> dict[str, Any]:
        return {
            "rows": events.list_events(c),
            "calendar": campaigns.calendar(c, start=first, end=last),
        }

    return page(
        request,
        v,
        "admin/ops_events.html",
        active="ops-events",
        month=month,
        **_read(engine, v, work),
    )


@router.get("/campaigns")
def campaign_list(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("ops.read")
    manager = "operations.manage" in v.permissions

    def work(c: Connection, who: Any) -> dict[str, Any]:
        return {
            "rows": channels.list_channels(c, limit=100),
            "rules": coupons.list_rules(c) if manager else [],
            "books": marketing.check_books(c) if manager else None,
        }

    return page(
        request,
        v,
        "admin/ops_campaigns.html",
        active="ops-campaigns",
        manager=manager,
        **_read(engine, v, work),
    )


@router.get("/performance")
def performance_page(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """绩效考核: per person or team, with targets, conversion by channel and exports."""
    v.require("ops.read")
    month = _month(request, clock)
    group = request.query_params.get("group", "advisor")
    group = group if group in performance.GROUPS else "advisor"
    plan = request.query_params.get("plan") or None

    def work(c: Connection, who: Any) -> dict[str, Any]:
        plans = performance.list_plans(c)
        chosen = plan if plan in {p.code for p in plans} else None
        return {
            "rows": performance.monthly(c, month=month, group=group, viewer=who, plan_code=chosen),
            "targets": performance.attainment(c, month=month, group=group, viewer=who),
            "conversion": performance.conversion(c, month=month, viewer=who),
            "plans": plans,
            "plan": chosen,
        }

    data = _read(engine, v, work)
    return page(
        request,
        v,
        "admin/ops_performance.html",
        active="ops-performance",
        month=month,
        group=group,
        chart=_ranking_chart(data["rows"], "annualised"),
        **data,
    )


@router.get("/performance/export")
def performance_export(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    v.require("ops.read")
    month = _month(request, clock)
    group = request.query_params.get("group", "advisor")
    group = group if group in performance.GROUPS else "advisor"
    kind = "xlsx" if request.query_params.get("format") == "xlsx" else "csv"
    rows = _read(
        engine, v, lambda c, who: performance.monthly(c, month=month, group=group, viewer=who)
    )
    body, media = exports.performance(rows, kind=kind)
    name = f"performance-{group}-{month}.{kind}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
