"""A lender blocked by an AML watch-list match (AML-STR-02) can neither bid nor buy a claim;
the refusal names the customer and changes nothing, and an unblocked lender is unaffected."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from puhui.compliance import aml
from puhui.compliance.models import watch_list
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict
from puhui.identity.models import customers
from puhui.ledger.verify import verify
from puhui.marketplace import bids
from puhui.marketplace.models import bids as bids_table

from .market import SYSTEM, lender, open_listing


def test_a_blocked_lender_cannot_bid(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        blocked, clean = lender(c, clock), lender(c, clock)
        bidx = c.execute(
            select(customers.c.id_number_bidx).where(customers.c.id == blocked)
        ).scalar_one()
        c.execute(
            watch_list.insert().values(
                list_name="UN-1267", id_number_bidx=bidx, note="", added_by="t", added_us=0
            )
        )
        [hit] = aml.screen(c, clock=clock)
        assert hit["customer_id"] == blocked and hit["frozen_fen"] == 10_000_000
        with pytest.raises(Conflict) as refused:
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=blocked,
                amount_fen=100_000,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        assert (refused.value.code, refused.value.field) == ("customer_blocked", "customer")
        assert c.execute(select(func.count()).select_from(bids_table)).scalar_one() == 0
        made = bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=clean,
            amount_fen=100_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        assert made.status == "frozen"
        assert verify(c) == []
