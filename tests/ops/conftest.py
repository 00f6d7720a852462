"""Ops fixtures: a wealth center with two teams, a director, a manager, three advisors and an
operations manager; verified customers owned by the advisors, each with a lender custody
sub-account; company capital and a funded marketing account."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine

from identity import conftest as identity_fixtures
from identity.conftest import ACTOR, Person, luhn_complete, new_customer, new_staff, resident_id
from puhui.core.clock import FixedClock
from puhui.custody import service as custody
from puhui.db.engine import run_in_transaction
from puhui.identity import customers, roles
from puhui.identity.crypto import Keyring
from puhui.lending import accounts as gl
from puhui.ops import marketing, scope

cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys

CAPITAL = 10_000_000_00  # 1,000万 yuan of company cash
MARKETING = 50_000_00  # 5万 yuan of marketing money


def person(n: int) -> Person:
    """The n-th synthetic investor (distinct phone, ID number and card)."""
    return Person(
        f"1391000{n:04d}",
        "王小" + "一二三四五六七八九十"[n % 10],
        resident_id(f"1101051985061{n:04d}"),
        luhn_complete(f"62220212345{n:07d}"),
        "上海市浦东新区世纪大道100号",
    )


@dataclass(frozen=True)
class Org:
    team_a: int
    team_b: int
    director: int
    manager_a: int
    fa1: int
    fa2: int
    fa3: int
    ops: int
    c1: int  # fa1's customer
    c2: int  # fa2's customer
    c3: int  # fa3's customer
    staff: dict[str, object]


def open_lender(conn: Connection, customer_id: int, clock: FixedClock) -> None:
    custody.ensure_platform_accounts(conn, bank_master="MASTER-0", clock=clock)
    custody.record_account(
        conn,
        user_ref=marketing.custody_ref(customer_id),
        role="lender",
        bank_account_no=f"L{customer_id:08d}",
        clock=clock,
    )


def new_investor(
    engine: Engine, keys: Keyring, clock: FixedClock, n: int, advisor: int | None, team: int | None
) -> int:
    cid = new_customer(engine, keys, clock, person(n))

    def work(c: Connection) -> None:
        if advisor is not None:
            customers.assign(
                c, customer_id=cid, team_id=team, advisor_id=advisor, actor=ACTOR, clock=clock
            )
        open_lender(c, cid, clock)

    run_in_transaction(engine, work)
    return cid


@pytest.fixture
def org(engine: Engine, keys: Keyring, clock: FixedClock) -> Org:
    def teams(c: Connection) -> tuple[int, int]:
        roles.ensure_catalog(c)
        a = roles.create_org_unit(c, code="team-a", name="一组", kind="team", parent="wealth")
        b = roles.create_org_unit(c, code="team-b", name="二组", kind="team", parent="wealth")
        return a, b

    team_a, team_b = run_in_transaction(engine, teams)
    made = {
        "director": new_staff(engine, keys, clock, "sd.zhao", position="sales_director"),
        "manager_a": new_staff(
            engine, keys, clock, "tm.qian", position="team_manager", org_unit="team-a"
        ),
        "fa1": new_staff(
            engine, keys, clock, "fa.sun", position="financial_advisor", org_unit="team-a"
        ),
        "fa2": new_staff(
            engine, keys, clock, "fa.li", position="financial_advisor", org_unit="team-a"
        ),
        "fa3": new_staff(
            engine, keys, clock, "fa.zhou", position="financial_advisor", org_unit="team-b"
        ),
        "ops": new_staff(engine, keys, clock, "op.wu", position="operations_manager"),
    }
    ids = {k: v.member.id for k, v in made.items()}
    c1 = new_investor(engine, keys, clock, 1, ids["fa1"], team_a)
    c2 = new_investor(engine, keys, clock, 2, ids["fa2"], team_a)
    c3 = new_investor(engine, keys, clock, 3, ids["fa3"], team_b)

    def money(c: Connection) -> None:
        gl.inject_capital(c, amount=CAPITAL, transfer_id="cap-1", clock=clock)
        marketing.fund(c, amount_fen=MARKETING, transfer_id="mkt-fund-1", clock=clock)

    run_in_transaction(engine, money)
    return Org(team_a, team_b, c1=c1, c2=c2, c3=c3, staff=made, **ids)


def viewer(engine: Engine, staff_id: int) -> scope.Viewer:
    with engine.connect() as c:
        return scope.viewer(c, staff_id=staff_id)
