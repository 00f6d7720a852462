"""The pages through a test client: they render in Chinese and English, refuse a form post
without its CSRF token, refuse what a role may not do, mask personal data, audit staff access,
and move money through the custody flows exactly once per form."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from puhui.custody import authorisations, flows
from puhui.custody.models import instructions
from puhui.identity import audit, consents, otp

from .conftest import ALICE, BANK_PASSWORD, BOB, PASSWORD, Site, csrf_of, make_break


def audit_events(site: Site) -> list[str]:
    with site.engine.connect() as c:
        return [e.event_type for e in audit.list_entries(c, limit=1000)]


def test_chinese_by_default_and_english_on_switch(site):
    page = site.get("/m/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    switched = site.get("/lang/en?next=/m/login")
    assert switched.status_code == 303 and switched.headers["location"] == "/m/login"
    page = site.get("/m/login")
    assert '<html lang="en">' in page.text and "Sign in" in page.text and "登录" not in page.text
    outside = site.get("/lang/zh_CN?next=https://evil.example/")
    assert outside.headers["location"] == "/m/"


def test_pages_load_only_their_own_assets(site):
    page = site.get("/m/register")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "http" not in csp
    assert re.findall(r'(?:src|href)="(https?:)?//', page.text) == []
    assert site.get("/assets/htmx-2.0.11.min.js").status_code == 200
    api = site.get("/health")
    assert "default-src 'none'" in api.headers.get("content-security-policy", "default-src 'none'")


def test_a_form_without_its_csrf_token_is_refused(site):
    site.get("/m/login")
    bare = site.client.post("/m/login", data={"phone": ALICE.phone, "password": "x", "code": "1"})
    assert bare.status_code == 403
    site.onboard(ALICE)
    purposes = site.client.post("/m/consents", data={"purpose": "marketing"})
    forged = site.client.post("/m/consents", data={"purpose": "marketing", "csrf_token": "x"})
    assert purposes.status_code == forged.status_code == 403
    assert marketing_consents(site) == 0
    ok = site.submit("/m/data", "/m/consents", {"purpose": "marketing"})
    assert ok.status_code == 303 and marketing_consents(site) == 1


def marketing_consents(site: Site) -> int:
    with site.engine.connect() as c:
        given = consents.list_for(c, customer_id=1)
    return sum(x.purpose == "marketing" for x in given)


def test_session_cookie_is_httponly_lax_and_login_required(site):
    anonymous = site.get("/m/")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/m/login")
    site.register(ALICE)
    code = site.code("/m/login", ALICE.phone, "login")
    r = site.submit(
        "/m/login", "/m/login", {"phone": ALICE.phone, "password": PASSWORD, "code": code}
    )
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith("puhui_m_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/m/" in session
    assert "Secure" not in session  # only with PUHUI_REQUIRE_TLS=1
    assert site.get("/m/").status_code == 200


def test_onboarding_deposit_and_withdrawal(site):
    site.onboard(ALICE)
    home = site.get("/m/").text
    assert ALICE.name not in home and ALICE.phone not in home  # masked
    questionnaire = site.get("/m/risk").text
    answers = {q: "b" for q in re.findall(r'name="(q\d+)" value="b"', questionnaire)}
    version = re.search(r'name="version" value="([^"]+)"', questionnaire).group(1)
    assert len(answers) >= 10
    assert site.submit("/m/risk", "/m/risk", {**answers, "version": version}).status_code == 303
    assert 'data-testid="risk-level">C' in site.get("/m/risk").text
    notice = site.submit("/m/risk/notice", "/m/risk/notice", {"version": "2026.1", "confirm": "1"})
    assert notice.status_code == 303
    # the authenticator app, after the password and an SMS step-up code
    step_up = site.code("/m/security", ALICE.phone, "step_up")
    enrol = site.submit(
        "/m/security", "/m/security/totp", {"password": PASSWORD, "second_factor": step_up}
    )
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', enrol.text).group(1)
    confirm = site.client.post(
        "/m/security/totp/confirm",
        data={"csrf_token": csrf_of(enrol.text), "code": otp.totp_now(secret, site.clock)},
    )
    assert 'data-testid="totp-confirmed"' in confirm.text
    # a custody account, and its transaction password set at the (sandbox) bank's page
    assert site.submit("/m/money", "/m/money/accounts", {"role": "lender"}).status_code == 303
    pw = site.submit(
        "/m/bank-sandbox", "/m/bank-sandbox", {"role": "lender", "bank_password": BANK_PASSWORD}
    )
    assert pw.status_code == 303
    site.clock.advance(timedelta(seconds=30))
    form = site.get("/m/deposit").text
    data = {
        "csrf_token": csrf_of(form),
        "form_key": re.search(r'name="form_key" value="([^"]+)"', form).group(1),
        "role": "lender",
        "amount": "1000.00",
        "bank_password": BANK_PASSWORD,
        "totp": otp.totp_now(secret, site.clock),
    }
    first = site.client.post("/m/deposit", data=data)
    again = site.client.post("/m/deposit", data=data)  # a double submit of the same form
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(instructions)).scalar() == 1
    site.bank.settle()
    site.clock.advance(timedelta(minutes=2))
    flows.settle(site.engine, site.bank, clock=site.clock)
    home = site.get("/m/").text
    assert 'data-testid="available-lender">¥1,000.00<' in home
    site.clock.advance(timedelta(seconds=30))
    form = site.get("/m/withdraw").text
    wd = site.client.post(
        "/m/withdraw",
        data={
            "csrf_token": csrf_of(form),
            "form_key": re.search(r'name="form_key" value="([^"]+)"', form).group(1),
            "role": "lender",
            "amount": "300",
            "bank_password": BANK_PASSWORD,
            "totp": otp.totp_now(secret, site.clock),
        },
    )
    assert wd.status_code == 303
    status = site.get(wd.headers["location"]).text
    assert 'data-testid="instruction-status"' in status
    home = site.get("/m/").text
    assert "¥700.00" in home and 'data-testid="frozen-lender">¥300.00<' in home
    assert {"money.deposit", "money.withdrawal", "custody.open_account"} <= set(audit_events(site))
    # 业务授权: granted with the bank's password and the authenticator code, then revoked
    site.clock.advance(timedelta(seconds=30))
    grant = {"role": "lender", "bank_password": BANK_PASSWORD, "totp": "000000"}
    refused = site.submit("/m/money", "/m/money/authorisations", grant)
    assert refused.status_code == 400 and 'data-grant="' not in refused.text
    grant["totp"] = otp.totp_now(secret, site.clock)
    assert site.submit("/m/money", "/m/money/authorisations", grant).status_code == 303
    page = site.get("/m/money").text
    grant_id = re.search(r'data-grant="(AU[0-9a-f]+)"', page).group(1)
    assert "有效" in page and 'name="bank_password"' not in page.split('id="authorisations"')[1]
    with site.engine.connect() as c:
        made = authorisations.get(c, grant_id)
    assert (made.role, made.scope, made.status) == ("lender", "invest", "active")
    revoke = f"/m/money/authorisations/{grant_id}/revoke"
    # money is frozen (the withdrawal): the grant cannot go until it settles
    assert site.submit("/m/money", revoke, {}).status_code == 400
    site.bank.settle()
    site.clock.advance(timedelta(minutes=2))
    flows.settle(site.engine, site.bank, clock=site.clock)
    assert site.submit("/m/money", revoke, {}).status_code == 303
    assert "已撤销" in site.get("/m/money").text


def test_a_wrong_amount_is_shown_beside_its_field(site):
    site.onboard(ALICE)
    site.submit("/m/money", "/m/money/accounts", {"role": "lender"})
    r = site.submit(
        "/m/deposit",
        "/m/deposit",
        {"role": "lender", "amount": "1.234", "bank_password": "1", "totp": "123456"},
    )
    assert r.status_code == 400
    assert 'id="amount-error"' in r.text and "两位小数" in r.text


def test_staff_see_only_what_their_role_allows(site, tmp_path):
    advisor = site.new_staff("advisor", position="financial_advisor")
    assert site.staff_login(advisor).status_code == 303
    assert site.get("/admin/customers").status_code == 200
    for path in ("/admin/audit", "/admin/breaks"):
        assert site.get(path).status_code == 403, path
    dashboard = site.get("/admin/").text
    assert "/admin/audit" not in dashboard and "/admin/breaks" not in dashboard
    auditor = site.new_staff("auditor", position="audit_admin")
    site.client.cookies.clear()
    assert site.staff_login(auditor).status_code == 303
    assert site.get("/admin/customers").status_code == 403
    verify = site.get("/admin/audit/verify", headers={"HX-Request": "true"})
    assert verify.status_code == 200 and "审计链及每日封存校验通过" in verify.text
    assert "staff.login" in site.get("/admin/audit").text


def test_customers_are_masked_and_unmasking_is_audited(site):
    site.onboard(ALICE)
    site.client.cookies.clear()
    officer = site.new_staff("officer", position="compliance_officer")
    assert site.staff_login(officer).status_code == 303
    listing = site.get("/admin/customers").text
    assert ALICE.phone not in listing and ALICE.id_number not in listing
    assert ALICE.phone[:3] + "****" in listing
    refused = site.submit(
        "/admin/customers/1", "/admin/customers/1/unmask", {"fields": "phone", "reason": "x"}
    )
    assert refused.status_code == 400 and 'id="reason-error"' in refused.text
    shown = site.submit(
        "/admin/customers/1",
        "/admin/customers/1/unmask",
        {"fields": ["phone", "id_number"], "reason": "customer called about a deposit"},
    )
    assert ALICE.phone in shown.text and ALICE.id_number in shown.text
    with site.engine.connect() as c:
        unmasks = [
            e for e in audit.list_entries(c, limit=1000) if e.event_type == "customer.unmask"
        ]
    assert len(unmasks) == 1 and unmasks[0].actor == f"staff:{officer.member.id}"
    assert unmasks[0].detail["reason"] == "customer called about a deposit"
    assert {"customer.list", "customer.view"} <= set(audit_events(site))


def test_a_break_closes_by_maker_and_checker(site, tmp_path):
    break_id = make_break(site, tmp_path)
    maker = site.new_staff("maker", position="finance_specialist")
    checker = site.new_staff("checker", position="finance_specialist")
    assert site.staff_login(maker).status_code == 303
    proposed = site.submit(
        "/admin/breaks", f"/admin/breaks/{break_id}/propose", {"reason": "bank booked it"}
    )
    assert proposed.status_code == 303
    page = site.get("/admin/breaks").text
    proposal_id = int(re.search(r'data-proposal="(\d+)"', page).group(1))
    own = site.submit("/admin/breaks", f"/admin/proposals/{proposal_id}/approve", {})
    assert own.status_code == 403 and "复核人不能与经办人为同一人" in own.text
    site.client.cookies.clear()
    assert site.staff_login(checker).status_code == 303
    approved = site.submit("/admin/breaks", f"/admin/proposals/{proposal_id}/approve", {})
    assert approved.status_code == 303
    assert "没有未关闭的差异" in site.get("/admin/breaks").text
    events = audit_events(site)
    assert events.count("break.propose") == 1 and events.count("break.approve") == 1


def test_monitoring_and_decisions_pages(site):
    risk = site.new_staff("risk", position="risk_officer")
    assert site.staff_login(risk).status_code == 303
    page = site.get("/admin/credit/monitoring")
    assert page.status_code == 200 and "<svg" in page.text and 'data-testid="psi"' in page.text
    assert site.get("/admin/credit/decisions").status_code == 200
    assert site.get("/admin/credit/decisions/999").status_code == 404
    report = site.get("/admin/credit/report")
    assert report.status_code == 200 and "AUC" in report.text


def test_another_customers_objects_are_not_found(site):
    site.onboard(BOB)
    site.client.cookies.clear()
    site.onboard(ALICE)
    assert site.get("/m/credit/1").status_code == 404
    assert site.get("/m/instructions/web-nothing").status_code == 404
