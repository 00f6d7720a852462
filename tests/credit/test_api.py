"""The credit router on a test app (the lead mounts it in the real one): staff decide and
resolve reviews, a borrower reads only their own decision and asks for a review."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from lending.samples import LICENSED  # 1,000–200,000 at 8–18%, licensed lender
from puhui.api.app import create_app
from puhui.api.identity import CustomerAuth, StaffAuth, current_customer, current_staff
from puhui.credit.bureau import SandboxBureau
from puhui.lending.products import create_product

from .samples import STRONG, WEAK, id_number


@pytest.fixture
def api(engine, clock):
    with engine.begin() as conn:
        create_product(
            conn,
            code="XFD-12",
            name="消费贷",
            terms=LICENSED,
            effective_from=date(2026, 1, 1),
            clock=clock,
        )
    app = create_app(engine=engine, clock=clock)
    app.state.credit_bureau = SandboxBureau()
    who = {"customer": 1}
    staff = StaffAuth(
        1,
        SimpleNamespace(permissions={"kyc.review", "customers.read"}),
        SimpleNamespace(principal="s-7"),
    )
    app.dependency_overrides[current_staff] = lambda: staff
    app.dependency_overrides[current_customer] = lambda: CustomerAuth(
        1, who["customer"], SimpleNamespace(principal="c")
    )
    with TestClient(app) as client:
        client.who = who
        yield client


def body(**changes):
    return {
        "product_code": "XFD-12",
        "applicant_ref": "1",
        "id_number": id_number(),
        "kyc_verified": True,
        "annual_income_fen": 200_000_00,
        "purpose": "consumer_goods",
        "requested_fen": 30_000_00,
        "term_months": 12,
        "features": STRONG,
        **changes,
    }


def test_staff_decide_and_a_borrower_asks_for_review(api):
    r = api.post("/admin/api/v1/credit/decisions", json=body(features=WEAK))
    assert r.status_code == 201, r.text
    made = r.json()["decision"]
    assert made["outcome"] == "reject" and made["grade"] == "E"
    assert len(made["reasons"]) == 4 and made["reasons"][0]["text_zh"]
    assert made["rules"][0]["code"] == "SC-GRADE"
    mine = api.get(f"/api/v1/me/credit/decisions/{made['id']}")
    assert mine.status_code == 200
    assert mine.json()["decision"]["input_digest"] == made["input_digest"]
    asked = api.post(
        f"/api/v1/me/credit/decisions/{made['id']}/review", json={"reason": "请人工复核"}
    )
    assert asked.status_code == 201 and asked.json()["status"] == "open"
    done = api.post(
        f"/admin/api/v1/credit/decisions/{made['id']}/review/resolve",
        json={"overturn": False, "note": "grade E stands"},
    )
    assert done.json()["status"] == "upheld" and done.json()["reviewer"] == "s-7"
    assert (
        api.get(f"/admin/api/v1/credit/decisions/{made['id']}").json()["review"]["status"]
        == "upheld"
    )


def test_another_borrowers_decision_is_not_found(api):
    made = api.post("/admin/api/v1/credit/decisions", json=body()).json()["decision"]
    assert made["outcome"] == "approve" and made["annual_rate"] == "0.0800"
    api.who["customer"] = 2
    r = api.get(f"/api/v1/me/credit/decisions/{made['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "decision_not_found"
    r = api.post(f"/api/v1/me/credit/decisions/{made['id']}/review", json={"reason": "x"})
    assert r.status_code == 404


def test_bad_input_is_a_4xx_with_the_field(api):
    r = api.post("/admin/api/v1/credit/decisions", json=body(features=STRONG | {"housing": "boat"}))
    assert r.status_code == 422 and r.json()["error"]["field"] == "housing"
    r = api.post("/admin/api/v1/credit/decisions", json=body(purpose="lottery"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "purpose_unknown"
    r = api.post("/admin/api/v1/credit/decisions", json=body(product_code="NOPE"))
    assert r.status_code == 404


def test_monitoring_page_data(api):
    api.post("/admin/api/v1/credit/decisions", json=body())
    r = api.get("/admin/api/v1/credit/monitoring", params={"since": "2026-11-01"})
    assert r.status_code == 200
    assert (r.json()["decisions"], r.json()["approval_rate"]) == (1, 1.0)
