"""Compliance in the back office: alerts and the compliance check, the monthly disclosure report
(preview with its trend chart, publication, corrections, versions, deadline), major events, and
anti-money-laundering work (large-value reports, suspicious cases, the watch list).

Each page asks for the permission of its ``/admin/api/v1/compliance`` twin — ``compliance.read``
to look, ``compliance.manage`` to publish, record and work alerts, ``aml.manage`` to work AML —
and shows a form only to a role that may use it. A form carries the state it was drawn from (the
report's latest version, a fingerprint of the case or alert): a post that finds the state moved
on — a second click, a refresh, a colleague's earlier decision — changes nothing and shows the
page as it stands, so a double submit publishes, files or appends once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine, func, select
from starlette.responses import Response

from puhui.compliance import alerts as alerts_service
from puhui.compliance import aml, checks, events, publication
from puhui.compliance.calendar import disclosure_deadline, parse_period
from puhui.compliance.disclosure import missing_items
from puhui.compliance.models import reports as reports_table
from puhui.compliance.models import watch_list
from puhui.core.clock import SHANGHAI, business_date
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.web import i18n, nav
from puhui.web.common import ClockDep, EngineDep, KeysDep, attempt, call, missing
from puhui.web.disclosure import meta_of, report_html
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import ENV, ERROR_TEXT, page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin/compliance", include_in_schema=False)
for _key, _label, _path, _order in (
    ("compliance-alerts", N_("Compliance alerts"), "/admin/compliance/alerts", 82),
    ("disclosure-reports", N_("Disclosure reports"), "/admin/compliance/reports", 83),
    ("major-events", N_("Major events"), "/admin/compliance/events", 84),
    ("aml", N_("Anti-money-laundering"), "/admin/compliance/aml", 85),
):
    nav.register("admin", NavItem(_key, _label, _path, _order, "compliance.read"))

ERROR_TEXT.update(
    {
        "resolution_required": N_("Say how the breach was dealt with."),
        "note_required": N_("Say who is dealing with it and how."),
        "alert_not_open": N_("The alert is no longer open; reload the page."),
        "period_invalid": N_("Enter a month as YYYY-MM."),
        "period_not_over": N_("The month has not ended yet: nothing to publish."),
        "items_missing": N_("Refused: the report lacks items (DIS-OPS-04)."),
        "already_published": N_("The month is published: a correction needs its reason."),
        "unchanged": N_("Refused: the latest version already has exactly this content."),
        "nothing_to_correct": N_("The month has no published version yet: publish it first."),
        "report_not_published": N_("The month has no published report."),
        "event_kind_invalid": N_("Choose one of the kinds shown."),
        "event_field_required": N_("Fill in this part of the notice."),
        "occurred_in_future": N_("The time it occurred cannot be in the future."),
        "occurred_at_invalid": N_("Enter a time as YYYY-MM-DD HH:MM."),
        "event_published": N_("The event is already published."),
        "case_decided": N_("The case is decided: reasoning can no longer be added."),
        "case_not_reviewed": N_("Record the reasoning before deciding."),
        "case_not_confirmed": N_("Only a confirmed case is filed."),
        "decision_invalid": N_("Choose confirm or dismiss."),
        "report_filed": N_("The report is already filed."),
        "id_number_malformed": N_("Enter an 18-character resident ID number."),
        "id_number_check_failed": N_("The ID number's check character is wrong."),
        # shown to a customer whose withdrawal or transfer a watch-list block refused
        "customer_blocked": N_(
            "Refused: the account is restricted pending an anti-money-laundering review; "
            "please contact customer service."
        ),
    }
)

#: words shown as ``_(value|capitalize)`` on these pages
STATE_WORDS = (
    N_("Acknowledged"),
    N_("Reviewing"),
    N_("Confirmed"),
    N_("Dismissed"),
    N_("Filed"),
    N_("In"),
    N_("Out"),
    N_("Person"),
    N_("Entity"),
    N_("Published"),
    N_("Unpublished"),
    N_("Pending"),
    N_("All"),
    N_("Capital_change"),
    N_("Litigation"),
    N_("Investigation"),
    N_("Officer_measures"),
    N_("Business_halt"),
    N_("Fraud"),
    N_("Other"),
)
ALERT_STATUSES = ("open", "acknowledged", "resolved", "all")
CASE_STATUSES = ("open", "reviewing", "confirmed", "dismissed", "filed")
REPORT_STATUSES = ("pending", "filed", "all")
EVENT_FIELDS = ("kind", "occurred_at", "title", "cause", "current_status", "impact", "measures")


def _when_dt(moment: datetime | None) -> str:
    """A domain datetime (UTC) in Beijing time, like the ``when`` filter does for µs."""
    return "–" if moment is None else moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


ENV.filters["when_dt"] = _when_dt


def _read(engine: Engine, work: Callable[[Connection], Any]) -> Any:
    with engine.connect() as c:
        return work(c)


def fingerprint(thing: Any) -> str:
    """A short digest of what a person decides on — an alert's or a report's status and notes,
    an event's status and texts, a whole case — as the form showed it: the form's proof that
    it acts on that state. A check refreshing an alert's last-seen time does not change it."""
    if isinstance(thing, alerts_service.Alert):
        thing = (thing.id, thing.status, thing.resolution)
    elif isinstance(thing, events.MajorEvent):
        thing = (thing.id, thing.published_at, thing.current_status, thing.measures)
    elif isinstance(thing, aml.LargeValueReport):
        thing = (thing.id, thing.status)
    return hashlib.sha256(repr(thing).encode()).hexdigest()[:16]


def _stale(v: Visitor, current: Any) -> bool:
    """The posted form was drawn from another state of the record than the current one (a
    second click, a refresh, a colleague first): the post then does nothing."""
    return v.form.get("seen") != fingerprint(current)


def _previous_month(clock: Any) -> str:
    today = business_date(clock.now())
    return publication.previous_periods(f"{today.year:04d}-{today.month:02d}", 2)[0]


# ------------------------------------------------------------------------------ alerts


def _alerts_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    v.require("compliance.read")
    q = request.query_params
    status = q.get("status") if q.get("status") in ALERT_STATUSES else "open"
    if "error_alert" in extra:  # a refused form: show its alert whatever its status
        status = "all"
    rule_id = (q.get("rule_id") or "").strip()[:32] or None
    rows = _read(
        engine,
        lambda c: alerts_service.list_alerts(
            c, status=None if status == "all" else status, rule_id=rule_id
        ),
    )
    return page(
        request,
        v,
        "admin/compliance_alerts.html",
        status=extra.pop("status", 200),
        active="compliance-alerts",
        rows=rows,
        seen={a.id: fingerprint(a) for a in rows},
        filter_status=status,
        rule_id=rule_id or "",
        statuses=ALERT_STATUSES,
        **extra,
    )


@router.get("/alerts")
def alerts_list(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Alerts by status and rule id, newest first."""
    return _alerts_page(request, v, engine)


@router.post("/alerts/{alert_id}/{action}")
def alert_action(
    alert_id: int, action: str, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """``acknowledge`` (a note) or ``resolve`` (how it was dealt with)."""
    if action not in ("acknowledge", "resolve"):
        raise NotFound("page_not_found", "no such action")
    v.require("compliance.manage")
    by = v.actor.principal
    field = "note" if action == "acknowledge" else "resolution"
    text = v.form.get(field).strip()

    def work(c: Connection) -> Any:
        current = alerts_service.get_alert(c, alert_id=alert_id)
        if _stale(v, current):
            return None  # an earlier submit (or a colleague) got there first
        if action == "acknowledge":
            return alerts_service.acknowledge_alert(
                c, alert_id=alert_id, by=by, note=text, clock=clock
            )
        return alerts_service.resolve_alert(
            c, alert_id=alert_id, resolved_by=by, resolution=text, clock=clock
        )

    error = missing({field: text}, field) or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/compliance/alerts?status=all#alert-{alert_id}", request)
    error = on_field(error, {field: field}, default=field)
    return _alerts_page(
        request, v, engine, status=error.status, error=error, error_alert=alert_id, form_text=text
    )


@router.post("/checks")
def run_checks(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Every software-checkable rule now; breaches open (or refresh) alerts. Running it twice
    refreshes the same alerts, so a double submit opens nothing twice."""
    v.require("compliance.manage")
    raw = v.form.get("business_date").strip()
    day = None
    error: PuhuiError | None = None
    if raw:
        try:
            day = datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError:
            error = ValidationError("date_invalid", "YYYY-MM-DD", field="business_date")
    if error is None:
        done = call(lambda: checks.run_checks(engine, clock=clock, business_date_=day))
        if done.ok and done.value is not None:
            result = done.value
            return html_redirect(
                "/admin/compliance/alerts?checked="
                f"{result.business_date}&findings={len(result.findings)}"
                f"&new={result.new_alerts}",
                request,
            )
        error = on_field(done.error, {}, default="business_date")
    assert error is not None
    return _alerts_page(request, v, engine, status=error.status, error=error)


# ------------------------------------------------------------------------------ reports


def _latest_version(c: Connection, period: str) -> int:
    r = reports_table.c
    found = c.execute(select(func.max(r.version)).where(r.period == period)).scalar()
    return int(found or 0)


def _reports_page(
    request: Request, v: Visitor, engine: Engine, clock: Any, period: str, **extra: Any
) -> Response:
    v.require("compliance.read")
    problem: PuhuiError | None = None
    try:
        parse_period(period)
    except ValidationError as exc:
        problem, period = exc, _previous_month(clock)

    def work(c: Connection) -> dict[str, Any]:
        snap = publication.build_snapshot(c, period=period)
        history = publication.versions(c, period=period)
        return {
            "snap": snap,
            "missing": missing_items(snap["items"]),
            "history": history,
            "periods": publication.published_periods(c),
            "due": publication.due_unpublished(c, clock=clock),
            "latest_version": history[-1].version if history else 0,
        }

    data = _read(engine, work)
    latest = data["history"][-1] if data["history"] else None
    with i18n.using(i18n.locale_of(request)):
        preview = report_html(data["snap"], None)
        published = report_html(latest.snapshot, meta_of(latest)) if latest else None
    return page(
        request,
        v,
        "admin/compliance_reports.html",
        status=extra.pop("status", problem.status if problem else 200),
        active="disclosure-reports",
        period=period,
        deadline=disclosure_deadline(period),
        preview=preview,
        published=published,
        error=extra.pop("error", problem),
        **data,
        **extra,
    )


@router.get("/reports")
def reports_home(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """A month's report (``?month=``, last month by default): what publishing now would freeze,
    with the trend chart and the item check, next to the versions already published."""
    period = request.query_params.get("month") or _previous_month(clock)
    return _reports_page(request, v, engine, clock, period)


@router.post("/reports/{period}/publish")
def publish_report(
    period: str, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Publish the month (version 1), or a correction with its reason (a new version). The form
    names the version it was drawn after; if that is no longer the latest, this post is a
    repeat and publishes nothing."""
    v.require("compliance.manage")
    by = v.actor.principal
    values = v.form.values("correction_reason", "after_version")
    correcting = v.form.get("kind") == "correction"
    reason = values["correction_reason"].strip() if correcting else None

    def work(c: Connection) -> Any:
        if str(_latest_version(c, period)) != values["after_version"]:
            return None
        return publication.publish(
            c, period=period, published_by=by, clock=clock, correction_reason=reason
        )

    error = (missing(values, "correction_reason") if correcting else None) or attempt(
        engine, work
    ).error
    if error is None:
        return html_redirect(f"/admin/compliance/reports?month={period}", request)
    error = on_field(error, {"correction_reason": "correction_reason"}, default="publish")
    return _reports_page(
        request, v, engine, clock, period, status=error.status, error=error, form=values
    )


# ------------------------------------------------------------------------------ events


def _events_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    v.require("compliance.read")
    rows = _read(engine, lambda c: events.all_events(c))
    return page(
        request,
        v,
        "admin/compliance_events.html",
        status=extra.pop("status", 200),
        active="major-events",
        rows=rows,
        seen={e.id: fingerprint(e) for e in rows},
        kinds=events.KINDS,
        **extra,
    )


@router.get("/events")
def events_list(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    return _events_page(request, v, engine)


def _occurred(text: str) -> datetime:
    try:
        moment = datetime.strptime(text.strip().replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        raise ValidationError(
            "occurred_at_invalid", "YYYY-MM-DD HH:MM", field="occurred_at"
        ) from None
    return moment.replace(tzinfo=SHANGHAI)


@router.post("/events")
def record_event(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Record a major event (Shanghai time), published at once when asked. The same kind,
    title and time recorded again is the same event: a double submit records it once."""
    v.require("compliance.manage")
    by = v.actor.principal
    values = v.form.values(*EVENT_FIELDS)
    publish_now = v.form.get("publish_now") == "1"

    def work(c: Connection) -> Any:
        occurred_at = _occurred(values["occurred_at"])
        for e in events.all_events(c):
            if (e.kind, e.title, e.occurred_at) == (
                values["kind"],
                values["title"].strip(),
                occurred_at,
            ):
                return e
        texts = {k: values[k] for k in events.FIELDS}
        return events.record_event(
            c,
            kind=values["kind"],
            occurred_at=occurred_at,
            recorded_by=by,
            clock=clock,
            publish_now=publish_now,
            **texts,
        )

    error = missing(values, *EVENT_FIELDS) or attempt(engine, work).error
    if error is None:
        return html_redirect("/admin/compliance/events", request)
    error = on_field(error, {k: k for k in EVENT_FIELDS}, default="event")
    return _events_page(request, v, engine, status=error.status, error=error, form=values)


@router.post("/events/{event_id}/{action}")
def event_action(
    event_id: int, action: str, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """``publish`` the notice, or ``status``: where things stand now (and the measures)."""
    if action not in ("publish", "status"):
        raise NotFound("page_not_found", "no such action")
    v.require("compliance.manage")
    values = v.form.values("current_status", "measures")

    def work(c: Connection) -> Any:
        current = events.get_event(c, event_id=event_id)
        if _stale(v, current):
            return None
        if action == "publish":
            return events.publish_event(c, event_id=event_id, clock=clock)
        return events.update_status(
            c,
            event_id=event_id,
            current_status=values["current_status"],
            measures=values["measures"] or None,
        )

    error = (missing(values, "current_status") if action == "status" else None) or attempt(
        engine, work
    ).error
    if error is None:
        return html_redirect(f"/admin/compliance/events#event-{event_id}", request)
    error = on_field(error, {"current_status": "current_status"}, default="current_status")
    return _events_page(
        request, v, engine, status=error.status, error=error, error_event=event_id, form=values
    )


# ------------------------------------------------------------------------------ AML


def _watch_entries(c: Connection) -> list[Any]:
    w = watch_list.c
    return list(
        c.execute(
            select(w.id, w.list_name, w.note, w.added_by, w.added_us).order_by(w.id.desc())
        ).all()
    )


def _aml_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    v.require("compliance.read")
    q = request.query_params
    lv_status = q.get("reports") if q.get("reports") in REPORT_STATUSES else "pending"
    case_status = q.get("cases") if q.get("cases") in CASE_STATUSES else None

    def work(c: Connection) -> dict[str, Any]:
        reports = aml.list_large_value(c, status=None if lv_status == "all" else lv_status)
        return {
            "reports": reports,
            "cases": aml.list_cases(c, status=case_status),
            "watch": _watch_entries(c),
            "report_seen": {r.id: fingerprint(r) for r in reports},
        }

    return page(
        request,
        v,
        "admin/compliance_aml.html",
        status=extra.pop("status", 200),
        active="aml",
        lv_status=lv_status,
        case_status=case_status or "",
        report_statuses=REPORT_STATUSES,
        case_statuses=CASE_STATUSES,
        **_read(engine, work),
        **extra,
    )


@router.get("/aml")
def aml_home(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Large-value reports (pending first), suspicious cases and the watch list."""
    return _aml_page(request, v, engine)


@router.post("/aml/large-value/{report_id}/file")
def file_large_value(
    report_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    v.require("aml.manage")
    by = v.actor.principal

    def work(c: Connection) -> Any:
        if _stale(v, aml.get_large_value(c, report_id=report_id)):
            return None
        return aml.file_large_value(c, report_id=report_id, by=by, clock=clock)

    done = attempt(engine, work)
    if done.ok:
        return html_redirect("/admin/compliance/aml?reports=all", request)
    error = on_field(done.error, {}, default=f"report-{report_id}")
    return _aml_page(request, v, engine, status=error.status, error=error)


@router.post("/aml/watch-list")
def add_watch(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    """Add an ID number to a list; a customer who matches is blocked and frozen at once. The
    same entry twice is one entry, so a double submit adds and blocks once."""
    v.require("aml.manage")
    by = v.actor.principal
    values = v.form.values("list_name", "id_number", "note")
    done = None
    error = missing(values, "list_name", "id_number")
    if error is None:
        done = attempt(
            engine,
            lambda c: aml.add_to_watch_list(
                c,
                list_name=values["list_name"],
                id_number=values["id_number"].strip().upper(),
                note=values["note"],
                keys=keys,
                by=by,
                clock=clock,
            ),
        )
        error = done.error
    if done is not None and done.ok and done.value is not None:
        blocked = len(done.value["blocked"])
        return html_redirect(f"/admin/compliance/aml?blocked={blocked}#watch-list", request)
    error = on_field(
        error, {"list_name": "list_name", "id_number": "id_number"}, default="id_number"
    )
    assert error is not None
    return _aml_page(
        request,
        v,
        engine,
        status=error.status,
        error=error,
        form={"list_name": values["list_name"], "note": values["note"]},  # never echo the ID
    )


def _case_page(
    request: Request, v: Visitor, engine: Engine, case_id: int, **extra: Any
) -> Response:
    v.require("compliance.read")
    case = _read(engine, lambda c: aml.get_case(c, case_id=case_id))
    return page(
        request,
        v,
        "admin/compliance_case.html",
        status=extra.pop("status", 200),
        active="aml",
        case=case,
        seen=fingerprint(case),
        **extra,
    )


@router.get("/aml/cases/{case_id}")
def case_detail(case_id: int, request: Request, v: StaffDep, engine: EngineDep) -> Response:
    return _case_page(request, v, engine, case_id)


@router.post("/aml/cases/{case_id}/{action}")
def case_action(
    case_id: int, action: str, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """``review`` (reasoning, appended), ``decide`` (confirm or dismiss, with the reason) or
    ``file`` a confirmed case."""
    if action not in ("review", "decide", "file"):
        raise NotFound("page_not_found", "no such action")
    v.require("aml.manage")
    by = v.actor.principal
    values = v.form.values("reasoning", "decision", "reason")
    required = {"review": ("reasoning",), "decide": ("decision", "reason"), "file": ()}[action]

    def work(c: Connection) -> Any:
        if _stale(v, aml.get_case(c, case_id=case_id)):
            return None
        if action == "review":
            return aml.review_case(
                c, case_id=case_id, reasoning=values["reasoning"], by=by, clock=clock
            )
        if action == "decide":
            return aml.decide_case(
                c,
                case_id=case_id,
                decision=values["decision"],
                reason=values["reason"],
                by=by,
                clock=clock,
            )
        return aml.file_case(c, case_id=case_id, by=by, clock=clock)

    error = missing(values, *required) or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/compliance/aml/cases/{case_id}", request)
    default = {"review": "reasoning", "decide": "reason", "file": "file"}[action]
    error = on_field(error, {k: k for k in required}, default=default)
    return _case_page(request, v, engine, case_id, status=error.status, error=error, form=values)
