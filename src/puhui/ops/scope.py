"""Who sees what in operations: the team hierarchy of the wealth center (财富中心).

A financial advisor or account manager sees only the customers and leads they own; a team
manager sees the team's (their org unit and every unit below it); a sales director the whole
wealth center's (the director's unit and below); operations staff, whose roles see all
customers, see everything. The rule is one SQL condition over an owner column and a team
column, so every query applies it in the database — never by filtering rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, ColumnElement, Connection, false, select, true

from puhui.core.errors import NotFound
from puhui.identity import roles
from puhui.identity.models import staff

#: Roles whose holder owns customers personally (the sales front line).
ADVISOR_ROLES = frozenset({"financial_advisor", "account_manager"})
#: Roles that see the whole subtree of their org unit, widest first.
SUBTREE_ROLES = ("sales_director", "team_manager")


@dataclass(frozen=True)
class Viewer:
    """A staff member as operations sees them: ``level`` is own, team, center, all or none."""

    staff_id: int
    level: str
    unit_ids: frozenset[int]

    def owns(
        self, advisor: Column[int] | ColumnElement[int], team: Column[int] | ColumnElement[int]
    ) -> ColumnElement[bool]:
        """The condition on a row with an owning advisor and team that this viewer may see."""
        if self.level == "all":
            return true()
        if self.level in ("team", "center"):
            return team.in_(sorted(self.unit_ids)) if self.unit_ids else false()
        if self.level == "own":
            return advisor == self.staff_id
        return false()

    @property
    def manages(self) -> bool:
        """May reassign customers and leads (a team manager, a director, operations)."""
        return self.level in ("team", "center", "all")


def viewer(conn: Connection, *, staff_id: int) -> Viewer:
    row = conn.execute(select(staff.c.org_unit_id).where(staff.c.id == staff_id)).first()
    if row is None:
        raise NotFound("staff_not_found", "no such staff member", field="staff_id")
    held = roles.roles_of(conn, staff_id)
    codes = {r.code for r in held}
    if any(r.scope == "all" and "ops.read" in r.permissions for r in held):
        return Viewer(staff_id, "all", frozenset())
    if "sales_director" in codes:
        return Viewer(staff_id, "center", roles.subtree(conn, row.org_unit_id))
    if "team_manager" in codes:
        return Viewer(staff_id, "team", roles.subtree(conn, row.org_unit_id))
    if codes & ADVISOR_ROLES:
        return Viewer(staff_id, "own", frozenset({row.org_unit_id}))
    return Viewer(staff_id, "none", frozenset())
