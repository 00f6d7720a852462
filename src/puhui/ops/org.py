"""The org chart (组织架构) and positions (岗位) as operations uses them.

The units, positions and staff are identity's; this module reads them into a tree, adds each
position's duties text, and opens sales teams under the wealth center through identity's own
``create_org_unit`` so there is one org chart, not two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.identity import audit, roles
from puhui.identity.audit import Actor
from puhui.identity.models import org_units, positions, staff
from puhui.identity.models import roles as role_table
from puhui.identity.times import now_us
from puhui.ops.models import position_duties

#: The duties of the built-in positions, as the operations plan describes them.
DEFAULT_DUTIES: dict[str, str] = {
    "sales_director": "Leads the wealth center: sets team targets, reviews performance, "
    "approves customer transfers between teams.",
    "team_manager": "Runs a sales team: assigns leads, coaches advisors, follows the team's "
    "pipeline and targets.",
    "account_manager": "Serves the investors assigned to them and develops new ones.",
    "financial_advisor": "Finds and serves investors through flyers, surveys, events and "
    "referrals; follows up leads until their first investment.",
    "operations_director": "Owns the marketing calendar, campaign budgets and coupon rules.",
    "operations_manager": "Plans campaigns and events, issues coupons, watches conversion.",
    "operations_specialist": "Runs flyer batches, landing pages and event logistics.",
}


@dataclass(frozen=True)
class Position:
    code: str
    name: str
    unit_code: str
    role_code: str
    duties: str


@dataclass(frozen=True)
class Person:
    id: int
    display_name: str
    position_code: str | None
    status: str


@dataclass(frozen=True)
class Unit:
    """One node of the chart with its people and the units below it."""

    id: int
    code: str
    name: str
    kind: str
    people: tuple[Person, ...] = ()
    children: tuple[Unit, ...] = field(default_factory=tuple)


def list_positions(conn: Connection) -> list[Position]:
    roles.ensure_catalog(conn)
    duties = {r.position_code: r.duties for r in conn.execute(select(position_duties))}
    q = (
        select(
            positions.c.code,
            positions.c.name,
            org_units.c.code.label("unit"),
            role_table.c.code.label("role"),
        )
        .join(org_units, org_units.c.id == positions.c.org_unit_id)
        .join(role_table, role_table.c.id == positions.c.role_id)
        .order_by(positions.c.id)
    )
    return [
        Position(r.code, r.name, r.unit, r.role, duties.get(r.code, DEFAULT_DUTIES.get(r.code, "")))
        for r in conn.execute(q)
    ]


def set_duties(
    conn: Connection, *, position_code: str, duties: str, actor: Actor, clock: Clock
) -> Position:
    """Write a position's duties text (岗位职责)."""
    text_ = duties.strip()
    if not 1 <= len(text_) <= 4000:
        raise ValidationError("duties_invalid", "duties are 1 to 4000 characters", field="duties")
    if not any(p.code == position_code for p in list_positions(conn)):
        raise NotFound("position_not_found", f"no position {position_code!r}", field="position")
    conn.execute(position_duties.delete().where(position_duties.c.position_code == position_code))
    conn.execute(
        position_duties.insert().values(
            position_code=position_code,
            duties=text_,
            updated_us=now_us(clock),
            updated_by=actor.principal,
        )
    )
    audit.record(
        conn,
        actor=actor,
        event="ops.position.duties",
        object_type="position",
        object_id=position_code,
        clock=clock,
    )
    return next(p for p in list_positions(conn) if p.code == position_code)


def create_team(
    conn: Connection, *, code: str, name: str, parent: str = "wealth", actor: Actor, clock: Clock
) -> int:
    """A sales team under the wealth center (or under another team: a sub-team)."""
    team_id = roles.create_org_unit(conn, code=code, name=name, kind="team", parent=parent)
    audit.record(
        conn,
        actor=actor,
        event="ops.team.create",
        object_type="org_unit",
        object_id=team_id,
        clock=clock,
    )
    return team_id


def chart(conn: Connection) -> list[Unit]:
    """The whole org chart as trees of units, each with its active staff."""
    roles.ensure_catalog(conn)
    pos_code = {r.id: r.code for r in conn.execute(select(positions.c.id, positions.c.code))}
    people: dict[int, list[Person]] = {}
    for r in conn.execute(
        select(
            staff.c.id,
            staff.c.display_name,
            staff.c.org_unit_id,
            staff.c.position_id,
            staff.c.status,
        ).order_by(staff.c.id)
    ):
        people.setdefault(r.org_unit_id, []).append(
            Person(r.id, r.display_name, pos_code.get(r.position_id), r.status)
        )
    rows = list(conn.execute(select(org_units).order_by(org_units.c.id)))
    kids: dict[int | None, list[Any]] = {}
    for r in rows:
        kids.setdefault(r.parent_id, []).append(r)

    def build(r: Any) -> Unit:
        return Unit(
            r.id,
            r.code,
            r.name,
            r.kind,
            tuple(people.get(r.id, [])),
            tuple(build(k) for k in kids.get(r.id, [])),
        )

    return [build(r) for r in kids.get(None, [])]


def staff_unit(conn: Connection, staff_id: int) -> tuple[int, str]:
    """A staff member's org unit id and status (404 for an unknown id)."""
    row = conn.execute(
        select(staff.c.org_unit_id, staff.c.status).where(staff.c.id == staff_id)
    ).first()
    if row is None:
        raise NotFound("staff_not_found", "no such staff member", field="staff_id")
    return int(row.org_unit_id), str(row.status)
