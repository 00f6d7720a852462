"""The compliance back office through the TestClient: alerts (check, acknowledge, resolve), the
monthly report (preview with its figures and trend chart, publish, correct, versions and the
deadline), major events, and AML (large-value reports, a case worked to filing, the watch list).
Pages show exact figures; bad input is refused beside its field and changes nothing; a double
submit acts once; a role without the permission gets 403 and sees no form it may not use."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from compliance.book import PERIOD, build
from puhui.compliance import aml
from puhui.compliance.models import alerts as alerts_table
from puhui.compliance.models import cases, events, reports, watch_list
from puhui.core.clock import business_date
from puhui.db.engine import run_in_transaction
from puhui.web import i18n

from .conftest import Site

REPORTS = f"/admin/compliance/reports?month={PERIOD}"
FORMS = "/admin/compliance/events"  # a light page to take the session's CSRF token from


def staff(site: Site, username: str, position: str) -> Any:
    new = site.new_staff(username, position=position)
    assert site.staff_login(new).status_code == 303
    return new.member


def beside(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error"[^>]*>([^<]+)<', html)
    assert found, f"no error beside {field}"
    return found.group(1)


def seen_of(site: Site, page: str, action: str) -> str:
    """The state fingerprint the form posting to ``…/{action}`` carries."""
    found = re.search(rf'{action}".*?name="seen" value="(\w+)"', site.get(page).text, re.S)
    assert found, f"no form for {action} on {page}"
    return found.group(1)


def count(site: Site, table: Any) -> int:
    with site.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def item(html: str, code: str) -> str:
    """The value cell of one disclosure item in the first report on the page."""
    found = re.search(
        rf'<tr data-code="{code}"><td>\d+</td><td>[^<]*</td>\s*<td>([^<]*)</td>', html
    )
    assert found, f"no item {code}"
    return found.group(1).strip()


@pytest.fixture
def book(site: Site) -> Any:
    return run_in_transaction(site.engine, lambda c: build(c, site.clock))


# ------------------------------------------------------------------------ permissions


def test_a_role_without_the_permission_gets_403_and_no_navigation(site):
    staff(site, "cs.li", "collector")
    for path in (
        "/admin/compliance/alerts",
        REPORTS,
        "/admin/compliance/events",
        "/admin/compliance/aml",
    ):
        r = site.get(path)
        assert r.status_code == 403, path
    home = site.get("/admin/").text
    assert "/admin/compliance/" not in home
    r = site.submit("/admin/", "/admin/compliance/checks", {})
    assert r.status_code == 403
    r = site.submit(
        "/admin/", f"/admin/compliance/reports/{PERIOD}/publish", {"after_version": "0"}
    )
    assert r.status_code == 403
    assert count(site, reports) == 0


def test_a_post_without_its_csrf_token_is_refused(site):
    staff(site, "co.sun", "compliance_officer")
    r = site.client.post("/admin/compliance/checks", data={})
    assert r.status_code == 403
    assert count(site, alerts_table) == 0


# ------------------------------------------------------------------------ reports


def test_report_preview_shows_the_exact_figures_and_the_trend_chart(site, book):
    staff(site, "co.sun", "compliance_officer")
    r = site.get(REPORTS)
    assert r.status_code == 200
    html = r.text
    assert 'data-testid="deadline">2026-11-06<' in html  # 5th working day after October
    assert 'data-testid="latest-version">未发布<' in html
    assert 'data-testid="missing">无<' in html
    preview = html.split('data-testid="preview"', 1)[1]
    assert item(preview, "cum_loan_count") == "14"
    assert item(preview, "cum_loan_amount") == "¥36,200.00"
    assert item(preview, "overdue_90_count") == "2"
    assert item(preview, "overdue_90_amount") == "¥7,000.00"
    assert preview.count("<svg") == 2
    assert ">借贷余额与累计借贷金额（万元）<" in preview or "借贷余额与累计借贷金额" in preview


def test_publish_then_correct_with_a_reason_each_once(site, book):
    staff(site, "co.sun", "compliance_officer")
    action = f"/admin/compliance/reports/{PERIOD}/publish"
    first = {"after_version": "0", "kind": "first"}
    r = site.submit(FORMS, action, first)
    assert r.status_code == 303, r.text
    assert site.submit(FORMS, action, first).status_code == 303  # the double submit
    assert count(site, reports) == 1
    html = site.get(REPORTS).text
    assert 'data-testid="latest-version">1<' in html
    assert re.search(r'<tr data-version="1"><td>1</td><td>2026-11-02 \d\d:\d\d</td>', html)
    published = html.split('data-testid="published"', 1)[1]
    assert item(published, "cum_loan_count") == "14"

    # a correction needs its reason, beside the field; nothing is published
    r = site.submit(FORMS, action, {"after_version": "1", "kind": "correction"})
    assert r.status_code == 422
    assert beside(r.text, "correction_reason") == "请填写标出的字段。"
    # the same content again with a reason is refused as unchanged
    reason = {"after_version": "1", "kind": "correction", "correction_reason": "recheck"}
    r = site.submit(FORMS, action, reason)
    assert r.status_code == 409
    assert beside(r.text, "correction_reason") == "已拒绝：最新版本的内容与此完全相同。"
    assert count(site, reports) == 1

    # a related party found later: the correction is version 2, and a repeat adds no version 3
    from puhui.compliance.related import flag_related_party

    run_in_transaction(
        site.engine,
        lambda c: flag_related_party(
            c,
            customer_id=book.customers["B"],
            relation="director",
            disclosed=True,
            clock=site.clock,
        ),
    )
    reason["correction_reason"] = "B is a related party"
    assert site.submit(FORMS, action, reason).status_code == 303
    assert site.submit(FORMS, action, reason).status_code == 303
    assert count(site, reports) == 2
    html = site.get(REPORTS).text
    assert 'data-testid="latest-version">2<' in html
    assert '<tr data-version="2">' in html and "<td>B is a related party</td>" in html
    assert item(html.split('data-testid="published"', 1)[1], "related_party_count") == "2"


def test_a_bad_month_is_refused_beside_the_field(site):
    staff(site, "co.sun", "compliance_officer")
    r = site.get("/admin/compliance/reports?month=2026-13")
    assert r.status_code == 422
    assert beside(r.text, "month") == "请按 YYYY-MM 格式输入月份。"
    r = site.submit(
        "/admin/compliance/alerts",
        "/admin/compliance/reports/2026-11/publish",
        {"after_version": "0", "kind": "first"},
    )
    assert r.status_code == 422  # November has not ended
    assert "本月尚未结束" in r.text
    assert count(site, reports) == 0


# ------------------------------------------------------------------------ alerts


def test_run_the_check_acknowledge_and_resolve_an_alert(site, book):
    staff(site, "co.sun", "compliance_officer")
    bad = site.submit(FORMS, "/admin/compliance/checks", {"business_date": "2026-13-01"})
    assert bad.status_code == 422
    assert beside(bad.text, "business_date") == "请按 YYYY-MM-DD 格式填写日期。"
    assert count(site, alerts_table) == 0
    r = site.submit("/admin/compliance/alerts", "/admin/compliance/checks", {})
    assert r.status_code == 303, r.text
    with site.engine.connect() as c:
        found = c.execute(select(alerts_table.c.id, alerts_table.c.rule_id)).all()
    assert found, "the book breaches no rule"
    alert_id, rule = found[0]
    assert (
        site.submit("/admin/compliance/alerts", "/admin/compliance/checks", {}).status_code == 303
    )
    assert count(site, alerts_table) == len(found)  # the second run refreshed, opened nothing

    html = site.get(r.headers["location"]).text
    assert 'data-testid="check-result"' in html
    assert f'data-alert="{alert_id}"' in html
    listed = site.get(f"/admin/compliance/alerts?rule_id={rule}").text
    assert set(re.findall(r'data-testid="rule">([^<]+)<', listed)) == {rule}

    page = "/admin/compliance/alerts"
    r = site.submit(page, f"/admin/compliance/alerts/{alert_id}/acknowledge", {"note": ""})
    assert r.status_code == 422
    assert beside(r.text, "note") == "请填写标出的字段。"
    ack = {"note": "Wang checks the rate", "seen": seen_of(site, page, f"{alert_id}/acknowledge")}
    assert (
        site.submit(page, f"/admin/compliance/alerts/{alert_id}/acknowledge", ack).status_code
        == 303
    )
    with site.engine.connect() as c:
        row = c.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).one()
    assert row.status == "acknowledged" and row.resolution.endswith("Wang checks the rate")

    seen = seen_of(site, page + "?status=acknowledged", f"{alert_id}/resolve")
    empty = site.submit(page, f"/admin/compliance/alerts/{alert_id}/resolve", {"seen": seen})
    assert empty.status_code == 422  # shown beside the acknowledged alert's own field
    assert re.search(rf'id="f-resolution-{alert_id}".*?id="resolution-error"', empty.text, re.S)
    done = {"resolution": "rate corrected", "seen": seen}
    assert (
        site.submit(page, f"/admin/compliance/alerts/{alert_id}/resolve", done).status_code == 303
    )
    again = site.submit(page, f"/admin/compliance/alerts/{alert_id}/resolve", done)
    assert again.status_code == 303  # a repeat: the alert moved on, nothing is written twice
    with site.engine.connect() as c:
        row = c.execute(select(alerts_table).where(alerts_table.c.id == alert_id)).one()
    assert row.status == "resolved"
    assert row.resolution.count("rate corrected") == 1
    assert row.resolved_by.startswith("staff:")


# ------------------------------------------------------------------------ major events

EVENT = {
    "kind": "litigation",
    "occurred_at": "2026-11-01 09:30",
    "title": "某仲裁案",
    "cause": "出借人申请仲裁",
    "current_status": "已受理",
    "impact": "不影响正常经营",
    "measures": "已聘请律师",
}


def test_record_publish_and_update_a_major_event(site):
    staff(site, "co.sun", "compliance_officer")
    page = "/admin/compliance/events"
    r = site.submit(page, page, EVENT | {"cause": ""})
    assert r.status_code == 422
    assert beside(r.text, "cause") == "请填写标出的字段。"
    r = site.submit(page, page, EVENT | {"occurred_at": "yesterday"})
    assert r.status_code == 422
    assert beside(r.text, "occurred_at") == "请按 YYYY-MM-DD HH:MM 格式输入时间。"
    r = site.submit(page, page, EVENT | {"occurred_at": "2026-12-01 09:30"})
    assert beside(r.text, "occurred_at") == "发生时间不能晚于现在。"
    assert count(site, events) == 0

    assert site.submit(page, page, EVENT).status_code == 303
    assert site.submit(page, page, EVENT).status_code == 303  # the double submit
    assert count(site, events) == 1
    with site.engine.connect() as c:
        (event_id,) = c.execute(select(events.c.id)).scalars().all()
    html = site.get(page).text
    assert f'data-event="{event_id}"' in html and 'data-testid="event-state">未披露<' in html
    assert "2026-11-01 09:30" in html and "2026-11-03 09:30" in html  # due within 48 hours
    assert "某仲裁案" not in site.get("/m/disclosure").text

    publish = {"seen": seen_of(site, page, f"{event_id}/publish")}
    assert site.submit(page, f"{page}/{event_id}/publish", publish).status_code == 303
    assert site.submit(page, f"{page}/{event_id}/publish", publish).status_code == 303
    assert 'data-testid="event-state">已发布<' in site.get(page).text

    status = f"{page}/{event_id}/status"
    r = site.submit(page, status, {"seen": seen_of(site, page, f"{event_id}/status")})
    assert r.status_code == 422 and beside(r.text, "current_status") == "请填写标出的字段。"
    update = {"current_status": "已开庭", "seen": seen_of(site, page, f"{event_id}/status")}
    assert site.submit(page, status, update).status_code == 303
    public = site.get("/m/disclosure").text
    assert "某仲裁案" in public and "<dd>已开庭</dd>" in public and "<dd>已聘请律师</dd>" in public


# ------------------------------------------------------------------------ AML


def _customer_with_deposits(site: Site, amount: int) -> int:
    from custody.conftest import fund, open_user
    from lending import factories

    cid = run_in_transaction(site.engine, lambda c: factories.customer(c, site.clock))
    ref = f"customer-{cid}"
    open_user(site.engine, site.bank, site.clock, ref)
    fund(site.engine, site.bank, site.clock, ref, amount)
    return cid


def test_large_value_report_is_shown_exactly_and_filed_once(site):
    cid = _customer_with_deposits(site, 50_000_000)  # 500,000.00 yuan: at the threshold
    (report,) = run_in_transaction(
        site.engine,
        lambda c: aml.scan_large_value(c, day=business_date(site.clock.now()), clock=site.clock),
    )
    staff(site, "co.sun", "compliance_officer")
    page = "/admin/compliance/aml"
    html = site.get(page).text
    row = re.search(rf'<tr data-report="{report.id}">(.*?)</tr>', html, re.S)
    assert row
    assert f"<td>{cid} (个人)</td>" in row.group(1)
    assert 'data-testid="total">¥500,000.00<' in row.group(1)
    assert "<td>流入</td>" in row.group(1) and str(report.due_date) in row.group(1)
    seen = {"seen": seen_of(site, page, f"large-value/{report.id}/file")}
    action = f"/admin/compliance/aml/large-value/{report.id}/file"
    assert site.submit(page, action, seen).status_code == 303
    assert site.submit(page, action, seen).status_code == 303  # the double submit
    with site.engine.connect() as c:
        filed = aml.get_large_value(c, report_id=report.id)
    assert filed.status == "filed" and filed.filed_by and filed.filed_by.startswith("staff:")
    assert f'data-report="{report.id}"' not in site.get(page).text  # pending ones only


def test_a_suspicious_case_is_reviewed_decided_and_filed(site):
    case, _new = run_in_transaction(
        site.engine,
        lambda c: aml.open_case(
            c,
            rule="STR-STRUCT",
            subject="customer:7",
            customer_ids=[7],
            detail={"days": 2, "max_fen": 49_999_999},
            clock=site.clock,
        ),
    )
    staff(site, "co.sun", "compliance_officer")
    page = f"/admin/compliance/aml/cases/{case.id}"
    assert f'<a href="{page}">{case.id}</a>' in site.get("/admin/compliance/aml").text
    html = site.get(page).text
    assert 'data-testid="case-status">待处理<' in html
    # deciding before any reasoning is refused
    r = site.submit(
        page, page + "/review", {"reasoning": "", "seen": seen_of(site, page, "review")}
    )
    assert r.status_code == 422 and beside(r.text, "reasoning") == "请填写标出的字段。"
    review = {"reasoning": "两天均略低于50万元", "seen": seen_of(site, page, "review")}
    assert site.submit(page, page + "/review", review).status_code == 303
    assert site.submit(page, page + "/review", review).status_code == 303  # appended once
    with site.engine.connect() as c:
        assert aml.get_case(c, case_id=case.id).reasoning.count("两天均略低于50万元") == 1

    seen = seen_of(site, page, "decide")
    r = site.submit(page, page + "/decide", {"reason": "典型拆分", "seen": seen})
    assert r.status_code == 422 and beside(r.text, "decision") == "请填写标出的字段。"
    decide = {"decision": "confirm", "reason": "典型拆分", "seen": seen}
    assert site.submit(page, page + "/decide", decide).status_code == 303
    html = site.get(page).text
    assert 'data-testid="case-status">已确认<' in html
    assert 'data-testid="case-due">2026-11-09<' in html  # 5 working days after 11-02
    filing = {"seen": seen_of(site, page, "file")}
    assert site.submit(page, page + "/file", filing).status_code == 303
    assert site.submit(page, page + "/file", filing).status_code == 303
    with site.engine.connect() as c:
        done = aml.get_case(c, case_id=case.id)
    assert done.status == "filed" and done.decision_reason == "典型拆分"


def test_watch_list_entry_blocks_and_freezes_and_refuses_bad_ids(site):
    from puhui.identity.identifiers import id_check_char

    page = "/admin/compliance/aml"
    staff(site, "co.sun", "compliance_officer")
    r = site.submit(page, page + "/watch-list", {"list_name": "UN-1267", "id_number": "123"})
    assert r.status_code == 422
    assert beside(r.text, "id_number") == "请输入 18 位居民身份证号码。"
    r = site.submit(page, page + "/watch-list", {"list_name": "", "id_number": "123"})
    assert beside(r.text, "list_name") == "请填写标出的字段。"
    assert count(site, watch_list) == 0

    base = "11010519491231002"
    entry = {"list_name": "UN-1267", "id_number": base + id_check_char(base), "note": "制裁"}
    r = site.submit(page, page + "/watch-list", entry)
    assert r.status_code == 303 and r.headers["location"].startswith(page + "?blocked=0")
    assert site.submit(page, page + "/watch-list", entry).status_code == 303
    assert count(site, watch_list) == 1
    html = site.get(page).text
    assert "<td>UN-1267</td><td>制裁</td>" in html
    assert entry["id_number"] not in html  # the number is kept as a blind index only
    assert count(site, cases) == 0


def test_a_reader_sees_the_pages_but_no_form_and_cannot_act(site, book):
    """A role with ``compliance.read`` alone: every page, no form, and a post is refused."""
    from puhui.identity import roles

    run_in_transaction(
        site.engine,
        lambda c: roles.define_role(
            c, code="compliance_reader", name="读者", scope="all", perms=["compliance.read"]
        ),
    )
    new = site.new_staff(
        "co.zhou", position="compliance_officer", role_codes=("compliance_reader",)
    )
    assert site.staff_login(new).status_code == 303
    for path in (
        "/admin/compliance/alerts",
        REPORTS,
        "/admin/compliance/events",
        "/admin/compliance/aml",
    ):
        r = site.get(path)
        assert r.status_code == 200, path
        assert 'method="post" action="/admin/compliance' not in r.text, path
    nav = site.get("/admin/").text
    assert "/admin/compliance/alerts" in nav and "/admin/compliance/aml" in nav
    r = site.submit(FORMS, f"/admin/compliance/reports/{PERIOD}/publish", {"after_version": "0"})
    assert r.status_code == 403
    r = site.submit(
        REPORTS, "/admin/compliance/aml/watch-list", {"list_name": "x", "id_number": "1"}
    )
    assert r.status_code == 403
    assert count(site, reports) == 0 and count(site, watch_list) == 0


# ------------------------------------------------------------------------ public page


def test_the_public_disclosure_page_in_chinese_and_english(site, book):
    staff(site, "co.sun", "compliance_officer")
    action = f"/admin/compliance/reports/{PERIOD}/publish"
    assert site.submit(FORMS, action, {"after_version": "0", "kind": "first"}).status_code == 303
    site.client.cookies.clear()  # the public: nobody signed in
    zh = site.get("/m/disclosure")
    assert zh.status_code == 200
    assert "月度运营信息 2026-10" in zh.text and "自成立以来累计借贷金额" in zh.text
    assert item(zh.text, "cum_loan_amount") == "¥36,200.00"
    assert "借贷余额与累计借贷金额（万元）" in zh.text and "机构信息" in zh.text
    assert f"/api/v1/disclosure/reports/{PERIOD}/files/csv?version=1" in zh.text
    assert site.get(f"/api/v1/disclosure/reports/{PERIOD}/files/csv?version=1").status_code == 200

    site.client.cookies.set(i18n.COOKIE, "en")
    en = site.get("/m/disclosure").text
    assert '<html lang="en">' in en
    assert "Monthly operating information 2026-10" in en
    assert "Cumulative loan amount since founding" in en and "自成立以来累计借贷金额" not in en
    assert item(en, "cum_loan_amount") == "¥36,200.00"  # the same snapshot
    assert "Outstanding and cumulative loan amounts (10,000 yuan)" in en
    assert "Institution information" in en and "月度运营信息" not in en
    assert ">Disclosure<" in en


def test_a_blocked_customers_refusal_is_worded_for_the_page():
    """Custody refuses a blocked customer's withdrawal with ``customer_blocked``; the money
    pages show it through ``error_text`` in the visitor's language."""
    from puhui.core.errors import Conflict
    from puhui.web.render import error_text

    refused = Conflict("customer_blocked", "this customer is blocked", field="customer")
    with i18n.using("zh_CN"):
        assert error_text(refused) == "已拒绝：该账户因反洗钱审查暂停交易，请联系客服。"
    with i18n.using("en"):
        assert error_text(refused).startswith("Refused: the account is restricted")
