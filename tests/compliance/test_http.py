"""Disclosure over HTTP: publication by staff, then the same snapshot on every public channel
(DIS-GEN-01): the API, the files and the page, without login."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook

from puhui.compliance.disclosure import ITEM_CODES
from puhui.db.engine import run_in_transaction

from .book import PERIOD, build


def test_staff_publish_and_every_channel_serves_the_same_snapshot(platform):
    run_in_transaction(platform.engine, lambda c: build(c, platform.clock))
    _new, officer = platform.staff("comp.one", position="compliance_officer")
    _new, ops = platform.staff("ops.two", position="operations_manager")
    c = platform.client
    assert c.get("/api/v1/disclosure/reports").json() == []
    assert c.get(f"/api/v1/disclosure/reports/{PERIOD}").status_code == 404

    preview = c.get(f"/admin/api/v1/compliance/reports/{PERIOD}/preview", headers=officer)
    assert preview.status_code == 200 and preview.json()["missing"] == []
    assert preview.json()["snapshot"]["items"]["cum_loan_count"] == 14
    refused = c.post(f"/admin/api/v1/compliance/reports/{PERIOD}/publish", json={}, headers=ops)
    assert refused.status_code == 403
    r = c.post(f"/admin/api/v1/compliance/reports/{PERIOD}/publish", json={}, headers=officer)
    assert r.status_code == 201, r.text
    published = r.json()
    assert published["version"] == 1 and published["deadline"] == "2026-11-06"
    again = c.post(f"/admin/api/v1/compliance/reports/{PERIOD}/publish", json={}, headers=officer)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_published"

    # Public channels, no login: the API …
    api = c.get(f"/api/v1/disclosure/reports/{PERIOD}")
    assert api.status_code == 200
    snap = api.json()["snapshot"]
    assert snap == published["snapshot"]
    assert api.json()["content_sha256"] == published["content_sha256"]
    assert c.get("/api/v1/disclosure/reports").json() == [{"period": PERIOD, "version": 1}]
    # … the JSON, CSV and XLSX files …
    files = f"/api/v1/disclosure/reports/{PERIOD}/files"
    as_json = json.loads(c.get(f"{files}/json").content)
    assert as_json["items"] == snap["items"]
    assert as_json["publication"]["content_sha256"] == published["content_sha256"]
    rows = list(csv.DictReader(io.StringIO(c.get(f"{files}/csv").content.decode("utf-8-sig"))))
    assert [r["code"] for r in rows] == list(ITEM_CODES)
    for row in rows:
        if row["unit"] in ("fen", "count"):
            assert int(row["value"]) == snap["items"][row["code"]], row["code"]
    wb = load_workbook(io.BytesIO(c.get(f"{files}/xlsx").content))
    cells = {r[1]: r[3] for r in wb["items"].iter_rows(values_only=True) if r[1] in ITEM_CODES}
    assert cells["outstanding_principal"] == snap["items"]["outstanding_principal"]
    assert wb["trend"]._charts, "the trend sheet carries its chart"
    pdf = c.get(f"{files}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    # … and the page, whose figures are those of the snapshot.
    page = c.get("/m/disclosure")
    assert page.status_code == 200
    html = page.text
    assert "月度运营信息 2026-10" in html and published["content_sha256"] in html
    assert f"¥{snap['items']['outstanding_principal'] // 100:,}." in html
    assert html.count("<svg") == 2  # the trend charts
    assert c.get(f"/m/disclosure/{PERIOD}?version=1").status_code == 200
    assert c.get("/m/disclosure/2026-09").status_code == 404

    # A correction needs a valid body; version 1 stays served on request.
    corr = c.post(
        f"/admin/api/v1/compliance/reports/{PERIOD}/publish",
        json={"correction_reason": "recheck", "unexpected": 1},
        headers=officer,
    )
    assert corr.status_code == 422
    versions = c.get(f"/admin/api/v1/compliance/reports/{PERIOD}/versions", headers=officer)
    assert [v["version"] for v in versions.json()] == [1]
    v1 = c.get(f"/api/v1/disclosure/reports/{PERIOD}?version=1").json()
    assert v1["content_sha256"] == published["content_sha256"]


def test_major_event_recorded_and_published(platform):
    _new, officer = platform.staff("comp.two", position="compliance_officer")
    c = platform.client
    body = {
        "kind": "litigation",
        "occurred_at": "2026-11-02T09:00:00+08:00",
        "title": "重大诉讼",
        "cause": "一名出借人起诉",
        "current_status": "已立案",
        "impact": "不影响还款",
        "measures": "已聘请律师",
    }
    r = c.post("/admin/api/v1/compliance/events", json=body, headers=officer)
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["due_at"] == "2026-11-04T01:00:00+00:00" and ev["published_at"] is None
    assert c.get("/api/v1/disclosure/events").json() == []
    bad = c.post("/admin/api/v1/compliance/events", json={**body, "measures": ""}, headers=officer)
    assert bad.status_code == 422
    done = c.post(f"/admin/api/v1/compliance/events/{ev['id']}/publish", headers=officer)
    assert done.status_code == 200
    public = c.get("/api/v1/disclosure/events").json()
    assert [e["title"] for e in public] == ["重大诉讼"]
    assert "已聘请律师" in c.get("/m/disclosure").text
    # Where things stand now: the published notice shows the new status, the old measures.
    status = f"/admin/api/v1/compliance/events/{ev['id']}/status"
    assert c.post(status, json={"current_status": ""}, headers=officer).status_code == 422
    moved = c.post(status, json={"current_status": "已开庭"}, headers=officer)
    assert moved.status_code == 200
    assert (moved.json()["current_status"], moved.json()["measures"]) == ("已开庭", "已聘请律师")
    assert [e["current_status"] for e in c.get("/api/v1/disclosure/events").json()] == ["已开庭"]


def test_checks_alerts_and_an_aml_case_over_http(platform):
    from puhui.compliance import aml

    _new, officer = platform.staff("comp.three", position="compliance_officer")
    c = platform.client
    r = c.post(
        "/admin/api/v1/compliance/checks", json={"business_date": "2026-11-02"}, headers=officer
    )
    assert r.status_code == 200, r.text
    assert [f["rule_id"] for f in r.json()["findings"]] == ["CUS-REC-01"]
    open_ = c.get("/admin/api/v1/compliance/alerts", headers=officer).json()
    assert [a["rule_id"] for a in open_] == ["CUS-REC-01"]
    empty = c.post(
        f"/admin/api/v1/compliance/alerts/{open_[0]['id']}/resolve",
        json={"resolution": ""},
        headers=officer,
    )
    assert empty.status_code == 422
    ack = c.post(
        f"/admin/api/v1/compliance/alerts/{open_[0]['id']}/acknowledge",
        json={"note": "finance is on it"},
        headers=officer,
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert ack.json()["resolution"].endswith("finance is on it")
    # still in breach: the check refreshes the acknowledged alert, it opens no second one
    again = c.post(
        "/admin/api/v1/compliance/checks", json={"business_date": "2026-11-02"}, headers=officer
    )
    assert again.json()["new_alerts"] == 0
    listed = c.get("/admin/api/v1/compliance/alerts?status=acknowledged", headers=officer)
    assert [a["id"] for a in listed.json()] == [open_[0]["id"]]
    twice = c.post(
        f"/admin/api/v1/compliance/alerts/{open_[0]['id']}/acknowledge",
        json={"note": "again"},
        headers=officer,
    )
    assert twice.status_code == 409
    done = c.post(
        f"/admin/api/v1/compliance/alerts/{open_[0]['id']}/resolve",
        json={"resolution": "statement arrived late; reconciled by hand"},
        headers=officer,
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert done.json()["resolution"].splitlines()[-1] == (
        "statement arrived late; reconciled by hand"
    )
    assert "finance is on it" in done.json()["resolution"].splitlines()[0]
    assert c.get("/admin/api/v1/compliance/alerts", headers=officer).json() == []

    case, _ = run_in_transaction(
        platform.engine,
        lambda conn: aml.open_case(
            conn,
            rule="STR-INOUT",
            subject="customer:1:2026-11-02",
            customer_ids=[1],
            detail={"in_fen": 1, "out_fen": 1},
            clock=platform.clock,
        ),
    )
    base = f"/admin/api/v1/compliance/aml/cases/{case.id}"
    early = c.post(f"{base}/decide", json={"decision": "dismiss", "reason": "x"}, headers=officer)
    assert early.status_code == 409 and early.json()["error"]["code"] == "case_not_reviewed"
    assert (
        c.post(
            f"{base}/review", json={"reasoning": "salary in, rent out"}, headers=officer
        ).status_code
        == 200
    )
    dismissed = c.post(
        f"{base}/decide",
        json={"decision": "dismiss", "reason": "a salary and the rent, documented"},
        headers=officer,
    )
    assert dismissed.status_code == 200
    body = dismissed.json()
    assert (body["status"], body["decision_reason"], body["due_date"]) == (
        "dismissed",
        "a salary and the rent, documented",
        None,
    )
    assert c.post(f"{base}/file", headers=officer).status_code == 409  # only confirmed cases
    listed = c.get("/admin/api/v1/compliance/aml/cases?status=dismissed", headers=officer).json()
    assert [k["id"] for k in listed] == [case.id]
