"""Customer ownership (客户归属): which advisor serves a customer, and every change of it.

The current owner is identity's ``identity_customers.advisor_id``/``team_id`` (what customer
scoping already reads); this module changes it only through ``identity.customers.assign`` and
records each change with its reason in ``ops_ownership_history``. Only a manager of both the
customer and the receiving advisor may move a customer: a team manager within the team, a sales
director within the center, operations anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.identity import customers as identity_customers
from puhui.identity import roles
from puhui.identity.audit import Actor
from puhui.identity.errors import Forbidden
from puhui.identity.models import customers
from puhui.identity.times import now_us
from puhui.ops import org
from puhui.ops.models import leads, ownership_history
from puhui.ops.scope import ADVISOR_ROLES, Viewer


@dataclass(frozen=True)
class Owner:
    customer_id: int
    advisor_id: int | None
    team_id: int | None


@dataclass(frozen=True)
class Change:
    id: int
    customer_id: int
    from_staff_id: int | None
    to_staff_id: int | None
    from_team_id: int | None
    to_team_id: int | None
    reason: str
    actor: str
    created_us: int


def visible_customer(conn: Connection, *, viewer: Viewer, customer_id: int) -> Owner:
    """The customer's owner, or 404 when the viewer may not see the customer."""
    row = conn.execute(
        select(customers.c.id, customers.c.advisor_id, customers.c.team_id).where(
            customers.c.id == customer_id,
            viewer.owns(customers.c.advisor_id, customers.c.team_id),
        )
    ).first()
    if row is None:
        raise NotFound("customer_not_found", "no such customer", field="customer_id")
    return Owner(row.id, row.advisor_id, row.team_id)


def transfer(
    conn: Connection,
    *,
    viewer: Viewer,
    customer_id: int,
    to_staff_id: int,
    reason: str,
    actor: Actor,
    clock: Clock,
) -> Change:
    """Move a customer (and their lead) to another advisor, keeping the history."""
    if not viewer.manages:
        raise Forbidden("manager_required", "only a team manager or above reassigns customers")
    reason = reason.strip()
    if not 2 <= len(reason) <= 200:
        raise ValidationError(
            "reason_required", "state why, in 2 to 200 characters", field="reason"
        )
    before = visible_customer(conn, viewer=viewer, customer_id=customer_id)
    team_id, status = org.staff_unit(conn, to_staff_id)
    if status != "active" or not _serves_customers(conn, to_staff_id):
        raise ValidationError(
            "not_an_advisor",
            "the receiving staff member does not serve customers",
            field="to_staff_id",
        )
    if viewer.level != "all" and team_id not in viewer.unit_ids:
        raise NotFound("staff_not_found", "no such staff member in your teams", field="to_staff_id")
    if before.advisor_id == to_staff_id:
        raise ValidationError(
            "same_owner", "the customer already belongs to this advisor", field="to_staff_id"
        )
    identity_customers.assign(
        conn,
        customer_id=customer_id,
        team_id=team_id,
        advisor_id=to_staff_id,
        actor=actor,
        clock=clock,
    )
    conn.execute(
        leads.update()
        .where(leads.c.customer_id == customer_id)
        .values(advisor_id=to_staff_id, team_id=team_id, updated_us=now_us(clock))
    )
    change_id = conn.execute(
        insert(ownership_history).values(
            customer_id=customer_id,
            from_staff_id=before.advisor_id,
            to_staff_id=to_staff_id,
            from_team_id=before.team_id,
            to_team_id=team_id,
            reason=reason,
            actor=actor.principal,
            created_us=now_us(clock),
        )
    ).inserted_primary_key[0]
    return _change(
        conn.execute(select(ownership_history).where(ownership_history.c.id == change_id)).one()
    )


def _serves_customers(conn: Connection, staff_id: int) -> bool:
    held = {r.code for r in roles.roles_of(conn, staff_id)}
    return bool(held & (ADVISOR_ROLES | {"team_manager", "sales_director"}))


def history(conn: Connection, *, viewer: Viewer, customer_id: int) -> list[Change]:
    visible_customer(conn, viewer=viewer, customer_id=customer_id)
    rows = conn.execute(
        select(ownership_history)
        .where(ownership_history.c.customer_id == customer_id)
        .order_by(ownership_history.c.id)
    )
    return [_change(r) for r in rows]


def _change(r: object) -> Change:
    return Change(**{k: getattr(r, k) for k in Change.__dataclass_fields__})


@dataclass(frozen=True)
class Book:
    """An advisor's book of customers (客户名单): how many they own."""

    advisor_id: int
    team_id: int | None
    customers: int


def books(conn: Connection, *, viewer: Viewer) -> list[Book]:
    """Customers per advisor within the viewer's scope, largest book first."""
    c = customers.c
    q = (
        select(c.advisor_id, c.team_id, func.count().label("n"))
        .where(c.advisor_id.is_not(None), viewer.owns(c.advisor_id, c.team_id))
        .group_by(c.advisor_id, c.team_id)
        .order_by(func.count().desc(), c.advisor_id)
    )
    return [Book(r.advisor_id, r.team_id, int(r.n)) for r in conn.execute(q)]
