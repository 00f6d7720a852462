"""Permissions, roles, org units and positions from the operations plan, and who sees what.

Roles are sets of permissions with a customer scope: ``team`` sees the customers of the staff
member's own org unit and the units below it, ``all`` sees every customer, ``none`` none. The
built-in catalog below is written into the tables by ``ensure_catalog``; a security admin may
add roles later. Separation of duties (SEC-AC-01, the 三员 rule): no role, and no staff member
through several roles, holds both a permission that changes who may do what and one that reads
the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, insert, select, true
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.errors import NotFound, ValidationError
from puhui.identity.models import (
    customers,
    org_units,
    permissions,
    positions,
    role_permissions,
    roles,
    staff_roles,
)

PERMISSIONS: dict[str, str] = {
    "customers.read": "see customers of the role's scope, masked",
    "customers.write": "correct customer data, assign advisors",
    "customers.unmask": "see a customer's personal data unmasked, with a reason (audited)",
    "kyc.review": "review real-name verification results",
    "risk.configure": "change suitability limits and questionnaires",
    "loans.read": "see loans and repayment schedules",
    "loans.collect": "work overdue loans",
    "loans.review": "review loan applications and recommend a decision (maker)",
    "loans.approve": "approve or reject a recommended loan application (checker)",
    "loans.disburse": "disburse accepted loans",
    "loans.service": "post, backdate and reverse repayments; rollovers, write-offs, recoveries",
    "collections.manage": "assign overdue loans to collectors",
    "eod.run": "run and inspect the end-of-day batch",
    "creditlines.read": "see consumer credit lines, their statements and instalment plans",
    "creditlines.manage": "grant, adjust, raise, freeze, unfreeze and close consumer credit lines",
    "finance.read": "see custody and company books",
    "finance.reconcile": "run and resolve reconciliations",
    "operations.manage": "run campaigns, content and daily operations",
    "marketplace.read": "see marketplace listings, bids, notes and the risk reserve",
    "marketplace.manage": "create, publish, close and expire marketplace listings",
    "ops.read": "see leads, events, ownership and performance within the team hierarchy",
    "ops.write": "work leads, tasks, events and customer ownership within the team hierarchy",
    "compliance.read": "see disclosures, AML cases and regulator reports",
    "compliance.manage": "publish disclosures and major events, run checks, resolve alerts",
    "aml.manage": "decide and file AML cases and reports, keep the watch list, export the feed",
    "hr.manage": "maintain the staff directory",
    "staff.read": "list staff accounts",
    "staff.manage": "create, disable and unlock staff accounts, revoke their sessions",
    "roles.manage": "define roles and grant them to staff",
    "audit.read": "read the audit log and its proofs",
}

#: Pairs no role and no staff member may hold together (SEC-AC-01).
CONFLICTS: tuple[tuple[str, str], ...] = (
    ("roles.manage", "audit.read"),
    ("staff.manage", "audit.read"),
    ("roles.manage", "staff.manage"),
)


@dataclass(frozen=True)
class RoleDef:
    code: str
    name: str
    scope: str
    permissions: frozenset[str]


def _role(code: str, name: str, scope: str, *perms: str) -> RoleDef:
    return RoleDef(code, name, scope, frozenset(perms))


BUILTIN_ROLES: tuple[RoleDef, ...] = (
    _role(
        "finance_staff",
        "财务中心 Finance",
        "all",
        "finance.read",
        "finance.reconcile",
        "loans.read",
        "loans.disburse",
        "loans.service",
        "eod.run",
        "creditlines.read",
    ),
    _role("hr_admin", "人事行政 HR and administration", "none", "hr.manage", "staff.read"),
    _role(
        "sales_director",
        "销售总监 Sales director",
        "team",
        "customers.read",
        "customers.write",
        "ops.read",
        "ops.write",
    ),
    _role(
        "team_manager",
        "团队经理 Team manager",
        "team",
        "customers.read",
        "customers.write",
        "ops.read",
        "ops.write",
    ),
    _role(
        "account_manager",
        "客户经理 Account manager",
        "team",
        "customers.read",
        "ops.read",
        "ops.write",
    ),
    _role(
        "financial_advisor",
        "理财顾问 Financial advisor",
        "team",
        "customers.read",
        "ops.read",
        "ops.write",
    ),
    _role(
        "operations_director",
        "运营总监 Operations director",
        "all",
        "customers.read",
        "operations.manage",
        "risk.configure",
        "ops.read",
        "ops.write",
    ),
    _role(
        "operations_manager",
        "运营经理 Operations manager",
        "all",
        "customers.read",
        "operations.manage",
        "marketplace.read",
        "marketplace.manage",
        "ops.read",
        "ops.write",
    ),
    _role(
        "operations_specialist",
        "运营专员 Operations specialist",
        "all",
        "customers.read",
        "ops.read",
        "ops.write",
    ),
    _role("technology_engineer", "技术中心 Engineer", "none"),
    _role(
        "risk_officer",
        "风控专员 Risk officer",
        "all",
        "customers.read",
        "kyc.review",
        "loans.read",
        "loans.review",
        "risk.configure",
    ),
    _role(
        "risk_manager",
        "风控经理 Risk manager",
        "all",
        "customers.read",
        "loans.read",
        "marketplace.read",
        "loans.review",
        "loans.approve",
        "collections.manage",
        "creditlines.read",
        "creditlines.manage",
    ),
    _role(
        "collector",
        "催收专员 Collector",
        "all",
        "customers.read",
        "loans.read",
        "loans.collect",
        "creditlines.read",
    ),
    _role(
        "compliance_officer",
        "合规专员 Compliance officer",
        "all",
        "customers.read",
        "customers.unmask",
        "kyc.review",
        "compliance.read",
        "compliance.manage",
        "aml.manage",
    ),
    _role("system_admin", "系统管理员 System admin", "none", "staff.read", "staff.manage"),
    _role("security_admin", "安全管理员 Security admin", "none", "staff.read", "roles.manage"),
    _role("audit_admin", "审计管理员 Audit admin", "none", "audit.read"),
)

#: (code, name, kind, parent code)
BUILTIN_UNITS: tuple[tuple[str, str, str, str | None], ...] = (
    ("finance", "财务中心 Finance center", "center", None),
    ("hr_admin", "人事行政中心 HR and administration", "center", None),
    ("wealth", "财富中心 Wealth center", "center", None),
    ("operations", "运营中心 Operations center", "center", None),
    ("technology", "技术中心 Technology center", "center", None),
    ("risk", "风控部 Risk", "department", None),
    ("compliance", "合规部 Compliance", "department", None),
    ("security", "信息安全 Information security", "department", "technology"),
    ("audit", "审计部 Audit", "department", None),
)

#: (code, name, org unit, role)
BUILTIN_POSITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("finance_specialist", "财务专员", "finance", "finance_staff"),
    ("hr_specialist", "人事行政专员", "hr_admin", "hr_admin"),
    ("sales_director", "销售总监", "wealth", "sales_director"),
    ("team_manager", "团队经理", "wealth", "team_manager"),
    ("account_manager", "客户经理", "wealth", "account_manager"),
    ("financial_advisor", "理财顾问", "wealth", "financial_advisor"),
    ("operations_director", "运营总监", "operations", "operations_director"),
    ("operations_manager", "运营经理", "operations", "operations_manager"),
    ("operations_specialist", "运营专员", "operations", "operations_specialist"),
    ("engineer", "工程师", "technology", "technology_engineer"),
    ("risk_officer", "风控专员", "risk", "risk_officer"),
    ("risk_manager", "风控经理", "risk", "risk_manager"),
    ("collector", "催收专员", "risk", "collector"),
    ("compliance_officer", "合规专员", "compliance", "compliance_officer"),
    ("system_admin", "系统管理员", "technology", "system_admin"),
    ("security_admin", "安全管理员", "security", "security_admin"),
    ("audit_admin", "审计管理员", "audit", "audit_admin"),
)


def check_separation(perms: Iterable[str], *, what: str) -> None:
    held = set(perms)
    for a, b in CONFLICTS:
        if a in held and b in held:
            raise ValidationError(
                "separation_of_duties",
                f"{what} would hold both {a} and {b} (SEC-AC-01)",
                field="roles",
            )


# ------------------------------------------------------------------------------- catalog


def _insert_missing(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


def _ids(conn: Connection, table: Table) -> dict[str, int]:
    return {r.code: r.id for r in conn.execute(select(table.c.code, table.c.id))}


def _catalog_complete(conn: Connection) -> bool:
    have_roles = _ids(conn, roles)
    if not all(r.code in have_roles for r in BUILTIN_ROLES):
        return False
    granted = set(
        conn.execute(
            select(roles.c.code, role_permissions.c.permission).join(
                role_permissions, role_permissions.c.role_id == roles.c.id
            )
        ).tuples()
    )
    return all((r.code, p) in granted for r in BUILTIN_ROLES for p in r.permissions)


def ensure_catalog(conn: Connection) -> None:
    """Write the built-in permissions, roles, org units and positions (idempotent).

    A release that adds a permission to a built-in role (a new domain's ``ops.read``) must reach
    databases seeded by an earlier release too, so the short cut is taken only when every
    built-in grant is already there, not merely every role."""
    if _catalog_complete(conn):
        return
    _insert_missing(
        conn, permissions, [{"code": c, "description": d} for c, d in PERMISSIONS.items()]
    )
    _insert_missing(
        conn,
        roles,
        [
            {"code": r.code, "name": r.name, "scope": r.scope, "built_in": True}
            for r in BUILTIN_ROLES
        ],
    )
    role_ids = _ids(conn, roles)
    _insert_missing(
        conn,
        role_permissions,
        [
            {"role_id": role_ids[r.code], "permission": p}
            for r in BUILTIN_ROLES
            for p in sorted(r.permissions)
        ],
    )
    for code, name, kind, parent in BUILTIN_UNITS:
        units = _ids(conn, org_units)
        if code not in units:
            parent_id = units[parent] if parent else None
            _insert_missing(
                conn,
                org_units,
                [{"code": code, "name": name, "kind": kind, "parent_id": parent_id}],
            )
    units = _ids(conn, org_units)
    _insert_missing(
        conn,
        positions,
        [
            {"code": c, "name": n, "org_unit_id": units[u], "role_id": role_ids[r]}
            for c, n, u, r in BUILTIN_POSITIONS
        ],
    )


def create_org_unit(conn: Connection, *, code: str, name: str, kind: str, parent: str) -> int:
    """A new unit (typically a sales team under the wealth center)."""
    ensure_catalog(conn)
    parent_id = _ids(conn, org_units).get(parent)
    if parent_id is None:
        raise NotFound("org_unit_not_found", f"no org unit {parent!r}", field="parent")
    if code in _ids(conn, org_units):
        raise ValidationError("org_unit_exists", f"org unit {code!r} exists", field="code")
    return conn.execute(
        insert(org_units).values(code=code, name=name, kind=kind, parent_id=parent_id)
    ).inserted_primary_key[0]


def unit_id(conn: Connection, code: str) -> int:
    found = _ids(conn, org_units).get(code)
    if found is None:
        raise NotFound("org_unit_not_found", f"no org unit {code!r}", field="org_unit")
    return found


def subtree(conn: Connection, root_id: int) -> frozenset[int]:
    """The unit and every unit below it."""
    children: dict[int | None, list[int]] = {}
    for r in conn.execute(select(org_units.c.id, org_units.c.parent_id)):
        children.setdefault(r.parent_id, []).append(r.id)
    found, todo = {root_id}, [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)


# --------------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class Role:
    id: int
    code: str
    name: str
    scope: str
    built_in: bool
    permissions: tuple[str, ...]


def list_roles(conn: Connection) -> list[Role]:
    ensure_catalog(conn)
    perms: dict[int, list[str]] = {}
    for r in conn.execute(select(role_permissions).order_by(role_permissions.c.permission)):
        perms.setdefault(r.role_id, []).append(r.permission)
    return [
        Role(r.id, r.code, r.name, r.scope, r.built_in, tuple(perms.get(r.id, ())))
        for r in conn.execute(select(roles).order_by(roles.c.id))
    ]


def get_role(conn: Connection, code: str) -> Role:
    for role in list_roles(conn):
        if role.code == code:
            return role
    raise NotFound("role_not_found", f"no role {code!r}", field="role")


def define_role(
    conn: Connection, *, code: str, name: str, scope: str, perms: Iterable[str]
) -> Role:
    """Create a role or replace the permissions of a custom one (built-ins are fixed)."""
    wanted = sorted(set(perms))
    unknown = [p for p in wanted if p not in PERMISSIONS]
    if unknown:
        raise ValidationError(
            "permission_unknown", f"unknown permission {unknown[0]!r}", field="permissions"
        )
    if scope not in ("none", "team", "all"):
        raise ValidationError("scope_invalid", "scope is none, team or all", field="scope")
    check_separation(wanted, what=f"role {code}")
    existing = {r.code: r for r in list_roles(conn)}
    if code in existing:
        role = existing[code]
        if role.built_in:
            raise ValidationError("role_built_in", "built-in roles cannot be changed", field="code")
        _check_holders(conn, role.id, wanted)
        conn.execute(delete(role_permissions).where(role_permissions.c.role_id == role.id))
        role_id = role.id
    else:
        role_id = conn.execute(
            insert(roles).values(code=code, name=name, scope=scope, built_in=False)
        ).inserted_primary_key[0]
    if wanted:
        conn.execute(
            insert(role_permissions), [{"role_id": role_id, "permission": p} for p in wanted]
        )
    return get_role(conn, code)


def _check_holders(conn: Connection, role_id: int, wanted: list[str]) -> None:
    """Changing a role must not give any holder a forbidden combination through other roles."""
    holders = conn.execute(select(staff_roles.c.staff_id).where(staff_roles.c.role_id == role_id))
    for staff_id in holders.scalars():
        others = [r for r in roles_of(conn, staff_id) if r.id != role_id]
        check_separation(
            [*wanted, *(p for r in others for p in r.permissions)], what=f"staff {staff_id}"
        )


def roles_of(conn: Connection, staff_id: int) -> list[Role]:
    ids = set(
        conn.execute(
            select(staff_roles.c.role_id).where(staff_roles.c.staff_id == staff_id)
        ).scalars()
    )
    return [r for r in list_roles(conn) if r.id in ids]


def grant_roles(conn: Connection, *, staff_id: int, role_codes: Iterable[str]) -> list[Role]:
    """Replace a staff member's roles, refusing a combination that breaks SEC-AC-01."""
    by_code = {r.code: r for r in list_roles(conn)}
    chosen = []
    for code in dict.fromkeys(role_codes):
        if code not in by_code:
            raise NotFound("role_not_found", f"no role {code!r}", field="roles")
        chosen.append(by_code[code])
    check_separation([p for r in chosen for p in r.permissions], what="this staff member")
    conn.execute(delete(staff_roles).where(staff_roles.c.staff_id == staff_id))
    if chosen:
        conn.execute(insert(staff_roles), [{"staff_id": staff_id, "role_id": r.id} for r in chosen])
    return chosen


# ---------------------------------------------------------------------------- visibility

_SCOPE_RANK = {"none": 0, "team": 1, "all": 2}


def widest_scope(role_list: Iterable[Role]) -> str:
    return max((r.scope for r in role_list), key=_SCOPE_RANK.__getitem__, default="none")


def customer_filter(scope: str, team_ids: frozenset[int]) -> ColumnElement[bool]:
    """The condition on ``identity_customers`` for what a scope may see."""
    if scope == "all":
        return true()
    if scope == "team" and team_ids:
        return customers.c.team_id.in_(sorted(team_ids))
    return customers.c.id.is_(None)  # sees nothing


def position_role(conn: Connection, position_code: str) -> tuple[int, int, str]:
    """A position's id, org unit id and default role code."""
    ensure_catalog(conn)
    row = conn.execute(
        select(positions.c.id, positions.c.org_unit_id, roles.c.code)
        .join(roles, roles.c.id == positions.c.role_id)
        .where(positions.c.code == position_code)
    ).first()
    if row is None:
        raise NotFound("position_not_found", f"no position {position_code!r}", field="position")
    return row.id, row.org_unit_id, row.code
