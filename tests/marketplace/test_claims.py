"""Claim transfer: the rules that refuse a sale, and the accounting of one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select, update

from lending import factories
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, ValidationError
from puhui.custody.service import Role
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, bids, claims, distribution, listings
from puhui.marketplace.models import distributions, notes
from puhui.marketplace.rules import MarketConfig

from .market import SYSTEM, deposit, lender, open_listing


def go_to(c, clock: FixedClock, day: date) -> None:
    clock.set(clock.now().replace(year=day.year, month=day.month, day=day.day))
    factories.calendar.set_date(c, business_date_=day, clock=clock)


def lender_balance(c, who: int) -> int:
    return get_account(c, accounts.user_account(c, who, Role.LENDER)).credit_balance


def test_a_claim_sells_once_with_its_fee_and_later_repayments_follow_it(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a, b, buyer = lender(c, clock), lender(c, clock), lender(c, clock)
        for who, amount in ((a, 600_000), (b, 400_000)):
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=who,
                amount_fen=amount,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        deposit(
            c,
            clock,
            accounts.user_account(c, listing.borrower_id, Role.BORROWER),
            2_000_000,
            "claims",
        )
        sched = c.execute(
            select(installments)
            .where(installments.c.loan_id == loan_id, installments.c.seq > 0)
            .order_by(installments.c.seq)
        ).all()
        a_note = c.execute(select(notes).where(notes.c.lender_id == a)).one()

        def offer(**kw):
            args = dict(
                note_id=a_note.id,
                seller_id=a,
                principal_fen=300_000,
                price_fen=300_000,
                actor=SYSTEM,
                clock=clock,
            )
            return claims.offer_claim(c, **{**args, **kw})

        go_to(c, clock, factories.DAY + timedelta(days=10))
        with pytest.raises(Conflict, match="30 days held"):
            offer()
        go_to(c, clock, sched[0].due_date - timedelta(days=2))  # held 28 days, also blackout
        with pytest.raises(Conflict, match="30 days held"):
            offer()
        go_to(c, clock, sched[0].due_date)
        first = sched[0].principal_fen + sched[0].interest_fen
        distribution.repay(c, loan_id=loan_id, amount_fen=first, actor=SYSTEM, clock=clock)
        go_to(c, clock, sched[1].due_date - timedelta(days=3))
        with pytest.raises(Conflict, match="within 3 days"):
            offer()
        go_to(c, clock, sched[0].due_date + timedelta(days=5))
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=3))  # as aging sets it
        with pytest.raises(Conflict, match="overdue"):
            offer()
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=0))
        value = claims.claim_value(
            c,
            loan=c.execute(select(loans).where(loans.c.id == loan_id)).one(),
            principal_fen=300_000,
            clock=clock,
        )
        days = (clock.now().date() - sched[1].period_start).days
        period = (sched[1].due_date - sched[1].period_start).days
        outstanding = 1_000_000 - sched[0].principal_fen
        accrued = (2 * sched[1].interest_fen * days + period) // (2 * period)
        assert value == 300_000 + accrued * 300_000 // outstanding
        with pytest.raises(ValidationError, match="between"):
            offer(price_fen=value + 1)
        with pytest.raises(ValidationError, match="between"):
            offer(price_fen=value * 95 // 100 - 1)
        made = offer(price_fen=value - 1_000)
        assert made.fee_fen == round((value - 1_000) * 0.003)
        with pytest.raises(Conflict, match="already on offer"):
            offer()
        with pytest.raises(Conflict, match="their own"):
            claims.buy_claim(c, offer_id=made.id, buyer_id=a, actor=SYSTEM, clock=clock)
        before = {w: lender_balance(c, w) for w in (a, buyer)}
        sold = claims.buy_claim(c, offer_id=made.id, buyer_id=buyer, actor=SYSTEM, clock=clock)
        assert sold.status == "sold" and sold.buyer_id == buyer
        assert lender_balance(c, buyer) == before[buyer] - made.price_fen
        assert lender_balance(c, a) == before[a] + made.price_fen - made.fee_fen
        with pytest.raises(Conflict, match="not open"):
            claims.buy_claim(c, offer_id=made.id, buyer_id=b, actor=SYSTEM, clock=clock)
        a_left = c.execute(select(notes).where(notes.c.id == a_note.id)).one()
        bought = c.execute(select(notes).where(notes.c.id == sold.new_note_id)).one()
        assert (bought.lender_id, bought.principal_fen, bought.source, bought.parent_note_id) == (
            buyer,
            300_000,
            "claim_transfer",
            a_note.id,
        )
        assert a_left.outstanding_principal_fen + 300_000 == a_note.principal_fen - (
            c.execute(
                select(distributions.c.principal_fen).where(distributions.c.note_id == a_note.id)
            ).scalar_one()
        )
        # the next repayment follows the notes as they are now
        go_to(c, clock, sched[1].due_date)
        second = sched[1].principal_fen + sched[1].interest_fen
        distribution.repay(c, loan_id=loan_id, amount_fen=second, actor=SYSTEM, clock=clock)
        got = dict(
            c.execute(
                select(distributions.c.note_id, distributions.c.principal_fen).where(
                    distributions.c.business_date == sched[1].due_date
                )
            ).all()
        )
        assert set(got) == {
            a_note.id,
            bought.id,
            c.execute(select(notes.c.id).where(notes.c.lender_id == b)).scalar_one(),
        }
        assert sum(got.values()) == sched[1].principal_fen
        assert verify(c) == []


def test_unsold_offers_expire(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a = lender(c, clock)
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=a,
            amount_fen=1_000_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        note = c.execute(select(notes).where(notes.c.lender_id == a)).one()
        go_to(c, clock, factories.DAY + timedelta(days=31))  # the first installment unpaid
        with pytest.raises(Conflict, match="past due"):
            claims.offer_claim(
                c,
                note_id=note.id,
                seller_id=a,
                principal_fen=100_000,
                price_fen=100_000,
                actor=SYSTEM,
                clock=clock,
            )
        go_to(c, clock, factories.DAY + timedelta(days=10))
        made = claims.offer_claim(
            c,
            note_id=note.id,
            seller_id=a,
            principal_fen=100_000,
            price_fen=100_000,
            actor=SYSTEM,
            clock=clock,
            config=MarketConfig(claim_min_holding_days=7),
        )
        assert claims.expire_offers(c, clock=clock) == 0
        clock.advance(timedelta(days=3))
        assert claims.expire_offers(c, clock=clock) == 1
        assert claims.get_offer(c, offer_id=made.id).status == "expired"
