"""The credit line over HTTP: staff grant and manage it, the customer buys (once per
Idempotency-Key), converts into instalments with the IRR rate shown first, repays from the
card, and reads statements; another customer never sees the line."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from credit.samples import STRONG, WEAK
from identity import conftest as identity_fixtures
from identity.conftest import ACTOR, ALICE, BOB
from puhui.credit.bureau import SandboxBureau
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.identity import customers
from puhui.lending import accounts, calendar, debit_channel, jobs
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line.models import entries
from puhui.lending.eod_models import debit_sandbox_accounts

from .helpers import books_agree

cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys
platform = identity_fixtures.platform

ME = "/api/v1/me/credit-line"


@pytest.fixture
def world(platform):  # type: ignore[no-untyped-def]
    """Alice with a granted 10,000-yuan line (the company funded), Bob without one, a risk
    manager and a collector."""
    run_in_transaction(
        platform.engine,
        lambda c: calendar.set_date(c, business_date_=date(2026, 11, 2), clock=platform.clock),
    )
    run_in_transaction(
        platform.engine,
        lambda c: accounts.inject_capital(
            c, amount=100_000_000, transfer_id="capital:cl", clock=platform.clock
        ),
    )
    platform.app.state.lending_credit = CreditServices(default_model(), SandboxBureau(), b"k" * 32)
    cid, alice = platform.onboard(ALICE)
    bob_id, bob = platform.onboard(BOB)
    for who in (cid, bob_id):
        earns(platform, who, 30_000_000)
    _, risk = platform.staff("risk.wang", position="risk_manager")
    _, collector = platform.staff("col.li", position="collector")
    r = platform.client.post(
        "/admin/api/v1/credit-lines",
        json={"customer_id": cid, "features": STRONG, "limit_fen": 1_000_000},
        headers=risk,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["outcome"], r.json()["limit_fen"]) == ("approve", 10_000_000)
    line = r.json()["line"]
    assert (line["limit_fen"], line["available_fen"]) == (1_000_000, 1_000_000)
    return {"cid": cid, "alice": alice, "bob_id": bob_id, "bob": bob, "risk": risk,
            "collector": collector, "line": line["id"]}  # fmt: skip


def earns(platform: Any, customer_id: int, income_fen: int) -> None:
    """The customer's income on their profile: what the credit decision reads."""
    run_in_transaction(
        platform.engine,
        lambda c: customers.update_profile(
            c,
            keys=platform.keys,
            customer_id=customer_id,
            changes={"annual_income_fen": income_fen, "occupation": "engineer"},
            actor=ACTOR,
            clock=platform.clock,
        ),
    )


def key(k: str, h: dict[str, str]) -> dict[str, str]:
    return h | {"Idempotency-Key": k}


def count(platform: Any, *where: Any) -> int:
    with platform.engine.connect() as c:
        return c.execute(select(func.count()).select_from(entries).where(*where)).scalar_one()


def test_purchase_once_per_key_and_never_past_the_limit(platform, world):
    c, alice = platform.client, world["alice"]
    body = {"amount_fen": 300_000, "merchant": "sandbox"}
    assert c.post(f"{ME}/purchases", json=body, headers=alice).status_code == 400
    first = c.post(f"{ME}/purchases", json=body, headers=key("k1", alice))
    assert first.status_code == 201, first.text
    assert first.json()["line"]["available_fen"] == 700_000
    again = c.post(f"{ME}/purchases", json=body, headers=key("k1", alice))
    assert again.json() == first.json()
    other = c.post(f"{ME}/purchases", json={"amount_fen": 1}, headers=key("k1", alice))
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert count(platform, entries.c.kind == "purchase") == 1
    over = c.post(f"{ME}/purchases", json={"amount_fen": 700_001}, headers=key("k2", alice))
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "limit_exceeded"
    assert over.json()["error"]["field"] == "amount_fen"
    bad = c.post(f"{ME}/purchases", json={"amount_fen": -5}, headers=key("k3", alice))
    assert bad.status_code == 422
    mine = c.get(f"{ME}/purchases", headers=alice).json()
    assert [(p["amount_fen"], p["merchant"]) for p in mine["data"]] == [(300_000, "sandbox")]
    assert c.get(ME, headers=world["bob"]).status_code == 404


def test_instalments_repay_statements_and_staff_actions(platform, world):
    c, alice, risk = platform.client, world["alice"], world["risk"]
    bought = c.post(f"{ME}/purchases", json={"amount_fen": 120_000}, headers=key("b", alice))
    pid = bought.json()["entry_id"]
    q = c.get(f"{ME}/purchases/{pid}/instalment-quote?periods=3", headers=alice).json()
    assert (q["fee_per_period_fen"], q["payments_fen"]) == (720, [40_720] * 3)
    assert q["irr_annual_rate"].startswith("0.1076") and q["irr_label"].startswith("年化利率")
    bad = c.get(f"{ME}/purchases/{pid}/instalment-quote?periods=4", headers=alice)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "periods"
    plan = c.post(f"{ME}/purchases/{pid}/instalments", json={"periods": 3}, headers=key("i", alice))
    assert plan.status_code == 201, plan.text
    assert [p["state"] for p in c.get(f"{ME}/instalment-plans", headers=alice).json()] == ["active"]
    c.post(f"{ME}/purchases", json={"amount_fen": 50_000}, headers=key("b2", alice))
    run_in_transaction(
        platform.engine,
        lambda x: debit_channel.fund(x, balances={world["cid"]: 30_000}, clock=platform.clock),
    )
    paid = c.post(f"{ME}/repayments", json={"amount_fen": 20_000}, headers=key("p", alice))
    assert paid.status_code == 201, paid.text
    assert paid.json()["to_principal_fen"] == 20_000
    assert c.post(f"{ME}/repayments", json={"amount_fen": 20_000}, headers=key("p", alice)).json(
    ) == paid.json()  # fmt: skip
    declined = c.post(f"{ME}/repayments", json={"amount_fen": 20_000}, headers=key("q", alice))
    assert declined.status_code == 409 and declined.json()["error"]["code"] == "payment_declined"
    with platform.engine.connect() as x:
        assert x.execute(select(debit_sandbox_accounts.c.balance_fen)).scalar() == 10_000
    jobs.run_eod(platform.engine, clock=platform.clock, through=date(2026, 12, 1))
    page = c.get(f"{ME}/statements", headers=alice).json()
    assert len(page["data"]) == 1
    s = page["data"][0]
    assert (s["closing_fen"], s["instalments_fen"], s["fees_fen"]) == (70_720, 40_000, 720)
    full = c.get(f"{ME}/statements/{s['id']}", headers=alice).json()
    assert [e["kind"] for e in full["entries"]] == [
        "purchase", "instalment", "purchase", "payment", "fee"
    ]  # fmt: skip
    assert c.get(f"{ME}/statements/{s['id']}", headers=world["bob"]).status_code == 404
    line = world["line"]
    staff = c.get(f"/admin/api/v1/credit-lines/{line}/statements", headers=world["collector"])
    assert staff.status_code == 200 and staff.json()[0]["closing_fen"] == 70_720
    assert (
        c.post(f"/admin/api/v1/credit-lines/{line}/freeze", headers=world["collector"]).status_code
        == 403
    )
    assert c.post(f"/admin/api/v1/credit-lines/{line}/freeze", headers=risk).json()["state"] == (
        "frozen"
    )
    frozen = c.post(f"{ME}/purchases", json={"amount_fen": 1}, headers=key("f", alice))
    assert frozen.status_code == 409
    assert c.post(f"/admin/api/v1/credit-lines/{line}/unfreeze", headers=risk).status_code == 200
    low = c.post(f"/admin/api/v1/credit-lines/{line}/limit", json={"limit_fen": 1}, headers=risk)
    assert low.status_code == 409 and low.json()["error"]["code"] == "limit_below_outstanding"
    until = (date(2026, 12, 2) + timedelta(days=10)).isoformat()
    up = c.post(
        f"/admin/api/v1/credit-lines/{line}/temporary-raise",
        json={"extra_fen": 100_000, "until": until},
        headers=risk,
    )
    assert up.json()["effective_limit_fen"] == 1_100_000
    plan_id = plan.json()["id"]
    run_in_transaction(
        platform.engine,
        lambda x: debit_channel.fund(x, balances={world["cid"]: 100_000}, clock=platform.clock),
    )
    settled = c.post(f"{ME}/instalment-plans/{plan_id}/settle", headers=key("s", alice))
    assert settled.status_code == 201, settled.text
    assert (settled.json()["state"], settled.json()["principal_billed_fen"]) == (
        "early_settled",
        120_000,
    )
    with platform.engine.connect() as x:
        assert x.execute(select(debit_sandbox_accounts.c.balance_fen)).scalar() == 20_000
    assert c.get(ME, headers=alice).json()["instalment_fen"] == 0
    with platform.engine.connect() as x:
        books_agree(x)


def test_a_line_comes_from_a_credit_decision(platform, world):
    c, risk, bob, bob_id = platform.client, world["risk"], world["bob"], world["bob_id"]
    old = c.post(
        "/admin/api/v1/credit-lines",
        json={"customer_id": bob_id, "grade": "A", "annual_income_fen": 150_000_000},
        headers=risk,
    )
    assert old.status_code == 422  # grade and income are the decision's, not the request's
    bad = c.post(
        "/admin/api/v1/credit-lines", json={"customer_id": bob_id, "features": {}}, headers=risk
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "feature_value_unknown")
    no = c.post(
        "/admin/api/v1/credit-lines", json={"customer_id": bob_id, "features": WEAK}, headers=risk
    )
    assert no.status_code == 201, no.text
    assert (no.json()["outcome"], no.json()["grade"], no.json()["line"]) == ("reject", "E", None)
    assert [(r["code"], r["action"]) for r in no.json()["reasons"]] == [("SC-GRADE", "reject")]
    assert c.get(ME, headers=bob).status_code == 404
    # Bob asks himself: grade A on 300,000 yuan a year → MCL-CAP-01's 100,000 yuan
    yes = c.post(ME, json={"features": STRONG}, headers=bob)
    assert yes.status_code == 201, yes.text
    got = yes.json()
    assert (got["outcome"], got["grade"], got["limit_fen"]) == ("approve", "A", 10_000_000)
    assert "customer_id" not in got["line"]
    assert c.get(ME, headers=bob).json()["available_fen"] == 10_000_000
    again = c.post(ME, json={"features": STRONG}, headers=bob)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "credit_line_exists")


def test_an_overdue_line_is_in_the_collections_queue_with_its_bucket(platform, world):
    c, alice = platform.client, world["alice"]
    bought = c.post(f"{ME}/purchases", json={"amount_fen": 100_000}, headers=key("o", alice))
    assert bought.status_code == 201, bought.text
    queue = "/admin/api/v1/credit-line-collections"
    jobs.run_eod(platform.engine, clock=platform.clock, through=date(2026, 12, 10))
    # the minimum missed on its due day: in the queue at once, aged from tomorrow
    row = {"line_id": world["line"], "customer_id": world["cid"], "state": "active",
           "overdue_fen": 10_000}  # fmt: skip
    assert c.get(queue, headers=world["collector"]).json() == [
        row | {"dpd": 0, "bucket": "M0", "owed_fen": 100_000}
    ]
    jobs.run_eod(platform.engine, clock=platform.clock, through=date(2026, 12, 12))
    # statement 1 Dec: 1,000 yuan, minimum 100; the empty card paid nothing by 10 Dec. Two
    # days on: interest 40 fen a day on the 100,000 billed (14.6% / 365), penalty 3 fen a day
    # on the 10,000 overdue minimum (min(0.05% × 365, 24% − 14.6%) = 9.4% / 365, half up).
    assert c.get(queue, headers=world["collector"]).json() == [
        row | {"dpd": 2, "bucket": "M1", "owed_fen": 100_000 + 2 * 40 + 2 * 3}
    ]
    assert c.get(queue, headers=alice).status_code == 401
    with platform.engine.connect() as x:
        books_agree(x)


def test_pages_take_an_id_cursor(platform, world):
    c, alice = platform.client, world["alice"]
    ids = [
        c.post(f"{ME}/purchases", json={"amount_fen": fen}, headers=key(f"c{fen}", alice)).json()[
            "entry_id"
        ]
        for fen in (1_000, 2_000, 3_000)
    ]
    page = c.get(f"{ME}/purchases?limit=2", headers=alice).json()
    assert ([p["id"] for p in page["data"]], page["has_more"]) == (ids[:2], True)
    rest = c.get(f"{ME}/purchases?limit=2&starting_after={ids[1]}", headers=alice).json()
    assert ([p["amount_fen"] for p in rest["data"]], rest["has_more"]) == ([3_000], False)
    bad = c.get(f"{ME}/purchases?starting_after=abc", headers=alice)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")
    assert bad.json()["error"]["field"] == "starting_after"
