"""Every route × every role (and anonymous, and a customer): what a role may not do is refused,
another owner's object is 404, unknown body fields are 422, no response shows a personal value
unmasked except the audited unmasking for a role allowed to, and staff need TOTP to get in."""

from __future__ import annotations

import re

import pytest

from puhui.db.engine import run_in_transaction
from puhui.identity import audit, customers, otp, roles
from puhui.identity.models import audit_log

from .conftest import ACTOR, ALICE, PASSWORD

PUBLIC = {
    ("POST", "/api/v1/auth/codes"),
    ("POST", "/api/v1/customers"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/risk/questionnaire"),
    ("GET", "/api/v1/risk/notice"),
    ("GET", "/api/v1/consents/purposes"),
    ("POST", "/admin/api/v1/auth/login"),
    ("POST", "/admin/api/v1/auth/password"),
    # compliance (src/puhui/api/compliance.py): the public disclosure column, no login
    ("GET", "/api/v1/disclosure/reports"),
    ("GET", "/api/v1/disclosure/reports/{period}"),
    ("GET", "/api/v1/disclosure/reports/{period}/files/{fmt}"),
    ("GET", "/api/v1/disclosure/events"),
    # ops (src/puhui/api/ops.py): a landing page's lead form
    ("POST", "/api/v1/ops/leads"),
}
#: Staff routes and the permission each needs (None: any signed-in staff member).
ADMIN: dict[tuple[str, str], str | None] = {
    ("POST", "/admin/api/v1/auth/logout"): None,
    ("GET", "/admin/api/v1/me"): None,
    ("GET", "/admin/api/v1/customers"): "customers.read",
    ("GET", "/admin/api/v1/customers/{customer_id}"): "customers.read",
    ("POST", "/admin/api/v1/customers/search"): "customers.read",
    ("POST", "/admin/api/v1/customers/{customer_id}/unmask"): "customers.unmask",
    ("POST", "/admin/api/v1/customers/{customer_id}/assign"): "customers.write",
    ("POST", "/admin/api/v1/customers/{customer_id}/unlock"): "staff.manage",
    ("GET", "/admin/api/v1/staff"): "staff.read",
    ("POST", "/admin/api/v1/staff"): "staff.manage",
    ("GET", "/admin/api/v1/staff/{staff_id}"): "staff.read",
    ("POST", "/admin/api/v1/staff/{staff_id}/status"): "staff.manage",
    ("POST", "/admin/api/v1/staff/{staff_id}/unlock"): "staff.manage",
    ("PUT", "/admin/api/v1/staff/{staff_id}/roles"): "roles.manage",
    ("GET", "/admin/api/v1/roles"): "staff.read",
    ("PUT", "/admin/api/v1/roles/{code}"): "roles.manage",
    ("POST", "/admin/api/v1/org-units"): "staff.manage",
    ("PUT", "/admin/api/v1/risk/limits/{level}"): "risk.configure",
    ("GET", "/admin/api/v1/audit"): "audit.read",
    ("GET", "/admin/api/v1/audit/{seq}/proof"): "audit.read",
    ("GET", "/admin/api/v1/audit-verify"): "audit.read",
    ("POST", "/admin/api/v1/credit/decisions"): "kyc.review",
    ("GET", "/admin/api/v1/credit/decisions/{decision_id}"): "customers.read",
    ("POST", "/admin/api/v1/credit/decisions/{decision_id}/review/resolve"): "kyc.review",
    ("GET", "/admin/api/v1/credit/monitoring"): "customers.read",
    ("GET", "/admin/api/v1/loan-applications"): "loans.review",
    ("GET", "/admin/api/v1/loan-applications/{application_id}"): "loans.read",
    ("POST", "/admin/api/v1/loan-applications/{application_id}/recommend"): "loans.review",
    ("POST", "/admin/api/v1/loan-applications/{application_id}/approve"): "loans.approve",
    ("POST", "/admin/api/v1/loan-applications/{application_id}/reject"): "loans.approve",
    ("GET", "/admin/api/v1/loans"): "loans.read",
    ("GET", "/admin/api/v1/loans/{loan_id}"): "loans.read",
    ("GET", "/admin/api/v1/loans/{loan_id}/schedule"): "loans.read",
    ("GET", "/admin/api/v1/loans/{loan_id}/transactions"): "loans.read",
    ("POST", "/admin/api/v1/loans/{loan_id}/disburse"): "loans.disburse",
    ("POST", "/admin/api/v1/loans/{loan_id}/repayments"): "loans.service",
    ("POST", "/admin/api/v1/loans/{loan_id}/rollovers"): "loans.service",
    ("POST", "/admin/api/v1/loans/{loan_id}/write-off"): "loans.service",
    ("POST", "/admin/api/v1/loans/{loan_id}/refunds"): "loans.service",
    ("POST", "/admin/api/v1/loans/{loan_id}/transactions/{transaction_id}/reverse"): (
        "loans.service"
    ),
    ("POST", "/admin/api/v1/eod/runs"): "eod.run",
    ("GET", "/admin/api/v1/eod/runs"): "eod.run",
    ("GET", "/admin/api/v1/eod/runs/{business_date}"): "eod.run",
    ("GET", "/admin/api/v1/collections/queue"): "loans.read",
    ("POST", "/admin/api/v1/collections/loans/{loan_id}/assignment"): "collections.manage",
    ("GET", "/admin/api/v1/collections/loans/{loan_id}/assignments"): "loans.read",
    ("GET", "/admin/api/v1/collections/loans/{loan_id}/contacts"): "loans.read",
    ("POST", "/admin/api/v1/collections/loans/{loan_id}/contacts"): "loans.collect",
    # open platform (src/puhui/api/open.py): partner onboarding and the webhook delivery log
    ("GET", "/admin/api/v1/partners"): "operations.manage",
    ("POST", "/admin/api/v1/partners"): "operations.manage",
    ("POST", "/admin/api/v1/partners/{partner_id}/rotate-secret"): "operations.manage",
    ("POST", "/admin/api/v1/partners/{partner_id}/disable"): "operations.manage",
    ("GET", "/admin/api/v1/webhooks/deliveries"): "operations.manage",
    ("POST", "/admin/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): "operations.manage",
    ("GET", "/admin/api/v1/marketplace/listings"): "marketplace.read",
    ("POST", "/admin/api/v1/marketplace/listings"): "marketplace.manage",
    ("POST", "/admin/api/v1/marketplace/listings/{listing_id}/publish"): "marketplace.manage",
    ("POST", "/admin/api/v1/marketplace/listings/{listing_id}/close"): "marketplace.manage",
    ("POST", "/admin/api/v1/marketplace/expire"): "marketplace.manage",
    ("GET", "/admin/api/v1/marketplace/reserve"): "marketplace.read",
    # compliance (src/puhui/api/compliance.py): disclosure, checks and alerts, AML, the feed
    ("GET", "/admin/api/v1/compliance/reports/{period}/preview"): "compliance.read",
    ("POST", "/admin/api/v1/compliance/reports/{period}/publish"): "compliance.manage",
    ("GET", "/admin/api/v1/compliance/reports/{period}/versions"): "compliance.read",
    ("GET", "/admin/api/v1/compliance/events"): "compliance.read",
    ("POST", "/admin/api/v1/compliance/events"): "compliance.manage",
    ("POST", "/admin/api/v1/compliance/events/{event_id}/publish"): "compliance.manage",
    ("POST", "/admin/api/v1/compliance/events/{event_id}/status"): "compliance.manage",
    ("POST", "/admin/api/v1/compliance/checks"): "compliance.manage",
    ("GET", "/admin/api/v1/compliance/alerts"): "compliance.read",
    ("POST", "/admin/api/v1/compliance/alerts/{alert_id}/acknowledge"): "compliance.manage",
    ("POST", "/admin/api/v1/compliance/alerts/{alert_id}/resolve"): "compliance.manage",
    ("GET", "/admin/api/v1/compliance/aml/cases"): "compliance.read",
    ("GET", "/admin/api/v1/compliance/aml/cases/{case_id}"): "compliance.read",
    ("POST", "/admin/api/v1/compliance/aml/cases/{case_id}/review"): "aml.manage",
    ("POST", "/admin/api/v1/compliance/aml/cases/{case_id}/decide"): "aml.manage",
    ("POST", "/admin/api/v1/compliance/aml/cases/{case_id}/file"): "aml.manage",
    ("GET", "/admin/api/v1/compliance/aml/large-value-reports"): "compliance.read",
    ("POST", "/admin/api/v1/compliance/aml/large-value-reports/{report_id}/file"): "aml.manage",
    ("POST", "/admin/api/v1/compliance/aml/watch-list"): "aml.manage",
    ("GET", "/admin/api/v1/compliance/aml/export"): "aml.manage",
    ("GET", "/admin/api/v1/compliance/regulator-feed"): "aml.manage",
    # consumer credit line (src/puhui/api/credit_line.py)
    ("POST", "/admin/api/v1/credit-lines"): "creditlines.manage",
    ("GET", "/admin/api/v1/credit-lines/{line_id}"): "creditlines.read",
    ("GET", "/admin/api/v1/credit-lines/{line_id}/statements"): "creditlines.read",
    ("GET", "/admin/api/v1/credit-line-collections"): "creditlines.read",
    ("POST", "/admin/api/v1/credit-lines/{line_id}/limit"): "creditlines.manage",
    ("POST", "/admin/api/v1/credit-lines/{line_id}/temporary-raise"): "creditlines.manage",
    ("POST", "/admin/api/v1/credit-lines/{line_id}/freeze"): "creditlines.manage",
    ("POST", "/admin/api/v1/credit-lines/{line_id}/unfreeze"): "creditlines.manage",
    ("POST", "/admin/api/v1/credit-lines/{line_id}/close"): "creditlines.manage",
    # ops (src/puhui/api/ops.py): the CRM, scoped by the team hierarchy inside each route
    ("GET", "/admin/api/v1/ops/org-chart"): "ops.read",
    ("GET", "/admin/api/v1/ops/positions"): "ops.read",
    ("PUT", "/admin/api/v1/ops/positions/{code}/duties"): "operations.manage",
    ("GET", "/admin/api/v1/ops/books"): "ops.read",
    ("GET", "/admin/api/v1/ops/customers/{customer_id}/ownership"): "ops.read",
    ("POST", "/admin/api/v1/ops/customers/{customer_id}/transfer"): "ops.write",
    ("GET", "/admin/api/v1/ops/channels"): "ops.read",
    ("POST", "/admin/api/v1/ops/channels"): "operations.manage",
    ("GET", "/admin/api/v1/ops/channels/{channel_id}/qr"): "ops.read",
    ("GET", "/admin/api/v1/ops/leads"): "ops.read",
    ("POST", "/admin/api/v1/ops/leads"): "ops.write",
    ("GET", "/admin/api/v1/ops/leads/funnel"): "ops.read",
    ("GET", "/admin/api/v1/ops/leads/{lead_id}"): "ops.read",
    ("POST", "/admin/api/v1/ops/leads/{lead_id}/stage"): "ops.write",
    ("POST", "/admin/api/v1/ops/leads/{lead_id}/tasks"): "ops.write",
    ("GET", "/admin/api/v1/ops/tasks"): "ops.read",
    ("POST", "/admin/api/v1/ops/tasks/{task_id}/complete"): "ops.write",
    ("GET", "/admin/api/v1/ops/events"): "ops.read",
    ("POST", "/admin/api/v1/ops/events"): "operations.manage",
    ("POST", "/admin/api/v1/ops/events/{event_id}/sign-in"): "ops.write",
    ("GET", "/admin/api/v1/ops/calendar"): "ops.read",
    ("GET", "/admin/api/v1/ops/coupon-rules"): "operations.manage",
    ("POST", "/admin/api/v1/ops/coupon-rules"): "operations.manage",
    ("POST", "/admin/api/v1/ops/coupons"): "operations.manage",
    ("GET", "/admin/api/v1/ops/marketing"): "operations.manage",
    ("GET", "/admin/api/v1/ops/performance"): "ops.read",
    ("GET", "/admin/api/v1/ops/performance/export"): "ops.read",
    ("GET", "/admin/api/v1/ops/conversion"): "ops.read",
    ("PUT", "/admin/api/v1/ops/targets"): "operations.manage",
    ("PUT", "/admin/api/v1/ops/commission-plans/{code}"): "operations.manage",
}


def routes(platform) -> set[tuple[str, str]]:
    spec = platform.app.openapi()
    return {
        (m.upper(), p)
        for p, ops in spec["paths"].items()
        for m in ops
        if p.startswith(("/api/", "/admin/api/"))
    }


def fill(path: str, ids: dict[str, object]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def send(client, method: str, path: str, headers: dict[str, str], body=None):
    if method in ("GET", "DELETE"):
        return client.request(method, path, headers=headers)
    return client.request(method, path, headers=headers, json=body if body is not None else {})


@pytest.fixture
def world(platform):
    """Alice (verified, in team-1 under the wealth center) and some objects of hers."""
    cid, alice = platform.onboard(ALICE)
    team = run_in_transaction(
        platform.engine,
        lambda c: roles.create_org_unit(
            c, code="team-1", name="一组", kind="team", parent="wealth"
        ),
    )
    run_in_transaction(
        platform.engine,
        lambda c: customers.assign(
            c, customer_id=cid, team_id=team, advisor_id=None, actor=ACTOR, clock=platform.clock
        ),
    )
    c = platform.client
    ids = {
        "customer_id": cid,
        "card_id": c.get("/api/v1/me/bank-cards", headers=alice).json()[0]["id"],
        "consent_id": c.get("/api/v1/me/consents", headers=alice).json()[0]["id"],
        "session_id": c.get("/api/v1/me/sessions", headers=alice).json()[0]["id"],
        "assessment_id": 1,
        "request_id": 1,
        "staff_id": 1,
        "decision_id": 1,
        "code": "custom_role",
        "level": "C3",
        "seq": 1,
        "instruction_id": "DP0000000001",
        "grant_id": "AU0000000001",
        "partner_id": 1,
        "delivery_id": 1,
        "loan_id": 1,
        "application_id": 1,
        "transaction_id": 1,
        "business_date": "2026-11-01",
        "listing_id": 1,
        "bid_id": 1,
        "offer_id": 1,
        "period": "2026-10",
        "event_id": 1,
        "alert_id": 1,
        "case_id": 1,
        "report_id": 1,
        "line_id": 1,
        "purchase_id": 1,
        "statement_id": 1,
        "plan_id": 1,
        "lead_id": 1,
        "task_id": 1,
        "channel_id": 1,
    }
    return cid, alice, ids


def test_the_route_tables_cover_every_route(platform):
    customer_routes = {r for r in routes(platform) if r[1].startswith("/api/")} - PUBLIC
    assert routes(platform) == PUBLIC | set(ADMIN) | customer_routes
    assert all(p.startswith("/api/v1/me") or p.endswith("logout") for _, p in customer_routes)


def test_anonymous_and_the_wrong_kind_of_principal_get_401(platform, world):
    _cid, alice, ids = world
    _new, staff_headers = platform.staff("ops.one", position="operations_manager")
    for method, path in sorted(routes(platform) - PUBLIC):
        url = fill(path, ids)
        assert send(platform.client, method, url, {}).status_code == 401, (method, path)
        wrong = staff_headers if path.startswith("/api/") else alice
        assert send(platform.client, method, url, wrong).status_code == 401, (method, path)


def test_every_role_on_every_staff_route(platform, world):
    cid, _alice, ids = world
    secrets_ = (ALICE.phone, ALICE.name, ALICE.id_number, ALICE.card)
    spec = platform.app.openapi()["paths"]
    with_body = {(m, p) for m, p in ADMIN if "requestBody" in spec[p][m.lower()]}
    for role in roles.BUILTIN_ROLES:
        new, h = platform.staff(f"u.{role.code}", org_unit="wealth", role_codes=(role.code,))
        ids["staff_id"] = new.member.id
        for (method, path), permission in ADMIN.items():
            if path.endswith("logout"):
                continue
            url = fill(path, ids)
            r = send(platform.client, method, url, h, body={"unexpected": 1})
            allowed = permission is None or permission in role.permissions
            if not allowed:
                assert r.status_code == 403, (role.code, method, path, r.text)
                assert r.json()["error"]["code"] == "permission_required"
                continue
            assert r.status_code < 500 and r.status_code not in (401, 403), (
                role.code,
                path,
                r.text,
            )
            if (method, path) in with_body:
                assert r.status_code == 422, (role.code, path, r.text)  # unknown field refused
            for value in secrets_:
                assert value not in r.text, (role.code, path)
        unmask = platform.client.post(
            f"/admin/api/v1/customers/{cid}/unmask",
            json={"fields": ["phone", "id_number"], "reason": "customer called about a dispute"},
            headers=h,
        )
        if "customers.unmask" in role.permissions:
            assert unmask.status_code == 200
            assert unmask.json()["values"] == {"phone": ALICE.phone, "id_number": ALICE.id_number}
        else:
            assert unmask.status_code == 403 and ALICE.phone not in unmask.text
        if "customers.read" in role.permissions:
            seen = platform.client.get(f"/admin/api/v1/customers/{cid}", headers=h)
            assert seen.status_code == 200 and seen.json()["phone"] == "139****5678"
            assert seen.json()["id_number"] == ALICE.id_number[:3] + "*" * 11 + ALICE.id_number[-4:]


def test_team_roles_outside_the_team_get_404(platform, world):
    cid, _, _ = world
    run_in_transaction(
        platform.engine,
        lambda c: roles.create_org_unit(
            c, code="team-2", name="二组", kind="team", parent="wealth"
        ),
    )
    _, h = platform.staff("fa.two", position="financial_advisor", org_unit="team-2")
    r = platform.client.get(f"/admin/api/v1/customers/{cid}", headers=h)
    assert r.status_code == 404
    missing = platform.client.get("/admin/api/v1/customers/999999", headers=h)
    assert missing.json()["error"]["code"] == r.json()["error"]["code"]
    found = platform.client.post(
        "/admin/api/v1/customers/search", json={"phone": ALICE.phone}, headers=h
    )
    assert found.status_code == 404
    assert platform.client.get("/admin/api/v1/customers", headers=h).json()["data"] == []


def test_unmasking_is_audited_and_only_the_audit_admin_reads_the_log(platform, world):
    cid, _, _ = world
    _, compliance = platform.staff("co.sun", position="compliance_officer")
    _, auditor = platform.staff("aud.li", position="audit_admin")
    _, security = platform.staff("sec.zhou", position="security_admin")
    r = platform.client.post(
        f"/admin/api/v1/customers/{cid}/unmask",
        json={"fields": ["name"], "reason": "court order 2026-17"},
        headers=compliance,
    )
    assert r.status_code == 200 and r.json()["values"]["name"] == ALICE.name
    assert platform.client.get("/admin/api/v1/audit", headers=security).status_code == 403
    log = platform.client.get("/admin/api/v1/audit?limit=100", headers=auditor)
    assert log.status_code == 200
    unmasks = [e for e in log.json()["data"] if e["event_type"] == "customer.unmask"]
    assert len(unmasks) == 1
    entry = unmasks[0]
    assert entry["detail"] == {"fields": ["name"], "reason": "court order 2026-17"}
    assert entry["actor"].startswith("staff:") and entry["actor_role"] == "compliance_officer"
    assert entry["source_ip"] and entry["request_id"].startswith("req_")
    assert ALICE.name not in log.text and ALICE.phone not in log.text
    day = platform.clock.now().date()
    run_in_transaction(
        platform.engine, lambda c: audit.seal_day(c, business_date=day, clock=platform.clock)
    )
    proof = platform.client.get(f"/admin/api/v1/audit/{entry['seq']}/proof", headers=auditor)
    assert proof.status_code == 200
    assert audit.InclusionProof(**{**proof.json(), "path": tuple(proof.json()["path"])}).verify()
    assert platform.client.get("/admin/api/v1/audit-verify", headers=auditor).json() == {
        "ok": True,
        "problems": [],
    }
    with platform.engine.connect() as c:
        assert c.execute(audit_log.select()).first() is not None


def test_staff_password_only_cannot_reach_anything(platform):
    _new, _ = platform.staff("sys.root", position="system_admin")
    r = platform.client.post(
        "/admin/api/v1/auth/login",
        json={"username": "sys.root", "password": PASSWORD, "totp": "000000"},
    )
    assert r.status_code == 401 and "token" not in r.text
    no_totp = platform.client.post(
        "/admin/api/v1/auth/login", json={"username": "sys.root", "password": PASSWORD}
    )
    assert no_totp.status_code == 422


def test_staff_created_over_the_api_get_a_totp_secret_once(platform):
    _, admin = platform.staff("sys.admin", position="system_admin")
    r = platform.client.post(
        "/admin/api/v1/staff",
        json={
            "username": "fa.new",
            "display_name": "新顾问",
            "password": "Advisor-Pass-7",
            "position": "financial_advisor",
        },
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["member"]["roles"] == ["financial_advisor"]
    secret = r.json()["totp_secret"]
    platform.clock.advance(__import__("datetime").timedelta(seconds=30))
    login = platform.client.post(
        "/admin/api/v1/auth/login",
        json={
            "username": "fa.new",
            "password": "Advisor-Pass-7",
            "totp": otp.totp_now(secret, platform.clock),
        },
    )
    assert login.status_code == 200
    assert (
        "totp_secret"
        not in platform.client.get(
            f"/admin/api/v1/staff/{r.json()['member']['id']}", headers=admin
        ).text
    )
