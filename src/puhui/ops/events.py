"""Events and meetings (会议活动): registration, sign-in and follow-up.

An event is also a channel (its code is on the invitation), so a person who registers for it
becomes a lead of the event's channel unless already a lead elsewhere; either way the
attendance is recorded against the lead. Sign-in on the day and the follow-up afterwards are
the two facts a manager checks; a follow-up also opens a task for the lead's advisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.times import now_us
from puhui.ops import channels, leads
from puhui.ops.models import attendees, events
from puhui.ops.models import channels as channel_table
from puhui.ops.models import leads as lead_table
from puhui.ops.scope import Viewer

KINDS = ("seminar", "salon", "meeting")


@dataclass(frozen=True)
class Event:
    id: int
    title: str
    kind: str
    held_on: date
    location: str
    capacity: int
    channel_id: int
    channel_code: str
    team_id: int | None
    owner_staff_id: int | None
    registered: int
    signed_in: int
    followed_up: int


def create(
    conn: Connection,
    *,
    title: str,
    kind: str,
    held_on: date,
    location: str,
    capacity: int,
    team_id: int | None,
    owner_staff_id: int | None,
    actor: Actor,
    clock: Clock,
) -> Event:
    if kind not in KINDS:
        raise ValidationError("kind_invalid", f"kind is one of {', '.join(KINDS)}", field="kind")
    if not 1 <= capacity <= 100_000:
        raise ValidationError("capacity_invalid", "capacity is 1 to 100,000", field="capacity")
    if not 1 <= len(location.strip()) <= 200:
        raise ValidationError(
            "location_invalid", "location is 1 to 200 characters", field="location"
        )
    channel = channels.create(
        conn,
        kind="event",
        name=title,
        source="event",
        medium="offline",
        starts_on=held_on,
        ends_on=held_on,
        team_id=team_id,
        owner_staff_id=owner_staff_id,
        actor=actor,
        clock=clock,
    )
    event_id = conn.execute(
        insert(events).values(
            title=channel.name,
            kind=kind,
            held_on=held_on,
            location=location.strip(),
            capacity=capacity,
            channel_id=channel.id,
            team_id=team_id,
            owner_staff_id=owner_staff_id,
            created_us=now_us(clock),
        )
    ).inserted_primary_key[0]
    return get(conn, event_id=event_id)


def _counts() -> Any:
    a = attendees.c
    return (
        select(
            a.event_id,
            func.count().label("registered"),
            func.count(a.signed_in_us).label("signed_in"),
            func.count(a.followed_up_us).label("followed_up"),
        )
        .group_by(a.event_id)
        .subquery()
    )


def _query() -> Any:
    n = _counts()
    return select(
        events,
        channel_table.c.code.label("channel_code"),
        func.coalesce(n.c.registered, 0).label("registered"),
        func.coalesce(n.c.signed_in, 0).label("signed_in"),
        func.coalesce(n.c.followed_up, 0).label("followed_up"),
    ).select_from(
        events.join(channel_table, channel_table.c.id == events.c.channel_id).outerjoin(
            n, n.c.event_id == events.c.id
        )
    )


def _event(r: Any) -> Event:
    return Event(**{k: getattr(r, k) for k in Event.__dataclass_fields__})


def get(conn: Connection, *, event_id: int) -> Event:
    row = conn.execute(_query().where(events.c.id == event_id)).first()
    if row is None:
        raise NotFound("event_not_found", "no such event", field="event_id")
    return _event(row)


def list_events(
    conn: Connection, *, start: date | None = None, end: date | None = None
) -> list[Event]:
    q = _query()
    if start:
        q = q.where(events.c.held_on >= start)
    if end:
        q = q.where(events.c.held_on <= end)
    return [_event(r) for r in conn.execute(q.order_by(events.c.held_on, events.c.id))]


def register(
    conn: Connection,
    *,
    keys: Keyring,
    event_id: int,
    name: str,
    phone: str,
    clock: Clock,
) -> tuple[int, int]:
    """报名: the person's lead (found or new, under the event's channel) and the attendance id."""
    event = get(conn, event_id=event_id)
    if event.registered >= event.capacity:
        raise Conflict("event_full", "the event is full", field="event_id")
    lead_id, _ = leads.capture(
        conn, keys=keys, channel_code=event.channel_code, name=name, phone=phone, clock=clock
    )
    existing = conn.execute(
        select(attendees.c.id).where(
            attendees.c.event_id == event_id, attendees.c.lead_id == lead_id
        )
    ).scalar()
    if existing is not None:
        return lead_id, int(existing)
    att = conn.execute(
        insert(attendees).values(event_id=event_id, lead_id=lead_id, registered_us=now_us(clock))
    ).inserted_primary_key[0]
    return lead_id, int(att)


def _attendance(conn: Connection, viewer: Viewer, event_id: int, lead_id: int) -> Any:
    row = conn.execute(
        select(attendees)
        .join(lead_table, lead_table.c.id == attendees.c.lead_id)
        .where(
            attendees.c.event_id == event_id,
            attendees.c.lead_id == lead_id,
            viewer.owns(lead_table.c.advisor_id, lead_table.c.team_id),
        )
    ).first()
    if row is None:
        raise NotFound(
            "attendee_not_found", "this lead is not registered for the event", field="lead_id"
        )
    return row


def sign_in(conn: Connection, *, viewer: Viewer, event_id: int, lead_id: int, clock: Clock) -> None:
    """签到 on the day; signing in twice keeps the first time."""
    row = _attendance(conn, viewer, event_id, lead_id)
    if row.signed_in_us is None:
        conn.execute(
            update(attendees).where(attendees.c.id == row.id).values(signed_in_us=now_us(clock))
        )


def follow_up(
    conn: Connection,
    *,
    keys: Keyring,
    viewer: Viewer,
    event_id: int,
    lead_id: int,
    note: str,
    clock: Clock,
    due_in_days: int = 2,
) -> leads.Task:
    """Mark the attendee followed up and open a follow-up task for the lead's advisor."""
    row = _attendance(conn, viewer, event_id, lead_id)
    if row.followed_up_us is None:
        conn.execute(
            update(attendees).where(attendees.c.id == row.id).values(followed_up_us=now_us(clock))
        )
    event = get(conn, event_id=event_id)
    return leads.add_task(
        conn,
        keys=keys,
        viewer=viewer,
        lead_id=lead_id,
        kind="follow_up",
        due_on=event.held_on + timedelta(days=due_in_days),
        note=note,
        clock=clock,
    )
