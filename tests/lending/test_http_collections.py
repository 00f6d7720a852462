"""Collections over HTTP: the queue (a collector sees only their own loans), assignment by a
manager, the contact log and its guards answered in the error shape, nothing stored on refusal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from identity import conftest as identity_fixtures
from identity.conftest import ALICE
from puhui.core.clock import SHANGHAI
from puhui.db.engine import run_in_transaction
from puhui.lending.collection_models import contacts
from puhui.lending.collections import ContactPolicy

from .test_collections import add_loan

#: Fixtures shared with the identity tests: cheap Argon2, a fixed keyring, the HTTP app.
cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys
platform = identity_fixtures.platform


@pytest.fixture
def desk(platform):  # type: ignore[no-untyped-def]
    """Alice's loans 45 and 5 days past due, a collections manager and two collectors."""
    cid, alice = platform.onboard(ALICE)
    m2 = run_in_transaction(platform.engine, lambda c: add_loan(c, dpd=45, customer_id=cid))
    m1 = run_in_transaction(platform.engine, lambda c: add_loan(c, dpd=5, customer_id=cid))
    _, manager = platform.staff("rm.wu", position="risk_manager")
    li, li_h = platform.staff("col.li", position="collector")
    zhao, zhao_h = platform.staff("col.zhao", position="collector")
    return {
        "alice": alice,
        "m2": m2,
        "m1": m1,
        "manager": manager,
        "li": li.member.id,
        "li_new": li,
        "li_h": li_h,
        "zhao": zhao.member.id,
        "zhao_new": zhao,
        "zhao_h": zhao_h,
    }


def at(platform: Any, desk: dict[str, Any], hour: int, minute: int = 0) -> dict[str, str]:
    """col.li signed in afresh (sessions lapse when idle) at hour:minute on the next day."""
    when = datetime(2026, 11, 3, hour, minute, tzinfo=SHANGHAI)
    platform.clock.set(when - timedelta(minutes=1))
    headers = platform.staff_login(desk["li_new"])
    platform.clock.set(when)
    return headers


def logged(platform: Any) -> int:
    with platform.engine.connect() as c:
        return c.execute(select(func.count()).select_from(contacts)).scalar_one()


def test_the_manager_assigns_and_the_collector_sees_only_their_loans(platform, desk):
    c = platform.client
    queue = c.get("/admin/api/v1/collections/queue", headers=desk["manager"]).json()
    assert [(q["loan_id"], q["bucket"], q["overdue_fen"]) for q in queue["data"]] == [
        (desk["m2"], "M2", 101_000),
        (desk["m1"], "M1", 101_000),
    ]
    assert c.get("/admin/api/v1/collections/queue", headers=desk["li_h"]).json()["data"] == []
    url = f"/admin/api/v1/collections/loans/{desk['m2']}/assignment"
    r = c.post(url, json={"collector_id": desk["li"]}, headers=desk["manager"])
    assert r.status_code == 201 and r.json()["collector_id"] == desk["li"]
    assert c.post(url, json={"collector_id": desk["li"]}, headers=desk["li_h"]).status_code == 403
    mine = c.get("/admin/api/v1/collections/queue", headers=desk["li_h"]).json()["data"]
    assert [q["loan_id"] for q in mine] == [desk["m2"]]
    # A collector cannot widen the view to another's or the unassigned loans.
    other = c.get(
        f"/admin/api/v1/collections/queue?collector_id={desk['zhao']}&unassigned=true",
        headers=desk["li_h"],
    ).json()["data"]
    assert [q["loan_id"] for q in other] == [desk["m2"]]
    unassigned = c.get(
        "/admin/api/v1/collections/queue?unassigned=true&bucket=M1", headers=desk["manager"]
    ).json()["data"]
    assert [q["loan_id"] for q in unassigned] == [desk["m1"]]
    moved = c.post(
        url, json={"collector_id": desk["zhao"], "reason": "rebalancing"}, headers=desk["manager"]
    )
    assert moved.status_code == 201
    history = c.get(
        f"/admin/api/v1/collections/loans/{desk['m2']}/assignments", headers=desk["li_h"]
    ).json()
    assert [(h["collector_id"], h["ended_us"] is None) for h in history] == [
        (desk["li"], False),
        (desk["zhao"], True),
    ]
    same = c.post(url, json={"collector_id": desk["zhao"]}, headers=desk["manager"])
    assert same.status_code == 409 and same.json()["error"]["code"] == "already_assigned"
    nobody = c.post(url, json={"collector_id": 9999}, headers=desk["manager"])
    assert nobody.status_code == 422 and nobody.json()["error"]["code"] == "not_a_collector"


def test_contact_guards_over_http(platform, desk):
    c = platform.client
    c.post(
        f"/admin/api/v1/collections/loans/{desk['m2']}/assignment",
        json={"collector_id": desk["li"]},
        headers=desk["manager"],
    )
    url = f"/admin/api/v1/collections/loans/{desk['m2']}/contacts"
    call = {"channel": "phone", "party": "borrower", "result": "no_answer"}

    li = desk["li_h"]

    def contact(**kw: Any) -> Any:
        return c.post(url, json=call | kw, headers=li)

    li = at(platform, desk, 7, 59)
    early = contact()
    assert early.status_code == 409 and early.json()["error"]["code"] == "contact_quiet_hours"
    assert logged(platform) == 0
    li = at(platform, desk, 8)
    third = contact(party="relative")
    assert third.status_code == 422
    assert third.json()["error"] == {
        "type": "validation_error",
        "code": "third_party_contact_forbidden",
        "message": "only the borrower may be contacted about a debt, not a relative "
        "(141号: no contact with third parties)",
        "field": "party",
        "request_id": third.json()["error"]["request_id"],
    }
    first = contact(result="promise_to_pay", promise_date="2026-11-06", promise_fen=50_000)
    assert first.status_code == 201, first.text
    assert (first.json()["promise_status"], first.json()["promise_paid_fen"]) == ("pending", 0)
    li = at(platform, desk, 21, 59)
    assert contact(channel="sms").status_code == 201
    assert contact(channel="app").status_code == 201
    fourth = contact(channel="letter")
    assert fourth.status_code == 409 and fourth.json()["error"]["code"] == "contact_limit_reached"
    assert logged(platform) == 3
    platform.clock.set(datetime(2026, 11, 3, 21, 59, tzinfo=SHANGHAI))
    zhao = c.post(url, json=call, headers=platform.staff_login(desk["zhao_new"]))
    assert zhao.status_code == 409
    assert zhao.json()["error"]["code"] == "loan_not_assigned_to_you"
    log = c.get(url, headers=li).json()
    assert [x["channel"] for x in log] == ["app", "sms", "phone"]
    platform.app.state.contact_policy = ContactPolicy(max_per_day=4)
    assert contact(channel="letter").status_code == 201
    li = at(platform, desk, 22)
    late = contact(channel="visit")
    assert late.status_code == 409 and late.json()["error"]["code"] == "contact_quiet_hours"
    assert logged(platform) == 4


def test_a_current_loan_is_not_collected(platform, desk):
    current = run_in_transaction(platform.engine, lambda c: add_loan(c, dpd=0))
    r = platform.client.post(
        f"/admin/api/v1/collections/loans/{current}/assignment",
        json={"collector_id": desk["li"]},
        headers=desk["manager"],
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "loan_not_overdue"
    missing = platform.client.get(
        "/admin/api/v1/collections/loans/999/contacts", headers=desk["manager"]
    )
    assert missing.status_code == 404
