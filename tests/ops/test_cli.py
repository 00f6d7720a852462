"""``puhui ops``: funding the marketing account, a flyer batch with its QR file, the daily sync
and the performance export, against the test database."""

from __future__ import annotations

import csv
from datetime import date

from typer.testing import CliRunner

from puhui.cli import app
from puhui.db.engine import run_in_transaction
from puhui.ops import investments

from .conftest import MARKETING


def test_the_ops_commands(engine, org, clock, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()

    def puhui(*args: str) -> str:
        result = runner.invoke(app, [*args, "--database", url])
        assert result.exit_code == 0, result.output
        return result.output

    assert "funded 1000.00 yuan (mkt-cli-1)" in puhui("ops", "fund", "1000", "--id", "mkt-cli-1")
    puhui("ops", "fund", "1000", "--id", "mkt-cli-1")  # the same id funds once
    total = (MARKETING + 100_000) // 100
    assert f"custody {total}.00 · company {total}.00" in puhui("ops", "books")
    qr = tmp_path / "batch.svg"
    out = puhui(
        "ops",
        "flyers",
        "--name",
        "南京路",
        "--quantity",
        "100",
        "--qr",
        str(qr),
        "--owner",
        str(org.fa1),
    )
    assert out.startswith("batch FL") and qr.read_bytes().startswith(b"<?xml")
    assert "0 leads moved, 0 coupons expired" in puhui("ops", "sync")
    run_in_transaction(
        engine,
        lambda c: investments.record_investment(
            c,
            investment_ref="inv-cli",
            customer_id=org.c3,
            amount_fen=600_000,
            term_months=4,
            product_code="P4",
            invested_on=date(2026, 11, 2),
            clock=clock,
        ),
    )
    report = tmp_path / "perf.csv"
    assert "1 rows" in puhui("ops", "performance", "--month", "2026-11", "--output", str(report))
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1][:6] == [str(org.fa3), "1", "1", "600000", "600000", "200000"]
