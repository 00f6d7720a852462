"""Credit pages for staff: the decisions list and one decision (with its human review), the
monitoring page (issue 6: score distribution against training, PSI, approval rate, bad rates
by grade and vintage) and the model's training report.

Reading needs ``customers.read`` and resolving a review ``kyc.review``, the permissions of the
``/admin/api/v1/credit`` endpoints. The figures come from ``credit.monitoring.monitor`` and the
training report from ``credit.report.render``, the same code the CLI and the API use.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from puhui.core.clock import business_date
from puhui.core.errors import ValidationError
from puhui.credit import review as reviews
from puhui.credit.artifact import default_artifact_path, read_artifact
from puhui.credit.decision import Outcome, get_decision, list_decisions
from puhui.credit.monitoring import monitor
from puhui.identity import audit
from puhui.web import nav
from puhui.web.charts import Series, bars
from puhui.web.common import ClockDep, EngineDep, ModelDep, attempt, missing
from puhui.web.i18n import N_, locale_of, using
from puhui.web.i18n import gettext as _
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin/credit", include_in_schema=False)
nav.register(
    "admin",
    NavItem(
        "decisions",
        N_("Credit decisions"),
        "/admin/credit/decisions",
        50,
        permission="customers.read",
    ),
)
nav.register(
    "admin",
    NavItem(
        "monitoring", N_("Credit monitoring"), "/admin/credit/monitoring", 55, "customers.read"
    ),
)
PAGE = 30


@router.get("/decisions")
def decisions(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("customers.read")
    q = request.query_params
    before = int(q["before"]) if q.get("before", "").isdigit() else None
    outcome = q.get("outcome", "")
    chosen = Outcome(outcome) if outcome in {o.value for o in Outcome} else None
    with engine.connect() as c:
        rows = list_decisions(c, outcome=chosen, before_id=before, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return page(
        request,
        v,
        "admin/decisions.html",
        active="decisions",
        rows=rows,
        outcome=outcome if chosen else "",
        outcomes=[o.value for o in Outcome],
        next_before=rows[-1].id if more and rows else None,
    )


def _decision_page(
    request: Request, v: Visitor, engine: Any, decision_id: int, **extra: Any
) -> Response:
    with engine.connect() as c:
        decision = get_decision(c, decision_id=decision_id)
        review = reviews.get_review(c, decision_id=decision_id)
    return page(
        request,
        v,
        "admin/decision.html",
        status=400 if extra.get("error") else 200,
        active="decisions",
        d=decision,
        review=review,
        **extra,
    )


@router.get("/decisions/{decision_id}")
def decision(decision_id: int, request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("customers.read")
    return _decision_page(request, v, engine, decision_id)


@router.post("/decisions/{decision_id}/review")
def resolve_review(
    decision_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Uphold or overturn a rejection under review; the resolution is audited."""
    v.require("kyc.review")
    actor = v.actor
    note, verdict = v.form.get("note"), v.form.get("verdict")
    error = missing({"note": note}, "note")
    if error is None and verdict not in ("uphold", "overturn"):
        error = ValidationError("verdict_invalid", "uphold or overturn", field="verdict")

    def work(c: Any) -> None:
        resolved = reviews.resolve_review(
            c,
            decision_id=decision_id,
            reviewer=actor.principal,
            overturn=verdict == "overturn",
            note=note,
            clock=clock,
        )
        audit.record(
            c,
            actor=actor,
            event="credit.review.resolve",
            object_type="credit_decision",
            object_id=decision_id,
            after={"status": resolved.status},
            clock=clock,
        )

    error = error or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/credit/decisions/{decision_id}", request)
    return _decision_page(request, v, engine, decision_id, error=error, form={"note": note})


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


@router.get("/monitoring")
def monitoring(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep, model: ModelDep
) -> Response:
    v.require("customers.read")
    today = business_date(clock.now())
    until = _day(request.query_params.get("until"), today)
    since = _day(request.query_params.get("since"), until - timedelta(days=30))
    with engine.connect() as c:
        m = monitor(c, model=model(), since=since, until=until)
    with using(locale_of(request)):
        bins = [_bin_label(m.edges, i) for i in range(len(m.reference_shares))]
        chart = bars(
            bins,
            [
                Series(_("Training"), list(m.reference_shares)),
                Series(_("Live"), list(m.live_shares) or [0.0] * len(bins)),
            ],
            title=_("Score distribution: training and live"),
            width=720,
            percent=True,
        )
        grades = bars(
            [r.key for r in m.by_grade],
            [Series(_("Bad rate"), [r.bad_rate or 0.0 for r in m.by_grade])],
            title=_("Bad rate by grade"),
            percent=True,
        )
    return page(
        request,
        v,
        "admin/monitoring.html",
        active="monitoring",
        m=m,
        chart=chart,
        grades_chart=grades,
        since=since,
        until=until,
    )


def _bin_label(edges: tuple[float, ...], i: int) -> str:
    """The score range of bin ``i`` of the training reference (``len(edges) + 1`` bins)."""
    if not edges:
        return "–"
    if i == 0:
        return f"<{edges[0]:g}"
    if i >= len(edges):
        return f"≥{edges[-1]:g}"
    return f"{edges[i - 1]:g}–{edges[i]:g}"


@router.get("/report")
def training_report(v: StaffDep) -> Response:
    """The shipped model's training report, as ``puhui score report`` writes it."""
    v.require("customers.read")
    from puhui.credit import report  # matplotlib: imported only when a report is asked for

    html = report.render(read_artifact(default_artifact_path()))
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
