"""A short simulation on each database: the books prove themselves afterwards, and one seed
always gives one book."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from puhui.compliance import checks
from puhui.compliance.disclosure import cut_off
from puhui.compliance.models import reports
from puhui.db.engine import make_engine
from puhui.db.migrate import upgrade
from puhui.identity.crypto import Keyring, new_key_text
from puhui.lending.credit_line.models import statements
from puhui.lending.models import loans
from puhui.marketplace.models import bids
from puhui.ops.models import leads as ops_leads
from puhui.sim import credit_lines
from puhui.sim.run import Result, run
from puhui.sim.world import SimConfig

#: 20 borrowers applying often enough that loans are made, paid out and repaid in 16 days,
#: across a month end (January's report is computed on the 31st, published on 2 February;
#: credit lines are billed on 1 February and the statements fall due on the 10th).
CONFIG = SimConfig(
    seed=11, days=16, borrowers=20, investors=10, apply_rate=0.1, start=date(2026, 1, 26)
)


def _keys() -> Keyring:
    return Keyring.parse(new_key_text(), new_key_text())


def _run(engine: Engine, tmp_path: Path) -> Result:
    return run(replace(CONFIG, statement_dir=tmp_path / "statements"), engine, _keys())


def test_books_prove_themselves_after_a_simulation(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credit_lines, "PURCHASE_RATE", 0.3)  # every line has a statement to pay
    result = _run(engine, tmp_path)
    s = result.summary
    assert s.customers == 30
    assert sum(s.applications.values()) > 0
    assert s.loans, "loans were made"
    assert s.disbursed_fen > 0
    assert s.trial_balance[0] == s.trial_balance[1]
    assert s.ledger_problems == []
    assert s.audit_problems == []
    assert s.open_breaks == 0
    assert s.counts["reconciliations"] == CONFIG.days
    assert s.subledger_differences == {}
    # month-end disclosure: December (before the first day, so past its deadline of 8 January)
    # on the first day, January on the first working day after its end, in time
    with engine.connect() as c:
        published = c.execute(select(reports.c.period, reports.c.late).order_by("period")).all()
    assert [tuple(r) for r in published] == [("2025-12", True), ("2026-01", False)]
    assert s.counts["disclosure_reports_computed"] == 1
    january = result.world.month_reports["2026-01"]
    assert s.disclosure["period"] == "2026-01"
    assert s.disclosure["items"]["cum_loan_amount"] == january["cum_loan_amount"]
    with engine.connect() as c:
        made_by_january = c.execute(
            select(func.count(), func.coalesce(func.sum(loans.c.principal_fen), 0)).where(
                loans.c.disbursed_us <= cut_off("2026-01")[1]
            )
        ).one()
    assert made_by_january[0] > 0
    assert (january["cum_loan_count"], january["cum_loan_amount"]) == tuple(made_by_january)
    # credit lines: granted, spent at the sandbox merchant, billed, and the statements settled
    lines = s.credit_lines
    assert lines["lines_active"] > 0 and lines["purchases"] == s.counts["credit_line_purchases"]
    assert lines["purchases_fen"] == s.counts["credit_line_purchases_fen"] > 0
    assert lines["statements"] > 0
    with engine.connect() as c:
        owing = c.execute(
            select(func.count()).where(
                statements.c.closing_fen > 0, statements.c.due_date <= s.last_date
            )
        ).scalar_one()
    settled = [k for k in s.counts if k.startswith("credit_line_statements_")]
    assert owing > 0 and sum(s.counts[k] for k in settled) == owing, s.counts
    assert "credit-line" not in " ".join(s.missing_steps)
    # operations: every investor came in as a lead of a channel, linked to the customer
    with engine.connect() as c:
        linked = c.execute(
            select(ops_leads.c.stage, func.count())
            .where(ops_leads.c.customer_id.in_(result.world.investor_ids.tolist()))
            .group_by(ops_leads.c.stage)
        ).all()
        lent = c.execute(
            select(func.count(bids.c.lender_id.distinct())).where(bids.c.status == "posted")
        ).scalar_one()
    stages = dict(linked)
    # every investor is a verified lead; those whose bids were posted moved on to investing
    assert sum(stages.values()) == CONFIG.investors
    assert stages.keys() <= {"verified", "first_investment", "repeat"}
    assert stages.get("first_investment", 0) + stages.get("repeat", 0) == lent
    # compliance check after the simulation: no breach the simulation did not intend
    assert s.compliance_alerts == {}
    after = checks.run_checks(engine, clock=result.world.clock)
    assert after.findings == ()
    assert s.passed


def test_the_same_seed_gives_the_same_book(tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        results.append(_run(engine, tmp_path / name))
        engine.dispose()
    first, second = results
    assert first.summary.as_dict() == second.summary.as_dict()
    assert first.digest == second.digest
    assert [(x.role, x.username, x.password) for x in first.world.logins] == [
        (x.role, x.username, x.password) for x in second.world.logins
    ]
