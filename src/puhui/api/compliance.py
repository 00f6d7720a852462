"""Disclosure, compliance and AML over HTTP.

Public, no login (信息披露专栏, DIS-GEN-01): ``/api/v1/disclosure/...`` serves the published
snapshots and major events, the same rows the public page and the CLI files read. Staff, under
``/admin/api/v1/compliance/...``: preview and publish reports, record and publish major events,
run the compliance check and work its alerts (``compliance.read`` to look,
``compliance.manage`` to act); AML cases, large-value reports, the watch list and the regulator
feed (``compliance.read`` to look, ``aml.manage`` to act). Handlers parse, authorise, call the
compliance services in one transaction and answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from puhui.api.identity import Body, ClockDep, EngineDep, KeysDep, StaffAuth, require
from puhui.compliance import alerts, aml, checks, events, feed, publication, reports
from puhui.compliance.disclosure import missing_items
from puhui.compliance.publication import Publication
from puhui.db.engine import run_in_transaction

router = APIRouter(tags=["compliance"])

Reader = Annotated[StaffAuth, Depends(require("compliance.read"))]
Manager = Annotated[StaffAuth, Depends(require("compliance.manage"))]
AmlManager = Annotated[StaffAuth, Depends(require("aml.manage"))]
Id = Annotated[int, Path(ge=1, le=2**62)]
Period = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", examples=["2026-10"])]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
FileFormat = Literal["json", "csv", "xlsx", "pdf", "html"]
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
}


class PublicationOut(BaseModel):
    id: int
    period: str
    version: int
    as_of: str
    content_sha256: str
    deadline: date
    late: bool
    supersedes_id: int | None
    correction_reason: str
    published_at: datetime
    snapshot: dict[str, Any]


def _out(p: Publication) -> PublicationOut:
    return PublicationOut(
        id=p.id,
        period=p.period,
        version=p.version,
        as_of=p.as_of,
        content_sha256=p.content_sha256,
        deadline=p.deadline,
        late=p.late,
        supersedes_id=p.supersedes_id,
        correction_reason=p.correction_reason,
        published_at=p.published_at,
        snapshot=p.snapshot,
    )


def _meta(p: Publication) -> dict[str, Any]:
    out = _out(p).model_dump(mode="json")
    out.pop("snapshot")
    return out


# ------------------------------------------------------------------------------ public


class PeriodOut(BaseModel):
    period: str
    version: int


@router.get("/api/v1/disclosure/reports", response_model=list[PeriodOut])
def public_reports(engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return publication.published_periods(c)


@router.get("/api/v1/disclosure/reports/{period}", response_model=PublicationOut)
def public_report(
    period: Period, engine: EngineDep, version: Annotated[int | None, Query(ge=1)] = None
) -> PublicationOut:
    with engine.connect() as c:
        return _out(publication.latest(c, period=period, version=version))


@router.get("/api/v1/disclosure/reports/{period}/files/{fmt}")
def public_report_file(
    period: Period,
    fmt: FileFormat,
    engine: EngineDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The published report as a file; every format renders the same stored snapshot."""
    with engine.connect() as c:
        p = publication.latest(c, period=period, version=version)
    meta = _meta(p)
    if fmt == "html":
        from puhui.web.disclosure import standalone_html

        body = standalone_html(p.snapshot, meta).encode("utf-8")
    else:
        body = reports.render(fmt, p.snapshot, meta)
    name = f"disclosure-{p.period}-v{p.version}.{fmt}"
    return Response(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/api/v1/disclosure/events")
def public_events(engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [e.as_dict() for e in events.published_events(c)]


# ------------------------------------------------------------------------------ reports


@router.get("/admin/api/v1/compliance/reports/{period}/preview")
def preview_report(period: Period, staff: Reader, engine: EngineDep) -> dict[str, Any]:
    """What publishing now would freeze, with the item check (nothing is stored)."""
    with engine.connect() as c:
        snap = publication.build_snapshot(c, period=period)
    return {"snapshot": snap, "missing": missing_items(snap["items"])}


class PublishIn(Body):
    correction_reason: Annotated[str, Field(max_length=2000)] | None = None


@router.post(
    "/admin/api/v1/compliance/reports/{period}/publish",
    response_model=PublicationOut,
    status_code=201,
)
def publish_report(
    period: Period, body: PublishIn, staff: Manager, engine: EngineDep, clock: ClockDep
) -> PublicationOut:
    return _out(
        run_in_transaction(
            engine,
            lambda c: publication.publish(
                c,
                period=period,
                published_by=staff.actor.principal,
                clock=clock,
                correction_reason=body.correction_reason,
            ),
        )
    )


@router.get(
    "/admin/api/v1/compliance/reports/{period}/versions", response_model=list[PublicationOut]
)
def report_versions(period: Period, staff: Reader, engine: EngineDep) -> list[PublicationOut]:
    with engine.connect() as c:
        return [_out(p) for p in publication.versions(c, period=period)]


# ------------------------------------------------------------------------------ events


class EventIn(Body):
    kind: Literal[events.KINDS]  # type: ignore[valid-type]
    occurred_at: datetime
    title: Annotated[str, Field(min_length=1, max_length=200)]
    cause: Text
    current_status: Text
    impact: Text
    measures: Text
    publish_now: bool = False


@router.post("/admin/api/v1/compliance/events", status_code=201)
def record_event(body: EventIn, staff: Manager, engine: EngineDep, clock: ClockDep) -> dict:
    fields = body.model_dump(exclude={"kind", "occurred_at", "publish_now"})
    ev = run_in_transaction(
        engine,
        lambda c: events.record_event(
            c,
            kind=body.kind,
            occurred_at=body.occurred_at,
            recorded_by=staff.actor.principal,
            clock=clock,
            publish_now=body.publish_now,
            **fields,
        ),
    )
    return ev.as_dict()


class EventStatusIn(Body):
    current_status: Text
    measures: Annotated[str, Field(max_length=4000)] | None = None


@router.post("/admin/api/v1/compliance/events/{event_id}/status")
def update_event_status(
    event_id: Id, body: EventStatusIn, staff: Manager, engine: EngineDep
) -> dict[str, Any]:
    ev = run_in_transaction(
        engine,
        lambda c: events.update_status(
            c, event_id=event_id, current_status=body.current_status, measures=body.measures
        ),
    )
    return ev.as_dict()


@router.get("/admin/api/v1/compliance/events")
def list_events(staff: Reader, engine: EngineDep) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [e.as_dict() for e in events.all_events(c)]


@router.post("/admin/api/v1/compliance/events/{event_id}/publish")
def publish_event(event_id: Id, staff: Manager, engine: EngineDep, clock: ClockDep) -> dict:
    ev = run_in_transaction(
        engine, lambda c: events.publish_event(c, event_id=event_id, clock=clock)
    )
    return ev.as_dict()


# ------------------------------------------------------------------------------ checks, alerts


class CheckIn(Body):
    business_date: date | None = None


@router.post("/admin/api/v1/compliance/checks")
def run_checks(body: CheckIn, staff: Manager, engine: EngineDep, clock: ClockDep) -> dict[str, Any]:
    """Run every software-checkable rule now; breaches open (or refresh) alerts."""
    result = checks.run_checks(engine, clock=clock, business_date_=body.business_date)
    return result.as_dict()


def _alert(a: alerts.Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "rule_id": a.rule_id,
        "subject": a.subject,
        "detail": a.detail,
        "status": a.status,
        "opened_at": a.opened_at.isoformat(),
        "last_seen_at": a.last_seen_at.isoformat(),
        "resolved_by": a.resolved_by,
        "resolution": a.resolution,
    }


@router.get("/admin/api/v1/compliance/alerts")
def list_alerts(
    staff: Reader,
    engine: EngineDep,
    status: Literal["open", "acknowledged", "resolved", "all"] = "open",
    rule_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[dict[str, Any]]:
    with engine.connect() as c:
        found = alerts.list_alerts(c, status=None if status == "all" else status, rule_id=rule_id)
    return [_alert(a) for a in found]


class ResolveIn(Body):
    resolution: Text


class AcknowledgeIn(Body):
    note: Text


@router.post("/admin/api/v1/compliance/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    alert_id: Id, body: AcknowledgeIn, staff: Manager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    a = run_in_transaction(
        engine,
        lambda c: alerts.acknowledge_alert(
            c, alert_id=alert_id, by=staff.actor.principal, note=body.note, clock=clock
        ),
    )
    return _alert(a)


@router.post("/admin/api/v1/compliance/alerts/{alert_id}/resolve")
def resolve_alert(
    alert_id: Id, body: ResolveIn, staff: Manager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    a = run_in_transaction(
        engine,
        lambda c: alerts.resolve_alert(
            c,
            alert_id=alert_id,
            resolved_by=staff.actor.principal,
            resolution=body.resolution,
            clock=clock,
        ),
    )
    return _alert(a)


# ------------------------------------------------------------------------------ AML


@router.get("/admin/api/v1/compliance/aml/cases")
def list_cases(
    staff: Reader,
    engine: EngineDep,
    status: Annotated[str | None, Query(max_length=12)] = None,
) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [k.as_dict() for k in aml.list_cases(c, status=status)]


@router.get("/admin/api/v1/compliance/aml/cases/{case_id}")
def get_case(case_id: Id, staff: Reader, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as c:
        return aml.get_case(c, case_id=case_id).as_dict()


class ReviewIn(Body):
    reasoning: Text


@router.post("/admin/api/v1/compliance/aml/cases/{case_id}/review")
def review_case(
    case_id: Id, body: ReviewIn, staff: AmlManager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    k = run_in_transaction(
        engine,
        lambda c: aml.review_case(
            c, case_id=case_id, reasoning=body.reasoning, by=staff.actor.principal, clock=clock
        ),
    )
    return k.as_dict()


class DecideIn(Body):
    decision: Literal["confirm", "dismiss"]
    reason: Text


@router.post("/admin/api/v1/compliance/aml/cases/{case_id}/decide")
def decide_case(
    case_id: Id, body: DecideIn, staff: AmlManager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    k = run_in_transaction(
        engine,
        lambda c: aml.decide_case(
            c,
            case_id=case_id,
            decision=body.decision,
            reason=body.reason,
            by=staff.actor.principal,
            clock=clock,
        ),
    )
    return k.as_dict()


@router.post("/admin/api/v1/compliance/aml/cases/{case_id}/file")
def file_case(case_id: Id, staff: AmlManager, engine: EngineDep, clock: ClockDep) -> dict:
    k = run_in_transaction(
        engine, lambda c: aml.file_case(c, case_id=case_id, by=staff.actor.principal, clock=clock)
    )
    return k.as_dict()


@router.get("/admin/api/v1/compliance/aml/large-value-reports")
def list_large_value(
    staff: Reader,
    engine: EngineDep,
    status: Literal["pending", "filed", "all"] = "pending",
) -> list[dict[str, Any]]:
    with engine.connect() as c:
        found = aml.list_large_value(c, status=None if status == "all" else status)
    return [r.as_dict() for r in found]


@router.post("/admin/api/v1/compliance/aml/large-value-reports/{report_id}/file")
def file_large_value(
    report_id: Id, staff: AmlManager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    r = run_in_transaction(
        engine,
        lambda c: aml.file_large_value(
            c, report_id=report_id, by=staff.actor.principal, clock=clock
        ),
    )
    return r.as_dict()


class WatchIn(Body):
    list_name: Annotated[str, Field(min_length=1, max_length=64)]
    id_number: Annotated[str, Field(min_length=15, max_length=18)]
    note: Annotated[str, Field(max_length=200)] = ""


@router.post("/admin/api/v1/compliance/aml/watch-list", status_code=201)
def add_watch(
    body: WatchIn, keys: KeysDep, staff: AmlManager, engine: EngineDep, clock: ClockDep
) -> dict[str, Any]:
    """Add an ID number to a list; a customer who matches is blocked and frozen at once."""
    return run_in_transaction(
        engine,
        lambda c: aml.add_to_watch_list(
            c,
            list_name=body.list_name,
            id_number=body.id_number,
            note=body.note,
            keys=keys,
            by=staff.actor.principal,
            clock=clock,
        ),
    )


@router.get("/admin/api/v1/compliance/aml/export")
def export_aml(
    staff: AmlManager,
    engine: EngineDep,
    start: Annotated[date, Query()],
    end: Annotated[date, Query()],
) -> dict[str, Any]:
    """Large-value reports and filed suspicious cases of [start, end] in the documented format."""
    with engine.connect() as c:
        return aml.export(c, start=start, end=end)


@router.get("/admin/api/v1/compliance/regulator-feed")
def regulator_feed(
    staff: AmlManager,
    engine: EngineDep,
    keys: KeysDep,
    business_date: Annotated[date, Query()],
) -> dict[str, Any]:
    """The regulator feed as of a business date (docs/compliance.md gives its schema)."""
    with engine.connect() as c:
        return feed.build_feed(c, as_of=business_date, keys=keys)
