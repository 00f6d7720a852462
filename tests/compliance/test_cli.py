"""``puhui disclose``, ``puhui compliance``, ``puhui aml`` and ``puhui regulator-feed`` through
typer's CliRunner, on a real database."""

from __future__ import annotations

import io
import json

from openpyxl import load_workbook
from typer.testing import CliRunner

from puhui.cli import app
from puhui.compliance import publication
from puhui.db.engine import make_engine

from .book import PERIOD, build

runner = CliRunner()


def test_disclose_every_format_from_the_published_snapshot(tmp_path, database_url_for_test, clock):
    db = ["--database", database_url_for_test]
    missing = runner.invoke(app, ["disclose", "--month", PERIOD, *db])
    assert missing.exit_code == 2 and "report_not_published" in missing.stderr
    engine = make_engine(database_url_for_test)
    with engine.begin() as c:
        build(c, clock)
        published = publication.publish(c, period=PERIOD, published_by="staff:1", clock=clock)
    engine.dispose()

    out = runner.invoke(app, ["disclose", "--month", PERIOD, "--format", "json", *db])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["items"] == published.snapshot["items"]
    assert data["publication"]["content_sha256"] == published.content_sha256
    for fmt, magic in (("pdf", b"%PDF-"), ("xlsx", b"PK"), ("html", b"<!doctype html>")):
        path = tmp_path / f"report.{fmt}"
        r = runner.invoke(
            app, ["disclose", "--month", PERIOD, "--format", fmt, "-o", str(path), *db]
        )
        assert r.exit_code == 0, r.output
        assert path.read_bytes().startswith(magic), fmt
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "前十大借款人待还金额占比" in html and html.count("<svg") == 2
    wb = load_workbook(io.BytesIO((tmp_path / "report.xlsx").read_bytes()))
    assert wb["items"].cell(row=4, column=2).value == "cum_loan_amount"
    preview = runner.invoke(app, ["disclose", "--month", "2026-11", "--preview", *db])
    assert preview.exit_code == 0 and json.loads(preview.stdout)["publication"]["missing"] == []
    bad = runner.invoke(app, ["disclose", "--month", PERIOD, "--format", "doc", *db])
    assert bad.exit_code == 2 and "format_invalid" in bad.stderr


def test_compliance_check_aml_and_feed_commands(tmp_path, database_url_for_test):
    db = ["--database", database_url_for_test]
    check = runner.invoke(app, ["compliance", "check", "--date", "2026-11-02", *db])
    assert check.exit_code == 1  # no reconciliation yesterday: a finding
    assert "CUS-REC-01" in check.stdout
    listed = runner.invoke(app, ["compliance", "alerts", *db])
    assert "CUS-REC-01" in listed.stdout
    scan = runner.invoke(app, ["aml", "scan", "--date", "2026-11-02", *db])
    assert scan.exit_code == 0 and json.loads(scan.stdout)["large_value"] == 0
    path = tmp_path / "aml.json"
    exported = runner.invoke(
        app, ["aml", "export", "--start", "2026-11-01", "--end", "2026-11-30", "-o", str(path), *db]
    )
    assert exported.exit_code == 0
    assert json.loads(path.read_text())["schema"] == "puhui.aml.export/1"
    feed = runner.invoke(app, ["regulator-feed", "--date", "2026-11-02", *db])
    assert feed.exit_code == 0 and json.loads(feed.stdout)["schema"] == "puhui.regulator.feed/1"
    refused = runner.invoke(app, ["aml", "decide", "1", "confirm", "why", *db])
    assert refused.exit_code == 2 and "case_not_found" in refused.stderr
