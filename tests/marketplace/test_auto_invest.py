"""Auto-invest: a fair queue by enrolment time, rotating after each fill, up to 80%."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, ValidationError
from puhui.ledger.verify import verify
from puhui.marketplace import auto_invest, listings
from puhui.marketplace.models import bids

from .market import SYSTEM, lender, open_listing


def enrol(c, clock, who: int, amount: int = 300_000, **kw) -> None:
    params = dict(
        min_rate=Decimal("0.08"), min_term=1, max_term=12, max_grade="R3", keep_balance_fen=0
    )
    params.update(kw)
    auto_invest.authorise(
        c, lender_id=who, amount_per_listing_fen=amount, actor=SYSTEM, clock=clock, **params
    )
    clock.advance(timedelta(seconds=1))


def test_queue_order_rotation_and_the_eighty_percent_cap(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        a, b, cc = lender(c, clock), lender(c, clock), lender(c, clock)
        for who in (a, b, cc):
            enrol(c, clock, who)
        first = open_listing(c, clock, amount_fen=500_000)  # 80% = 400,000
        done = auto_invest.run_listing(c, listing_id=first.id, actor=SYSTEM, clock=clock)
        assert done.bids == ((a, 300_000), (b, 100_000))
        # running again does nothing: the listing remembers
        assert auto_invest.run_listing(c, listing_id=first.id, actor=SYSTEM, clock=clock).bids == ()
        # cc waited longest now, then a, then b
        second = open_listing(c, clock, amount_fen=1_000_000)  # 80% = 800,000
        done = auto_invest.run_listing(c, listing_id=second.id, actor=SYSTEM, clock=clock)
        assert done.bids == ((cc, 300_000), (a, 300_000), (b, 200_000))
        after = listings.get_listing(c, listing_id=second.id)
        assert (after.funded_fen, after.status) == (800_000, "open")
        auto = c.execute(select(bids.c.auto).where(bids.c.listing_id == second.id)).scalars()
        assert all(auto)
        assert verify(c) == []


def test_parameters_revocation_and_the_balance_to_keep(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        picky = lender(c, clock)
        enrol(c, clock, picky, min_rate=Decimal("0.095"))  # listings pay 9%
        short = lender(c, clock)
        enrol(c, clock, short, max_term=3)  # listings run 6 months
        careful = lender(c, clock, money=400_000)
        enrol(c, clock, careful, keep_balance_fen=250_000)  # 150,000 free to bid
        gone = lender(c, clock)
        enrol(c, clock, gone)
        auto_invest.revoke(c, lender_id=gone, actor=SYSTEM, clock=clock)
        with pytest.raises(Conflict, match="already revoked"):
            auto_invest.revoke(c, lender_id=gone, actor=SYSTEM, clock=clock)
        with pytest.raises(ValidationError, match="min_term"):
            enrol(c, clock, gone, min_term=6, max_term=3)
        listing = open_listing(c, clock, amount_fen=1_000_000)
        done = auto_invest.run_listing(c, listing_id=listing.id, actor=SYSTEM, clock=clock)
        assert done.bids == ((careful, 150_000),)
        # revoked and re-authorised: back of the queue
        enrol(c, clock, gone)
        assert auto_invest.get_authorisation(c, lender_id=gone).queue_at > (
            auto_invest.get_authorisation(c, lender_id=careful).queue_at
        )
        assert verify(c) == []
