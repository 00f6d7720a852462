"""The simulated marketplace (``SimConfig.marketplace``) on each database: listings are published
and funded by auto-invest and manual bids, notes are written, repayments are distributed to the
note holders and a claim changes hands; the company books and the ledger still prove
themselves, every marketplace movement reaches the custody bank and reconciles with no break,
and one seed gives one book.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from puhui.custody.models import breaks, instructions
from puhui.db.engine import make_engine
from puhui.db.migrate import upgrade
from puhui.identity.crypto import Keyring, new_key_text
from puhui.marketplace.models import bids, claim_offers, distributions, listings, notes
from puhui.sim import market
from puhui.sim.run import Result, run
from puhui.sim.world import SimConfig

#: Enough applications and days that listings fill, an instalment falls due and is
#: distributed, and a note is held the month a claim transfer needs.
CONFIG = SimConfig(
    seed=4,
    days=40,
    borrowers=40,
    investors=12,
    apply_rate=0.08,
    start=date(2026, 3, 2),
    marketplace=True,
)


def _keys() -> Keyring:
    return Keyring.parse(new_key_text(), new_key_text())


def _run(engine: Engine, tmp_path: Path, config: SimConfig = CONFIG) -> Result:
    return run(replace(config, statement_dir=tmp_path / "statements"), engine, _keys())


def _count(engine: Engine, query: object) -> int:
    with engine.connect() as c:
        return int(c.execute(query).scalar_one())  # type: ignore[call-overload]


def test_listings_bids_notes_distributions_and_claims(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a busier marketplace than the demo's, so a short run sees every path
    monkeypatch.setattr(market, "MARKET_SHARE", 0.7)
    monkeypatch.setattr(market, "CLAIM_RATE", 0.15)
    result = _run(engine, tmp_path)
    s = result.summary
    m = s.marketplace
    assert m["listings_funded"] > 0, m
    funded = select(func.count()).select_from(listings).where(listings.c.loan_id.is_not(None))
    assert _count(engine, funded) == m["listings_funded"]
    assert s.counts["bids_auto"] > 0 and s.counts["bids_manual"] > 0
    # every funded listing's posted bids add up to its amount
    with engine.connect() as c:
        per_listing = c.execute(
            select(listings.c.amount_fen, func.sum(bids.c.amount_fen))
            .join(bids, bids.c.listing_id == listings.c.id)
            .where(listings.c.status == "funded", bids.c.status == "posted")
            .group_by(listings.c.id, listings.c.amount_fen)
        ).all()
        from_bids = c.execute(
            select(func.count()).select_from(notes).where(notes.c.source == "bid")
        ).scalar_one()
        lenders = c.execute(
            select(func.count()).select_from(
                select(bids.c.listing_id, bids.c.lender_id)
                .where(bids.c.status == "posted")
                .distinct()
                .subquery()
            )
        ).scalar_one()
        # one note per lender per listing: a lender who bid twice (auto and manual) holds one
        lenders = c.execute(
            select(func.count()).select_from(
                select(bids.c.listing_id, bids.c.lender_id)
                .where(bids.c.status == "posted")
                .distinct()
                .subquery()
            )
        ).scalar_one()
    assert per_listing and all(amount == posted for amount, posted in per_listing)
    assert from_bids == lenders <= m["bids_posted"]
    assert _count(engine, select(func.count()).select_from(distributions)) > 0
    assert m["distributed_principal_fen"] > 0 and m["distributed_interest_fen"] > 0
    assert m["claims_sold"] == s.counts.get("claims_transferred", 0) > 0, str(s.counts)
    sold = select(func.count()).select_from(claim_offers).where(claim_offers.c.status == "sold")
    assert _count(engine, sold) == m["notes_from_claim_transfers"]

    assert s.trial_balance[0] == s.trial_balance[1]
    assert s.subledger_differences == {}
    assert s.ledger_problems == [] and s.audit_problems == []
    # every marketplace movement went to the bank as an instruction under a standing
    # authorisation and succeeded; the bank and the ledger agree on every day, with no break
    with engine.connect() as c:
        ever = c.execute(select(func.count()).select_from(breaks)).scalar_one()
        mkt = c.execute(
            select(instructions.c.status, func.count())
            .where(instructions.c.queue_seq.is_not(None))
            .group_by(instructions.c.status)
        ).all()
    assert ever == 0
    assert dict(mkt).keys() == {"succeeded"} and dict(mkt)["succeeded"] > 0, mkt
    assert s.compliance_alerts == {}, s.compliance_alerts


def test_the_same_seed_gives_the_same_marketplace(tmp_path: Path) -> None:
    short = replace(CONFIG, days=12, apply_rate=0.15)
    digests = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        result = _run(engine, tmp_path / name, short)
        assert result.summary.marketplace["bids_posted"] > 0
        digests.append((result.digest, result.summary.as_dict()))
        engine.dispose()
    assert digests[0] == digests[1]
