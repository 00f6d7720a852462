"""Claim transfer (债权转让): a note holder sells all or part of one note to another lender.

Only one identified claim per offer, never a pool (十三不得 item 8). A note may be offered
after the minimum holding period, not within the blackout days before its loan's next
repayment date, and never while the loan is overdue. The price lies in a band below the claim's
value (outstanding principal offered plus the interest accrued on it since the last due date);
the seller pays a fee on sale. The buyer's money moves through the ledger (buyer's lender
sub-account → seller's, the fee to the platform), the buyer gets a new note for the principal
bought (``parent_note_id`` names the seller's) and every later distribution follows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from puhui.compliance import aml
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.custody import outbox
from puhui.custody.service import Role
from puhui.identity import audit, risk
from puhui.identity.audit import Actor
from puhui.ledger.codes import Result, TransferCode
from puhui.ledger.service import Transfer, create_transfers
from puhui.lending import calendar, engine
from puhui.lending.models import installments, loans
from puhui.marketplace import accounts, rules
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import locked, now_us
from puhui.marketplace.bids import invested_fen
from puhui.marketplace.models import claim_offers, listings, notes
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig

DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class ClaimOffer:
    id: int
    note_id: int
    seller_id: int
    principal_fen: int
    price_fen: int
    fee_fen: int
    status: str
    buyer_id: int | None
    new_note_id: int | None
    created_at: int
    expires_at: int


def _offer(row: Any) -> ClaimOffer:
    return ClaimOffer(
        row.id,
        row.note_id,
        row.seller_id,
        row.principal_fen,
        row.price_fen,
        row.fee_fen,
        row.status,
        row.buyer_id,
        row.new_note_id,
        row.created_at,
        row.expires_at,
    )


def get_offer(conn: Connection, *, offer_id: int, lock: bool = False) -> ClaimOffer:
    q = select(claim_offers).where(claim_offers.c.id == offer_id)
    row = conn.execute(locked(conn, q) if lock else q).first()
    if row is None:
        raise NotFound("claim_offer_not_found", f"no claim offer {offer_id}", field="offer_id")
    return _offer(row)


def list_offers(
    conn: Connection, *, limit: int = 20, starting_after: int | None = None
) -> tuple[list[ClaimOffer], bool]:
    q = (
        select(claim_offers)
        .where(claim_offers.c.status == "open")
        .order_by(claim_offers.c.id.desc())
        .limit(limit + 1)
    )
    if starting_after is not None:
        q = q.where(claim_offers.c.id < starting_after)
    rows = [_offer(r) for r in conn.execute(q)]
    return rows[:limit], len(rows) > limit


def claim_value(conn: Connection, *, loan: Any, principal_fen: int, clock: Clock) -> int:
    """Principal offered plus the interest accrued on it since the last due date."""
    today = calendar.current(conn, clock=clock)
    current = conn.execute(
        select(installments).where(
            installments.c.loan_id == loan.id,
            installments.c.seq > 0,
            installments.c.period_start < today,
            installments.c.due_date >= today,
        )
    ).first()
    if current is None or loan.principal_outstanding_fen <= 0:
        return principal_fen
    accrued = engine.accrued(current.interest_fen, current.period_start, current.due_date, today)
    accrued = max(accrued - current.paid_interest_fen, 0)
    return principal_fen + accrued * principal_fen // loan.principal_outstanding_fen


def _sellable(conn: Connection, note: Any, clock: Clock, config: MarketConfig) -> Any:
    """The note's loan, once every rule that lets the note be sold holds."""
    if note.status != "active" or note.outstanding_principal_fen <= 0:
        raise Conflict("note_not_active", f"note {note.id} is {note.status}", field="note_id")
    loan = conn.execute(select(loans).where(loans.c.id == note.loan_id)).one()
    if loan.state not in ("disbursed", "active") or loan.dpd > 0:
        raise Conflict(
            "note_overdue",
            f"loan {loan.id} is overdue or closed: its notes cannot be sold",
            field="note_id",
        )
    today = calendar.current(conn, clock=clock)
    past_due = conn.execute(
        select(installments.c.seq).where(
            installments.c.loan_id == loan.id,
            installments.c.seq > 0,
            installments.c.due_date < today,
            installments.c.paid_date.is_(None),
        )
    ).first()
    if past_due is not None:
        raise Conflict(
            "note_overdue",
            f"loan {loan.id} has an unpaid installment past due: its notes cannot be sold",
            field="note_id",
        )
    held_days = (now_us(clock) - note.acquired_at) // DAY_US
    if held_days < config.claim_min_holding_days:
        raise Conflict(
            "holding_period",
            f"a note may be sold after {config.claim_min_holding_days} days held "
            f"({held_days} so far)",
            field="note_id",
        )
    next_due = conn.execute(
        select(installments.c.due_date)
        .where(
            installments.c.loan_id == loan.id,
            installments.c.seq > 0,
            installments.c.due_date >= today,
        )
        .order_by(installments.c.due_date)
        .limit(1)
    ).scalar()
    if rules.in_blackout(today, next_due, config):
        raise Conflict(
            "repayment_blackout",
            f"no claim transfer within {config.claim_blackout_days} days of the repayment "
            f"date {next_due}",
            field="note_id",
        )
    return loan


def offer_claim(
    conn: Connection,
    *,
    note_id: int,
    seller_id: int,
    principal_fen: int,
    price_fen: int,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> ClaimOffer:
    """Offer ``principal_fen`` of one note at ``price_fen`` (within the band); not by a
    seller blocked by an AML watch-list match."""
    aml.require_not_blocked(conn, seller_id)
    note = conn.execute(
        locked(conn, select(notes).where(notes.c.id == note_id, notes.c.lender_id == seller_id))
    ).first()
    if note is None:
        raise NotFound("note_not_found", f"no note {note_id}", field="note_id")
    loan = _sellable(conn, note, clock, config)
    if not 0 < principal_fen <= note.outstanding_principal_fen:
        raise ValidationError(
            "principal_invalid",
            f"offer between 1 and {note.outstanding_principal_fen} fen of principal",
            field="principal_fen",
        )
    if conn.execute(
        select(claim_offers.c.id).where(
            claim_offers.c.note_id == note_id, claim_offers.c.status == "open"
        )
    ).first():
        raise Conflict("offer_exists", f"note {note_id} is already on offer", field="note_id")
    low, high = rules.claim_price_band(
        claim_value(conn, loan=loan, principal_fen=principal_fen, clock=clock), config
    )
    if not low <= price_fen <= high:
        raise ValidationError(
            "price_out_of_band",
            f"the price must lie between {low} and {high} fen",
            field="price_fen",
        )
    now = now_us(clock)
    offer_id = conn.execute(
        insert(claim_offers).values(
            note_id=note_id,
            seller_id=seller_id,
            principal_fen=principal_fen,
            price_fen=price_fen,
            fee_fen=rules.fee_of(price_fen, config.claim_fee_rate),
            status="open",
            created_at=now,
            expires_at=now + config.claim_valid_days * DAY_US,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="marketplace.claim_offered",
        object_type="note",
        object_id=note_id,
        detail={"offer_id": offer_id, "principal_fen": principal_fen, "price_fen": price_fen},
        clock=clock,
    )
    return get_offer(conn, offer_id=offer_id)


def buy_claim(
    conn: Connection,
    *,
    offer_id: int,
    buyer_id: int,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> ClaimOffer:
    """Buy an open offer: pay through the ledger, take over the principal as a new note;
    not by a buyer blocked by an AML watch-list match."""
    aml.require_not_blocked(conn, buyer_id)
    offer = get_offer(conn, offer_id=offer_id, lock=True)
    now = now_us(clock)
    if offer.status != "open" or now >= offer.expires_at:
        raise Conflict("offer_not_open", f"claim offer {offer_id} is not open", field="offer_id")
    if buyer_id == offer.seller_id:
        raise Conflict("own_offer", "a lender may not buy their own claim", field="offer_id")
    note = conn.execute(locked(conn, select(notes).where(notes.c.id == offer.note_id))).one()
    loan = _sellable(conn, note, clock, config)
    if buyer_id == loan.customer_id:
        raise Conflict("own_loan", "a borrower may not buy a claim on their own loan")
    if offer.principal_fen > note.outstanding_principal_fen:
        raise Conflict("offer_stale", "the note was repaid below the principal offered")
    grade = conn.execute(
        select(listings.c.risk_grade).where(listings.c.id == note.listing_id)
    ).scalar_one()
    risk.check_investment(
        conn,
        customer_id=buyer_id,
        amount_fen=offer.price_fen,
        project_grade=grade,
        invested_total_fen=invested_fen(conn, buyer_id),
        clock=clock,
    )
    buyer = accounts.user_account(conn, buyer_id, Role.LENDER)
    seller = accounts.user_account(conn, offer.seller_id, Role.LENDER)
    accounts.require_grant(conn, buyer_id, Role.LENDER)
    reserve = rules.fee_of(offer.fee_fen, config.reserve_share)
    tid = f"mkt-claim-{uuid.uuid4().hex[:20]}"
    legs = [
        (tid, seller, offer.price_fen - offer.fee_fen, TransferCode.CLAIM_TRANSFER),
        (
            f"{tid}-fee",
            accounts.platform_account(conn, Role.PLATFORM_FEE),
            offer.fee_fen - reserve,
            TransferCode.FEE,
        ),
        (
            f"{tid}-reserve",
            accounts.platform_account(conn, Role.RISK_RESERVE),
            reserve,
            TransferCode.RISK_RESERVE,
        ),
    ]
    results = create_transfers(
        conn,
        [
            Transfer(i, buyer, to, amount, code, reference=f"claim:{offer_id}")
            for i, to, amount, code in legs
            if amount > 0
        ],
        clock=clock,
    )
    for r in results:
        if r.result is Result.EXCEEDS_CREDITS:
            raise Conflict(
                "insufficient_funds", "the buyer's custody balance does not cover the price"
            )
        if not r.ok:
            raise Conflict(f"ledger_{r.result.value}", r.message)
    outbox.queue_booked(conn, [r.id for r in results], clock=clock)
    left = note.outstanding_principal_fen - offer.principal_fen
    conn.execute(
        update(notes)
        .where(notes.c.id == note.id)
        .values(outstanding_principal_fen=left, status="transferred" if left == 0 else note.status)
    )
    new_note = conn.execute(
        insert(notes).values(
            listing_id=note.listing_id,
            loan_id=note.loan_id,
            lender_id=buyer_id,
            principal_fen=offer.principal_fen,
            outstanding_principal_fen=offer.principal_fen,
            status="active",
            acquired_at=now,
            source="claim_transfer",
            parent_note_id=note.id,
        )
    ).inserted_primary_key[0]
    conn.execute(
        update(claim_offers)
        .where(claim_offers.c.id == offer_id)
        .values(
            status="sold", buyer_id=buyer_id, new_note_id=new_note, transfer_id=tid, sold_at=now
        )
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.claim_sold",
        object_type="note",
        object_id=note.id,
        detail={"offer_id": offer_id, "buyer_id": buyer_id, "new_note_id": new_note},
        clock=clock,
    )
    mkt_events.for_loan(
        conn,
        "claim.transferred",
        note.loan_id,
        clock,
        offer_id=offer_id,
        note_id=note.id,
        new_note_id=int(new_note),
        seller_id=offer.seller_id,
        buyer_id=buyer_id,
        principal_fen=offer.principal_fen,
        price_fen=offer.price_fen,
    )
    return get_offer(conn, offer_id=offer_id)


def cancel_offer(
    conn: Connection, *, offer_id: int, seller_id: int, actor: Actor, clock: Clock
) -> ClaimOffer:
    offer = get_offer(conn, offer_id=offer_id, lock=True)
    if offer.seller_id != seller_id:
        raise NotFound("claim_offer_not_found", f"no claim offer {offer_id}", field="offer_id")
    if offer.status != "open":
        raise Conflict("offer_not_open", f"claim offer {offer_id} is {offer.status}")
    conn.execute(
        update(claim_offers).where(claim_offers.c.id == offer_id).values(status="cancelled")
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.claim_cancelled",
        object_type="note",
        object_id=offer.note_id,
        detail={"offer_id": offer_id},
        clock=clock,
    )
    return get_offer(conn, offer_id=offer_id)


def expire_offers(conn: Connection, *, clock: Clock) -> int:
    """Unsold offers past their time expire (one statement); how many."""
    return int(
        conn.execute(
            update(claim_offers)
            .where(claim_offers.c.status == "open", claim_offers.c.expires_at <= now_us(clock))
            .values(status="expired")
        ).rowcount
    )
