"""Oversubscription: 100 lenders race for the last 1,000.00 of a listing.

Each lender bids from a thread of its own on its own connection. The listing row lock
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) serialises them, so
exactly ten 100-yuan bids win, the listing is funded once, and the other ninety are refused
with a clear reason and nothing frozen.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Connection, Engine, func, select

from puhui.core.clock import FixedClock
from puhui.core.errors import PuhuiError
from puhui.custody.service import Role
from puhui.db.engine import run_in_transaction
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.marketplace import accounts, bids, listings
from puhui.marketplace.models import bids as bid_table
from puhui.marketplace.models import notes

from .market import SYSTEM, lender, open_listing

RACERS = 100
PIECE = 10_000  # 100 yuan; ten of them fill the last 1,000 yuan


def test_hundred_lenders_fill_the_last_thousand_exactly(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_100_000, min_bid_fen=PIECE, step_fen=PIECE)
        first = lender(c, clock)
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=first,
            amount_fen=1_000_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        racers = [lender(c, clock, money=50_000) for _ in range(RACERS)]

    def race(who: int) -> str:
        def work(c: Connection) -> str:
            bid = bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=who,
                amount_fen=PIECE,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
            return bid.status

        try:
            return run_in_transaction(engine, work)
        except PuhuiError as e:
            return e.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(race, racers))

    won = [o for o in outcomes if o in ("frozen", "posted")]  # the last one funded the listing
    refused = {o for o in outcomes if o not in ("frozen", "posted")}
    assert len(won) == 10 and outcomes.count("posted") == 1
    assert refused <= {"listing_full", "listing_not_open"}, refused
    with engine.connect() as c:
        after = listings.get_listing(c, listing_id=listing.id)
        assert (after.status, after.funded_fen) == ("funded", 1_100_000)
        assert c.execute(select(func.sum(notes.c.principal_fen))).scalar() == 1_100_000
        assert c.execute(select(func.count()).where(bid_table.c.status == "posted")).scalar() == 11
        frozen = sum(
            get_account(c, accounts.user_account(c, who, Role.LENDER)).debits_pending
            for who in racers
        )
        assert frozen == 0
        assert verify(c) == []
