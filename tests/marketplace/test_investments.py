"""Full funding tells operations of each posted bid (ops_investments, the source of the
performance figures); a listing that expires unfilled records nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from puhui.core.clock import FixedClock
from puhui.marketplace import bids, jobs
from puhui.ops.models import investments

from .market import SYSTEM, lender, open_listing


def _bid(c, clock, listing_id: int, who: int, amount: int) -> int:
    return bids.place_bid(
        c,
        listing_id=listing_id,
        lender_id=who,
        amount_fen=amount,
        disclosure_version=1,
        actor=SYSTEM,
        clock=clock,
    ).id


def test_posted_bids_become_investments_and_failed_ones_do_not(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        full = open_listing(c, clock, amount_fen=1_000_000)
        a, b = lender(c, clock), lender(c, clock)
        first = _bid(c, clock, full.id, a, 600_000)
        second = _bid(c, clock, full.id, b, 400_000)
        unfilled = open_listing(c, clock, amount_fen=1_000_000)
        _bid(c, clock, unfilled.id, a, 100_000)
        clock.advance(timedelta(days=30))
        jobs.expire_listings(c, actor=SYSTEM, clock=clock)
        rows = c.execute(
            select(
                investments.c.investment_ref,
                investments.c.customer_id,
                investments.c.amount_fen,
                investments.c.term_months,
                investments.c.product_code,
            ).order_by(investments.c.investment_ref)
        ).all()
    assert [tuple(r) for r in rows] == [
        (f"bid-{first}", a, 600_000, full.term_count, full.product_code),
        (f"bid-{second}", b, 400_000, full.term_count, full.product_code),
    ]
