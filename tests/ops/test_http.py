"""The ops routes over HTTP: what each level of the team hierarchy sees, refusals, the public
lead form, exports and the customer's coupons and referral code."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from identity import conftest as identity_fixtures
from identity.conftest import ACTOR
from puhui.db.engine import run_in_transaction
from puhui.ops import channels, coupons, investments

from .conftest import person

platform = identity_fixtures.platform


@pytest.fixture
def crm(platform, org, clock):
    """Two flyer leads (fa1's and fa3's), logins for every level, one investment of c1."""
    e = platform.engine
    mine = run_in_transaction(
        e,
        lambda c: channels.flyer_batch(
            c,
            name="A 组传单",
            quantity=10,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    theirs = run_in_transaction(
        e,
        lambda c: channels.flyer_batch(
            c,
            name="B 组传单",
            quantity=10,
            team_id=org.team_b,
            owner_staff_id=org.fa3,
            actor=ACTOR,
            clock=clock,
        ),
    )
    for ch, phone in ((mine, "13811112222"), (theirs, "13833334444")):
        r = platform.client.post(
            "/api/v1/ops/leads", json={"channel_code": ch.code, "name": "潜在客户", "phone": phone}
        )
        assert r.status_code == 202 and r.json() == {"received": True}, r.text
    run_in_transaction(
        e,
        lambda c: investments.record_investment(
            c,
            investment_ref="inv-http-1",
            customer_id=org.c1,
            amount_fen=1_200_000,
            term_months=6,
            product_code="P6",
            invested_on=date(2026, 11, 2),
            clock=clock,
        ),
    )
    heads = {k: platform.staff_login(v) for k, v in org.staff.items()}
    return heads


def test_each_level_sees_its_own_leads_and_customers(platform, org, crm):
    c = platform.client

    def lead_phones(who: str) -> list[str]:
        r = c.get("/admin/api/v1/ops/leads", headers=crm[who])
        assert r.status_code == 200, r.text
        return sorted(x["phone"] for x in r.json())

    assert lead_phones("fa1") == ["138****2222"]
    assert lead_phones("fa2") == []
    assert lead_phones("manager_a") == ["138****2222"]
    assert lead_phones("director") == ["138****2222", "138****4444"]
    assert lead_phones("ops") == ["138****2222", "138****4444"]
    assert "13811112222" not in c.get("/admin/api/v1/ops/leads", headers=crm["ops"]).text
    url = f"/admin/api/v1/ops/customers/{org.c2}/ownership"
    assert c.get(url, headers=crm["fa1"]).status_code == 404
    assert c.get(url, headers=crm["manager_a"]).status_code == 200
    books = c.get("/admin/api/v1/ops/books", headers=crm["manager_a"]).json()
    assert sorted((b["advisor_id"], b["customers"]) for b in books) == [(org.fa1, 1), (org.fa2, 1)]


def test_only_a_manager_moves_a_customer_and_only_within_the_team(platform, org, crm):
    c = platform.client
    body = {"to_staff_id": org.fa2, "reason": "advisor on leave"}
    r = c.post(f"/admin/api/v1/ops/customers/{org.c1}/transfer", json=body, headers=crm["fa1"])
    assert r.status_code == 403 and r.json()["error"]["code"] == "manager_required"
    r = c.post(
        f"/admin/api/v1/ops/customers/{org.c3}/transfer", json=body, headers=crm["manager_a"]
    )
    assert r.status_code == 404
    r = c.post(
        f"/admin/api/v1/ops/customers/{org.c1}/transfer", json=body, headers=crm["manager_a"]
    )
    assert r.status_code == 200 and r.json()["to_staff_id"] == org.fa2
    hist = c.get(f"/admin/api/v1/ops/customers/{org.c1}/ownership", headers=crm["fa2"]).json()
    assert [(h["from_staff_id"], h["to_staff_id"]) for h in hist] == [(org.fa1, org.fa2)]


def test_performance_by_hierarchy_and_its_exports(platform, org, crm):
    c = platform.client
    q = "/admin/api/v1/ops/performance?month=2026-11"
    fa1 = c.get(q, headers=crm["fa1"]).json()
    assert [(r["subject_id"], r["annualised_fen"], r["new_investors"]) for r in fa1] == [
        (org.fa1, 600_000, 1)
    ]
    assert c.get(q, headers=crm["fa2"]).json() == []
    assert c.get(q + "&group=team", headers=crm["director"]).json()[0]["subject_id"] == org.team_a
    assert (
        c.get("/admin/api/v1/ops/performance?month=2026-13", headers=crm["fa1"]).status_code == 422
    )
    got = c.get(
        q.replace("performance", "performance/export") + "&format=csv", headers=crm["manager_a"]
    )
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["subject_id", "rank", "new_investors"]
    assert table[1][:6] == [str(org.fa1), "1", "1", "1200000", "1200000", "600000"]
    xlsx = c.get(
        q.replace("performance", "performance/export") + "&format=xlsx", headers=crm["fa1"]
    )
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [cell.value for cell in sheet[2]][:6] == [org.fa1, 1, 1, 1_200_000, 1_200_000, 600_000]


def test_channels_refuse_banned_promises_and_serve_their_qr(platform, org, crm):
    c = platform.client
    r = c.post(
        "/admin/api/v1/ops/channels",
        json={
            "kind": "campaign",
            "name": "双十一",
            "landing_text": "零风险 高收益",
            "source": "wechat",
        },
        headers=crm["ops"],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "banned_phrase"
    r = c.post(
        "/admin/api/v1/ops/channels",
        json={
            "kind": "campaign",
            "name": "双十一",
            "landing_text": "出借有风险，选择需谨慎",
            "source": "wechat",
            "medium": "social",
            "campaign": "1111",
            "starts_on": "2026-11-01",
            "ends_on": "2026-11-11",
        },
        headers=crm["ops"],
    )
    assert r.status_code == 201, r.text
    ch = r.json()
    assert ch["link"].endswith(
        f"/{ch['code']}?utm_source=wechat&utm_medium=social&utm_campaign=1111"
    )
    assert (
        c.post(
            "/admin/api/v1/ops/channels", json={"kind": "flyer", "name": "x"}, headers=crm["fa1"]
        ).status_code
        == 403
    )
    qr = c.get(f"/admin/api/v1/ops/channels/{ch['id']}/qr", headers=crm["fa1"])
    assert (
        qr.status_code == 200
        and qr.headers["content-type"] == "image/svg+xml"
        and b"<svg" in qr.content
    )
    cal = c.get(
        "/admin/api/v1/ops/calendar?start=2026-11-01&end=2026-11-30", headers=crm["fa1"]
    ).json()
    assert [e["channel_code"] for e in cal] == [ch["code"]]


def test_a_customer_sees_their_coupons_and_referral_code(platform, org, crm, clock):
    e = platform.engine
    run_in_transaction(
        e,
        lambda c: coupons.create_rule(
            c, code="w10", name="红包", kind="cash", amount_fen=1_000, actor=ACTOR, clock=clock
        ),
    )
    r = platform.client.post(
        "/admin/api/v1/ops/coupons",
        json={"rule_code": "w10", "customer_id": org.c2, "reason": "welcome"},
        headers=crm["ops"],
    )
    assert r.status_code == 201, r.text
    again = platform.client.post(
        "/admin/api/v1/ops/coupons",
        json={"rule_code": "w10", "customer_id": org.c2, "reason": "welcome"},
        headers=crm["ops"],
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "reward_already_given"
    h = platform.login(person(2))
    mine = platform.client.get("/api/v1/me/coupons", headers=h).json()
    assert [(x["rule_code"], x["status"]) for x in mine] == [("w10", "issued")]
    code = platform.client.get("/api/v1/me/referral-code", headers=h).json()["code"]
    assert platform.client.get("/api/v1/me/referral-code", headers=h).json()["code"] == code
    r = platform.client.post("/api/v1/me/referral", json={"code": code}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "self_referral"
