"""What the marketplace queues for the custody bank, and the standing authorisations it needs.

Each custody transfer a marketplace operation books is queued as a bank instruction in the
same transaction, in booking order, under the transfer's own id (docs/marketplace.md, "Custody
bank"); the payer's 业务授权 is checked before the operation is accepted."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, select

from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict
from puhui.custody import authorisations
from puhui.custody.models import instructions
from puhui.custody.service import Role
from puhui.ledger.codes import TransferCode
from puhui.ledger.models import transfers
from puhui.lending.models import installments
from puhui.marketplace import accounts, bids, distribution, listings
from puhui.marketplace.models import bids as bid_rows

from .market import (
    DISCLOSURE,
    STAFF,
    SYSTEM,
    approved_application,
    borrower,
    deposit,
    go_to,
    lender,
    open_listing,
)


def _queued(c: Connection) -> list[tuple[str, int, int, str]]:
    q = instructions.c
    rows = c.execute(
        select(q.id, q.amount, q.code, q.status)
        .where(q.queue_seq.is_not(None))
        .order_by(q.queue_seq)
    ).all()
    return [tuple(r) for r in rows]


def _bid(c: Connection, clock: FixedClock, listing_id: int, who: int, amount: int) -> None:
    bids.place_bid(
        c,
        listing_id=listing_id,
        lender_id=who,
        amount_fen=amount,
        disclosure_version=1,
        actor=SYSTEM,
        clock=clock,
    )


def test_funding_and_a_repayment_queue_one_instruction_per_transfer_in_order(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock, amount_fen=1_000_000)
        a, b = lender(c, clock), lender(c, clock)
        _bid(c, clock, listing.id, a, 700_000)
        assert _queued(c) == []  # a frozen bid is not money the bank moves yet
        _bid(c, clock, listing.id, b, 300_000)
        posted = dict(c.execute(select(bid_rows.c.transfer_id, bid_rows.c.amount_fen)).all())
        funded = _queued(c)
        assert sorted((i, amount) for i, amount, _code, _s in funded) == sorted(
            (f"{t}-post", amount) for t, amount in posted.items()
        )
        assert {(code, status) for _i, _a, code, status in funded} == {
            (int(TransferCode.INVESTMENT), "queued")
        }
        loan_id = listings.get_listing(c, listing_id=listing.id).loan_id
        assert loan_id is not None
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan_id, installments.c.seq == 1)
        ).one()
        due = first.principal_fen + first.interest_fen + first.fee_fen
        go_to(c, clock, first.due_date)
        borrower_acc = accounts.user_account(c, listing.borrower_id, Role.BORROWER)
        deposit(c, clock, borrower_acc, due, "r")
        distribution.repay(c, loan_id=loan_id, amount_fen=due, actor=STAFF, clock=clock)
        after = _queued(c)[len(funded) :]
        # every transfer the repayment booked, and nothing else, queued behind the funding
        t = transfers.c
        booked = c.execute(
            select(t.id, t.amount).where(t.reference == f"loan:{loan_id}", t.id.like("mkt-%"))
        ).all()
        assert sorted((i, amount) for i, amount, _c, _s in after) == sorted(
            (r.id, r.amount) for r in booked
        )
        assert sum(amount for _i, amount, _c, _s in after) == due


def test_no_bid_purchase_or_listing_without_the_payers_standing_authorisation(
    engine: Engine, clock: FixedClock
) -> None:
    with engine.begin() as c:
        listing = open_listing(c, clock)
        who = lender(c, clock)
        [grant] = authorisations.of_user(c, user_ref=accounts.custody_ref(who))
        authorisations.mark_revoked(c, grant_id=grant.id, user_ref=grant.user_ref, clock=clock)
        with pytest.raises(Conflict) as e:
            _bid(c, clock, listing.id, who, 100_000)
        assert (e.value.code, e.value.field) == ("custody_authorisation_required", "authorisation")
        assert listings.get_listing(c, listing_id=listing.id).funded_fen == 0
        # a borrower who has not authorised repayments cannot be listed
        cid, _acc = borrower(c, clock)
        [mine] = authorisations.of_user(c, user_ref=accounts.custody_ref(cid))
        authorisations.mark_revoked(c, grant_id=mine.id, user_ref=mine.user_ref, clock=clock)
        app_id = approved_application(c, clock, customer_id=cid)
        draft = listings.create_listing(
            c,
            application_id=app_id,
            title="小微经营周转",
            description="借款用于店铺进货，按月等额本息还款。",
            risk_grade="R2",
            min_bid_fen=10_000,
            step_fen=10_000,
            disclosure=DISCLOSURE,
            actor=STAFF,
            clock=clock,
        )
        with pytest.raises(Conflict) as e:
            listings.publish(c, listing_id=draft.id, actor=STAFF, clock=clock)
        assert e.value.code == "custody_authorisation_required"
        assert listings.get_listing(c, listing_id=draft.id).status == "draft"
