"""Compliance alerts (合规预警): a rule breach waiting for compliance staff.

A check that finds a breach calls ``raise_alert``; running the check again the next day finds
the same open alert (rule id and subject) and only marks it seen, so a standing breach is one
alert, not one a day. Staff resolve an alert with a note; a breach found again after that opens
a new one. In between, a person may acknowledge an alert (确认收悉) with a note: it stays
active — the checks keep refreshing it — and the note heads its resolution record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from puhui.compliance.models import alerts
from puhui.core.clock import SHANGHAI, Clock
from puhui.core.errors import Conflict, NotFound, ValidationError

#: an alert still waiting for its resolution: the checks refresh it rather than open another
ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class Alert:
    id: int
    rule_id: str
    subject: str
    detail: str
    status: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_by: str | None
    resolution: str | None


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        rule_id=row.rule_id,
        subject=row.subject,
        detail=row.detail,
        status=row.status,
        opened_at=_dt(row.opened_us),
        last_seen_at=_dt(row.last_seen_us),
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )


def raise_alert(
    conn: Connection, *, rule_id: str, subject: str, detail: str, clock: Clock
) -> tuple[int, bool]:
    """(alert id, whether it is new): one open alert per rule and subject."""
    now = int(clock.now().timestamp() * 1_000_000)
    a = alerts.c
    found = conn.execute(
        select(a.id).where(a.rule_id == rule_id, a.subject == subject, a.status.in_(ACTIVE))
    ).scalar()
    if found is not None:
        conn.execute(
            alerts.update().where(a.id == found).values(last_seen_us=now, detail=detail[:4000])
        )
        return int(found), False
    new_id = conn.execute(
        alerts.insert().values(
            rule_id=rule_id,
            subject=subject[:128],
            detail=detail[:4000],
            status="open",
            opened_us=now,
            last_seen_us=now,
        )
    ).inserted_primary_key[0]
    return int(new_id), True


def list_alerts(
    conn: Connection, *, status: str | None = "open", rule_id: str | None = None, limit: int = 200
) -> list[Alert]:
    a = alerts.c
    q = select(alerts).order_by(a.id.desc()).limit(limit)
    if status:
        q = q.where(a.status == status)
    if rule_id:
        q = q.where(a.rule_id == rule_id)
    return [_alert(r) for r in conn.execute(q)]


def get_alert(conn: Connection, *, alert_id: int) -> Alert:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).one_or_none()
    if row is None:
        raise NotFound("alert_not_found", f"no alert {alert_id}", field="id")
    return _alert(row)


def acknowledge_alert(
    conn: Connection, *, alert_id: int, by: str, note: str, clock: Clock
) -> Alert:
    """Someone has the alert in hand: the note (with who and when) is kept, and the alert
    stays active until it is resolved."""
    note = (note or "").strip()
    if not note:
        raise ValidationError("note_required", "say who is dealing with it and how", field="note")
    current = get_alert(conn, alert_id=alert_id)
    if current.status != "open":
        raise Conflict("alert_not_open", f"alert {alert_id} is {current.status}", field="status")
    stamp = clock.now().astimezone(SHANGHAI).isoformat(timespec="seconds")
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id)
        .values(status="acknowledged", resolution=f"[{stamp} {by}] {note}"[:4000])
    )
    return get_alert(conn, alert_id=alert_id)


def resolve_alert(
    conn: Connection, *, alert_id: int, resolved_by: str, resolution: str, clock: Clock
) -> Alert:
    """Close an active alert with how it was dealt with (after its acknowledgement, if any)."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise ValidationError(
            "resolution_required", "say how the breach was dealt with", field="resolution"
        )
    current = get_alert(conn, alert_id=alert_id)
    if current.status not in ACTIVE:
        raise Conflict("alert_not_open", f"alert {alert_id} is {current.status}", field="status")
    if current.resolution:  # the acknowledgement's note comes first
        resolution = f"{current.resolution}\n{resolution}"
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id)
        .values(
            status="resolved",
            resolved_us=int(clock.now().timestamp() * 1_000_000),
            resolved_by=resolved_by,
            resolution=resolution[:4000],
        )
    )
    return get_alert(conn, alert_id=alert_id)
