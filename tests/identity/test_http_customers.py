"""The customer API end to end: registration to verification, the holder's masked view, IDOR,
CSRF, security headers, rate limits, and no personal value in logs, URLs or error bodies."""

from __future__ import annotations

import json
from datetime import timedelta

from puhui.identity import otp, risk
from puhui.identity.ratelimit import Limit

from .conftest import ALICE, BOB, PASSWORD, parse_logs


def test_onboarding_masks_every_personal_value(platform):
    cid, h = platform.onboard(ALICE)
    c = platform.client
    me = c.get("/api/v1/me", headers=h).json()
    assert me["id"] == cid and me["kyc_status"] == "verified"
    assert me["phone"] == "139****5678"
    assert me["name"] == "欧阳**"
    assert me["id_number"] == ALICE.id_number[:3] + "*" * 11 + ALICE.id_number[-4:]
    patched = c.patch(
        "/api/v1/me", json={"address": ALICE.address, "annual_income_fen": 30_000_000}, headers=h
    )
    assert patched.status_code == 200 and patched.json()["address"].startswith("上海市浦东新*")
    cards = c.get("/api/v1/me/bank-cards", headers=h).json()
    assert [x["card_number"] for x in cards] == [ALICE.card[:6] + "*" * 9 + ALICE.card[-4:]]
    export = c.get("/api/v1/me/export", headers=h)
    assert export.status_code == 200
    body = export.text
    for value in (ALICE.phone, ALICE.id_number, ALICE.card, ALICE.address, ALICE.name):
        assert value not in body
    assert json.loads(body)["kyc_results"][0]["passed"] is True


def test_verification_needs_the_separate_card_consent_and_an_adult(platform):
    platform.register(BOB)
    h = platform.login(BOB)
    c = platform.client
    body = {"name": BOB.name, "id_number": BOB.id_number, "card_number": BOB.card}
    r = c.post("/api/v1/me/verification", json=body, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "consent_required"
    bundled = c.post(
        "/api/v1/me/consents", json={"purposes": ["account_service", "bank_card"]}, headers=h
    )
    assert bundled.status_code == 422 and bundled.json()["error"]["code"] == "consent_bundled"
    assert (
        c.post("/api/v1/me/consents", json={"purposes": ["bank_card"]}, headers=h).status_code
        == 201
    )
    platform.verifier.register(
        BOB.elements.__class__(BOB.name, BOB.id_number, BOB.card, "13000000000")
    )
    failed = c.post("/api/v1/me/verification", json=body, headers=h)
    assert failed.status_code == 200 and failed.json() == {
        **failed.json(),
        "passed": False,
        "reason": "phone_mismatch",
    }
    consent = c.get("/api/v1/me/consents", headers=h).json()[0]
    assert c.post(f"/api/v1/me/consents/{consent['id']}/withdraw", headers=h).json()["withdrawn_us"]
    assert c.post("/api/v1/me/verification", json=body, headers=h).status_code == 403


def test_suitability_flow(platform):
    _, h = platform.onboard(ALICE)
    c = platform.client
    q = c.get("/api/v1/risk/questionnaire").json()
    assert len(q["questions"]) >= 10 and "score" not in json.dumps(q)
    answers = {x["id"]: x["options"][-1]["id"] for x in q["questions"]}
    r = c.post(
        "/api/v1/me/risk-assessments", json={"version": q["version"], "answers": answers}, headers=h
    )
    assert r.status_code == 201 and r.json()["level"] in risk.LEVELS
    assert r.json()["valid_until_us"] - r.json()["assessed_us"] == 365 * 86400 * 1_000_000
    missing = dict(list(answers.items())[1:])
    bad = c.post(
        "/api/v1/me/risk-assessments", json={"version": q["version"], "answers": missing}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "answer_missing"
    notice = c.get("/api/v1/risk/notice").json()
    assert (
        c.post(
            "/api/v1/me/risk-notice",
            json={"version": notice["version"], "confirm": False},
            headers=h,
        ).status_code
        == 422
    )
    assert (
        c.post(
            "/api/v1/me/risk-notice",
            json={"version": notice["version"], "confirm": True},
            headers=h,
        ).status_code
        == 201
    )


def test_card_change_asks_for_password_and_second_factor(platform):
    _, h = platform.onboard(ALICE)
    c = platform.client
    from .conftest import luhn_complete

    second = luhn_complete("622848000011112222")
    platform.verifier.register(
        ALICE.elements.__class__(ALICE.name, ALICE.id_number, second, ALICE.phone)
    )
    no_code = c.post(
        "/api/v1/me/bank-cards",
        json={"card_number": second, "password": PASSWORD, "second_factor": "000000"},
        headers=h,
    )
    assert (
        no_code.status_code == 401 and no_code.json()["error"]["code"] == "reauthentication_failed"
    )
    code = platform.code(ALICE.phone, "step_up")
    ok = c.post(
        "/api/v1/me/bank-cards",
        json={"card_number": second, "password": PASSWORD, "second_factor": code},
        headers=h,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["card_number"] == second[:6] + "*" * 9 + second[-4:]


def test_totp_enrolment_then_fund_style_step_up(platform):
    _, h = platform.onboard(ALICE)
    c = platform.client
    code = platform.code(ALICE.phone, "step_up")
    enrol = c.post("/api/v1/me/totp", json={"password": PASSWORD, "second_factor": code}, headers=h)
    assert enrol.status_code == 200, enrol.text
    secret = enrol.json()["secret"]
    confirm = c.post(
        "/api/v1/me/totp/confirm", json={"code": otp.totp_now(secret, platform.clock)}, headers=h
    )
    assert confirm.status_code == 204
    platform.clock.advance(timedelta(seconds=30))
    card = c.get("/api/v1/me/bank-cards", headers=h).json()[0]
    sms_code = platform.code(ALICE.phone, "step_up")
    refused = c.post(
        f"/api/v1/me/bank-cards/{card['id']}/unbind",
        json={"password": PASSWORD, "second_factor": sms_code},
        headers=h,
    )
    assert refused.status_code == 401  # once TOTP is enrolled, an SMS code no longer suffices
    done = c.post(
        f"/api/v1/me/bank-cards/{card['id']}/unbind",
        json={"password": PASSWORD, "second_factor": otp.totp_now(secret, platform.clock)},
        headers=h,
    )
    assert done.status_code == 200 and done.json()["status"] == "unbound"


def test_another_customers_objects_are_404(platform):
    _, alice = platform.onboard(ALICE)
    _, bob = platform.onboard(BOB)
    c = platform.client
    q = c.get("/api/v1/risk/questionnaire").json()
    answers = {x["id"]: x["options"][0]["id"] for x in q["questions"]}
    assessment = c.post(
        "/api/v1/me/risk-assessments",
        json={"version": q["version"], "answers": answers},
        headers=alice,
    ).json()
    card = c.get("/api/v1/me/bank-cards", headers=alice).json()[0]
    consent = c.get("/api/v1/me/consents", headers=alice).json()[0]
    session = c.get("/api/v1/me/sessions", headers=alice).json()[0]
    request = c.post("/api/v1/me/data-requests", json={"kind": "delete"}, headers=alice).json()
    step_up = {"password": PASSWORD, "second_factor": "123456"}
    attempts = [
        ("GET", f"/api/v1/me/bank-cards/{card['id']}", None),
        ("POST", f"/api/v1/me/bank-cards/{card['id']}/unbind", step_up),
        ("GET", f"/api/v1/me/risk-assessments/{assessment['id']}", None),
        ("GET", f"/api/v1/me/consents/{consent['id']}", None),
        ("POST", f"/api/v1/me/consents/{consent['id']}/withdraw", None),
        ("GET", f"/api/v1/me/data-requests/{request['id']}", None),
        ("DELETE", f"/api/v1/me/sessions/{session['id']}", None),
    ]
    for method, path, body in attempts:
        theirs = c.request(method, path, json=body, headers=bob)
        assert theirs.status_code == 404, (path, theirs.text)
        absent = c.request(
            method, path.replace(f"/{path.split('/')[4]}", "/999999", 1), json=body, headers=bob
        )
        assert (
            absent.status_code == 404
            and absent.json()["error"]["type"] == theirs.json()["error"]["type"]
        )
    from puhui.identity import consents

    with platform.engine.connect() as conn:
        owner = int(session["principal"].split(":")[1])
        kept = consents.get(conn, customer_id=owner, consent_id=consent["id"])
    assert kept.withdrawn_us is None  # the other customer's attempt changed nothing


def test_deletion_is_deferred_for_verified_identities_and_done_otherwise(platform):
    _, alice = platform.onboard(ALICE)
    c = platform.client
    deferred = c.post("/api/v1/me/data-requests", json={"kind": "delete"}, headers=alice).json()
    assert deferred["status"] == "deferred" and deferred["retain_until"].startswith("2031-")
    assert c.get("/api/v1/me", headers=alice).status_code == 401  # sessions revoked
    platform.register(BOB)
    bob = platform.login(BOB)
    done = c.post("/api/v1/me/data-requests", json={"kind": "delete"}, headers=bob).json()
    assert done["status"] == "done"
    assert platform.register(BOB)  # the phone is free again: nothing of BOB remains


def test_unknown_fields_422_and_cookie_forms_need_csrf(platform):
    cid = platform.register(ALICE)
    c = platform.client
    code = platform.code(ALICE.phone, "login")
    login = c.post(
        "/api/v1/auth/login", json={"phone": ALICE.phone, "password": PASSWORD, "code": code}
    )
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    c.cookies.set("puhui_session", login.json()["token"], path="/api/")
    assert c.get("/api/v1/me").json()["id"] == cid
    forged = c.patch("/api/v1/me", json={"occupation": "教师"})
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    ok = c.patch(
        "/api/v1/me",
        json={"occupation": "教师"},
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
    )
    assert ok.status_code == 200
    extra = c.patch(
        "/api/v1/me",
        json={"occupation": "x", "is_admin": True},
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
    )
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "is_admin"


def test_security_headers(platform):
    r = platform.client.get("/api/v1/risk/notice")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert r.headers["Cache-Control"] == "no-store"
    assert "max-age" in r.headers["Strict-Transport-Security"]


def test_rate_limits_on_codes_and_login(platform):
    platform.app.state.rate_limits["codes_phone"] = Limit("codes_phone", 2, timedelta(minutes=10))
    platform.app.state.rate_limits["login_ip"] = Limit("login_ip", 3, timedelta(minutes=10))
    c = platform.client
    for _ in range(2):
        assert (
            c.post(
                "/api/v1/auth/codes", json={"phone": ALICE.phone, "purpose": "register"}
            ).status_code
            == 202
        )
    limited = c.post("/api/v1/auth/codes", json={"phone": ALICE.phone, "purpose": "register"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    body = {"phone": BOB.phone, "password": PASSWORD, "code": "123456"}
    assert [c.post("/api/v1/auth/login", json=body).status_code for _ in range(4)] == [
        401,
        401,
        401,
        429,
    ]
    platform.clock.advance(timedelta(minutes=10))
    assert c.post("/api/v1/auth/login", json=body).status_code == 401


def test_no_personal_value_or_secret_in_logs_urls_or_errors(platform, captured_logs):
    _, h = platform.onboard(ALICE)
    c = platform.client
    bodies = []
    bodies.append(
        c.post(
            "/api/v1/auth/login",
            json={"phone": ALICE.phone, "password": PASSWORD + "x", "code": "123456"},
        ).text
    )
    bodies.append(
        c.post(
            "/api/v1/me/verification",
            json={"name": ALICE.name, "id_number": ALICE.id_number, "card_number": ALICE.card},
            headers=h,
        ).text
    )
    bodies.append(
        c.post("/api/v1/auth/codes", json={"phone": "1" + ALICE.phone, "purpose": "login"}).text
    )
    bodies.append(c.get(f"/api/v1/customers/{ALICE.phone}").text)  # a phone typed into a URL
    bodies.append(c.get(f"/api/v1/{ALICE.id_number}/{ALICE.card}").text)
    text = captured_logs()
    assert parse_logs(text)  # the requests were logged
    for value in (ALICE.phone, ALICE.id_number, ALICE.card, ALICE.name, ALICE.address, PASSWORD):
        assert value not in text, value
        for body in bodies:
            assert value not in body, (value, body)
    assert "139****5678" in text  # the URL was logged, masked
    assert h["Authorization"].split()[1] not in text


def test_plain_http_is_refused_when_tls_is_required(platform, monkeypatch):
    from fastapi.testclient import TestClient

    from puhui.api.app import create_app

    monkeypatch.setenv("PUHUI_REQUIRE_TLS", "1")
    app = create_app(engine=platform.engine, clock=platform.clock)
    with TestClient(app) as plain:
        r = plain.get("/api/v1/risk/notice")
        assert r.status_code == 403 and r.json()["error"]["code"] == "tls_required"
        assert (
            plain.get("/api/v1/risk/notice", headers={"X-Forwarded-Proto": "https"}).status_code
            == 200
        )
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/api/v1/risk/notice").status_code == 200


def test_customer_password_change_ends_sessions_and_refuses_reuse(platform):
    platform.register(ALICE)
    h = platform.login(ALICE)
    c = platform.client

    def change(new: str, headers):
        code = platform.code(ALICE.phone, "step_up")
        body = {"password": PASSWORD, "second_factor": code, "new_password": new}
        return c.post("/api/v1/me/password", json=body, headers=headers)

    reused = change(PASSWORD, h)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "password_reused"
    weak = change(ALICE.phone + "Ab", h)
    assert weak.json()["error"]["code"] == "password_contains_identifier"
    assert change("Brand-New-Pass-8", h).status_code == 204
    assert c.get("/api/v1/me", headers=h).status_code == 401
    code = platform.code(ALICE.phone, "login")
    old = c.post(
        "/api/v1/auth/login", json={"phone": ALICE.phone, "password": PASSWORD, "code": code}
    )
    assert old.status_code == 401
    assert platform.login(ALICE, password="Brand-New-Pass-8")
