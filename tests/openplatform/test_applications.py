"""Pushing applications for consenting customers, idempotently, and reading only one's own
applications, loans and schedules."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, insert, select

from lending.factories import accepted_loan, product
from puhui.db.engine import run_in_transaction
from puhui.identity import consents
from puhui.lending.models import applications, installments, loans
from puhui.openplatform.models import partner_applications

from .conftest import World, application_body


def code_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]["code"]


def count_applications(world: World) -> int:
    with world.platform.engine.connect() as c:
        return c.execute(select(func.count()).select_from(applications)).scalar_one()


def test_a_partner_pushes_an_application_and_reads_it_back(world: World):
    client = world.client(world.live)
    made = client.post("/open/v1/applications", application_body())
    assert made["state"] == "submitted" and made["external_ref"] == "ord-1"
    assert made["amount_fen"] == 1_200_000 and made["term"] == 12
    assert client.get(f"/open/v1/applications/{made['id']}") == made
    with world.platform.engine.connect() as c:
        row = c.execute(select(applications).where(applications.c.id == made["id"])).one()
    assert row.channel == "open:acme" and row.customer_id == world.customer_id


def test_another_partner_s_application_is_not_found(world: World):
    made = world.client(world.live).post("/open/v1/applications", application_body())
    other = world.client(world.partner("rival"))
    r = other.request("GET", f"/open/v1/applications/{made['id']}")
    assert r.status_code == 404 and code_of(r) == "application_not_found"
    assert code_of(other.request("GET", "/open/v1/applications/999")) == "application_not_found"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(world: World):
    client = world.client(world.live)
    first = client.request(
        "POST", "/open/v1/applications", body=application_body(), idempotency_key="push-1"
    )
    again = client.request(
        "POST", "/open/v1/applications", body=application_body(), idempotency_key="push-1"
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert count_applications(world) == 1
    changed = client.request(
        "POST",
        "/open/v1/applications",
        body=application_body(amount_fen=1_300_000),
        idempotency_key="push-1",
    )
    assert changed.status_code == 422 and code_of(changed) == "idempotency_key_reused"
    assert count_applications(world) == 1


def test_idempotency_keys_are_kept_per_partner(world: World):
    rival = world.partner("rival")
    a = world.client(world.live).request(
        "POST", "/open/v1/applications", body=application_body(), idempotency_key="same"
    )
    b = world.client(rival).request(
        "POST", "/open/v1/applications", body=application_body(), idempotency_key="same"
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_a_post_without_an_idempotency_key_is_refused(world: World):
    client = world.client(world.live)
    raw = b'{"url":"http://hooks.example/x","topics":["loan.overdue"]}'
    headers = client.signed_headers("POST", "/open/v1/webhooks/subscriptions", None, raw)
    r = client.http.post(
        "/open/v1/webhooks/subscriptions",
        content=raw,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and code_of(r) == "idempotency_key_required"


def test_the_same_external_ref_twice_is_a_conflict(world: World):
    client = world.client(world.live)
    client.post("/open/v1/applications", application_body())
    r = client.request("POST", "/open/v1/applications", body=application_body())
    assert r.status_code == 409 and code_of(r) == "external_ref_exists"


def test_a_customer_without_consent_cannot_be_applied_for(world: World):
    engine, clock = world.platform.engine, world.platform.clock

    def withdraw(c) -> None:  # type: ignore[no-untyped-def]
        for k in consents.list_for(c, customer_id=world.customer_id):
            if k.purpose == "credit_assessment":
                consents.withdraw(c, customer_id=world.customer_id, consent_id=k.id, clock=clock)

    run_in_transaction(engine, withdraw)
    r = world.client(world.live).request("POST", "/open/v1/applications", body=application_body())
    assert r.status_code == 403 and code_of(r) == "consent_required"
    assert count_applications(world) == 0


def test_unknown_customers_other_products_and_sandbox_partners_are_refused(world: World):
    client = world.client(world.live)
    r = client.request(
        "POST", "/open/v1/applications", body=application_body(customer_phone="13800000000")
    )
    assert r.status_code == 404 and code_of(r) == "customer_not_found"
    r = client.request("POST", "/open/v1/applications", body=application_body(product_code="X"))
    assert r.status_code == 403 and code_of(r) == "product_not_offered"
    sandbox = world.client(world.partner("sbx", mode="sandbox"))
    r = sandbox.request("POST", "/open/v1/applications", body=application_body())
    assert r.status_code == 403 and code_of(r) == "sandbox_partner"
    r = client.request("POST", "/open/v1/applications", body={**application_body(), "x": 1})
    assert r.status_code == 422
    assert count_applications(world) == 0


def _loan_of_partner(world: World, partner_id: int) -> int:
    clock = world.platform.clock

    def work(c) -> int:  # type: ignore[no-untyped-def]
        version = product(c, clock)
        loan_id = accepted_loan(c, clock, version=version, customer_id=world.customer_id)
        app_id = c.execute(select(loans.c.application_id).where(loans.c.id == loan_id)).scalar()
        c.execute(
            insert(partner_applications).values(
                application_id=app_id,
                partner_id=partner_id,
                customer_id=world.customer_id,
                external_ref=f"loan-{loan_id}",
                created_us=0,
            )
        )
        c.execute(
            insert(installments).values(
                loan_id=loan_id,
                seq=1,
                period_start=date(2026, 11, 2),
                due_date=date(2026, 12, 2),
                principal_fen=100_000,
                interest_fen=12_000,
            )
        )
        return loan_id

    return run_in_transaction(world.platform.engine, work)


def test_a_partner_reads_its_loan_and_schedule_but_no_one_else_s(world: World):
    loan_id = _loan_of_partner(world, world.live.partner.id)
    client = world.client(world.live)
    loan = client.get(f"/open/v1/loans/{loan_id}")
    assert loan["state"] == "accepted" and loan["principal_fen"] == 1_200_000
    schedule = client.get(f"/open/v1/loans/{loan_id}/schedule")
    assert [(i["seq"], i["total_fen"], i["unpaid_fen"], i["status"]) for i in schedule] == [
        (1, 112_000, 112_000, "upcoming")
    ]
    rival = world.client(world.partner("rival"))
    for path in (f"/open/v1/loans/{loan_id}", f"/open/v1/loans/{loan_id}/schedule"):
        r = rival.request("GET", path)
        assert r.status_code == 404 and code_of(r) == "loan_not_found"


def test_the_partner_openapi_document_is_served_unsigned(world: World):
    r = world.client(world.live).http.get("/open/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert "/open/v1/applications" in doc["paths"]
    assert all(p.startswith("/open/v1") for p in doc["paths"])
    post = doc["paths"]["/open/v1/applications"]["post"]
    names = {p["name"] for p in post["parameters"]}
    assert {"Puhui-Key-Id", "Puhui-Signature", "Idempotency-Key"} <= names
