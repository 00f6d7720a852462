"""``puhui capital inject`` and ``puhui loans list|show|schedule|collections``."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from puhui.cli import app as cli
from puhui.cli import common
from puhui.db.engine import make_engine, run_in_transaction
from puhui.identity.models import audit_log
from puhui.lending import accounts
from puhui.lending.accounts import AccountCode

from .test_collections import add_loan


def test_capital_then_the_loan_book(tmp_path, monkeypatch):
    monkeypatch.setattr(common.console, "width", 160)  # whole table cells, not ellipses
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    r = runner.invoke(
        cli, ["capital", "inject", "--amount", "1,000,000.50", "--id", "cap:1", "--database", url]
    )
    assert r.exit_code == 0, r.output
    assert "injected 1,000,000.50 yuan (cap:1); company cash now 1,000,000.50 yuan" in r.output
    again = runner.invoke(
        cli, ["capital", "inject", "--amount", "1000000.50", "--id", "cap:1", "--database", url]
    )
    assert again.exit_code == 0 and "cash now 1,000,000.50 yuan" in again.output
    bad = runner.invoke(cli, ["capital", "inject", "--amount", "-5", "--database", url])
    assert bad.exit_code == 2 and "error:" in bad.output
    engine = make_engine(url)
    with engine.connect() as c:
        assert accounts.balances(c)[AccountCode.EQUITY] == 100_000_050
        events = c.execute(select(audit_log.c.event_type)).scalars().all()
    assert events.count("lending.capital_inject") == 2

    loan = run_in_transaction(engine, lambda c: add_loan(c, dpd=45, principal=250_000))
    listed = runner.invoke(cli, ["loans", "list", "--database", url])
    assert listed.exit_code == 0, listed.output
    assert "2,500.00" in listed.output and "M2" in listed.output and "18.00%" in listed.output
    shown = runner.invoke(cli, ["loans", "show", str(loan), "--database", url])
    assert shown.exit_code == 0 and "年化利率" in shown.output and "45 / M2" in shown.output
    sched = runner.invoke(cli, ["loans", "schedule", str(loan), "--database", url])
    assert sched.exit_code == 0 and "2,510.00" in sched.output and "overdue" in sched.output
    queue = runner.invoke(cli, ["loans", "collections", "--database", url])
    assert queue.exit_code == 0 and "2,510.00" in queue.output
    missing = runner.invoke(cli, ["loans", "show", "999", "--database", url])
    assert missing.exit_code == 2 and "loan_not_found" in missing.output
    assert runner.invoke(
        cli, ["loans", "list", "--state", "settled", "--database", url]
    ).output == ("no loans\n")
