"""The marketplace's outbox events: each action writes its event in its own transaction, with
exact amounts, and a rolled-back action leaves none."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict
from puhui.custody.service import Role
from puhui.events.models import outbox
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, bids, claims, distribution, jobs, listings, reserve
from puhui.marketplace.models import distributions, notes

from .market import SYSTEM, deposit, go_to, lender, open_listing


def events(c, topic: str) -> list[tuple[str, dict]]:
    rows = c.execute(
        select(outbox.c.key, outbox.c.payload_json)
        .where(outbox.c.topic == topic)
        .order_by(outbox.c.id)
    ).all()
    return [(r.key, json.loads(r.payload_json)) for r in rows]


def test_every_marketplace_action_writes_its_event(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        assert events(c, "listing.published") == [
            (
                f"listing:{listing.id}",
                {
                    "listing_id": listing.id,
                    "amount_fen": 1_000_000,
                    "annual_rate": "0.09",
                    "term_count": 6,
                    "risk_grade": "R2",
                    "closes_at": listing.closes_at,
                },
            )
        ]
        a, b, buyer = lender(c, clock), lender(c, clock), lender(c, clock)
        for who, fen in ((a, 600_000), (b, 400_000)):
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=who,
                amount_fen=fen,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        assert events(c, "listing.funded") == [
            (
                f"listing:{listing.id}",
                {
                    "listing_id": listing.id,
                    "loan_id": loan_id,
                    "amount_fen": 1_000_000,
                    "lenders": 2,
                },
            )
        ]
        # 回款: one event per note, the amounts of its distribution row
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        go_to(c, clock, first.due_date)
        distribution.repay(
            c,
            loan_id=loan_id,
            amount_fen=first.principal_fen + first.interest_fen,
            actor=SYSTEM,
            clock=clock,
        )
        rows = c.execute(select(distributions).order_by(distributions.c.note_id)).all()
        assert events(c, "note.distributed") == [
            (
                f"note:{r.note_id}",
                {
                    "note_id": r.note_id,
                    "loan_id": loan_id,
                    "lender_id": r.lender_id,
                    "business_date": first.due_date.isoformat(),
                    "principal_fen": r.principal_fen,
                    "interest_fen": r.interest_fen,
                    "penalty_fen": 0,
                    "service_fee_fen": r.fee_fen,
                    "to_risk_reserve_fen": 0,
                },
            )
            for r in rows
        ]
        assert sum(p["principal_fen"] for _, p in events(c, "note.distributed")) == (
            first.principal_fen
        )
        # 债权转让
        go_to(c, clock, first.due_date + timedelta(days=5))
        a_note = c.execute(select(notes).where(notes.c.lender_id == a)).one()
        value = claims.claim_value(
            c,
            loan=c.execute(select(loans).where(loans.c.id == loan_id)).one(),
            principal_fen=300_000,
            clock=clock,
        )
        made = claims.offer_claim(
            c,
            note_id=a_note.id,
            seller_id=a,
            principal_fen=300_000,
            price_fen=value,
            actor=SYSTEM,
            clock=clock,
        )
        sold = claims.buy_claim(c, offer_id=made.id, buyer_id=buyer, actor=SYSTEM, clock=clock)
        assert events(c, "claim.transferred") == [
            (
                f"loan:{loan_id}",
                {
                    "loan_id": loan_id,
                    "offer_id": made.id,
                    "note_id": a_note.id,
                    "new_note_id": sold.new_note_id,
                    "seller_id": a,
                    "buyer_id": buyer,
                    "principal_fen": 300_000,
                    "price_fen": value,
                },
            )
        ]
        # 代偿
        deposit(c, clock, accounts.platform_account(c, Role.RISK_RESERVE), 10**7, "r")
        c.execute(update(loans).where(loans.c.id == loan_id).values(dpd=91))
        done = reserve.compensate_from_reserve(c, loan_id=loan_id, actor=SYSTEM, clock=clock)
        assert events(c, "loan.compensated") == [
            (
                f"loan:{loan_id}",
                {
                    "loan_id": loan_id,
                    "paid_fen": done.paid_fen,
                    "owed_fen": done.owed_fen,
                    "notes": 3,
                },
            )
        ]
        # 流标
        other = open_listing(c, clock, amount_fen=500_000)
        clock.set(clock.now() + timedelta(days=30))
        jobs.expire_listings(c, actor=SYSTEM, clock=clock)
        assert events(c, "listing.failed") == [(f"listing:{other.id}", {"listing_id": other.id})]


def test_an_action_that_rolls_back_leaves_no_event(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a = lender(c, clock, money=500_000)
    with pytest.raises(Conflict), engine.begin() as c:
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=a,
            amount_fen=400_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        b = lender(c, clock)
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=b,
            amount_fen=600_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        assert len(events(c, "listing.funded")) == 1  # inside, the event is there
        raise Conflict("boom", "the caller fails after the funding")
    with engine.connect() as c:
        assert events(c, "listing.funded") == []
        assert len(events(c, "listing.published")) == 1
