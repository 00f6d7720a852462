"""The marketplace over HTTP: staff list and publish, lenders bid once per Idempotency-Key,
the listing funds, the lender sees notes, calendar and returns; refusals are 4xx and change
nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from identity import conftest as identity_fixtures
from identity.conftest import ALICE, BOB
from puhui.custody.service import Role
from puhui.db.engine import run_in_transaction
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.marketplace import accounts
from puhui.marketplace.models import bids

from .market import DISCLOSURE, _open, approved_application, borrower, deposit, equip_lender

cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys
platform = identity_fixtures.platform


def key(k: str, headers: dict[str, str]) -> dict[str, str]:
    return headers | {"Idempotency-Key": k}


def test_publish_bid_fund_and_see_it(platform: Any) -> None:
    client, clock, engine = platform.client, platform.clock, platform.engine
    _, ops = platform.staff("ops.mkt", position="operations_manager")

    def borrower_app(c):  # type: ignore[no-untyped-def]
        cid, _ = borrower(c, clock)
        return approved_application(c, clock, customer_id=cid, amount_fen=1_000_000)

    app_id = run_in_transaction(engine, borrower_app)
    body = {
        "application_id": app_id,
        "title": "小微经营周转",
        "description": "按月等额本息",
        "risk_grade": "R2",
        "min_bid_fen": 10_000,
        "step_fen": 10_000,
        "disclosure": DISCLOSURE,
    }
    bad = client.post(
        "/admin/api/v1/marketplace/listings", json=body | {"description": "保本保息"}, headers=ops
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "banned_phrase"
    made = client.post("/admin/api/v1/marketplace/listings", json=body, headers=ops)
    assert made.status_code == 201, made.text
    listing = made.json()
    assert listing["status"] == "draft"
    opened = client.post(f"/admin/api/v1/marketplace/listings/{listing['id']}/publish", headers=ops)
    assert opened.json()["status"] == "open"

    alice_id, alice = platform.onboard(ALICE)
    bob_id, bob = platform.onboard(BOB)
    run_in_transaction(engine, lambda c: equip_lender(c, clock, alice_id))
    run_in_transaction(engine, lambda c: equip_lender(c, clock, bob_id))
    seen = client.get("/api/v1/me/marketplace/listings", headers=alice).json()
    assert [x["id"] for x in seen["data"]] == [listing["id"]] and not seen["has_more"]
    assert seen["data"][0]["disclosure"]["repayment_source"] == DISCLOSURE["repayment_source"]
    url = f"/api/v1/me/marketplace/listings/{listing['id']}/bids"
    bid = {"amount_fen": 600_000, "disclosure_version": 1}
    no_key = client.post(url, json=bid, headers=alice)
    assert 400 <= no_key.status_code < 500
    first = client.post(url, json=bid, headers=key("b1", alice))
    assert first.status_code == 201 and first.json()["status"] == "frozen", first.text
    again = client.post(url, json=bid, headers=key("b1", alice))
    assert again.status_code == 201 and again.json() == first.json()
    other = client.post(url, json=bid | {"amount_fen": 500_000}, headers=key("b1", alice))
    assert 400 <= other.status_code < 500
    stale = client.post(
        url, json={"amount_fen": 100_000, "disclosure_version": 2}, headers=key("b2", bob)
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "disclosure_stale"
    too_much = client.post(
        url, json={"amount_fen": 500_000, "disclosure_version": 1}, headers=key("b3", bob)
    )
    assert too_much.json()["error"]["code"] == "amount_over_remaining"
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(bids)).scalar() == 1
    last = client.post(
        url, json={"amount_fen": 400_000, "disclosure_version": 1}, headers=key("b4", bob)
    )
    assert last.json()["listing_status"] == "funded", last.text
    mine = client.get("/api/v1/me/marketplace/portfolio", headers=alice).json()
    assert [n["principal_fen"] for n in mine["notes"]] == [600_000]
    assert mine["outstanding_principal_fen"] == 600_000
    days = client.get("/api/v1/me/marketplace/calendar", headers=alice).json()
    assert len(days) == 6
    assert client.get("/api/v1/me/marketplace/returns", headers=alice).json() == {"xirr": None}
    funded = client.get("/admin/api/v1/marketplace/listings?status=funded", headers=ops).json()
    assert funded["data"][0]["funded_fen"] == 1_000_000
    auto = {
        "amount_per_listing_fen": 100_000,
        "min_rate": "0.08",
        "min_term": 1,
        "max_term": 12,
        "max_grade": "R3",
    }
    assert (
        client.put("/api/v1/me/marketplace/auto-invest", json=auto, headers=alice).status_code
        == 422
    )
    ok = client.put(
        "/api/v1/me/marketplace/auto-invest", json=auto | {"confirm": True}, headers=alice
    )
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    gone = client.post("/api/v1/me/marketplace/auto-invest/revoke", headers=alice)
    assert gone.json()["status"] == "revoked"
    with engine.connect() as c:
        assert verify(c) == []


def test_the_borrower_repays_from_custody_once_per_key(platform: Any) -> None:
    client, clock, engine = platform.client, platform.clock, platform.engine
    _, ops = platform.staff("ops.mkt2", position="operations_manager")
    bob_id, bob = platform.onboard(BOB)
    alice_id, alice = platform.onboard(ALICE)

    def setup(c):  # type: ignore[no-untyped-def]
        acc = _open(c, clock, bob_id, "borrower")
        deposit(c, clock, acc, 500_000, "bob")
        equip_lender(c, clock, alice_id)
        return approved_application(c, clock, customer_id=bob_id, amount_fen=1_000_000)

    app_id = run_in_transaction(engine, setup)
    made = client.post(
        "/admin/api/v1/marketplace/listings",
        json={
            "application_id": app_id,
            "title": "周转",
            "description": "进货",
            "risk_grade": "R2",
            "min_bid_fen": 10_000,
            "step_fen": 10_000,
            "disclosure": DISCLOSURE,
        },
        headers=ops,
    ).json()
    client.post(f"/admin/api/v1/marketplace/listings/{made['id']}/publish", headers=ops)
    funded = client.post(
        f"/api/v1/me/marketplace/listings/{made['id']}/bids",
        json={"amount_fen": 1_000_000, "disclosure_version": 1},
        headers=key("all", alice),
    ).json()
    assert funded["listing_status"] == "funded"
    loan_id = client.get(f"/api/v1/me/marketplace/listings/{made['id']}", headers=alice).json()[
        "loan_id"
    ]
    url = f"/api/v1/me/marketplace/loans/{loan_id}/repayments"
    assert (
        client.post(url, json={"amount_fen": 100_000}, headers=key("r1", alice)).status_code == 404
    )  # not Alice's loan
    card = client.post(
        f"/api/v1/me/loans/{loan_id}/repayments",
        json={"amount_fen": 100_000},
        headers=key("c1", bob),
    )
    assert card.status_code == 409 and card.json()["error"]["code"] == "marketplace_loan"
    paid = client.post(url, json={"amount_fen": 100_000}, headers=key("r2", bob))
    assert paid.status_code == 201, paid.text
    assert client.post(url, json={"amount_fen": 100_000}, headers=key("r2", bob)).json() == (
        paid.json()
    )
    with engine.connect() as c:
        bob_acc = get_account(c, accounts.user_account(c, bob_id, Role.BORROWER))
        # 1,000,000 lent to him, 100,000 repaid once (held: paid ahead of the due date)
        assert bob_acc.credit_balance == 500_000 + 1_000_000 - (
            100_000 - paid.json()["credit_balance_fen"]
        )
        assert verify(c) == []
