"""A short simulation on each database: the books prove themselves afterwards, and one seed
always gives one book."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from puhui.db.engine import make_engine
from puhui.db.migrate import upgrade
from puhui.identity.crypto import Keyring, new_key_text
from puhui.sim.run import Result, run
from puhui.sim.world import SimConfig

#: 20 borrowers applying often enough that loans are made, paid out and repaid in 10 days.
CONFIG = SimConfig(seed=11, days=10, borrowers=20, investors=10, apply_rate=0.1)


def _keys() -> Keyring:
    return Keyring.parse(new_key_text(), new_key_text())


def _run(engine: Engine, tmp_path: Path) -> Result:
    return run(replace(CONFIG, statement_dir=tmp_path / "statements"), engine, _keys())


def test_books_prove_themselves_after_a_simulation(engine: Engine, tmp_path: Path) -> None:
    s = _run(engine, tmp_path).summary
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
