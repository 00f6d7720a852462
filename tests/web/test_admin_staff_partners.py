"""The staff, roles and partner pages of the back office through the TestClient: the exact rows
shown, a role grant refused by the separation of duties beside the field, grants and revokes
and disabling that a second post leaves as they are, 403 and no nav entry without the
permission; a partner onboarded through the form shows its secret on that answer only, and a
failed webhook delivery is queued again once per click."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, insert, select

from puhui.db.engine import run_in_transaction
from puhui.identity.models import audit_log
from puhui.openplatform import partners, webhooks
from puhui.openplatform.models import webhook_deliveries
from puhui.web.render import _when
from puhui.web.security import CSRF_FIELD

from .conftest import ACTOR, Site, csrf_of

ROW = re.compile(r"<tr data-staff=\"(\d+)\">(.*?)</tr>", re.S)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")


def cells(row_html: str) -> list[str]:
    return [TAG.sub("", c).strip() for c in CELL.findall(row_html)]


def staff_rows(html: str) -> dict[int, list[str]]:
    return {int(i): cells(body) for i, body in ROW.findall(html)}


def audit_count(site: Site, event: str) -> int:
    with site.engine.connect() as c:
        return c.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.event_type == event)
        ).scalar_one()


# -------------------------------------------------------------------------------- staff


def test_staff_list_member_page_and_role_catalog(site: Site) -> None:
    sec = site.new_staff("sec.admin", position="security_admin")
    aud = site.new_staff("aud.admin", position="audit_admin")
    assert site.staff_login(sec).status_code == 303
    r = site.get("/admin/staff")
    assert r.status_code == 200
    assert 'href="/admin/staff"' in r.text and 'href="/admin/roles"' in r.text
    rows = staff_rows(r.text)
    assert rows == {
        sec.member.id: ["sec.admin", "sec.admin", "安全管理员", "security_admin", "正常"],
        aud.member.id: ["aud.admin", "aud.admin", "审计管理员", "audit_admin", "正常"],
    }
    r = site.get(f"/admin/staff/{aud.member.id}")
    assert r.status_code == 200
    assert re.findall(r'<tr data-role="(\w+)">', r.text) == ["audit_admin"]
    r = site.get("/admin/roles")
    assert r.status_code == 200
    row = re.search(r'<tr data-role="security_admin">(.*?)</tr>', r.text, re.S)
    assert row and cells(row.group(1)) == [
        "security_admin",
        "安全管理员 Security admin",
        "none",
        "是",
        "roles.manage, staff.read",
    ]
    assert 'data-permission="audit.read"' in r.text
    # English on request
    site.client.cookies.set("puhui_lang", "en")
    r = site.get("/admin/staff")
    assert staff_rows(r.text)[sec.member.id][3:] == ["security_admin", "Active"]
    assert "<h1>Staff</h1>" in r.text


def test_sod_refusal_beside_the_field_then_grant_and_revoke_once(site: Site) -> None:
    sec = site.new_staff("sec.admin", position="security_admin")
    aud = site.new_staff("aud.admin", position="audit_admin")
    fin = site.new_staff("fin.one", position="finance_specialist")
    site.staff_login(sec)
    page = f"/admin/staff/{aud.member.id}"
    before = audit_count(site, "staff.roles")
    r = site.submit(page, f"{page}/roles/grant", {"role": "security_admin"})
    assert r.status_code == 422
    assert 'id="role-error"' in r.text and "SEC-AC-01" in r.text
    assert re.search(r'<div class="field has-error">\s*<label for="f-role">', r.text)
    assert re.findall(r'<tr data-role="(\w+)">', r.text) == ["audit_admin"]
    assert audit_count(site, "staff.roles") == before  # nothing changed

    page = f"/admin/staff/{fin.member.id}"
    no_token = site.client.post(f"{page}/roles/grant", data={"role": "hr_admin"})
    assert no_token.status_code == 403  # CSRF: refused, nothing done
    assert audit_count(site, "staff.roles") == before
    for _ in range(2):  # a double submit grants once
        r = site.submit(page, f"{page}/roles/grant", {"role": "hr_admin"})
        assert r.status_code == 303 and r.headers["location"] == page
    assert audit_count(site, "staff.roles") == before + 1
    held = re.findall(r'<tr data-role="(\w+)">', site.get(page).text)
    assert held == ["finance_staff", "hr_admin"]
    for _ in range(2):
        r = site.submit(page, f"{page}/roles/revoke", {"role": "hr_admin"})
        assert r.status_code == 303
    assert audit_count(site, "staff.roles") == before + 2
    assert re.findall(r'<tr data-role="(\w+)">', site.get(page).text) == ["finance_staff"]


def test_disable_and_enable_need_staff_manage(site: Site) -> None:
    sysadm = site.new_staff("sys.admin", position="system_admin")
    fin = site.new_staff("fin.one", position="finance_specialist")
    site.staff_login(sysadm)
    page = f"/admin/staff/{fin.member.id}"
    for _ in range(2):
        r = site.submit(page, f"{page}/status", {"status": "disabled"})
        assert r.status_code == 303
    assert audit_count(site, "staff.status") == 1
    r = site.get(page)
    assert 'data-status="disabled"' in r.text and "/roles/grant" not in r.text
    # a system admin holds staff.manage, not roles.manage: granting is refused
    r = site.submit(page, f"{page}/roles/grant", {"role": "hr_admin"})
    assert r.status_code == 403
    site.submit(page, f"{page}/status", {"status": "active"})
    assert 'data-status="active"' in site.get(page).text
    assert audit_count(site, "staff.status") == 2


def test_a_role_without_the_permission_gets_403_and_no_nav_entry(site: Site) -> None:
    fin = site.new_staff("fin.one", position="finance_specialist")
    site.staff_login(fin)
    home = site.get("/admin/")
    assert home.status_code == 200
    for path in ("/admin/staff", "/admin/roles", "/admin/partners"):
        assert f'href="{path}"' not in home.text
    for path in (
        "/admin/staff",
        f"/admin/staff/{fin.member.id}",
        "/admin/roles",
        "/admin/partners",
        "/admin/partners/new",
    ):
        assert site.get(path).status_code == 403, path
    token = csrf_of(home.text)
    r = site.client.post(
        f"/admin/staff/{fin.member.id}/roles/grant",
        data={CSRF_FIELD: token, "role": "audit_admin"},
    )
    assert r.status_code == 403
    r = site.client.post("/admin/partners", data={CSRF_FIELD: token, "code": "x"})
    assert r.status_code == 403


# ----------------------------------------------------------------------------- partners

ONBOARD = {
    "code": "acme-bank",
    "name": "Acme 银行",
    "mode": "sandbox",
    "scopes": ["products:read", "webhooks:manage"],
    "ip_allowlist": "10.0.0.0/8\n192.168.1.7",
    "product_codes": "",
    "rate_limit_per_minute": "120",
}


def operator(site: Site) -> None:
    ops = site.new_staff("ops.lead", position="operations_director")
    assert site.staff_login(ops).status_code == 303


def test_onboarding_shows_the_secret_once(site: Site) -> None:
    operator(site)
    home = site.get("/admin/")
    assert 'href="/admin/partners"' in home.text
    assert 'href="/admin/staff"' not in home.text
    r = site.submit("/admin/partners/new", "/admin/partners", ONBOARD)
    assert r.status_code == 201, r.text
    secret = re.search(r'data-testid="secret">(sk_[^<]+)<', r.text)
    key_id = re.search(r'data-testid="key-id">(pk_sandbox_[0-9a-f]+)<', r.text)
    assert secret and key_id
    with site.engine.connect() as c:
        (partner,) = partners.list_partners(c)
    assert (partner.code, partner.scopes, partner.rate_limit_per_minute) == (
        "acme-bank",
        ("products:read", "webhooks:manage"),
        120,
    )
    assert partner.ip_allowlist == ("10.0.0.0/8", "192.168.1.7/32")
    assert audit_count(site, "partner.create") == 1

    listing = site.get("/admin/partners").text
    row = re.search(rf'<tr data-partner="{partner.id}">(.*?)</tr>', listing, re.S)
    assert row and cells(row.group(1)) == [
        "Acme 银行",
        "acme-bank",
        key_id.group(1),
        "products:read, webhooks:manage",
        "sandbox",
        "正常",
        "120",
    ]
    detail = site.get(f"/admin/partners/{partner.id}").text
    for html in (listing, detail):
        assert secret.group(1) not in html and "sk_" not in html
    assert key_id.group(1) in detail

    # the same form posted again is refused beside the code: one partner, one secret
    again = site.submit("/admin/partners/new", "/admin/partners", ONBOARD)
    assert again.status_code == 422
    assert 'id="code-error"' in again.text and "sk_" not in again.text
    assert audit_count(site, "partner.create") == 1


def test_onboarding_refuses_bad_networks_beside_the_field(site: Site) -> None:
    operator(site)
    r = site.submit(
        "/admin/partners/new", "/admin/partners", {**ONBOARD, "ip_allowlist": "not-a-net"}
    )
    assert r.status_code == 422
    assert 'id="ip_allowlist-error"' in r.text
    with site.engine.connect() as c:
        assert partners.list_partners(c) == []


def test_redelivery_queues_a_failed_delivery_once(site: Site) -> None:
    operator(site)

    def setup(c):  # type: ignore[no-untyped-def]
        new = partners.create(
            c,
            keys=site.keys,
            code="acme",
            name="Acme",
            mode="sandbox",
            scopes=["webhooks:manage"],
            ip_allowlist=["0.0.0.0/0"],
            product_codes=[],
            actor=ACTOR,
            clock=site.clock,
        )
        sub = webhooks.subscribe(
            c,
            partner_id=new.partner.id,
            url="https://hooks.acme.example/puhui",
            topics=[sorted(webhooks.TOPICS)[0]],
            clock=site.clock,
        )
        rows = [
            {"status": "failed", "attempts": 8, "event_id": 1, "last_status_code": 500},
            {"status": "succeeded", "attempts": 1, "event_id": 2, "last_status_code": 200},
        ]
        ids = [
            c.execute(
                insert(webhook_deliveries).values(
                    subscription_id=sub.id,
                    partner_id=new.partner.id,
                    topic=sub.topics[0],
                    key="loan:1",
                    seq=row["event_id"],
                    body_json="{}",
                    next_attempt_us=0,
                    created_us=0,
                    **row,
                )
            ).inserted_primary_key[0]
            for row in rows
        ]
        return new.partner.id, ids

    partner_id, (failed, done) = run_in_transaction(site.engine, setup)
    page = f"/admin/partners/{partner_id}"
    html = site.get(page).text
    assert 'data-subscription="' in html and "https://hooks.acme.example/puhui" in html
    assert f'deliveries/{failed}/redeliver"' in html
    assert f'deliveries/{done}/redeliver"' not in html
    action = f"{page}/deliveries/{failed}/redeliver"
    token = csrf_of(html)
    r = site.client.post(action, data={CSRF_FIELD: token})
    assert r.status_code == 303 and r.headers["location"] == page
    with site.engine.connect() as c:
        d = webhooks.get_delivery(c, delivery_id=failed)
    assert (d.status, d.attempts) == ("pending", 0)
    assert d.next_attempt_us == int(site.clock.now().timestamp() * 1_000_000)

    # the second click of a double click finds it queued: refused beside its row, unchanged
    site.clock.advance(timedelta(seconds=5))
    r = site.client.post(action, data={CSRF_FIELD: token})
    assert r.status_code == 409
    assert 'id="delivery-error"' in r.text
    with site.engine.connect() as c:
        again = webhooks.get_delivery(c, delivery_id=failed)
    assert again == d
    # a delivered one is refused the same way
    r = site.client.post(f"{page}/deliveries/{done}/redeliver", data={CSRF_FIELD: token})
    assert r.status_code == 409
    with site.engine.connect() as c:
        assert webhooks.get_delivery(c, delivery_id=done).status == "succeeded"
    # the log shows each delivery's state, attempts and (queued only) its next retry
    log = {
        int(i): cells(body)
        for i, body in re.findall(r'<tr data-delivery="(\d+)"[^>]*>(.*?)</tr>', r.text, re.S)
    }
    topic = log[failed][1]
    assert log[failed][:5] == [str(failed), topic, "排队中", "0", _when(d.next_attempt_us)]
    assert log[done][:5] == [str(done), topic, "已送达", "1", "–"]
