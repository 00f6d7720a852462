"""Staff accounts: creation with a TOTP second factor, roles, disabling, and who a staff member is
when a request arrives (``context``).

There is no default account (SEC-AC-01): the first one is made with ``puhui staff create``.
Every account gets a TOTP secret at creation, shown once, and cannot sign in without a code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity import audit, auth, otp, passwords, roles, sessions
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import staff
from puhui.identity.sealed import insert_sealed
from puhui.identity.times import now_us


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    display_name: str
    status: str
    org_unit_id: int
    roles: tuple[str, ...]


@dataclass(frozen=True)
class NewStaff:
    member: StaffMember
    totp_secret: str
    totp_uri: str


@dataclass(frozen=True)
class StaffContext:
    """A signed-in staff member: permissions, customer scope and the teams it covers."""

    id: int
    username: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    scope: str
    team_ids: frozenset[int]

    def customer_filter(self) -> ColumnElement[bool]:
        return roles.customer_filter(self.scope, self.team_ids)


def create(
    conn: Connection,
    *,
    keys: Keyring,
    username: str,
    display_name: str,
    password: str,
    position: str | None = None,
    org_unit: str | None = None,
    role_codes: tuple[str, ...] = (),
    actor: Actor,
    clock: Clock,
) -> NewStaff:
    """A new active account; its roles default to its position's role."""
    roles.ensure_catalog(conn)
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").isalnum()
    ):
        raise ValidationError(
            "username_invalid", "1-64 letters, digits, '.' or '_'", field="username"
        )
    passwords.check_policy(password, forbidden=(username,))
    if conn.execute(select(staff.c.id).where(staff.c.username == username)).first():
        raise Conflict("username_taken", "this username exists", field="username")
    position_id, unit_id, default_role = (
        roles.position_role(conn, position) if position else (None, None, None)
    )
    if org_unit is not None:
        unit_id = roles.unit_id(conn, org_unit)
    if unit_id is None:
        raise ValidationError(
            "org_unit_required", "give a position or an org unit", field="org_unit"
        )
    chosen = role_codes or ((default_role,) if default_role else ())
    secret = otp.new_totp_secret()
    now = now_us(clock)
    hashed = passwords.hash_password(password)
    staff_id = insert_sealed(
        conn,
        keys,
        staff,
        plain={
            "username": username,
            "display_name": display_name.strip()[:100] or username,
            "status": "active",
            "org_unit_id": unit_id,
            "position_id": position_id,
            "password_hash": hashed,
            "password_changed_us": now,
            "totp_confirmed_us": now,
            "failed_logins": 0,
            "created_us": now,
            "created_by": actor.principal,
        },
        sealed={"totp_secret_ct": secret},
    )
    roles.grant_roles(conn, staff_id=staff_id, role_codes=chosen)
    passwords.remember(conn, principal=f"staff:{staff_id}", password_hash=hashed, clock=clock)
    audit.record(
        conn,
        actor=actor,
        event="staff.create",
        object_type="staff",
        object_id=staff_id,
        after={"username": username, "roles": sorted(chosen), "org_unit_id": unit_id},
        clock=clock,
    )
    return NewStaff(
        get(conn, staff_id=staff_id), secret, otp.provisioning_uri(secret, account=username)
    )


def get(conn: Connection, *, staff_id: int) -> StaffMember:
    row = conn.execute(select(staff).where(staff.c.id == staff_id)).first()
    if row is None:
        raise NotFound("staff_not_found", "no such staff member")
    held = tuple(r.code for r in roles.roles_of(conn, staff_id))
    return StaffMember(row.id, row.username, row.display_name, row.status, row.org_unit_id, held)


def list_all(conn: Connection, *, after_id: int = 0, limit: int = 20) -> list[StaffMember]:
    ids = conn.execute(
        select(staff.c.id).where(staff.c.id > after_id).order_by(staff.c.id).limit(limit)
    ).scalars()
    return [get(conn, staff_id=i) for i in ids]


def context(conn: Connection, *, staff_id: int) -> StaffContext:
    row = conn.execute(select(staff).where(staff.c.id == staff_id)).one()
    held = roles.roles_of(conn, staff_id)
    scope = roles.widest_scope(r for r in held if "customers.read" in r.permissions)
    return StaffContext(
        id=row.id,
        username=row.username,
        roles=tuple(r.code for r in held),
        permissions=frozenset(p for r in held for p in r.permissions),
        scope=scope,
        team_ids=roles.subtree(conn, row.org_unit_id) if scope == "team" else frozenset(),
    )


def set_roles(
    conn: Connection, *, staff_id: int, role_codes: list[str], actor: Actor, clock: Clock
) -> StaffMember:
    before = get(conn, staff_id=staff_id)
    roles.grant_roles(conn, staff_id=staff_id, role_codes=role_codes)
    after = get(conn, staff_id=staff_id)
    audit.record(
        conn,
        actor=actor,
        event="staff.roles",
        object_type="staff",
        object_id=staff_id,
        before={"roles": sorted(before.roles)},
        after={"roles": sorted(after.roles)},
        clock=clock,
    )
    sessions.revoke_all(conn, principal=f"staff:{staff_id}", reason="roles_changed", clock=clock)
    return after


def set_status(
    conn: Connection, *, staff_id: int, status: str, actor: Actor, clock: Clock
) -> StaffMember:
    """Disable (revoking every session) or re-enable an account."""
    if status not in ("active", "disabled"):
        raise ValidationError("status_invalid", "status is active or disabled", field="status")
    before = get(conn, staff_id=staff_id)
    conn.execute(update(staff).where(staff.c.id == staff_id).values(status=status))
    if status == "disabled":
        sessions.revoke_all(conn, principal=f"staff:{staff_id}", reason="disabled", clock=clock)
    audit.record(
        conn,
        actor=actor,
        event="staff.status",
        object_type="staff",
        object_id=staff_id,
        before={"status": before.status},
        after={"status": status},
        clock=clock,
    )
    return get(conn, staff_id=staff_id)


def change_password(
    conn: Connection, *, staff_id: int, new_password: str, actor: Actor, clock: Clock
) -> None:
    """Set a new password (the caller has checked the old one and the TOTP)."""
    member = get(conn, staff_id=staff_id)
    auth.set_password(
        conn,
        principal=f"staff:{staff_id}",
        password=new_password,
        forbidden=(member.username,),
        actor=actor,
        clock=clock,
    )
