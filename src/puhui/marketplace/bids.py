"""Bids (出借): a lender's money frozen on a listing by a pending custody transfer.

The listing row is locked first (``SELECT … FOR UPDATE`` on PostgreSQL, the database lock
from ``BEGIN IMMEDIATE`` on SQLite), so concurrent bids see each other's amounts and the listing
can never be oversubscribed. The bid that fills the listing funds it in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from puhui.compliance import aml
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.custody.service import Role
from puhui.identity import audit, customers, risk
from puhui.identity.audit import Actor
from puhui.ledger.codes import Result, TransferCode, TransferFlags
from puhui.ledger.service import Transfer, create_transfers
from puhui.marketplace import accounts, funding, rules
from puhui.marketplace._db import now_us
from puhui.marketplace.listings import get_listing
from puhui.marketplace.models import bids, listings, notes
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig


@dataclass(frozen=True)
class Bid:
    id: int
    listing_id: int
    lender_id: int
    amount_fen: int
    status: str
    transfer_id: str
    disclosure_version: int
    auto: bool
    created_at: int
    #: The listing's status after the bid: ``funded`` when this bid filled it.
    listing_status: str = "open"


def _bid(row: Any, listing_status: str = "open") -> Bid:
    return Bid(
        row.id,
        row.listing_id,
        row.lender_id,
        row.amount_fen,
        row.status,
        row.transfer_id,
        row.disclosure_version,
        bool(row.auto),
        row.created_at,
        listing_status,
    )


def invested_fen(conn: Connection, lender_id: int) -> int:
    """What the lender has at stake: active notes' outstanding principal and frozen bids."""
    held = conn.execute(
        select(func.coalesce(func.sum(notes.c.outstanding_principal_fen), 0)).where(
            notes.c.lender_id == lender_id, notes.c.status == "active"
        )
    ).scalar_one()
    frozen = conn.execute(
        select(func.coalesce(func.sum(bids.c.amount_fen), 0)).where(
            bids.c.lender_id == lender_id, bids.c.status == "frozen"
        )
    ).scalar_one()
    return int(held) + int(frozen)


def place_bid(
    conn: Connection,
    *,
    listing_id: int,
    lender_id: int,
    amount_fen: int,
    disclosure_version: int,
    actor: Actor,
    clock: Clock,
    auto: bool = False,
    config: MarketConfig = DEFAULT_CONFIG,
) -> Bid:
    """Freeze ``amount_fen`` of the lender's custody money on the listing; fund the listing
    when this bid fills it. Refused, changing nothing, for every rule of P2P-LND-01..04,
    DIS-PRJ-02, the bid rules and the lender's balance; a lender blocked by an AML
    watch-list match (AML-STR-02) is refused before anything is locked."""
    aml.require_not_blocked(conn, lender_id)
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    now = now_us(clock)
    if listing.status != "open" or (listing.closes_at is not None and now >= listing.closes_at):
        raise Conflict(
            "listing_not_open", f"listing {listing_id} is not open for bids", field="listing_id"
        )
    if lender_id == listing.borrower_id:
        raise Conflict("own_listing", "a borrower may not lend to themself", field="listing_id")
    if disclosure_version != listing.disclosure_version:
        raise Conflict(
            "disclosure_stale",
            f"the listing's disclosure changed (now version {listing.disclosure_version}); "
            "read it again before bidding (DIS-PRJ-02)",
            field="disclosure_version",
        )
    customers.require_verified(conn, customer_id=lender_id)  # P2P-OBL-03
    rules.check_bid_amount(
        amount_fen=amount_fen,
        min_bid_fen=listing.min_bid_fen,
        step_fen=listing.step_fen,
        remaining_fen=listing.remaining_fen,
    )
    risk.check_investment(
        conn,
        customer_id=lender_id,
        amount_fen=amount_fen,
        project_grade=listing.risk_grade,
        invested_total_fen=invested_fen(conn, lender_id),
        clock=clock,
    )
    lender_acc = accounts.user_account(conn, lender_id, Role.LENDER)
    borrower_acc = accounts.user_account(conn, listing.borrower_id, Role.BORROWER)
    accounts.require_grant(conn, lender_id, Role.LENDER)  # the bank posts it at full funding
    transfer_id = f"mkt-bid-{uuid.uuid4().hex}"
    [result] = create_transfers(
        conn,
        [
            Transfer(
                id=transfer_id,
                debit_account_id=lender_acc,
                credit_account_id=borrower_acc,
                amount=amount_fen,
                code=TransferCode.INVESTMENT,
                flags=TransferFlags.PENDING,
                reference=f"listing:{listing_id}",
            )
        ],
        clock=clock,
    )
    if result.result is Result.EXCEEDS_CREDITS:
        raise Conflict(
            "insufficient_funds",
            "the lender's custody balance does not cover the bid",
            field="amount_fen",
        )
    if not result.ok:
        raise Conflict(f"ledger_{result.result.value}", result.message, field="amount_fen")
    bid_id = conn.execute(
        insert(bids).values(
            listing_id=listing_id,
            lender_id=lender_id,
            amount_fen=amount_fen,
            status="frozen",
            transfer_id=transfer_id,
            disclosure_version=disclosure_version,
            auto=auto,
            created_at=now,
        )
    ).inserted_primary_key[0]
    conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(funded_fen=listings.c.funded_fen + amount_fen, updated_at=now)
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.bid",
        object_type="listing",
        object_id=listing_id,
        detail={"bid_id": bid_id, "amount_fen": amount_fen, "auto": auto},
        clock=clock,
    )
    status = "open"
    if listing.funded_fen + amount_fen == listing.amount_fen:
        funding.fund(conn, listing_id=listing_id, actor=actor, clock=clock, config=config)
        status = "funded"
    row = conn.execute(select(bids).where(bids.c.id == bid_id)).one()
    return _bid(row, status)


def get_bid(conn: Connection, *, bid_id: int, lender_id: int | None = None) -> Bid:
    q = select(bids).where(bids.c.id == bid_id)
    if lender_id is not None:
        q = q.where(bids.c.lender_id == lender_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound("bid_not_found", f"no bid {bid_id}", field="bid_id")
    return _bid(row)


def cancel_bid(conn: Connection, *, bid_id: int, lender_id: int, actor: Actor, clock: Clock) -> Bid:
    """The lender withdraws a frozen bid while the listing is still open: the money is free at
    once (the pending transfer is voided)."""
    bid = get_bid(conn, bid_id=bid_id, lender_id=lender_id)
    listing = get_listing(conn, listing_id=bid.listing_id, lock=True)
    bid = get_bid(conn, bid_id=bid_id, lender_id=lender_id)  # re-read under the lock
    if bid.status != "frozen" or listing.status != "open":
        raise Conflict("bid_not_cancellable", f"bid {bid_id} is {bid.status}", field="bid_id")
    void([bid.transfer_id], conn=conn, clock=clock)
    now = now_us(clock)
    conn.execute(update(bids).where(bids.c.id == bid_id).values(status="cancelled"))
    conn.execute(
        update(listings)
        .where(listings.c.id == listing.id)
        .values(funded_fen=listings.c.funded_fen - bid.amount_fen, updated_at=now)
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.bid_cancelled",
        object_type="listing",
        object_id=listing.id,
        detail={"bid_id": bid_id},
        clock=clock,
    )
    return get_bid(conn, bid_id=bid_id)


def void(transfer_ids: list[str], *, conn: Connection, clock: Clock) -> None:
    """Release frozen bids: void their pending transfers in one batch."""
    results = create_transfers(
        conn,
        [
            Transfer(id=f"{t}-void", pending_id=t, flags=TransferFlags.VOID_PENDING)
            for t in transfer_ids
        ],
        clock=clock,
    )
    bad = [r for r in results if not r.ok]
    if bad:
        raise Conflict(f"ledger_{bad[0].result.value}", bad[0].message)
