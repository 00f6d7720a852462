"""The marketplace's end-of-day steps: expire unfilled listings (流标), auto-invest new
listings, distribute what was collected and not yet passed on, expire unsold claim offers.

Expiry is set-based: one statement finds the listings whose bidding window has closed, one
batch of ledger voids releases every frozen bid on them, two updates record it. The lenders'
money is available again as soon as the step commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.marketplace import auto_invest, claims, distribution
from puhui.marketplace import bids as bid_service
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import locked, now_us
from puhui.marketplace.listings import get_listing
from puhui.marketplace.models import bids, listings


@dataclass(frozen=True)
class Expired:
    listings: int
    bids_voided: int
    fen_released: int


def expire_listings(conn: Connection, *, actor: Actor, clock: Clock) -> Expired:
    """Fail every open listing whose window has closed unfilled and void its frozen bids."""
    now = now_us(clock)
    due = (
        conn.execute(
            locked(
                conn,
                select(listings.c.id).where(
                    listings.c.status == "open", listings.c.closes_at <= now
                ),
            )
        )
        .scalars()
        .all()
    )
    if not due:
        return Expired(0, 0, 0)
    frozen = conn.execute(
        select(bids.c.transfer_id, bids.c.amount_fen).where(
            bids.c.listing_id.in_(due), bids.c.status == "frozen"
        )
    ).all()
    if frozen:
        bid_service.void([f.transfer_id for f in frozen], conn=conn, clock=clock)
        conn.execute(
            update(bids)
            .where(bids.c.listing_id.in_(due), bids.c.status == "frozen")
            .values(status="voided")
        )
    conn.execute(
        update(listings).where(listings.c.id.in_(due)).values(status="failed", updated_at=now)
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.listings_expired",
        object_type="listing",
        object_id=0,
        detail={"listings": list(due), "bids": len(frozen)},
        clock=clock,
    )
    mkt_events.listings_failed(conn, list(due), clock)
    return Expired(len(due), len(frozen), sum(f.amount_fen for f in frozen))


def close_listing(
    conn: Connection, *, listing_id: int, reason: str, actor: Actor, clock: Clock
) -> None:
    """Staff withdraw a draft or open listing before funding: every frozen bid is voided."""
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    if listing.status not in ("draft", "open"):
        raise Conflict("listing_not_closable", f"listing {listing_id} is {listing.status}")
    frozen = (
        conn.execute(
            select(bids.c.transfer_id).where(
                bids.c.listing_id == listing_id, bids.c.status == "frozen"
            )
        )
        .scalars()
        .all()
    )
    if frozen:
        bid_service.void(list(frozen), conn=conn, clock=clock)
        conn.execute(
            update(bids)
            .where(bids.c.listing_id == listing_id, bids.c.status == "frozen")
            .values(status="voided")
        )
    conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(status="closed", funded_fen=0, updated_at=now_us(clock))
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.listing_closed",
        object_type="listing",
        object_id=listing_id,
        detail={"reason": reason, "bids_voided": len(frozen)},
        clock=clock,
    )


@dataclass(frozen=True)
class DayReport:
    expired: Expired
    auto_bids: int
    distributed_loans: int
    claims_expired: int


def run_day(conn: Connection, *, actor: Actor, clock: Clock) -> DayReport:
    """The marketplace's end-of-day work, in one transaction; a rerun finds nothing new."""
    expired = expire_listings(conn, actor=actor, clock=clock)
    auto = auto_invest.run_open_listings(conn, actor=actor, clock=clock)
    moved = distribution.distribute_loans(conn, clock=clock)
    gone = claims.expire_offers(conn, clock=clock)
    return DayReport(expired, sum(len(r.bids) for r in auto), moved.loans, gone)
