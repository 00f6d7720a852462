"""Listing → bids → full funding → a whole schedule distributed, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, ValidationError
from puhui.custody.service import Role
from puhui.identity.errors import Forbidden
from puhui.identity.models import customers
from puhui.ledger.service import get_account
from puhui.ledger.verify import verify
from puhui.lending import accounts as gl
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, bids, distribution, jobs, listings
from puhui.marketplace.models import distributions, notes

from .market import STAFF, SYSTEM, borrower, deposit, lender, open_listing


def balance(conn, customer_id: int, role: Role) -> tuple[int, int]:
    acc = get_account(conn, accounts.user_account(conn, customer_id, role))
    return acc.credit_balance, acc.available


def test_bid_freezes_then_full_funding_creates_loan_notes_and_moves_money(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a, b = lender(c, clock), lender(c, clock)
        first = bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=a,
            amount_fen=600_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        assert first.status == "frozen" and first.listing_status == "open"
        assert balance(c, a, Role.LENDER) == (10_000_000, 9_400_000)
        last = bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=b,
            amount_fen=400_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        assert last.listing_status == "funded"
        after = listings.get_listing(c, listing_id=listing.id)
        assert after.status == "funded" and after.loan_id is not None
        loan = c.execute(select(loans).where(loans.c.id == after.loan_id)).one()
        assert (loan.state, loan.principal_fen, loan.term) == ("disbursed", 1_000_000, 6)
        held = c.execute(
            select(notes.c.lender_id, notes.c.principal_fen).order_by(notes.c.lender_id)
        ).all()
        assert [tuple(n) for n in held] == [(a, 600_000), (b, 400_000)]
        assert balance(c, a, Role.LENDER) == (9_400_000, 9_400_000)
        assert balance(c, b, Role.LENDER) == (9_600_000, 9_600_000)
        assert balance(c, listing.borrower_id, Role.BORROWER) == (1_000_000, 1_000_000)
        # the company book carries nothing of a marketplace loan
        assert gl.check_subledger(c) == {}
        assert gl.balances(c)[gl.AccountCode.LOANS_RECEIVABLE] == 0
        assert verify(c) == []


def _fill(c, clock, listing, *amounts: int) -> list[int]:
    ids = []
    for amount in amounts:
        who = lender(c, clock)
        bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=who,
            amount_fen=amount,
            disclosure_version=listing.disclosure_version,
            actor=SYSTEM,
            clock=clock,
        )
        ids.append(who)
    return ids


def test_whole_schedule_is_distributed_to_the_fen(engine: Engine, clock: FixedClock) -> None:
    """Three uneven notes, six installments: every fen the borrower repays reaches a note
    holder, the platform fee or the reserve, and each lender gets back exactly their principal."""
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000, min_bid_fen=10_000, step_fen=100)
        holders = _fill(c, clock, listing, 333_300, 333_300, 333_400)
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        deposit(
            c,
            clock,
            accounts.user_account(c, listing.borrower_id, Role.BORROWER),
            2_000_000,
            "repay",
        )
        schedule = c.execute(
            select(installments)
            .where(installments.c.loan_id == loan_id, installments.c.seq > 0)
            .order_by(installments.c.seq)
        ).all()
        paid = 0
        for inst in schedule:
            due = inst.principal_fen + inst.interest_fen + inst.fee_fen
            clock.set(
                clock.now().replace(
                    year=inst.due_date.year, month=inst.due_date.month, day=inst.due_date.day
                )
            )
            factories_set_date(c, clock, inst.due_date)
            distribution.repay(
                c,
                loan_id=loan_id,
                amount_fen=due,
                actor=SYSTEM,
                clock=clock,
                external_ref=f"inst-{inst.seq}",
            )
            paid += due
        loan = c.execute(select(loans).where(loans.c.id == loan_id)).one()
        assert loan.state == "settled" and loan.principal_outstanding_fen == 0
        sums = c.execute(
            select(
                func.sum(distributions.c.principal_fen),
                func.sum(distributions.c.interest_fen),
                func.sum(distributions.c.fee_fen),
            )
        ).one()
        total_interest = sum(i.interest_fen for i in schedule)
        assert sums[0] == 1_000_000 and sums[1] == total_interest
        by_holder = dict(
            c.execute(
                select(distributions.c.lender_id, func.sum(distributions.c.principal_fen)).group_by(
                    distributions.c.lender_id
                )
            ).all()
        )
        assert by_holder == {holders[0]: 333_300, holders[1]: 333_300, holders[2]: 333_400}
        fee = get_account(c, accounts.platform_account(c, Role.PLATFORM_FEE))
        reserve = get_account(c, accounts.platform_account(c, Role.RISK_RESERVE))
        received = sum(
            get_account(c, accounts.user_account(c, h, Role.LENDER)).credit_balance - 10_000_000
            for h in holders
        )
        # what lenders gained + platform fee + reserve == interest the borrower paid
        assert received + fee.credit_balance + reserve.credit_balance == paid - 1_000_000
        assert fee.credit_balance + reserve.credit_balance == sums[2]
        assert balance(c, listing.borrower_id, Role.BORROWER)[0] == 3_000_000 - paid
        assert c.execute(select(func.count()).where(notes.c.status == "repaid")).scalar() == 3
        assert verify(c) == []


def factories_set_date(c, clock, day) -> None:
    from lending import factories

    factories.calendar.set_date(c, business_date_=day, clock=clock)


def test_expiry_voids_every_frozen_bid(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a, b = _fill(c, clock, listing, 300_000, 200_000)
        assert balance(c, a, Role.LENDER) == (10_000_000, 9_700_000)
        assert jobs.expire_listings(c, actor=SYSTEM, clock=clock).listings == 0
        clock.advance(timedelta(days=7))
        done = jobs.expire_listings(c, actor=SYSTEM, clock=clock)
        assert (done.listings, done.bids_voided, done.fen_released) == (1, 2, 500_000)
        assert balance(c, a, Role.LENDER) == (10_000_000, 10_000_000)
        assert balance(c, b, Role.LENDER) == (10_000_000, 10_000_000)
        assert listings.get_listing(c, listing_id=listing.id).status == "failed"
        with pytest.raises(Conflict, match="not open"):
            bids.place_bid(
                c,
                listing_id=listing.id,
                lender_id=a,
                amount_fen=500_000,
                disclosure_version=1,
                actor=SYSTEM,
                clock=clock,
            )
        assert verify(c) == []


def test_bid_rules_refuse_and_change_nothing(engine: Engine, clock: FixedClock) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000, min_bid_fen=50_000, step_fen=10_000)
        rich = lender(c, clock)
        poor = lender(c, clock, money=60_000)
        timid = lender(c, clock, level="C1")
        unverified = lender(c, clock)
        c.execute(
            update(customers).where(customers.c.id == unverified).values(kyc_status="pending")
        )
        cases = [
            (rich, 40_000, 1, ValidationError, "minimum"),
            (rich, 55_000, 1, ValidationError, "steps"),
            (rich, 1_010_000, 1, Conflict, "remain"),
            (rich, 100_000, 2, Conflict, "disclosure"),
            (poor, 100_000, 1, Conflict, "does not cover"),
            (timid, 100_000, 1, Forbidden, "R2"),
            (unverified, 100_000, 1, Forbidden, "real-name"),
            (listing.borrower_id, 100_000, 1, Conflict, "themself"),
        ]
        for who, amount, version, error, text in cases:
            with pytest.raises(error, match=text):
                bids.place_bid(
                    c,
                    listing_id=listing.id,
                    lender_id=who,
                    amount_fen=amount,
                    disclosure_version=version,
                    actor=SYSTEM,
                    clock=clock,
                )
        assert listings.get_listing(c, listing_id=listing.id).funded_fen == 0
        assert balance(c, poor, Role.LENDER) == (60_000, 60_000)
        # the last piece may be below the minimum and off the step
        _fill(c, clock, listing, 950_000)
        last = bids.place_bid(
            c,
            listing_id=listing.id,
            lender_id=rich,
            amount_fen=50_000,
            disclosure_version=1,
            actor=SYSTEM,
            clock=clock,
        )
        assert last.listing_status == "funded"
        assert verify(c) == []


def test_listing_rules(engine: Engine, clock: FixedClock) -> None:
    from puhui.compliance.related import flag_related_party

    from .market import DISCLOSURE, approved_application

    with engine.begin() as c:
        cid, _ = borrower(c, clock)
        app = approved_application(c, clock, customer_id=cid)
        base = dict(
            application_id=app,
            title="周转",
            description="进货",
            risk_grade="R2",
            min_bid_fen=10_000,
            step_fen=10_000,
            actor=STAFF,
            clock=clock,
        )
        with pytest.raises(ValidationError, match="保本"):
            listings.create_listing(
                c, **{**base, "description": "本项目保本保息"}, disclosure=DISCLOSURE
            )
        with pytest.raises(ValidationError, match="DIS-PRJ-03"):
            listings.create_listing(
                c, **{**base, "title": "张三 13812345678"}, disclosure=DISCLOSURE
            )
        with pytest.raises(ValidationError, match="DIS-PRJ-03"):
            listings.create_listing(
                c, **base, disclosure={**DISCLOSURE, "industry": "11010519491231002X"}
            )
        with pytest.raises(ValidationError, match="刚性兑付"):
            listings.create_listing(
                c, **base, disclosure={**DISCLOSURE, "repayment_safeguards": "刚性兑付"}
            )
        with pytest.raises(ValidationError, match="unknown disclosure"):
            listings.create_listing(c, **base, disclosure={**DISCLOSURE, "id_number": "1"})
        flag_related_party(c, customer_id=cid, relation="shareholder", disclosed=False, clock=clock)
        with pytest.raises(Conflict, match="related party"):
            listings.create_listing(c, **base, disclosure=DISCLOSURE)
        flag_related_party(c, customer_id=cid, relation="shareholder", disclosed=True, clock=clock)
        partial = {k: v for k, v in DISCLOSURE.items() if k != "repayment_source"}
        draft = listings.create_listing(c, **base, disclosure=partial)
        assert draft.related_party and draft.disclosure["related_party"] == "shareholder"
        with pytest.raises(ValidationError, match="repayment_source"):
            listings.publish(c, listing_id=draft.id, actor=STAFF, clock=clock)
        listings.update_disclosure(
            c,
            listing_id=draft.id,
            disclosure={"repayment_source": "salary"},
            actor=STAFF,
            clock=clock,
        )
        opened = listings.publish(c, listing_id=draft.id, actor=STAFF, clock=clock)
        assert (opened.status, opened.disclosure_version) == ("open", 2)
        other, _ = borrower(c, clock)
        big = approved_application(c, clock, customer_id=other, amount_fen=10_000_000)
        listings.create_listing(c, **{**base, "application_id": big}, disclosure=DISCLOSURE)
        again = approved_application(c, clock, customer_id=other, amount_fen=10_000_100)
        with pytest.raises(Conflict, match="P2P-CAP-01"):
            listings.create_listing(c, **{**base, "application_id": again}, disclosure=DISCLOSURE)
