"""The lead pipeline (线索): new → contacted → registered → verified → first investment →
repeat, with follow-up tasks and reminders per advisor.

A lead is captured from a form (a flyer's QR landing page, a survey desk, an event's
registration) under its channel and goes to that channel's advisor and team. The early stages
are worked by hand (``advance``); the later ones are facts elsewhere — the customer registered,
passed real-name verification, invested — so ``sync`` derives them in set-based SQL: a lead
and a customer are the same person when their phone blind indexes agree (both are keyed
HMACs of the same normalised number, so nothing is decrypted to match them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, select, text, update

from puhui.core.clock import Clock, business_date
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.errors import Forbidden
from puhui.identity.identifiers import mask_name, mask_phone, parse_mobile
from puhui.identity.sealed import insert_sealed, open_columns
from puhui.identity.times import now_us
from puhui.ops import channels as channel_service
from puhui.ops.models import lead_stages, leads, tasks
from puhui.ops.scope import Viewer

STAGES = ("new", "contacted", "registered", "verified", "first_investment", "repeat")
RANK = {s: i for i, s in enumerate(STAGES)} | {"lost": -1}
#: Stages a person moves a lead to by hand; the others follow from what the customer did.
MANUAL = {"new": {"contacted", "lost"}, "contacted": {"lost"}, "lost": {"contacted"}}
TASK_KINDS = ("call", "visit", "follow_up")


@dataclass(frozen=True)
class Lead:
    """A lead as staff see it: name and phone masked."""

    id: int
    name: str
    phone: str
    channel_id: int
    stage: str
    customer_id: int | None
    advisor_id: int | None
    team_id: int | None
    referral_code: str | None
    note: str
    created_on: date


@dataclass(frozen=True)
class Task:
    id: int
    lead_id: int
    staff_id: int
    kind: str
    due_on: date
    note: str
    status: str
    outcome: str | None


def capture(
    conn: Connection,
    *,
    keys: Keyring,
    channel_code: str,
    name: str,
    phone: str,
    clock: Clock,
    note: str = "",
    referral_code: str | None = None,
) -> tuple[int, bool]:
    """Record a form (landing page, survey, event registration) as a lead of its channel.

    One lead per phone: a second form from the same number returns the first lead (its
    attribution stays with the channel that found the person first). Returns (id, created).
    """
    channel = channel_service.by_code(conn, code=channel_code)
    name = name.strip()
    if not 1 <= len(name) <= 50:
        raise ValidationError("name_invalid", "name is 1 to 50 characters", field="name")
    if len(note) > 500:
        raise ValidationError("note_too_long", "note is at most 500 characters", field="note")
    number = parse_mobile(phone)
    bidx = blind_index(keys, "phone", number)
    found = conn.execute(select(leads.c.id).where(leads.c.phone_bidx == bidx)).scalar()
    if found is not None:
        return int(found), False
    now = now_us(clock)
    lead_id = insert_sealed(
        conn,
        keys,
        leads,
        plain={
            "phone_bidx": bidx,
            "channel_id": channel.id,
            "stage": "new",
            "advisor_id": channel.owner_staff_id,
            "team_id": channel.team_id,
            "referral_code": referral_code,
            "note": note,
            "created_on": business_date(clock.now()),
            "created_us": now,
            "updated_us": now,
        },
        sealed={"name_ct": name, "phone_ct": number},
    )
    conn.execute(
        insert(lead_stages).values(
            lead_id=lead_id, from_stage=None, to_stage="new", actor="system", created_us=now
        )
    )
    return lead_id, True


def _lead(keys: Keyring, row: Any) -> Lead:
    plain = open_columns(keys, leads, row, ("name_ct", "phone_ct"))
    r = row
    return Lead(
        r.id,
        mask_name(plain["name_ct"] or ""),
        mask_phone(plain["phone_ct"] or ""),
        r.channel_id,
        r.stage,
        r.customer_id,
        r.advisor_id,
        r.team_id,
        r.referral_code,
        r.note,
        r.created_on,
    )


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    return viewer.owns(leads.c.advisor_id, leads.c.team_id)


def get(conn: Connection, *, keys: Keyring, viewer: Viewer, lead_id: int) -> Lead:
    row = conn.execute(select(leads).where(leads.c.id == lead_id, _visible(viewer))).first()
    if row is None:
        raise NotFound("lead_not_found", "no such lead", field="lead_id")
    return _lead(keys, row)


def list_leads(
    conn: Connection,
    *,
    keys: Keyring,
    viewer: Viewer,
    stage: str | None = None,
    channel_id: int | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[Lead]:
    q = select(leads).where(leads.c.id > after_id, _visible(viewer))
    if stage:
        q = q.where(leads.c.stage == stage)
    if channel_id:
        q = q.where(leads.c.channel_id == channel_id)
    return [_lead(keys, r) for r in conn.execute(q.order_by(leads.c.id).limit(limit))]


def funnel(conn: Connection, *, viewer: Viewer) -> dict[str, int]:
    """How many visible leads stand at each stage."""
    q = select(leads.c.stage, func.count()).where(_visible(viewer)).group_by(leads.c.stage)
    counts = dict.fromkeys((*STAGES, "lost"), 0)
    counts.update({s: int(n) for s, n in conn.execute(q)})
    return counts


def advance(
    conn: Connection,
    *,
    keys: Keyring,
    viewer: Viewer,
    lead_id: int,
    to_stage: str,
    actor: Actor,
    clock: Clock,
) -> Lead:
    """Move a lead by hand: contacted, lost, or back from lost to contacted."""
    lead = get(conn, keys=keys, viewer=viewer, lead_id=lead_id)
    if to_stage not in MANUAL.get(lead.stage, set()):
        raise Conflict(
            "stage_not_allowed",
            f"a {lead.stage} lead cannot be moved to {to_stage} by hand",
            field="stage",
        )
    now = now_us(clock)
    conn.execute(update(leads).where(leads.c.id == lead_id).values(stage=to_stage, updated_us=now))
    conn.execute(
        insert(lead_stages).values(
            lead_id=lead_id,
            from_stage=lead.stage,
            to_stage=to_stage,
            actor=actor.principal,
            created_us=now,
        )
    )
    return get(conn, keys=keys, viewer=viewer, lead_id=lead_id)


def assign(
    conn: Connection,
    *,
    keys: Keyring,
    viewer: Viewer,
    lead_id: int,
    advisor_id: int,
    team_id: int,
    clock: Clock,
) -> Lead:
    """Give a lead to an advisor (a manager's job, within the manager's teams)."""
    get(conn, keys=keys, viewer=viewer, lead_id=lead_id)
    if not viewer.manages:
        raise Forbidden("manager_required", "only a team manager or above assigns leads")
    if viewer.level != "all" and team_id not in viewer.unit_ids:
        raise NotFound("staff_not_found", "no such staff member in your teams", field="advisor_id")
    conn.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(advisor_id=advisor_id, team_id=team_id, updated_us=now_us(clock))
    )
    return get(conn, keys=keys, viewer=viewer, lead_id=lead_id)


# ---------------------------------------------------------------------------------- sync

#: The stage a lead's customer has reached, from identity and ops facts (set-based).
_TARGET = """
CASE
  WHEN (SELECT COUNT(*) FROM ops_investments i WHERE i.customer_id = c.id) >= 2 THEN 'repeat'
  WHEN (SELECT COUNT(*) FROM ops_investments i WHERE i.customer_id = c.id) = 1
    THEN 'first_investment'
  WHEN c.kyc_status = 'verified' THEN 'verified'
  ELSE 'registered'
END
"""
_RANK_SQL = (
    "CASE {col} WHEN 'new' THEN 0 WHEN 'contacted' THEN 1 WHEN 'registered' THEN 2 "
    "WHEN 'verified' THEN 3 WHEN 'first_investment' THEN 4 WHEN 'repeat' THEN 5 ELSE -1 END"
)


def sync(conn: Connection, *, clock: Clock, customer_id: int | None = None) -> int:
    """Link leads to the customers they became and move them to the stage the customer has
    reached (forward only); a customer without an advisor gets the lead's. Returns the number
    of leads whose stage moved. Idempotent; ``customer_id`` narrows it to one customer."""
    now = now_us(clock)
    only = "" if customer_id is None else " AND c.id = :cid"
    params: dict[str, object] = {"now": now} | ({} if customer_id is None else {"cid": customer_id})
    conn.execute(
        text(
            "UPDATE ops_leads SET customer_id = (SELECT c.id FROM identity_customers c "
            "WHERE c.phone_bidx = ops_leads.phone_bidx), updated_us = :now "
            "WHERE customer_id IS NULL AND EXISTS (SELECT 1 FROM identity_customers c "
            f"WHERE c.phone_bidx = ops_leads.phone_bidx{only})"
        ),
        params,
    )
    # ownership follows the lead when the customer has none yet (history kept)
    conn.execute(
        text(
            "INSERT INTO ops_ownership_history (customer_id, from_staff_id, to_staff_id, "
            "from_team_id, to_team_id, reason, actor, created_us) "
            "SELECT c.id, NULL, l.advisor_id, NULL, l.team_id, 'lead', 'system', :now "
            "FROM ops_leads l JOIN identity_customers c ON c.id = l.customer_id "
            f"WHERE c.advisor_id IS NULL AND l.advisor_id IS NOT NULL{only}"
        ),
        params,
    )
    conn.execute(
        text(
            "UPDATE identity_customers SET "
            "advisor_id = (SELECT l.advisor_id FROM ops_leads l "
            "WHERE l.customer_id = identity_customers.id), "
            "team_id = (SELECT l.team_id FROM ops_leads l "
            "WHERE l.customer_id = identity_customers.id), "
            "updated_us = :now "
            "WHERE advisor_id IS NULL AND EXISTS (SELECT 1 FROM ops_leads l "
            "WHERE l.customer_id = identity_customers.id AND l.advisor_id IS NOT NULL)"
            + ("" if customer_id is None else " AND identity_customers.id = :cid")
        ),
        params,
    )
    moves = (
        f"SELECT l.id AS lead_id, l.stage AS from_stage, {_TARGET} AS to_stage "
        "FROM ops_leads l JOIN identity_customers c ON c.id = l.customer_id "
        f"WHERE 1 = 1{only}"
    )
    forward = (
        f"SELECT m.lead_id, m.from_stage, m.to_stage FROM ({moves}) m "
        f"WHERE {_RANK_SQL.format(col='m.to_stage')} > {_RANK_SQL.format(col='m.from_stage')}"
    )
    moved = conn.execute(
        text(
            "INSERT INTO ops_lead_stages (lead_id, from_stage, to_stage, actor, created_us) "
            f"SELECT f.lead_id, f.from_stage, f.to_stage, 'system', :now FROM ({forward}) f"
        ),
        params,
    ).rowcount
    conn.execute(
        text(
            f"UPDATE ops_leads SET stage = (SELECT f.to_stage FROM ({forward}) f "
            "WHERE f.lead_id = ops_leads.id), updated_us = :now "
            f"WHERE id IN (SELECT f.lead_id FROM ({forward}) f)"
        ),
        params,
    )
    return int(moved)


# --------------------------------------------------------------------------------- tasks


def add_task(
    conn: Connection,
    *,
    keys: Keyring,
    viewer: Viewer,
    lead_id: int,
    kind: str,
    due_on: date,
    note: str,
    clock: Clock,
    staff_id: int | None = None,
) -> Task:
    """A follow-up task (回访) on a visible lead, for the viewer or the lead's advisor."""
    lead = get(conn, keys=keys, viewer=viewer, lead_id=lead_id)
    if kind not in TASK_KINDS:
        raise ValidationError(
            "kind_invalid", f"kind is one of {', '.join(TASK_KINDS)}", field="kind"
        )
    if len(note) > 500:
        raise ValidationError("note_too_long", "note is at most 500 characters", field="note")
    owner = staff_id or lead.advisor_id or viewer.staff_id
    if owner != viewer.staff_id and not viewer.manages:
        raise ValidationError(
            "staff_invalid", "you can only give tasks to yourself", field="staff_id"
        )
    task_id = conn.execute(
        insert(tasks).values(
            lead_id=lead_id,
            staff_id=owner,
            kind=kind,
            due_on=due_on,
            note=note,
            status="open",
            created_us=now_us(clock),
        )
    ).inserted_primary_key[0]
    return _task(conn.execute(select(tasks).where(tasks.c.id == task_id)).one())


def _task(r: object) -> Task:
    return Task(**{k: getattr(r, k) for k in Task.__dataclass_fields__})


def _task_scope(viewer: Viewer) -> ColumnElement[bool]:
    lead_ok = select(leads.c.id).where(leads.c.id == tasks.c.lead_id, _visible(viewer)).exists()
    return (tasks.c.staff_id == viewer.staff_id) | lead_ok


def complete_task(
    conn: Connection, *, viewer: Viewer, task_id: int, outcome: str, clock: Clock
) -> Task:
    row = conn.execute(select(tasks).where(tasks.c.id == task_id, _task_scope(viewer))).first()
    if row is None:
        raise NotFound("task_not_found", "no such task", field="task_id")
    if row.status != "open":
        raise Conflict("task_done", "the task is already done", field="task_id")
    if len(outcome) > 500:
        raise ValidationError(
            "outcome_too_long", "outcome is at most 500 characters", field="outcome"
        )
    conn.execute(
        update(tasks)
        .where(and_(tasks.c.id == task_id, tasks.c.status == "open"))
        .values(status="done", outcome=outcome, done_us=now_us(clock))
    )
    return _task(conn.execute(select(tasks).where(tasks.c.id == task_id)).one())


def reminders(conn: Connection, *, viewer: Viewer, today: date) -> list[Task]:
    """Open tasks due today or earlier in the viewer's scope, oldest first (提醒)."""
    q = (
        select(tasks)
        .where(tasks.c.status == "open", tasks.c.due_on <= today, _task_scope(viewer))
        .order_by(tasks.c.due_on, tasks.c.id)
    )
    return [_task(r) for r in conn.execute(q)]


def list_tasks(conn: Connection, *, viewer: Viewer, status: str | None = None) -> list[Task]:
    q = select(tasks).where(_task_scope(viewer))
    if status:
        q = q.where(tasks.c.status == status)
    return [_task(r) for r in conn.execute(q.order_by(tasks.c.due_on, tasks.c.id).limit(200))]
