"""Roles from the operations plan, separation of duties (SEC-AC-01), team-scoped visibility."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import customers, roles, staff
from puhui.identity.models import customers as customers_table
from puhui.identity.models import role_permissions
from puhui.identity.models import roles as roles_table

from .conftest import ACTOR, ALICE, BOB, new_customer, new_staff


def test_no_built_in_role_breaks_separation_of_duties():
    for role in roles.BUILTIN_ROLES:
        roles.check_separation(role.permissions, what=role.code)
    by_code = {r.code: r for r in roles.BUILTIN_ROLES}
    assert "roles.manage" in by_code["security_admin"].permissions
    assert by_code["audit_admin"].permissions == {"audit.read"}
    assert "audit.read" not in by_code["system_admin"].permissions
    positions = {p[0] for p in roles.BUILTIN_POSITIONS}
    assert {"sales_director", "team_manager", "account_manager", "financial_advisor"} <= positions
    assert {"operations_director", "operations_manager", "operations_specialist"} <= positions


def test_separation_is_enforced_on_grants_and_definitions(engine, keys, clock):
    new = new_staff(engine, keys, clock, "sec.he", position="security_admin")
    with pytest.raises(ValidationError, match="SEC-AC-01"):
        run_in_transaction(
            engine,
            lambda c: staff.set_roles(
                c,
                staff_id=new.member.id,
                role_codes=["security_admin", "audit_admin"],
                actor=ACTOR,
                clock=clock,
            ),
        )
    with pytest.raises(ValidationError, match="SEC-AC-01"):
        run_in_transaction(
            engine,
            lambda c: roles.define_role(
                c, code="super", name="s", scope="all", perms=["roles.manage", "audit.read"]
            ),
        )
    run_in_transaction(
        engine,
        lambda c: roles.define_role(c, code="reader", name="r", scope="all", perms=["audit.read"]),
    )
    with pytest.raises(ValidationError, match="SEC-AC-01"):
        run_in_transaction(
            engine,
            lambda c: staff.set_roles(
                c,
                staff_id=new.member.id,
                role_codes=["security_admin", "reader"],
                actor=ACTOR,
                clock=clock,
            ),
        )
    with pytest.raises(ValidationError, match="built-in"):
        run_in_transaction(
            engine,
            lambda c: roles.define_role(c, code="audit_admin", name="a", scope="all", perms=[]),
        )


def test_team_scope_sees_only_its_teams_customers(engine, keys, clock):
    team1 = run_in_transaction(
        engine,
        lambda c: roles.create_org_unit(
            c, code="team-1", name="一组", kind="team", parent="wealth"
        ),
    )
    run_in_transaction(
        engine,
        lambda c: roles.create_org_unit(
            c, code="team-2", name="二组", kind="team", parent="wealth"
        ),
    )
    a = new_customer(engine, keys, clock, ALICE, verify=False)
    b = new_customer(engine, keys, clock, BOB, verify=False)
    run_in_transaction(
        engine,
        lambda c: customers.assign(
            c, customer_id=a, team_id=team1, advisor_id=None, actor=ACTOR, clock=clock
        ),
    )
    advisor = new_staff(
        engine, keys, clock, "fa.one", position="financial_advisor", org_unit="team-1"
    )
    other = new_staff(
        engine, keys, clock, "fa.two", position="financial_advisor", org_unit="team-2"
    )
    director = new_staff(engine, keys, clock, "sd.wang", position="sales_director")
    ops = new_staff(engine, keys, clock, "ops.zhao", position="operations_specialist")
    auditor = new_staff(engine, keys, clock, "aud.qian", position="audit_admin")

    def seen(new):
        with engine.connect() as c:
            ctx = staff.context(c, staff_id=new.member.id)
            return set(
                c.execute(select(customers_table.c.id).where(ctx.customer_filter())).scalars()
            )

    assert seen(advisor) == {a}
    assert seen(other) == set()
    assert seen(director) == {a}  # the wealth center and every team below it
    assert seen(ops) == {a, b}
    assert seen(auditor) == set()


def test_a_grant_added_by_a_later_release_reaches_a_seeded_database(engine):
    run_in_transaction(engine, roles.ensure_catalog)
    advisor = next(r for r in roles.BUILTIN_ROLES if r.code == "financial_advisor")
    permission = sorted(advisor.permissions)[0]

    def granted(c) -> bool:
        role_id = c.execute(
            select(roles_table.c.id).where(roles_table.c.code == advisor.code)
        ).scalar_one()
        return (
            c.execute(
                select(role_permissions.c.permission).where(
                    role_permissions.c.role_id == role_id,
                    role_permissions.c.permission == permission,
                )
            ).first()
            is not None
        )

    def drop(c) -> None:  # the database as an earlier release, without that grant, left it
        role_id = c.execute(
            select(roles_table.c.id).where(roles_table.c.code == advisor.code)
        ).scalar_one()
        c.execute(
            delete(role_permissions).where(
                role_permissions.c.role_id == role_id, role_permissions.c.permission == permission
            )
        )

    run_in_transaction(engine, drop)
    assert not run_in_transaction(engine, granted)
    run_in_transaction(engine, roles.ensure_catalog)
    assert run_in_transaction(engine, granted)
