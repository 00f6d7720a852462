"""Publishing the monthly report: immutable, versioned snapshots (DIS-GEN-01/02, DIS-OPS-01/04).

A publication freezes everything a reader sees — the 21 items, the institution information,
the trend over past months — as one JSON snapshot with its SHA-256. Every channel (the public
page, the API, the CLI, the files) renders from that snapshot, so they cannot disagree. Nothing
here updates a published row: a correction is a new version that names the one it replaces and
why. Publication is refused while the month is still running and when any item is missing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from puhui.compliance.calendar import (
    CN_CALENDAR,
    WorkingCalendar,
    disclosure_deadline,
    parse_period,
)
from puhui.compliance.disclosure import (
    ITEMS,
    MonthlyFigures,
    cut_off,
    missing_items,
    monthly_figures,
)
from puhui.compliance.institution import institution
from puhui.compliance.models import reports
from puhui.core.clock import Clock, business_date
from puhui.core.errors import Conflict, NotFound, ValidationError

TREND_MONTHS = 12
#: Items drawn as trend charts.
TREND_ITEMS = ("outstanding_principal", "cum_loan_amount", "overdue_amount", "overdue_90_amount")


@dataclass(frozen=True)
class Publication:
    id: int
    period: str
    version: int
    as_of: str
    content_sha256: str
    deadline: date
    late: bool
    supersedes_id: int | None
    correction_reason: str
    published_by: str
    published_at: datetime
    snapshot: dict[str, Any]


def previous_periods(period: str, n: int) -> list[str]:
    """``n`` months ending with ``period``, oldest first."""
    year, month = parse_period(period)
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def trend(conn: Connection, *, period: str, months: int = TREND_MONTHS) -> list[dict[str, Any]]:
    """The trend items for the ``months`` months up to ``period``, oldest first."""
    rows = []
    for p in previous_periods(period, months):
        items = monthly_figures(conn, period=p).items
        rows.append({"period": p, **{k: items[k] for k in TREND_ITEMS}})
    return rows


def build_snapshot(
    conn: Connection, *, period: str, figures: MonthlyFigures | None = None
) -> dict[str, Any]:
    """What a publication of ``period`` would freeze (also the unpublished preview)."""
    figures = figures or monthly_figures(conn, period=period)
    return {
        "schema": "puhui.disclosure.monthly/1",
        "period": period,
        "as_of": figures.as_of,
        "items": figures.items,
        "item_names": dict(ITEMS),
        "institution": institution(),
        "trend": trend(conn, period=period),
    }


def content_hash(snapshot: dict[str, Any]) -> str:
    canonical = json.dumps(snapshot, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _publication(row: Any) -> Publication:
    return Publication(
        id=row.id,
        period=row.period,
        version=row.version,
        as_of=row.as_of,
        content_sha256=row.content_sha256,
        deadline=row.deadline,
        late=bool(row.late),
        supersedes_id=row.supersedes_id,
        correction_reason=row.correction_reason,
        published_by=row.published_by,
        published_at=datetime.fromtimestamp(row.published_us / 1_000_000, tz=UTC),
        snapshot=json.loads(row.figures_json),
    )


def publish(
    conn: Connection,
    *,
    period: str,
    published_by: str,
    clock: Clock,
    correction_reason: str | None = None,
    calendar: WorkingCalendar = CN_CALENDAR,
    snapshot: dict[str, Any] | None = None,
) -> Publication:
    """Publish ``period``: version 1, or a correction (a reason is then required).

    ``snapshot`` lets a caller publish what it previewed; it is checked like a fresh one.
    """
    parse_period(period)
    now = clock.now()
    now_us = int(now.timestamp() * 1_000_000)
    if now_us <= cut_off(period)[1]:
        raise ValidationError(
            "period_not_over", f"{period} has not ended yet: nothing to publish", field="month"
        )
    snapshot = snapshot if snapshot is not None else build_snapshot(conn, period=period)
    missing = missing_items(snapshot.get("items") or {})
    if missing:
        raise ValidationError(
            "items_missing",
            f"the report lacks {len(missing)} item(s): {', '.join(missing)} (DIS-OPS-04)",
            field="items",
        )
    r = reports.c
    latest = conn.execute(
        select(r.id, r.version, r.content_sha256)
        .where(r.period == period)
        .order_by(r.version.desc())
        .limit(1)
    ).one_or_none()
    reason = (correction_reason or "").strip()
    digest = content_hash(snapshot)
    if latest is not None:
        if not reason:
            raise Conflict(
                "already_published",
                f"{period} is published (version {latest.version}); a correction needs a reason",
                field="correction_reason",
            )
        if latest.content_sha256 == digest:
            raise Conflict(
                "unchanged",
                f"version {latest.version} of {period} already has exactly this content",
                field="correction_reason",
            )
    elif reason:
        raise ValidationError(
            "nothing_to_correct",
            f"{period} has no published version yet",
            field="correction_reason",
        )
    deadline = disclosure_deadline(period, calendar=calendar)
    try:
        with conn.begin_nested():
            row_id = _insert(
                conn, period, latest, snapshot, digest, deadline, now, reason, published_by
            )
    except IntegrityError:
        # Another publication of this period won the race for the same version number.
        raise Conflict(
            "already_published",
            f"{period} was published by somebody else a moment ago",
            field="month",
        ) from None
    return get(conn, report_id=row_id)


def _insert(
    conn: Connection,
    period: str,
    latest: Any,
    snapshot: dict[str, Any],
    digest: str,
    deadline: date,
    now: datetime,
    reason: str,
    published_by: str,
) -> int:
    row_id = conn.execute(
        reports.insert().values(
            period=period,
            version=(latest.version + 1) if latest else 1,
            as_of=snapshot["as_of"],
            figures_json=json.dumps(snapshot, ensure_ascii=False, sort_keys=True),
            content_sha256=digest,
            deadline=deadline,
            late=business_date(now) > deadline,
            supersedes_id=latest.id if latest else None,
            correction_reason=reason,
            published_by=published_by,
            published_us=int(now.timestamp() * 1_000_000),
        )
    ).inserted_primary_key[0]
    return int(row_id)


def get(conn: Connection, *, report_id: int) -> Publication:
    row = conn.execute(select(reports).where(reports.c.id == report_id)).one_or_none()
    if row is None:
        raise NotFound("report_not_found", f"no published report {report_id}", field="id")
    return _publication(row)


def latest(conn: Connection, *, period: str, version: int | None = None) -> Publication:
    """The newest version of ``period`` (or the given one)."""
    parse_period(period)
    r = reports.c
    q = select(reports).where(r.period == period)
    q = q.where(r.version == version) if version else q.order_by(r.version.desc()).limit(1)
    row = conn.execute(q).one_or_none()
    if row is None:
        raise NotFound("report_not_published", f"{period} has no published report", field="month")
    return _publication(row)


def versions(conn: Connection, *, period: str) -> list[Publication]:
    r = reports.c
    rows = conn.execute(select(reports).where(r.period == period).order_by(r.version)).all()
    return [_publication(row) for row in rows]


def published_periods(conn: Connection) -> list[dict[str, Any]]:
    """Each published period, newest first, with its latest version number."""
    r = reports.c
    rows = conn.execute(
        select(r.period, func.max(r.version).label("version"))
        .group_by(r.period)
        .order_by(r.period.desc())
    ).all()
    return [{"period": row.period, "version": row.version} for row in rows]


def due_unpublished(
    conn: Connection, *, clock: Clock, calendar: WorkingCalendar = CN_CALENDAR
) -> dict[str, Any] | None:
    """Last month if it is not yet published: its deadline and whether that has passed."""
    today = business_date(clock.now())
    period = previous_periods(f"{today.year:04d}-{today.month:02d}", 2)[0]
    exists = conn.execute(
        select(func.count()).select_from(reports).where(reports.c.period == period)
    ).scalar()
    if exists:
        return None
    deadline = disclosure_deadline(period, calendar=calendar)
    return {"period": period, "deadline": deadline, "overdue": today > deadline}
