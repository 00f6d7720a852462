"""Staff, roles and permissions in the back office (员工、角色与权限): the staff list, a member's
page where roles are granted and revoked and the account disabled or enabled, and the read-only
role catalog with each role's permissions.

Each page asks for the permission its ``/admin/api/v1`` twin asks for: ``staff.read`` to read
staff and roles, ``roles.manage`` to grant or revoke a role, ``staff.manage`` to disable or
enable an account. The work is the domain's (``staff.set_roles``, ``staff.set_status``), which
checks the separation of duties (SEC-AC-01) and writes the audit entry; a refusal is shown
beside the role field. Every form states the outcome it wants (grant this role, set this
status), so a double submit or a refresh finds the work done and changes nothing more.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine, select
from starlette.responses import Response

from puhui.core.errors import PuhuiError, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import roles
from puhui.identity import staff as staff_service
from puhui.identity.models import positions
from puhui.identity.models import staff as staff_table
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, attempt
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import ERROR_TEXT, page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin", include_in_schema=False)
for _item in (
    NavItem("staff", N_("Staff"), "/admin/staff", 82, "staff.read"),
    NavItem("roles", N_("Roles"), "/admin/roles", 83, "staff.read"),
):
    nav.register("admin", _item)

ERROR_TEXT.update(
    {
        "separation_of_duties": N_(
            "Refused by separation of duties (SEC-AC-01): this would combine "
            "administration and audit, or staff and role administration."
        ),
        "role_not_found": N_("No such role."),
        "staff_not_found": N_("No such staff member."),
        "status_invalid": N_("The status is active or disabled."),
    }
)
STATUSES = ("active", "disabled")
STATUS_WORDS = (N_("Active"), N_("Disabled"))  # shown as ``_(status|capitalize)``
PAGE = 200


def _positions(conn: Connection) -> dict[int, str]:
    """Each staff member's position name (a read of the directory for display only)."""
    rows = conn.execute(
        select(staff_table.c.id, positions.c.name).join(
            positions, positions.c.id == staff_table.c.position_id
        )
    )
    return {r.id: r.name for r in rows}


@router.get("/staff")
def staff_list(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("staff.read")
    with engine.connect() as c:
        members = staff_service.list_all(c, limit=PAGE)
        names = _positions(c)
    return page(request, v, "admin/staff.html", active="staff", members=members, positions=names)


def _member_page(
    request: Request,
    v: Visitor,
    engine: Engine,
    staff_id: int,
    *,
    error: PuhuiError | None = None,
    status: int = 200,
) -> Response:
    v.require("staff.read")

    def work(c: Connection) -> dict[str, Any]:
        member = staff_service.get(c, staff_id=staff_id)
        catalog = roles.list_roles(c)
        return {
            "member": member,
            "position": _positions(c).get(staff_id),
            "held": [r for r in catalog if r.code in member.roles],
            "grantable": [r for r in catalog if r.code not in member.roles],
        }

    data = run_in_transaction(engine, work)  # the role catalog is completed on first use
    return page(
        request,
        v,
        "admin/staff_member.html",
        status=status,
        active="staff",
        error=error,
        **data,
    )


@router.get("/staff/{staff_id}")
def member(staff_id: int, request: Request, v: StaffDep, engine: EngineDep) -> Response:
    return _member_page(request, v, engine, staff_id)


def _change_roles(
    request: Request, v: Visitor, engine: EngineDep, clock: ClockDep, staff_id: int, grant: bool
) -> Response:
    """Grant or revoke the one role the form names; nothing is written when the member already
    has (or already lacks) it, so a second click is harmless."""
    v.require("roles.manage")
    code = v.form.get("role")

    def work(c: Connection) -> None:
        current = staff_service.get(c, staff_id=staff_id)
        if not code:
            raise ValidationError("form_incomplete", "choose a role", field="role")
        if (code in current.roles) == grant:
            return
        wanted = [*current.roles, code] if grant else [r for r in current.roles if r != code]
        staff_service.set_roles(c, staff_id=staff_id, role_codes=wanted, actor=v.actor, clock=clock)

    done = attempt(engine, work)
    if done.error is not None:
        if done.error.code == "staff_not_found":
            raise done.error
        done.error.field = "role"
        return _member_page(request, v, engine, staff_id, error=done.error, status=422)
    return html_redirect(f"/admin/staff/{staff_id}", request)


@router.post("/staff/{staff_id}/roles/grant")
def grant_role(
    staff_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _change_roles(request, v, engine, clock, staff_id, grant=True)


@router.post("/staff/{staff_id}/roles/revoke")
def revoke_role(
    staff_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _change_roles(request, v, engine, clock, staff_id, grant=False)


@router.post("/staff/{staff_id}/status")
def set_status(
    staff_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Disable (every session revoked) or enable an account; the wanted status is in the form,
    so repeating the post finds it done."""
    v.require("staff.manage")
    wanted = v.form.get("status")

    def work(c: Connection) -> None:
        current = staff_service.get(c, staff_id=staff_id)
        if wanted not in STATUSES:
            raise ValidationError("status_invalid", "active or disabled", field="status")
        if current.status != wanted:
            staff_service.set_status(
                c, staff_id=staff_id, status=wanted, actor=v.actor, clock=clock
            )

    done = attempt(engine, work)
    if done.error is not None:
        if done.error.code == "staff_not_found":
            raise done.error
        return _member_page(request, v, engine, staff_id, error=done.error, status=422)
    return html_redirect(f"/admin/staff/{staff_id}", request)


@router.get("/roles")
def role_catalog(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Every role with its scope and permissions, and what each permission allows."""
    v.require("staff.read")
    found = run_in_transaction(engine, roles.list_roles)
    return page(
        request,
        v,
        "admin/staff_roles.html",
        active="roles",
        roles=found,
        permissions=roles.PERMISSIONS,
        conflicts=roles.CONFLICTS,
    )
