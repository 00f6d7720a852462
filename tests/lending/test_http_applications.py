"""Applications over HTTP: apply and the decision with its reasons, the offer with the IRR annual
rate at the level of every other rate, sign, decline, cancel, and the staff review queue with
maker-checker."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from identity import conftest as identity_fixtures
from identity.conftest import ACTOR, ALICE, BOB
from puhui.db.engine import run_in_transaction
from puhui.identity import customers
from puhui.lending import applications as apps
from puhui.lending.applications import LendingConfig
from puhui.lending.models import application_events, applications, loans
from puhui.lending.states import transition_application

from .applicants import product

#: Fixtures shared with the identity tests: cheap Argon2, a fixed keyring, the HTTP app.
cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys
platform = identity_fixtures.platform

APPLY = {"product_code": "XFD", "amount_fen": 1_200_000, "term": 12, "purpose": "consumer_goods"}


def borrower(platform: Any, person: Any = ALICE) -> tuple[int, dict[str, str]]:
    """Signed in, verified, with a declared income (the rules need one, RATE-CASH-01)."""
    cid, headers = platform.onboard(person)
    run_in_transaction(
        platform.engine,
        lambda c: customers.update_profile(
            c,
            keys=platform.keys,
            customer_id=cid,
            changes={"annual_income_fen": 60_000_000, "occupation": "engineer"},
            actor=ACTOR,
            clock=platform.clock,
        ),
    )
    return cid, headers


@pytest.fixture
def world(platform):  # type: ignore[no-untyped-def]
    run_in_transaction(platform.engine, lambda c: product(c, platform.clock))
    cid, alice = borrower(platform)
    return cid, alice


def rows(platform: Any, table: Any) -> int:
    with platform.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def test_apply_is_decided_and_offered_with_the_irr_rate_beside_the_contract_rate(platform, world):
    cid, alice = world
    r = platform.client.post("/api/v1/me/loan-applications", json=APPLY, headers=alice)
    assert r.status_code == 201, r.text
    app = r.json()
    assert (app["state"], app["customer_id"], app["decision_outcome"]) == (
        "offered",
        cid,
        "approve",
    )
    assert (app["approved_fen"], app["annual_rate"]) == (1_200_000, "0.18")
    offer = platform.client.get(
        f"/api/v1/me/loan-applications/{app['id']}/offer", headers=alice
    ).json()
    # RATE-APR-02/03: the IRR annual rate sits beside the contract rate, with its label.
    assert offer["irr_label"] == "年化利率（按内部收益率法/复利计算）"
    assert {"irr_annual_rate", "annual_rate", "effective_annual_rate"} <= offer.keys()
    assert offer["annual_rate"] == "0.18" and offer["irr_annual_rate"].startswith("0.18")
    assert (offer["amount_fen"], offer["term"], len(offer["schedule"])) == (1_200_000, 12, 12)
    assert sum(line["principal_fen"] for line in offer["schedule"]) == 1_200_000
    assert offer["total_repayment_fen"] == 1_200_000 + offer["total_interest_fen"]
    assert offer["schedule"][0]["total_fen"] == 110_016
    with platform.engine.connect() as c:
        moves = c.execute(
            select(application_events.c.to_state).order_by(application_events.c.id)
        ).scalars()
        assert list(moves) == [
            "draft",
            "submitted",
            "under_review",
            "approved",
            "offered",
        ]
    mine = platform.client.get("/api/v1/me/loan-applications", headers=alice).json()
    assert [a["id"] for a in mine["data"]] == [app["id"]] and mine["has_more"] is False


def test_a_rejection_carries_its_reasons(platform, world):
    _cid, alice = world
    body = APPLY | {"purpose": "securities"}
    r = platform.client.post("/api/v1/me/loan-applications", json=body, headers=alice)
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["state"] == "rejected" and app["offer"] is None
    assert app["reasons"] and all(h["text_zh"] and h["text_en"] for h in app["reasons"])
    offer = platform.client.get(f"/api/v1/me/loan-applications/{app['id']}/offer", headers=alice)
    assert offer.status_code == 404 and offer.json()["error"]["code"] == "offer_not_found"


def test_bad_applications_are_refused_and_nothing_is_stored(platform, world):
    _cid, alice = world
    for body, code in (
        (APPLY | {"term": 7}, "term_not_offered"),
        (APPLY | {"amount_fen": 99}, "amount_out_of_range"),
        (APPLY | {"product_code": "NOPE"}, "product_not_found"),
        (APPLY | {"purpose": "gambling"}, "purpose_unknown"),
    ):
        r = platform.client.post("/api/v1/me/loan-applications", json=body, headers=alice)
        assert r.status_code in (404, 422) and r.json()["error"]["code"] == code, r.text
    assert rows(platform, applications) == 0


def test_sign_creates_the_loan_and_another_borrower_sees_nothing(platform, world):
    cid, alice = world
    app = platform.client.post("/api/v1/me/loan-applications", json=APPLY, headers=alice).json()
    _bob_id, bob = borrower(platform, BOB)
    base = f"/api/v1/me/loan-applications/{app['id']}"
    for path in ("", "/offer"):
        r = platform.client.get(base + path, headers=bob)
        assert r.status_code == 404 and r.json()["error"]["code"] == "application_not_found"
    assert platform.client.post(base + "/accept", headers=bob).status_code == 404
    r = platform.client.post(base + "/accept", headers=alice)
    assert r.status_code == 200, r.text
    signed = r.json()
    assert signed["state"] == "accepted" and signed["loan_id"]
    with platform.engine.connect() as c:
        loan = c.execute(select(loans).where(loans.c.id == signed["loan_id"])).one()
    assert (loan.customer_id, loan.state, loan.principal_fen, loan.annual_rate) == (
        cid,
        "accepted",
        1_200_000,
        "0.18",
    )
    again = platform.client.post(base + "/accept", headers=alice)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
    assert platform.client.post(base + "/decline", headers=alice).status_code == 409


def test_decline_then_cancel_is_refused(platform, world):
    _cid, alice = world
    app = platform.client.post("/api/v1/me/loan-applications", json=APPLY, headers=alice).json()
    base = f"/api/v1/me/loan-applications/{app['id']}"
    r = platform.client.post(base + "/decline", headers=alice)
    assert r.status_code == 200 and r.json()["state"] == "declined"
    r = platform.client.post(base + "/cancel", headers=alice)
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"


def test_cancel_before_disbursement(platform, world):
    _cid, alice = world
    app = platform.client.post("/api/v1/me/loan-applications", json=APPLY, headers=alice).json()
    base = f"/api/v1/me/loan-applications/{app['id']}"
    loan_id = platform.client.post(base + "/accept", headers=alice).json()["loan_id"]
    r = platform.client.post(base + "/cancel", headers=alice)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    with platform.engine.connect() as c:
        assert c.execute(select(loans.c.state).where(loans.c.id == loan_id)).scalar() == (
            "cancelled"
        )


# ------------------------------------------------------------------------ staff review


def in_manual_review(platform: Any, cid: int, amount_fen: int = 6_000_000) -> int:
    """An application a scored decision referred to a person (set up without a model)."""

    def work(c: Any) -> int:
        version = product(c, platform.clock, code="XFD2")
        app = apps.create(
            c,
            customer_id=cid,
            product_version_id=version.version_id,
            amount_fen=amount_fen,
            term=12,
            purpose="car",
            actor=ACTOR,
            clock=platform.clock,
        )
        for to in ("submitted", "under_review", "manual_review"):
            transition_application(
                c, application_id=app.id, to=to, actor=ACTOR, reason="test", clock=platform.clock
            )
        return app.id

    return run_in_transaction(platform.engine, work)


def test_maker_checker_above_the_threshold(platform, world):
    cid, alice = world
    app_id = in_manual_review(platform, cid)
    _, officer = platform.staff("ro.sun", position="risk_officer")
    maker, manager = platform.staff("rm.wu", position="risk_manager")
    _, checker = platform.staff("rm.he", position="risk_manager")
    queue = platform.client.get("/admin/api/v1/loan-applications", headers=officer).json()
    assert [a["id"] for a in queue["data"]] == [app_id]
    base = f"/admin/api/v1/loan-applications/{app_id}"
    early = platform.client.post(base + "/approve", json={"reason": "ok"}, headers=checker)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "recommendation_required"
    r = platform.client.post(
        base + "/recommend",
        json={"recommendation": "approve", "reason": "stable income", "annual_rate": "0.12"},
        headers=manager,
    )
    assert r.status_code == 200 and r.json()["recommended_by"] == maker.member.id
    same = platform.client.post(base + "/approve", json={"reason": "ok"}, headers=manager)
    assert same.status_code == 409
    assert same.json()["error"]["code"] == "maker_checker_same_person"
    r = platform.client.post(base + "/approve", json={"reason": "agreed"}, headers=checker)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "offered" and done["annual_rate"] == "0.12"
    assert done["offer"]["amount_fen"] == 6_000_000
    detail = platform.client.get(base, headers=officer).json()
    assert [e["to_state"] for e in detail["events"]][-2:] == ["approved", "offered"]
    seen = platform.client.get(f"/api/v1/me/loan-applications/{app_id}", headers=alice).json()
    assert seen["state"] == "offered"


def test_the_checker_rejects_and_an_illegal_move_is_refused(platform, world):
    cid, _alice = world
    app_id = in_manual_review(platform, cid, amount_fen=1_000_000)
    _, manager = platform.staff("rm.wu", position="risk_manager")
    base = f"/admin/api/v1/loan-applications/{app_id}"
    r = platform.client.post(base + "/reject", json={"reason": "income unclear"}, headers=manager)
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    again = platform.client.post(base + "/approve", json={"reason": "x"}, headers=manager)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_in_manual_review"
    assert (
        platform.client.get(
            "/admin/api/v1/loan-applications?state=rejected", headers=manager
        ).json()["data"][0]["id"]
        == app_id
    )


def test_a_configured_threshold_lets_one_person_decide(platform, world):
    cid, _alice = world
    platform.app.state.lending_config = LendingConfig(maker_checker_above_fen=10_000_000)
    app_id = in_manual_review(platform, cid)
    _, manager = platform.staff("rm.wu", position="risk_manager")
    r = platform.client.post(
        f"/admin/api/v1/loan-applications/{app_id}/approve",
        json={"reason": "within my authority"},
        headers=manager,
    )
    assert r.status_code == 200 and r.json()["state"] == "offered"
