"""The back office under ``/admin/api/v1``: customers (masked, team-scoped, audited unmasking),
staff accounts, roles, risk limits and the audit log.

Each route names the one permission it needs; a customer outside the staff member's scope is
404 like one that does not exist. Searching by phone or ID number is a POST so the value never
appears in a URL or an access log. The audit log is read-only here: there is no route that
changes or deletes an entry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from puhui.api.identity import (
    Body,
    ClockDep,
    EngineDep,
    KeysDep,
    StaffAuth,
    StaffMember,
    require,
    transact,
)
from puhui.api.pagination import Page, Pagination
from puhui.identity import audit, auth, customers, risk, roles, staff, staff_access
from puhui.identity.audit import Entry, InclusionProof
from puhui.identity.customers import CustomerView
from puhui.identity.staff import StaffMember as Member

router = APIRouter(prefix="/admin/api/v1", tags=["back office"])


def _as(permission: str) -> Any:
    return Annotated[StaffAuth, Depends(require(permission))]


CustomerReader = _as("customers.read")
CustomerWriter = _as("customers.write")
Unmasker = _as("customers.unmask")
StaffReader = _as("staff.read")
StaffManager = _as("staff.manage")
RoleManager = _as("roles.manage")
AuditReader = _as("audit.read")
RiskConfigurer = _as("risk.configure")


class MeOut(BaseModel):
    id: int
    username: str
    roles: list[str]
    permissions: list[str]
    scope: str


@router.get("/me", response_model=MeOut)
def me(who: StaffMember) -> MeOut:
    ctx = who.ctx
    return MeOut(
        id=ctx.id,
        username=ctx.username,
        roles=list(ctx.roles),
        permissions=sorted(ctx.permissions),
        scope=ctx.scope,
    )


# ------------------------------------------------------------------------------ customers


@router.get("/customers", response_model=Page[CustomerView])
def list_customers(
    who: CustomerReader, page: Pagination, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> Page[CustomerView]:
    """Customers in the staff member's scope, personal values masked."""
    after = int(page.starting_after) if page.starting_after and page.starting_after.isdigit() else 0

    def work(c: Any) -> list[CustomerView]:
        return staff_access.list_customers(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            actor=who.actor,
            after_id=after,
            limit=page.limit + 1,
            clock=clock,
        )

    return Page[CustomerView].from_rows(transact(engine, work), page)


@router.get("/customers/{customer_id}", response_model=CustomerView)
def get_customer(
    customer_id: int, who: CustomerReader, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> CustomerView:
    return transact(
        engine,
        lambda c: staff_access.view_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            customer_id=customer_id,
            actor=who.actor,
            clock=clock,
        ),
    )


class SearchIn(Body):
    phone: Annotated[str, Field(min_length=11, max_length=16)] | None = None
    id_number: Annotated[str, Field(min_length=18, max_length=18)] | None = None


@router.post("/customers/search", response_model=CustomerView)
def search_customer(
    body: SearchIn, who: CustomerReader, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> CustomerView:
    """Find a customer by phone or ID number (through the blind index), within scope."""

    return transact(
        engine,
        lambda c: staff_access.find_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            phone=body.phone,
            id_number=body.id_number,
            actor=who.actor,
            clock=clock,
        ),
    )


class UnmaskIn(Body):
    fields: Annotated[
        list[Literal["phone", "name", "id_number", "address"]], Field(min_length=1, max_length=4)
    ]
    reason: Annotated[str, Field(min_length=5, max_length=200)]


class UnmaskOut(BaseModel):
    customer_id: int
    values: dict[str, str | None]


@router.post("/customers/{customer_id}/unmask", response_model=UnmaskOut)
def unmask_customer(
    customer_id: int,
    body: UnmaskIn,
    who: Unmasker,
    engine: EngineDep,
    keys: KeysDep,
    clock: ClockDep,
) -> UnmaskOut:
    """Plain personal values, for a stated reason; the access is written to the audit log."""

    values = transact(
        engine,
        lambda c: staff_access.unmask_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            customer_id=customer_id,
            fields=body.fields,
            reason=body.reason,
            actor=who.actor,
            clock=clock,
        ),
    )
    return UnmaskOut(customer_id=customer_id, values=values)


class AssignIn(Body):
    team: Annotated[str, Field(min_length=1, max_length=48)] | None = None
    advisor_id: int | None = None


@router.post("/customers/{customer_id}/assign", status_code=204)
def assign_customer(
    customer_id: int, body: AssignIn, who: CustomerWriter, engine: EngineDep, clock: ClockDep
) -> Response:
    def work(c: Any) -> None:
        customers.visible(c, where=who.ctx.customer_filter(), customer_id=customer_id)
        team_id = roles.unit_id(c, body.team) if body.team else None
        customers.assign(
            c,
            customer_id=customer_id,
            team_id=team_id,
            advisor_id=body.advisor_id,
            actor=who.actor,
            clock=clock,
        )

    transact(engine, work)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------- staff


@router.get("/staff", response_model=Page[Member])
def list_staff(who: StaffReader, page: Pagination, engine: EngineDep) -> Page[Member]:
    after = int(page.starting_after) if page.starting_after and page.starting_after.isdigit() else 0
    with engine.connect() as c:
        rows = staff.list_all(c, after_id=after, limit=page.limit + 1)
    return Page[Member].from_rows(rows, page)


@router.get("/staff/{staff_id}", response_model=Member)
def get_staff(staff_id: int, who: StaffReader, engine: EngineDep) -> Member:
    with engine.connect() as c:
        return staff.get(c, staff_id=staff_id)


class StaffIn(Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=128)]
    position: Annotated[str, Field(max_length=48)] | None = None
    org_unit: Annotated[str, Field(max_length=48)] | None = None


class NewStaffOut(BaseModel):
    member: Member
    totp_secret: str
    totp_uri: str


@router.post("/staff", status_code=201, response_model=NewStaffOut)
def create_staff(
    body: StaffIn, who: StaffManager, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> NewStaffOut:
    """A new account with its position's role and a TOTP secret (shown only in this answer)."""
    new = transact(
        engine,
        lambda c: staff.create(c, keys=keys, **body.model_dump(), actor=who.actor, clock=clock),
    )
    return NewStaffOut(member=new.member, totp_secret=new.totp_secret, totp_uri=new.totp_uri)


class StatusIn(Body):
    status: Literal["active", "disabled"]


@router.post("/staff/{staff_id}/status", response_model=Member)
def set_staff_status(
    staff_id: int, body: StatusIn, who: StaffManager, engine: EngineDep, clock: ClockDep
) -> Member:
    return transact(
        engine,
        lambda c: staff.set_status(
            c, staff_id=staff_id, status=body.status, actor=who.actor, clock=clock
        ),
    )


@router.post("/staff/{staff_id}/unlock", status_code=204)
def unlock_staff(staff_id: int, who: StaffManager, engine: EngineDep, clock: ClockDep) -> Response:
    transact(
        engine,
        lambda c: auth.unlock(c, principal=f"staff:{staff_id}", actor=who.actor, clock=clock),
    )
    return Response(status_code=204)


@router.post("/customers/{customer_id}/unlock", status_code=204)
def unlock_customer(
    customer_id: int, who: StaffManager, engine: EngineDep, clock: ClockDep
) -> Response:
    principal = f"customer:{customer_id}"
    transact(engine, lambda c: auth.unlock(c, principal=principal, actor=who.actor, clock=clock))
    return Response(status_code=204)


class RolesIn(Body):
    roles: Annotated[list[Annotated[str, Field(max_length=48)]], Field(max_length=10)]


@router.put("/staff/{staff_id}/roles", response_model=Member)
def set_staff_roles(
    staff_id: int, body: RolesIn, who: RoleManager, engine: EngineDep, clock: ClockDep
) -> Member:
    """Replace a staff member's roles; a combination breaking SEC-AC-01 is refused."""

    def work(c: Any) -> Member:
        staff.get(c, staff_id=staff_id)
        return staff.set_roles(
            c, staff_id=staff_id, role_codes=body.roles, actor=who.actor, clock=clock
        )

    return transact(engine, work)


# ---------------------------------------------------------------------------------- roles


@router.get("/roles", response_model=list[roles.Role])
def list_roles(who: StaffReader, engine: EngineDep) -> list[roles.Role]:
    return transact(engine, roles.list_roles)


class RoleIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scope: Literal["none", "team", "all"]
    permissions: Annotated[list[Annotated[str, Field(max_length=48)]], Field(max_length=30)]


@router.put("/roles/{code}", response_model=roles.Role)
def define_role(
    code: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$")],
    body: RoleIn,
    who: RoleManager,
    engine: EngineDep,
    clock: ClockDep,
) -> roles.Role:
    def work(c: Any) -> roles.Role:
        role = roles.define_role(
            c, code=code, name=body.name, scope=body.scope, perms=body.permissions
        )
        audit.record(
            c,
            actor=who.actor,
            event="role.define",
            object_type="role",
            object_id=code,
            after={"scope": role.scope, "permissions": list(role.permissions)},
            clock=clock,
        )
        return role

    return transact(engine, work)


class OrgUnitIn(Body):
    code: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_-]*$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    parent: Annotated[str, Field(min_length=1, max_length=48)]


class OrgUnitOut(BaseModel):
    id: int


@router.post("/org-units", status_code=201, response_model=OrgUnitOut)
def create_team(
    body: OrgUnitIn, who: StaffManager, engine: EngineDep, clock: ClockDep
) -> OrgUnitOut:
    def work(c: Any) -> int:
        unit = roles.create_org_unit(
            c, code=body.code, name=body.name, kind="team", parent=body.parent
        )
        audit.record(
            c,
            actor=who.actor,
            event="org.create",
            object_type="org_unit",
            object_id=unit,
            clock=clock,
        )
        return unit

    return OrgUnitOut(id=transact(engine, work))


class LimitsIn(Body):
    max_single_fen: Annotated[int, Field(ge=0, le=10**15)]
    max_total_fen: Annotated[int, Field(ge=0, le=10**15)]
    allowed_grades: Annotated[list[Literal["R1", "R2", "R3", "R4", "R5"]], Field(max_length=5)]


@router.put("/risk/limits/{level}", response_model=risk.Limits)
def set_limits(
    level: Literal["C1", "C2", "C3", "C4", "C5"],
    body: LimitsIn,
    who: RiskConfigurer,
    engine: EngineDep,
    clock: ClockDep,
) -> risk.Limits:
    """Change a level's limits at run time (P2P-LND-03)."""
    limits = risk.Limits(level, body.max_single_fen, body.max_total_fen, tuple(body.allowed_grades))
    return transact(
        engine, lambda c: risk.set_limits(c, limits=limits, actor=who.actor, clock=clock)
    )


# ---------------------------------------------------------------------------------- audit


@router.get("/audit", response_model=Page[Entry], tags=["audit"])
def audit_log(
    who: AuditReader,
    page: Pagination,
    engine: EngineDep,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[Entry]:
    """The audit log, oldest first (read-only: nothing can change or delete an entry)."""
    after = int(page.starting_after) if page.starting_after and page.starting_after.isdigit() else 0
    with engine.connect() as c:
        rows = audit.list_entries(
            c, after_seq=after, limit=page.limit + 1, object_type=object_type, object_id=object_id
        )
    return Page[Entry].from_rows(rows, page)


@router.get("/audit/{seq}/proof", response_model=InclusionProof, tags=["audit"])
def audit_proof(seq: int, who: AuditReader, engine: EngineDep) -> InclusionProof:
    """The RFC 6962 inclusion proof of a sealed entry against its day's Merkle root."""
    with engine.connect() as c:
        return audit.inclusion_proof(c, seq=seq)


class VerifyOut(BaseModel):
    ok: bool
    problems: list[str]


@router.get("/audit-verify", response_model=VerifyOut, tags=["audit"])
def audit_verify(who: AuditReader, engine: EngineDep) -> VerifyOut:
    with engine.connect() as c:
        problems = audit.verify(c)
    return VerifyOut(ok=not problems, problems=[str(p) for p in problems[:100]])
