"""``puhui market``: show a listing, expire the unfilled ones, the reserve."""

from __future__ import annotations

from sqlalchemy import Engine
from typer.testing import CliRunner

from puhui.cli import app
from puhui.core.clock import FixedClock
from puhui.custody.service import Role
from puhui.ledger.service import get_account
from puhui.marketplace import accounts, bids, listings

from .market import SYSTEM, lender, open_listing


def test_show_then_expire(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        who = lender(c, clock)
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=who,
            amount_fen=400_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    shown = runner.invoke(app, ["market", "show", str(listing.id), "--database", url])
    assert shown.exit_code == 0, (shown.output, repr(shown.exception))
    assert "10,000.00 / 4,000.00" in shown.output and "frozen" in shown.output
    missing = runner.invoke(app, ["market", "show", "999", "--database", url])
    assert missing.exit_code == 2 and "listing_not_found" in missing.output
    # the listing opened on the test clock's day; the wall clock is weeks later
    done = runner.invoke(app, ["market", "expire", "--database", url])
    assert done.exit_code == 0, done.output
    assert "1 listing(s) failed, 1 bid(s) voided, 4,000.00 released" in done.output
    again = runner.invoke(app, ["market", "eod", "--database", url])
    assert "expired 0 listing(s)" in again.output
    with engine.connect() as c:
        assert listings.get_listing(c, listing_id=listing.id).status == "failed"
        acc = get_account(c, accounts.user_account(c, who, Role.LENDER))
        assert acc.available == acc.credit_balance == 10_000_000
    reserve = runner.invoke(app, ["market", "reserve", "--database", url])
    assert "reserve 0.00" in reserve.output
