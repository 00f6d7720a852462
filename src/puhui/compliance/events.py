"""Major events (重大事项, regulation §3.5, DIS-EVT-01).

When something on the list happens — a major lawsuit, an investigation, business coming to a
halt, fraud that harms lenders — the platform tells the public within 48 hours of its
occurrence: the cause, the current status, the possible impact and the measures taken. The
record is created at once with its deadline; publishing it stamps the time; ``compliance check``
alerts on any past its deadline and still unpublished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from puhui.compliance.models import events
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError

DEADLINE = timedelta(hours=48)  # regulation §9 disclosure.major_event_hours
KINDS = (
    "capital_change",  # 减资、合并、分立、解散或申请破产
    "litigation",  # 重大诉讼、仲裁
    "investigation",  # 被有权机关调查、刑事处罚、重大行政处罚
    "officer_measures",  # the same for officers, incl. 被采取强制措施
    "business_halt",  # 主要或者全部业务陷入停顿
    "fraud",  # 欺诈、损害出借人利益
    "other",
)
FIELDS = ("title", "cause", "current_status", "impact", "measures")


@dataclass(frozen=True)
class MajorEvent:
    id: int
    kind: str
    title: str
    cause: str
    current_status: str
    impact: str
    measures: str
    occurred_at: datetime
    due_at: datetime
    published_at: datetime | None
    recorded_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "cause": self.cause,
            "current_status": self.current_status,
            "impact": self.impact,
            "measures": self.measures,
            "occurred_at": self.occurred_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "published_at": self.published_at.isoformat() if self.published_at else None,
        }


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _event(row: Any) -> MajorEvent:
    return MajorEvent(
        id=row.id,
        kind=row.kind,
        title=row.title,
        cause=row.cause,
        current_status=row.current_status,
        impact=row.impact,
        measures=row.measures,
        occurred_at=_dt(row.occurred_us),  # type: ignore[arg-type]
        due_at=_dt(row.due_us),  # type: ignore[arg-type]
        published_at=_dt(row.published_us),
        recorded_by=row.recorded_by,
    )


def record_event(
    conn: Connection,
    *,
    kind: str,
    occurred_at: datetime,
    recorded_by: str,
    clock: Clock,
    publish_now: bool = False,
    **texts: str,
) -> MajorEvent:
    """Record an event; every text field (title, cause, current_status, impact, measures) is
    required, as the public notice must state each."""
    if kind not in KINDS:
        raise ValidationError(
            "event_kind_invalid", f"kind is one of {', '.join(KINDS)}", field="kind"
        )
    unknown = set(texts) - set(FIELDS)
    if unknown:
        raise ValidationError(
            "event_field_unknown", f"unknown field {sorted(unknown)[0]}", field=sorted(unknown)[0]
        )
    for name in FIELDS:
        if not (texts.get(name) or "").strip():
            raise ValidationError("event_field_required", f"{name} is required", field=name)
    if occurred_at.tzinfo is None:
        raise ValidationError(
            "occurred_at_naive", "occurred_at needs a time zone", field="occurred_at"
        )
    now = clock.now()
    if occurred_at > now:
        raise ValidationError(
            "occurred_in_future", "occurred_at is in the future", field="occurred_at"
        )
    new_id = conn.execute(
        events.insert().values(
            kind=kind,
            **{name: texts[name].strip() for name in FIELDS},
            occurred_us=_us(occurred_at),
            due_us=_us(occurred_at + DEADLINE),
            published_us=_us(now) if publish_now else None,
            recorded_by=recorded_by,
            created_us=_us(now),
        )
    ).inserted_primary_key[0]
    return get_event(conn, event_id=int(new_id))


def get_event(conn: Connection, *, event_id: int) -> MajorEvent:
    row = conn.execute(select(events).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise NotFound("event_not_found", f"no major event {event_id}", field="id")
    return _event(row)


def publish_event(conn: Connection, *, event_id: int, clock: Clock) -> MajorEvent:
    current = get_event(conn, event_id=event_id)
    if current.published_at is not None:
        raise Conflict("event_published", f"event {event_id} is already published", field="id")
    conn.execute(
        events.update().where(events.c.id == event_id).values(published_us=_us(clock.now()))
    )
    return get_event(conn, event_id=event_id)


def update_status(
    conn: Connection, *, event_id: int, current_status: str, measures: str | None = None
) -> MajorEvent:
    """The situation moved on (目前状态): the notice states where things stand now, and the
    measures taken so far when they changed too; a published notice shows the new text."""
    text = (current_status or "").strip()
    if not text:
        raise ValidationError(
            "event_field_required", "current_status is required", field="current_status"
        )
    get_event(conn, event_id=event_id)
    values = {"current_status": text[:4000]}
    if measures is not None and measures.strip():
        values["measures"] = measures.strip()[:4000]
    conn.execute(events.update().where(events.c.id == event_id).values(**values))
    return get_event(conn, event_id=event_id)


def published_events(conn: Connection, *, limit: int = 100) -> list[MajorEvent]:
    e = events.c
    q = (
        select(events)
        .where(e.published_us.is_not(None))
        .order_by(e.occurred_us.desc())
        .limit(limit)
    )
    return [_event(r) for r in conn.execute(q)]


def all_events(conn: Connection, *, limit: int = 200) -> list[MajorEvent]:
    q = select(events).order_by(events.c.occurred_us.desc()).limit(limit)
    return [_event(r) for r in conn.execute(q)]


def overdue_events(conn: Connection, *, clock: Clock) -> list[MajorEvent]:
    """Unpublished events past their 48-hour deadline."""
    e = events.c
    q = select(events).where(e.published_us.is_(None), e.due_us < _us(clock.now())).order_by(e.id)
    return [_event(r) for r in conn.execute(q)]
