"""``puhui credit-line grant|show|statement``."""

from __future__ import annotations

import json
from datetime import date

from typer.testing import CliRunner

import identity.conftest as identity_fixtures
from credit.samples import STRONG, WEAK
from lending.applicants import borrower
from puhui.cli import app as cli
from puhui.cli import common
from puhui.core.clock import SYSTEM_CLOCK
from puhui.db.engine import make_engine, run_in_transaction
from puhui.identity.crypto import Keyring, new_key_text
from puhui.lending import calendar, jobs
from puhui.lending.credit_line import draws

from .helpers import STAFF

cheap_argon2 = identity_fixtures.cheap_argon2


def test_grant_show_and_statement(tmp_path, monkeypatch, clock):
    monkeypatch.setattr(common.console, "width", 160)
    master, index = f"k1:{new_key_text()}", new_key_text()
    monkeypatch.setenv("PUHUI_MASTER_KEY", master)
    monkeypatch.setenv("PUHUI_BLIND_INDEX_KEY", index)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["capital", "inject", "--amount", "100000", "--database", url])
    engine = make_engine(url)
    run_in_transaction(
        engine, lambda c: calendar.set_date(c, business_date_=date(2026, 11, 2), clock=clock)
    )
    cid = borrower(engine, Keyring.parse(master, index), clock, income_fen=30_000_000)
    strong, weak = tmp_path / "strong.json", tmp_path / "weak.json"
    strong.write_text(json.dumps(STRONG), encoding="utf-8")
    weak.write_text(json.dumps(WEAK), encoding="utf-8")
    args = ["credit-line", "grant", "--customer", str(cid), "--database", url]
    no = runner.invoke(cli, [*args, "--features", str(weak)])
    assert no.exit_code == 1, no.output
    assert "decision 1: reject, score 415, grade E, limit 0.00 yuan (SC-GRADE" in no.output
    r = runner.invoke(cli, [*args, "--features", str(strong), "--limit", "5000"])
    assert r.exit_code == 0, r.output
    assert "decision 2: approve, score 653, grade A, limit 100,000.00 yuan" in r.output
    assert f"credit line 1 for customer {cid}: limit 5,000.00 yuan" in r.output
    again = runner.invoke(cli, [*args, "--features", str(strong)])
    assert again.exit_code != 0 and "already has a credit line" in again.output
    none_yet = runner.invoke(cli, ["credit-line", "statement", "1", "--database", url])
    assert none_yet.exit_code != 0 and "no statement yet" in none_yet.output
    run_in_transaction(
        engine,
        lambda c: draws.purchase(
            c, line_id=1, amount_fen=12_345, merchant="咖啡店", actor=STAFF, clock=SYSTEM_CLOCK
        ),
    )
    shown = runner.invoke(cli, ["credit-line", "show", "1", "--database", url])
    assert shown.exit_code == 0, shown.output
    assert "4,876.55" in shown.output  # available: 5,000 − 123.45
    jobs.run_eod(engine, clock=clock, through=date(2026, 12, 1))
    s = runner.invoke(cli, ["credit-line", "statement", "1", "--database", url])
    assert s.exit_code == 0, s.output
    assert "2026-12-01 (due 2026-12-10); to pay 123.45 yuan, minimum 12.35 yuan" in s.output
    assert "咖啡店" in s.output and "purchase" in s.output
