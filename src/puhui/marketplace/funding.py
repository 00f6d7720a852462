"""Full funding (满标): one atomic step from frozen bids to a running loan.

Every frozen bid is posted (lender sub-account → borrower sub-account in the custody book),
each lender gets one note for the sum of their bids, the loan is written into the lending
tables with its contract and schedule and disbursed through ``lending.servicing`` — so the
end-of-day accrual, aging and collections see it like any loan — and it is marked as
marketplace-funded (``mkt_loan_funding``), which keeps it out of the company book: the
company is not the lender. An upfront fee the product charges is collected at once from the
borrower's sub-account as its own coded transfer (``distribution``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict
from puhui.custody import outbox
from puhui.custody.service import Role
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ledger.codes import TransferFlags
from puhui.ledger.service import Transfer, create_transfers
from puhui.lending import (
    applications,
    calendar,
    contract_terms,
    contracts,
    offers,
    products,
    servicing,
    states,
)
from puhui.lending.models import loans
from puhui.marketplace import accounts, distribution
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import now_us
from puhui.marketplace.listings import Listing, get_listing
from puhui.marketplace.models import bids, listings, loan_funding, notes
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig
from puhui.ops import investments

#: Who the contract names as lender: the note holders, listed in the note register.
LENDER_TEXT = "本项目出借人（见债权登记簿） The lenders on this project (see the note register)"


def fund(
    conn: Connection,
    *,
    listing_id: int,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> int:
    """Post the bids, write the notes, create and disburse the loan; the loan id."""
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    if listing.status != "open" or listing.funded_fen != listing.amount_fen:
        raise Conflict("listing_not_full", f"listing {listing_id} is not fully subscribed")
    frozen = conn.execute(
        select(bids).where(bids.c.listing_id == listing_id, bids.c.status == "frozen")
    ).all()
    if sum(b.amount_fen for b in frozen) != listing.amount_fen:
        raise Conflict("bids_do_not_add_up", f"listing {listing_id}'s bids differ from its amount")
    results = create_transfers(
        conn,
        [
            Transfer(
                id=f"{b.transfer_id}-post",
                pending_id=b.transfer_id,
                flags=TransferFlags.POST_PENDING,
            )
            for b in frozen
        ],
        clock=clock,
    )
    bad = [r for r in results if not r.ok]
    if bad:
        raise Conflict(f"ledger_{bad[0].result.value}", bad[0].message, field="listing_id")
    # each lender's money reaches the borrower's sub-account at the bank under the lender's
    # standing authorisation, in this order, before anything the borrower pays out of it
    outbox.queue_booked(conn, [f"{b.transfer_id}-post" for b in frozen], clock=clock)
    conn.execute(
        update(bids)
        .where(bids.c.listing_id == listing_id, bids.c.status == "frozen")
        .values(status="posted")
    )
    _record_investments(conn, listing, frozen, clock)
    loan_id = _create_loan(conn, listing, actor=actor, clock=clock)
    now = now_us(clock)
    conn.execute(
        insert(loan_funding).values(
            loan_id=loan_id,
            listing_id=listing_id,
            funding="marketplace",
            borrower_account_id=accounts.user_account(conn, listing.borrower_id, Role.BORROWER),
            created_at=now,
        )
    )
    by_lender: dict[int, int] = {}
    for b in frozen:
        by_lender[b.lender_id] = by_lender.get(b.lender_id, 0) + b.amount_fen
    conn.execute(
        insert(notes),
        [
            {
                "listing_id": listing_id,
                "loan_id": loan_id,
                "lender_id": lender,
                "principal_fen": amount,
                "outstanding_principal_fen": amount,
                "status": "active",
                "acquired_at": now,
                "source": "bid",
                "parent_note_id": None,
            }
            for lender, amount in sorted(by_lender.items())
        ],
    )
    conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(status="funded", loan_id=loan_id, updated_at=now)
    )
    servicing.disburse(conn, loan_id=loan_id, actor=actor, clock=clock, fee_paid=True)
    distribution.distribute(conn, loan_id=loan_id, clock=clock, config=config)
    audit.record(
        conn,
        actor=actor,
        event="marketplace.listing_funded",
        object_type="listing",
        object_id=listing_id,
        detail={"loan_id": loan_id, "lenders": len(by_lender), "bids": len(frozen)},
        clock=clock,
    )
    mkt_events.listing(
        conn,
        "listing.funded",
        listing_id,
        clock,
        loan_id=loan_id,
        amount_fen=listing.amount_fen,
        lenders=len(by_lender),
    )
    return loan_id


def _create_loan(conn: Connection, listing: Listing, *, actor: Actor, clock: Clock) -> int:
    """The loan as ``applications.accept`` writes it, with the note holders as lender: the
    application is offered and accepted on the listing's terms (the borrower authorised the
    listing), and its cap is checked again by the offer."""
    config = replace(applications.DEFAULT_CONFIG, lender=LENDER_TEXT)
    applications.make_offer(
        conn,
        application_id=listing.application_id,
        actor=actor,
        clock=clock,
        config=config,
        annual_rate=listing.annual_rate,
    )
    app = applications.get_application(conn, application_id=listing.application_id)
    offer = app.offer
    assert offer is not None
    version = products.get_version(conn, version_id=app.product_version_id)
    start = calendar.current(conn, clock=clock)
    schedule = offers.loan_schedule(version, offer.amount_fen, offer.term, offer.annual_rate, start)
    signed = now_us(clock)
    content = offers.contract_content(
        application_id=app.id,
        customer_id=listing.borrower_id,
        version=version,
        schedule=schedule,
        penalty=offer.penalty_rate,
        borrower_name="-",
        borrower_id_number="-",
        signed_us=signed,
        lender=config.lender,
        cooling_off_hours=0,
    )
    text = contracts.render(content)
    values: dict[str, Any] = {
        "application_id": app.id,
        "customer_id": listing.borrower_id,
        "product_version_id": version.version_id,
        "state": "accepted",
        "principal_fen": offer.amount_fen,
        "annual_rate": str(offer.annual_rate),
        "penalty_rate": str(offer.penalty_rate),
        "rate_ppb": contract_terms.rate_ppb(offer.annual_rate),
        "penalty_rate_ppb": contract_terms.rate_ppb(offer.penalty_rate),
        "year_days": contract_terms.year_days(version),
        "method": version.terms.method.value,
        "term_unit": version.terms.term_unit.value,
        "term": offer.term,
        "start_date": start,
        "maturity_date": content.maturity_date,
        "grace_days": version.terms.grace_days,
        "upfront_fee_fen": content.upfront_fee_fen,
        "irr_annual_rate": str(content.irr_annual_rate),
        "contract_text": text,
        "contract_sha256": contracts.sha256_of(text),
        "signed_us": signed,
        "cooling_off_until_us": signed,
        "created_us": signed,
        "updated_us": signed,
    }
    loan_id = int(conn.execute(insert(loans).values(**values)).inserted_primary_key[0])
    states.transition_application(
        conn,
        application_id=app.id,
        to="accepted",
        actor=actor,
        reason=f"listing {listing.id} fully funded",
        clock=clock,
        values={"loan_id": loan_id},
    )
    return loan_id


def _record_investments(conn: Connection, listing: Listing, posted: Any, clock: Clock) -> None:
    """Each posted bid is an investment for operations' performance figures (绩效考核: first
    investments, annualised amounts, the advisor's book), recorded in the funding transaction
    so a listing that never fills counts nothing; ``bid-{id}`` is the reference coupons use."""
    months = (
        listing.term_count if listing.term_unit == "month" else max(1, -(-listing.term_count // 30))
    )
    today = calendar.current(conn, clock=clock)
    for b in posted:
        investments.record_investment(
            conn,
            investment_ref=f"bid-{b.id}",
            customer_id=b.lender_id,
            amount_fen=b.amount_fen,
            term_months=months,
            product_code=listing.product_code,
            invested_on=today,
            clock=clock,
        )
