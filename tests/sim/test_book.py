"""A simulation that starts from a book made set-based (``sim.book`` → ``lending.bulk``): the
days run on it and the books still prove themselves."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from puhui.identity.crypto import Keyring, new_key_text
from puhui.lending.models import loans
from puhui.sim.run import run
from puhui.sim.world import SimConfig

CONFIG = SimConfig(seed=5, days=2, borrowers=30, investors=3, book_at_start=True)


def test_a_bulk_book_then_the_days(engine: Engine, tmp_path: Path) -> None:
    keys = Keyring.parse(new_key_text(), new_key_text())
    config = SimConfig(**{**CONFIG.__dict__, "statement_dir": tmp_path / "statements"})
    result = run(config, engine, keys)
    s = result.summary
    assert s.counts["book_loans_originated_in_bulk"] == 30
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(loans)).scalar_one() >= 30
    assert s.subledger_differences == {}
    assert s.trial_balance[0] == s.trial_balance[1]
    assert s.ledger_problems == [] and s.audit_problems == []
    assert s.passed
