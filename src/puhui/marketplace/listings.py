"""Listings (融资项目): made from an approved application of a marketplace product.

A listing is a draft until staff publish it; it opens only when every DIS-PRJ-01 field is
filled, its text carries no promise of principal or interest, and its borrower is not a
related party of the platform unless flagged and disclosed (十三不得 items 1 and 3). What the
lender sees holds no raw personal value (DIS-PRJ-03): the borrower appears only by kind and
the masked facts staff enter. Every change of what is shown bumps ``disclosure_version``, and
a bid made on an older version is refused (DIS-PRJ-02).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from puhui.compliance.phrases import find_banned
from puhui.compliance.related import related_party
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.rates import parse_rate
from puhui.custody.service import Role
from puhui.identity import audit
from puhui.identity import customers as customer_service
from puhui.identity.audit import Actor
from puhui.identity.models import customers
from puhui.lending import eligibility, products
from puhui.lending.models import applications
from puhui.lending.product_terms import Mode
from puhui.marketplace import accounts, rules
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import locked, now_us
from puhui.marketplace.models import listings
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig

#: P2P-CAP-01/02: outstanding principal on this platform, person and organisation (fen).
PLATFORM_CAP_FEN = {"person": 20_000_000, "entity": 100_000_000}


@dataclass(frozen=True)
class Listing:
    id: int
    application_id: int
    loan_id: int | None
    borrower_id: int
    product_code: str
    title: str
    description: str
    purpose: str
    amount_fen: int
    annual_rate: Decimal
    term_count: int
    term_unit: str
    method: str
    risk_grade: str
    min_bid_fen: int
    step_fen: int
    funded_fen: int
    status: str
    opens_at: int | None
    closes_at: int | None
    related_party: bool
    disclosure: dict[str, Any]
    disclosure_version: int
    created_at: int

    @property
    def remaining_fen(self) -> int:
        return self.amount_fen - self.funded_fen


def _listing(row: Any) -> Listing:
    return Listing(
        id=row.id,
        application_id=row.application_id,
        loan_id=row.loan_id,
        borrower_id=row.borrower_id,
        product_code=row.product_code,
        title=row.title,
        description=row.description,
        purpose=row.purpose,
        amount_fen=row.amount_fen,
        annual_rate=parse_rate(row.annual_rate),
        term_count=row.term_count,
        term_unit=row.term_unit,
        method=row.method,
        risk_grade=row.risk_grade,
        min_bid_fen=row.min_bid_fen,
        step_fen=row.step_fen,
        funded_fen=row.funded_fen,
        status=row.status,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        related_party=bool(row.related_party),
        disclosure=json.loads(row.disclosure_json),
        disclosure_version=row.disclosure_version,
        created_at=row.created_at,
    )


def get_listing(conn: Connection, *, listing_id: int, lock: bool = False) -> Listing:
    q = select(listings).where(listings.c.id == listing_id)
    row = conn.execute(locked(conn, q) if lock else q).first()
    if row is None:
        raise NotFound("listing_not_found", f"no listing {listing_id}", field="listing_id")
    return _listing(row)


def list_listings(
    conn: Connection,
    *,
    status: str | None = None,
    risk_grade: str | None = None,
    max_term: int | None = None,
    limit: int = 20,
    starting_after: int | None = None,
) -> tuple[list[Listing], bool]:
    """Listings by id, newest first, with filters; and whether more follow."""
    q = select(listings).order_by(listings.c.id.desc()).limit(limit + 1)
    if status:
        q = q.where(listings.c.status == status)
    if risk_grade:
        q = q.where(listings.c.risk_grade == risk_grade)
    if max_term is not None:
        q = q.where(listings.c.term_count <= max_term)
    if starting_after is not None:
        q = q.where(listings.c.id < starting_after)
    rows = [_listing(r) for r in conn.execute(q)]
    return rows[:limit], len(rows) > limit


#: A mainland mobile number or a resident ID number: raw personal data lenders never see.
_RAW_PERSONAL = re.compile(r"(?<!\d)(1[3-9]\d{9}|\d{17}[\dXx])(?!\d)")


def check_masked(field: str, text: str) -> None:
    """Borrower identity data shown to lenders is masked (DIS-PRJ-03): no phone or ID number."""
    if _RAW_PERSONAL.search(text):
        raise ValidationError(
            "raw_personal_data",
            f"the {field} shows a phone or ID number; lenders see masked data only (DIS-PRJ-03)",
            field=field,
        )


def check_text(title: str, description: str) -> None:
    """No promise of principal or interest (十三不得 item 3, CUS-MKT-01), nothing unmasked."""
    for field, text in (("title", title), ("description", description)):
        check_masked(field, text)
        found = find_banned(text)
        if found:
            raise ValidationError(
                "banned_phrase",
                f"the {field} promises what the platform may not: {', '.join(found)}",
                field=field,
            )


def check_disclosure(disclosure: dict[str, Any]) -> dict[str, str]:
    """Only the DIS-PRJ-01 fields, as text; no raw personal value (DIS-PRJ-03)."""
    unknown = sorted(set(disclosure) - set(rules.DISCLOSURE_FIELDS))
    if unknown:
        raise ValidationError(
            "disclosure_field_unknown",
            f"unknown disclosure fields: {', '.join(unknown)} (raw personal data is never shown)",
            field="disclosure",
        )
    shown = {k: str(v) for k, v in disclosure.items()}
    for k, v in shown.items():
        check_masked(f"disclosure.{k}", v)
        if find_banned(v):
            raise ValidationError(
                "banned_phrase",
                f"disclosure.{k} promises what the platform may not: {', '.join(find_banned(v))}",
                field=f"disclosure.{k}",
            )
    return shown


def _cap_room(conn: Connection, borrower_id: int) -> int:
    """What the borrower may still borrow on this platform: cap − outstanding − open listings."""
    kind = conn.execute(select(customers.c.kind).where(customers.c.id == borrower_id)).scalar()
    cap = PLATFORM_CAP_FEN.get(kind or "person", PLATFORM_CAP_FEN["person"])
    owed = eligibility.outstanding_principal_fen(conn, customer_id=borrower_id)
    pending = conn.execute(
        select(func.coalesce(func.sum(listings.c.amount_fen), 0)).where(
            listings.c.borrower_id == borrower_id, listings.c.status.in_(("draft", "open"))
        )
    ).scalar_one()
    return cap - owed - int(pending)


def create_listing(
    conn: Connection,
    *,
    application_id: int,
    title: str,
    description: str,
    risk_grade: str,
    min_bid_fen: int,
    step_fen: int,
    disclosure: dict[str, Any],
    actor: Actor,
    clock: Clock,
) -> Listing:
    """A draft listing from an approved application of a marketplace product."""
    app = conn.execute(
        locked(conn, select(applications).where(applications.c.id == application_id))
    ).first()
    if app is None:
        raise NotFound("application_not_found", f"no application {application_id}")
    version = products.get_version(conn, version_id=app.product_version_id)
    if version.terms.mode is not Mode.MARKETPLACE:
        raise ValidationError(
            "not_marketplace_product",
            f"product {version.code} lends the company's own money, not the marketplace's",
            field="application_id",
        )
    if app.state != "approved":
        raise Conflict(
            "application_not_approved",
            f"application {application_id} is {app.state}; only an approved one is listed",
            field="application_id",
        )
    if conn.execute(select(listings.c.id).where(listings.c.application_id == app.id)).first():
        raise Conflict("already_listed", f"application {application_id} is already listed")
    customer_service.require_verified(conn, customer_id=app.customer_id)  # P2P-OBL-03
    rules.check_grade(risk_grade)
    check_text(title, description)
    shown = check_disclosure(disclosure)
    amount = int(app.approved_fen or app.amount_fen)
    if min_bid_fen <= 0 or step_fen <= 0 or min_bid_fen > amount:
        raise ValidationError(
            "bid_rules_invalid",
            "minimum bid and step are positive and the minimum is at most the amount",
            field="min_bid_fen",
        )
    rp = related_party(conn, app.customer_id)
    if rp is not None and not rp.disclosed:
        raise Conflict(
            "related_party_undisclosed",
            "the borrower is a related party of the platform: it may borrow only once flagged "
            "and disclosed (十三不得 item 1)",
            field="application_id",
        )
    room = _cap_room(conn, app.customer_id)
    if amount > room:
        raise Conflict(
            "borrower_cap_exceeded",
            f"the borrower may borrow only {max(room, 0)} fen more on this platform "
            "(P2P-CAP-01/02, open listings included)",
            field="amount_fen",
        )
    accounts.user_account(conn, app.customer_id, Role.BORROWER)
    if rp is not None:
        shown["related_party"] = rp.relation
    now = now_us(clock)
    listing_id = conn.execute(
        insert(listings).values(
            application_id=app.id,
            borrower_id=app.customer_id,
            product_code=version.code,
            title=title,
            description=description,
            purpose=app.purpose,
            amount_fen=amount,
            annual_rate=str(app.annual_rate or version.terms.max_annual_rate),
            term_count=app.term,
            term_unit=version.terms.term_unit.value,
            method=version.terms.method.value,
            risk_grade=risk_grade,
            min_bid_fen=min_bid_fen,
            step_fen=step_fen,
            funded_fen=0,
            status="draft",
            related_party=rp is not None,
            disclosure_json=json.dumps(shown, ensure_ascii=False, sort_keys=True),
            disclosure_version=1,
            created_by=actor.principal,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="marketplace.listing_created",
        object_type="listing",
        object_id=listing_id,
        detail={"application_id": app.id, "amount_fen": amount, "risk_grade": risk_grade},
        clock=clock,
    )
    return get_listing(conn, listing_id=listing_id)


def publish(
    conn: Connection,
    *,
    listing_id: int,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> Listing:
    """Open a draft for bids for ``config.open_days`` (DIS-PRJ-01 complete first)."""
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    if listing.status != "draft":
        raise Conflict("listing_not_draft", f"listing {listing_id} is {listing.status}")
    missing = rules.missing_disclosure(listing.disclosure)
    if missing:
        raise ValidationError(
            "disclosure_incomplete",
            f"fill in every DIS-PRJ-01 field before opening: {', '.join(missing)}",
            field="disclosure",
        )
    # the borrower's repayment authorisation: repayments are passed on to the note holders
    # on the platform's instruction, so the bank must hold it before anyone lends
    accounts.require_grant(conn, listing.borrower_id, Role.BORROWER)
    now = now_us(clock)
    closes = now + int(timedelta(days=config.open_days).total_seconds() * 1_000_000)
    conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(status="open", opens_at=now, closes_at=closes, updated_at=now)
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.listing_opened",
        object_type="listing",
        object_id=listing_id,
        clock=clock,
    )
    opened = get_listing(conn, listing_id=listing_id)
    mkt_events.listing(
        conn,
        "listing.published",
        listing_id,
        clock,
        amount_fen=opened.amount_fen,
        annual_rate=str(opened.annual_rate),
        term_count=opened.term_count,
        risk_grade=opened.risk_grade,
        closes_at=opened.closes_at,
    )
    return opened


def update_disclosure(
    conn: Connection, *, listing_id: int, disclosure: dict[str, Any], actor: Actor, clock: Clock
) -> Listing:
    """Change what lenders see; the version moves on, so bids on the old one are refused."""
    listing = get_listing(conn, listing_id=listing_id, lock=True)
    if listing.status not in ("draft", "open"):
        raise Conflict("listing_closed", f"listing {listing_id} is {listing.status}")
    shown = {**listing.disclosure, **check_disclosure(disclosure)}
    conn.execute(
        update(listings)
        .where(listings.c.id == listing_id)
        .values(
            disclosure_json=json.dumps(shown, ensure_ascii=False, sort_keys=True),
            disclosure_version=listings.c.disclosure_version + 1,
            updated_at=now_us(clock),
        )
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.disclosure_changed",
        object_type="listing",
        object_id=listing_id,
        clock=clock,
    )
    return get_listing(conn, listing_id=listing_id)
