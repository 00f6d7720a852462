"""Auto-invest (自动投标): bids the platform places for a lender, only under the lender's
explicit, revocable authorisation with parameters (P2P-LND-05).

Fairness: authorised lenders wait in one queue ordered by enrolment time; a lender whose bid
is placed moves to the back, so the next listing starts with whoever has waited longest. Auto
bids take at most ``auto_invest_share`` (default 80%) of a listing, leaving the rest to lenders
who choose for themselves. Each bid goes through ``bids.place_bid`` with every rule a manual
bid meets (suitability, limits, balance); a lender the rules refuse keeps their place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, PuhuiError, ValidationError
from puhui.core.rates import parse_rate
from puhui.custody.service import Role
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ledger.service import get_account
from puhui.marketplace import accounts, bids, rules
from puhui.marketplace._db import locked, now_us
from puhui.marketplace.listings import Listing, get_listing
from puhui.marketplace.models import auto_invest, listings
from puhui.marketplace.models import bids as bid_table
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig

#: What the lender authorises, shown before they confirm; its hash is stored with the row.
AUTHORISATION_TEXT = (
    "本人授权平台按以下参数代为出借，可随时撤销；平台不承诺本金或收益。"
    " I authorise the platform to bid for me on these parameters until I revoke it; the "
    "platform promises neither principal nor returns."
)


@dataclass(frozen=True)
class Authorisation:
    lender_id: int
    status: str
    amount_per_listing_fen: int
    min_rate: Decimal
    min_term: int
    max_term: int
    max_grade: str
    keep_balance_fen: int
    queue_at: int
    enrolled_at: int


def _auth(row: Any) -> Authorisation:
    return Authorisation(
        row.lender_id,
        row.status,
        row.amount_per_listing_fen,
        parse_rate(row.min_rate),
        row.min_term,
        row.max_term,
        row.max_grade,
        row.keep_balance_fen,
        row.queue_at,
        row.enrolled_at,
    )


def get_authorisation(conn: Connection, *, lender_id: int) -> Authorisation:
    row = conn.execute(select(auto_invest).where(auto_invest.c.lender_id == lender_id)).first()
    if row is None:
        raise NotFound("auto_invest_not_found", "no auto-invest authorisation", field="lender_id")
    return _auth(row)


def authorise(
    conn: Connection,
    *,
    lender_id: int,
    amount_per_listing_fen: int,
    min_rate: Decimal | str,
    min_term: int,
    max_term: int,
    max_grade: str,
    keep_balance_fen: int,
    actor: Actor,
    clock: Clock,
) -> Authorisation:
    """Grant or change the authorisation. A change keeps the lender's place in the queue; a
    grant after a revocation joins at the back."""
    rules.check_grade(max_grade)
    rate = parse_rate(str(min_rate))
    if amount_per_listing_fen <= 0 or keep_balance_fen < 0:
        raise ValidationError(
            "auto_invest_amount_invalid",
            "amount per listing is positive and the balance to keep is not negative",
            field="amount_per_listing_fen",
        )
    if not 1 <= min_term <= max_term:
        raise ValidationError("term_range_invalid", "1 ≤ min_term ≤ max_term", field="min_term")
    accounts.user_account(conn, lender_id, Role.LENDER)
    now = now_us(clock)
    params = {
        "amount_per_listing_fen": amount_per_listing_fen,
        "min_rate": str(rate),
        "min_term": min_term,
        "max_term": max_term,
        "max_grade": max_grade,
        "keep_balance_fen": keep_balance_fen,
    }
    digest = hashlib.sha256(
        (AUTHORISATION_TEXT + json.dumps(params, sort_keys=True)).encode()
    ).hexdigest()
    row = conn.execute(
        locked(conn, select(auto_invest).where(auto_invest.c.lender_id == lender_id))
    ).first()
    if row is None:
        conn.execute(
            insert(auto_invest).values(
                lender_id=lender_id,
                status="active",
                queue_at=now,
                enrolled_at=now,
                authorisation_text_sha256=digest,
                updated_at=now,
                **params,
            )
        )
    else:
        rejoin = row.status != "active"
        conn.execute(
            update(auto_invest)
            .where(auto_invest.c.lender_id == lender_id)
            .values(
                status="active",
                authorisation_text_sha256=digest,
                revoked_at=None,
                updated_at=now,
                **({"queue_at": now, "enrolled_at": now} if rejoin else {}),
                **params,
            )
        )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.auto_invest_authorised",
        object_type="customer",
        object_id=lender_id,
        detail=params,
        clock=clock,
    )
    return get_authorisation(conn, lender_id=lender_id)


def revoke(conn: Connection, *, lender_id: int, actor: Actor, clock: Clock) -> Authorisation:
    """Withdraw the authorisation: from now on the platform bids nothing for the lender."""
    found = get_authorisation(conn, lender_id=lender_id)
    if found.status != "active":
        raise Conflict("auto_invest_not_active", "the authorisation is already revoked")
    now = now_us(clock)
    conn.execute(
        update(auto_invest)
        .where(auto_invest.c.lender_id == lender_id)
        .values(status="revoked", revoked_at=now, updated_at=now)
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.auto_invest_revoked",
        object_type="customer",
        object_id=lender_id,
        clock=clock,
    )
    return get_authorisation(conn, lender_id=lender_id)


def _fits(a: Authorisation, listing: Listing) -> bool:
    return (
        listing.annual_rate >= a.min_rate
        and a.min_term <= listing.term_count <= a.max_term
        and rules.GRADES.index(listing.risk_grade) <= rules.GRADES.index(a.max_grade)
        and a.lender_id != listing.borrower_id
    )


def _bid_size(want: int, room: int, listing: Listing) -> int:
    """The largest valid bid not above ``want`` and ``room``: the whole remainder, or the
    minimum plus whole steps; 0 when none fits."""
    cap = min(want, room)
    if cap >= listing.remaining_fen:
        return listing.remaining_fen
    if cap < listing.min_bid_fen:
        return 0
    return listing.min_bid_fen + (cap - listing.min_bid_fen) // listing.step_fen * listing.step_fen


@dataclass(frozen=True)
class AutoResult:
    listing_id: int
    bids: tuple[tuple[int, int], ...]  # (lender, amount) in queue order


def run_listing(
    conn: Connection,
    *,
    listing_id: int,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> AutoResult:
    """Place the queue's bids on one open listing, once (the listing remembers it ran)."""
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    if listing.status != "open":
        raise Conflict("listing_not_open", f"listing {listing_id} is {listing.status}")
    row = conn.execute(
        select(listings.c.auto_invest_done).where(listings.c.id == listing_id)
    ).scalar_one()
    if row:
        return AutoResult(listing_id, ())
    cap = int(Decimal(listing.amount_fen) * config.auto_invest_share)
    already = conn.execute(
        select(func.coalesce(func.sum(bid_table.c.amount_fen), 0)).where(
            bid_table.c.listing_id == listing_id,
            bid_table.c.auto.is_(True),
            bid_table.c.status.in_(("frozen", "posted")),
        )
    ).scalar_one()
    room = cap - int(already)
    queue = [
        _auth(r)
        for r in conn.execute(
            locked(
                conn,
                select(auto_invest)
                .where(auto_invest.c.status == "active")
                .order_by(auto_invest.c.queue_at, auto_invest.c.lender_id),
            )
        )
    ]
    placed: list[tuple[int, int]] = []
    tail = max((a.queue_at for a in queue), default=now_us(clock))
    for a in queue:
        if room <= 0 or listing.status != "open":
            break
        if not _fits(a, listing):
            continue
        available = get_account(conn, accounts.user_account(conn, a.lender_id, Role.LENDER))
        size = _bid_size(
            min(a.amount_per_listing_fen, available.available - a.keep_balance_fen), room, listing
        )
        if size <= 0:
            continue
        savepoint = conn.begin_nested()
        try:
            made = bids.place_bid(
                conn,
                listing_id=listing_id,
                lender_id=a.lender_id,
                amount_fen=size,
                disclosure_version=listing.disclosure_version,
                actor=actor,
                clock=clock,
                auto=True,
                config=config,
            )
        except PuhuiError:
            savepoint.rollback()  # the rules refused this lender: they keep their place
            continue
        savepoint.commit()
        placed.append((a.lender_id, size))
        room -= size
        tail += 1
        conn.execute(
            update(auto_invest).where(auto_invest.c.lender_id == a.lender_id).values(queue_at=tail)
        )
        listing = get_listing(conn, listing_id=listing_id)
        if made.listing_status == "funded":
            break
    conn.execute(update(listings).where(listings.c.id == listing_id).values(auto_invest_done=True))
    return AutoResult(listing_id, tuple(placed))


def run_open_listings(
    conn: Connection, *, actor: Actor, clock: Clock, config: MarketConfig = DEFAULT_CONFIG
) -> list[AutoResult]:
    """Auto-invest every open listing it has not yet run on, oldest first."""
    ids = (
        conn.execute(
            select(listings.c.id)
            .where(listings.c.status == "open", listings.c.auto_invest_done.is_(False))
            .order_by(listings.c.id)
        )
        .scalars()
        .all()
    )
    return [run_listing(conn, listing_id=i, actor=actor, clock=clock, config=config) for i in ids]
