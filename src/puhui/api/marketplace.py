"""The lending marketplace over HTTP: lenders under ``/api/v1/me/marketplace``, staff under
``/admin/api/v1/marketplace``.

Thin handlers: parse, authorise, call ``puhui.marketplace`` in one transaction, answer. Lender
routes live under ``/api/v1/me`` like every customer route (the role matrix requires it): a
listing's disclosure is shown only to signed-in customers. Every bid and cancellation takes an
``Idempotency-Key``; lists page with ``limit``/``starting_after``/``has_more``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from puhui.api.idempotency import Idempotent
from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    EngineDep,
    StaffAuth,
    customer_limit,
    require,
)
from puhui.api.pagination import Page, PageParams, Pagination
from puhui.core.errors import NotFound, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.marketplace import auto_invest, bids, claims, distribution, jobs, listings, views
from puhui.marketplace.listings import Listing

router = APIRouter(tags=["marketplace"])
MoneyLimit = customer_limit("money_customer")
Reader = Annotated[StaffAuth, Depends(require("marketplace.read"))]
Manager = Annotated[StaffAuth, Depends(require("marketplace.manage"))]
Id = Annotated[int, Path(ge=1, le=2**62)]
Fen = Annotated[int, Field(gt=0, le=10**12)]
Grade = Literal["R1", "R2", "R3", "R4", "R5"]


def _after(page: PageParams) -> int | None:
    if page.starting_after is None:
        return None
    if not (page.starting_after.isdigit() and len(page.starting_after) <= 18):
        raise ValidationError(
            "invalid_cursor", "starting_after is not a listing id", field="starting_after"
        )
    return int(page.starting_after)


class ListingOut(BaseModel):
    id: int
    title: str
    description: str
    purpose: str
    amount_fen: int
    funded_fen: int
    remaining_fen: int
    annual_rate: str
    term_count: int
    term_unit: str
    method: str
    risk_grade: str
    min_bid_fen: int
    step_fen: int
    status: str
    opens_at: int | None
    closes_at: int | None
    related_party: bool
    disclosure: dict[str, Any]
    disclosure_version: int
    loan_id: int | None


def _out(x: Listing) -> ListingOut:
    return ListingOut(
        id=x.id,
        title=x.title,
        description=x.description,
        purpose=x.purpose,
        amount_fen=x.amount_fen,
        funded_fen=x.funded_fen,
        remaining_fen=x.remaining_fen,
        annual_rate=str(x.annual_rate),
        term_count=x.term_count,
        term_unit=x.term_unit,
        method=x.method,
        risk_grade=x.risk_grade,
        min_bid_fen=x.min_bid_fen,
        step_fen=x.step_fen,
        status=x.status,
        opens_at=x.opens_at,
        closes_at=x.closes_at,
        related_party=x.related_party,
        disclosure=x.disclosure,
        disclosure_version=x.disclosure_version,
        loan_id=x.loan_id,
    )


def _page(
    engine: Any, page: PageParams, status: str | None, grade: str | None, max_term: int | None
) -> Page[ListingOut]:
    with engine.connect() as c:
        rows, more = listings.list_listings(
            c,
            status=status,
            risk_grade=grade,
            max_term=max_term,
            limit=page.limit,
            starting_after=_after(page),
        )
    return Page(data=[_out(r) for r in rows], has_more=more)


# ------------------------------------------------------------------------------- lenders


@router.get("/api/v1/me/marketplace/listings", response_model=Page[ListingOut])
def lender_listings(
    who: Customer,
    engine: EngineDep,
    page: Pagination,
    risk_grade: Grade | None = None,
    max_term: Annotated[int | None, Query(ge=1, le=360)] = None,
) -> Page[ListingOut]:
    """Open listings, newest first, with their masked disclosure (DIS-PRJ-01/03)."""
    return _page(engine, page, "open", risk_grade, max_term)


@router.get("/api/v1/me/marketplace/listings/{listing_id}", response_model=ListingOut)
def lender_listing(listing_id: Id, who: Customer, engine: EngineDep) -> ListingOut:
    """A listing with its disclosure and the version a bid must quote (DIS-PRJ-02)."""
    with engine.connect() as c:
        found = listings.get_listing(c, listing_id=listing_id)
    if found.status == "draft":
        raise NotFound("listing_not_found", f"no listing {listing_id}", field="listing_id")
    return _out(found)


class BidIn(Body):
    amount_fen: Fen
    #: The disclosure version the lender read; a newer one refuses the bid.
    disclosure_version: Annotated[int, Field(ge=1)]


class BidOut(BaseModel):
    id: int
    listing_id: int
    amount_fen: int
    status: str
    disclosure_version: int
    listing_status: str


def _bid_out(b: bids.Bid) -> BidOut:
    return BidOut(
        id=b.id,
        listing_id=b.listing_id,
        amount_fen=b.amount_fen,
        status=b.status,
        disclosure_version=b.disclosure_version,
        listing_status=b.listing_status,
    )


@router.post(
    "/api/v1/me/marketplace/listings/{listing_id}/bids",
    response_model=BidOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def bid(listing_id: Id, body: BidIn, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """出借: freeze the amount in the lender's custody sub-account; the bid that fills the
    listing funds it (notes, loan, disbursement) in the same transaction."""
    return idem.run(
        lambda c: _bid_out(
            bids.place_bid(
                c,
                listing_id=listing_id,
                lender_id=who.customer_id,
                amount_fen=body.amount_fen,
                disclosure_version=body.disclosure_version,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.post(
    "/api/v1/me/marketplace/bids/{bid_id}/cancel",
    response_model=BidOut,
    dependencies=[MoneyLimit],
)
def cancel_bid(bid_id: Id, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """Withdraw a frozen bid while the listing is open: the money is available at once."""
    return idem.run(
        lambda c: _bid_out(
            bids.cancel_bid(
                c, bid_id=bid_id, lender_id=who.customer_id, actor=who.actor, clock=clock
            )
        )
    )


class NoteOut(BaseModel):
    id: int
    listing_id: int
    loan_id: int
    principal_fen: int
    outstanding_principal_fen: int
    status: str
    source: str
    received_principal_fen: int
    received_interest_fen: int
    loan_dpd: int  # days past due of the loan (逾期天数), as of the last end of day
    loan_classification: str


class PortfolioOut(BaseModel):
    outstanding_principal_fen: int
    received_principal_fen: int
    received_income_fen: int
    notes: list[NoteOut]


@router.get("/api/v1/me/marketplace/portfolio", response_model=PortfolioOut)
def portfolio(who: Customer, engine: EngineDep) -> PortfolioOut:
    """The lender's notes, what is outstanding and what has been received."""
    with engine.connect() as c:
        p = views.portfolio(c, lender_id=who.customer_id)
    return PortfolioOut(
        outstanding_principal_fen=p.outstanding_principal_fen,
        received_principal_fen=p.received_principal_fen,
        received_income_fen=p.received_income_fen,
        notes=[NoteOut(**n.__dict__) for n in p.notes],
    )


class ReserveOut(BaseModel):
    """风险备付金: a reserve, never a guarantee of principal or interest."""

    balance_fen: int
    expected_loss_fen: int
    coverage_ratio: str | None


@router.get("/api/v1/me/marketplace/reserve", response_model=ReserveOut)
def lender_reserve(who: Customer, engine: EngineDep) -> ReserveOut:
    with engine.connect() as c:
        r = views.reserve(c)
    return ReserveOut(**r.__dict__)


class CalendarDayOut(BaseModel):
    due_date: date
    principal_fen: int
    interest_fen: int
    notes: int


@router.get("/api/v1/me/marketplace/calendar", response_model=list[CalendarDayOut])
def repayment_calendar(who: Customer, engine: EngineDep) -> list[CalendarDayOut]:
    """回款日历: what the lender's notes are expected to bring, by due date."""
    with engine.connect() as c:
        days = views.repayment_calendar(c, lender_id=who.customer_id)
    return [CalendarDayOut(**d.__dict__) for d in days]


class ReturnsOut(BaseModel):
    #: The annual rate (XIRR) of the lender's actual cash flows, outstanding counted at par.
    xirr: str | None


@router.get("/api/v1/me/marketplace/returns", response_model=ReturnsOut)
def returns(who: Customer, engine: EngineDep, clock: ClockDep) -> ReturnsOut:
    with engine.connect() as c:
        return ReturnsOut(xirr=views.xirr(c, lender_id=who.customer_id, clock=clock))


class AutoInvestIn(Body):
    amount_per_listing_fen: Fen
    min_rate: Annotated[Decimal, Field(ge=0, le=1)]
    min_term: Annotated[int, Field(ge=1, le=360)]
    max_term: Annotated[int, Field(ge=1, le=360)]
    max_grade: Grade
    keep_balance_fen: Annotated[int, Field(ge=0, le=10**12)] = 0
    #: The lender confirms the authorisation text (P2P-LND-05); anything else is refused.
    confirm: Literal[True]


class AutoInvestOut(BaseModel):
    status: str
    amount_per_listing_fen: int
    min_rate: str
    min_term: int
    max_term: int
    max_grade: str
    keep_balance_fen: int
    authorisation_text: str = auto_invest.AUTHORISATION_TEXT


def _auto_out(a: auto_invest.Authorisation) -> AutoInvestOut:
    return AutoInvestOut(
        status=a.status,
        amount_per_listing_fen=a.amount_per_listing_fen,
        min_rate=str(a.min_rate),
        min_term=a.min_term,
        max_term=a.max_term,
        max_grade=a.max_grade,
        keep_balance_fen=a.keep_balance_fen,
    )


@router.get("/api/v1/me/marketplace/auto-invest", response_model=AutoInvestOut)
def get_auto_invest(who: Customer, engine: EngineDep) -> AutoInvestOut:
    with engine.connect() as c:
        return _auto_out(auto_invest.get_authorisation(c, lender_id=who.customer_id))


@router.put("/api/v1/me/marketplace/auto-invest", response_model=AutoInvestOut)
def put_auto_invest(
    body: AutoInvestIn, who: Customer, engine: EngineDep, clock: ClockDep
) -> AutoInvestOut:
    """自动投标: grant or change the explicit, revocable authorisation (P2P-LND-05)."""
    return _auto_out(
        run_in_transaction(
            engine,
            lambda c: auto_invest.authorise(
                c,
                lender_id=who.customer_id,
                amount_per_listing_fen=body.amount_per_listing_fen,
                min_rate=body.min_rate,
                min_term=body.min_term,
                max_term=body.max_term,
                max_grade=body.max_grade,
                keep_balance_fen=body.keep_balance_fen,
                actor=who.actor,
                clock=clock,
            ),
        )
    )


@router.post("/api/v1/me/marketplace/auto-invest/revoke", response_model=AutoInvestOut)
def revoke_auto_invest(who: Customer, engine: EngineDep, clock: ClockDep) -> AutoInvestOut:
    """Withdraw the authorisation: the platform bids nothing more for the lender."""
    return _auto_out(
        run_in_transaction(
            engine,
            lambda c: auto_invest.revoke(
                c, lender_id=who.customer_id, actor=who.actor, clock=clock
            ),
        )
    )


class ClaimOfferOut(BaseModel):
    id: int
    note_id: int
    principal_fen: int
    price_fen: int
    fee_fen: int
    status: str
    expires_at: int
    new_note_id: int | None


def _claim_out(o: claims.ClaimOffer) -> ClaimOfferOut:
    return ClaimOfferOut(
        id=o.id,
        note_id=o.note_id,
        principal_fen=o.principal_fen,
        price_fen=o.price_fen,
        fee_fen=o.fee_fen,
        status=o.status,
        expires_at=o.expires_at,
        new_note_id=o.new_note_id,
    )


@router.get("/api/v1/me/marketplace/claim-offers", response_model=Page[ClaimOfferOut])
def list_claim_offers(who: Customer, engine: EngineDep, page: Pagination) -> Page[ClaimOfferOut]:
    """Open claim transfer offers (债权转让), one identified note each."""
    with engine.connect() as c:
        rows, more = claims.list_offers(c, limit=page.limit, starting_after=_after(page))
    return Page(data=[_claim_out(o) for o in rows], has_more=more)


class ClaimOfferIn(Body):
    note_id: Annotated[int, Field(ge=1, le=2**62)]
    principal_fen: Fen
    price_fen: Fen


@router.post(
    "/api/v1/me/marketplace/claim-offers",
    response_model=ClaimOfferOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def offer_claim(body: ClaimOfferIn, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """Offer all or part of one of the lender's notes at a price within the band."""
    return idem.run(
        lambda c: _claim_out(
            claims.offer_claim(
                c,
                note_id=body.note_id,
                seller_id=who.customer_id,
                principal_fen=body.principal_fen,
                price_fen=body.price_fen,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.post(
    "/api/v1/me/marketplace/claim-offers/{offer_id}/purchase",
    response_model=ClaimOfferOut,
    dependencies=[MoneyLimit],
)
def buy_claim(offer_id: Id, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """Buy an open claim offer: the price moves through the ledger, the note is the buyer's."""
    return idem.run(
        lambda c: _claim_out(
            claims.buy_claim(
                c, offer_id=offer_id, buyer_id=who.customer_id, actor=who.actor, clock=clock
            )
        )
    )


@router.post(
    "/api/v1/me/marketplace/claim-offers/{offer_id}/cancel",
    response_model=ClaimOfferOut,
    dependencies=[MoneyLimit],
)
def cancel_claim(offer_id: Id, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    return idem.run(
        lambda c: _claim_out(
            claims.cancel_offer(
                c, offer_id=offer_id, seller_id=who.customer_id, actor=who.actor, clock=clock
            )
        )
    )


class RepayIn(Body):
    amount_fen: Fen


class RepaidOut(BaseModel):
    loan_id: int
    transaction_id: int
    state: str
    principal_outstanding_fen: int
    credit_balance_fen: int


@router.post(
    "/api/v1/me/marketplace/loans/{loan_id}/repayments",
    response_model=RepaidOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def repay(loan_id: Id, body: RepayIn, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """还款 of the borrower's marketplace loan from their borrower custody sub-account,
    distributed to the note holders at once."""

    def work(c: Any) -> RepaidOut:
        views.own_marketplace_loan(c, loan_id=loan_id, customer_id=who.customer_id)
        r = distribution.repay(
            c, loan_id=loan_id, amount_fen=body.amount_fen, actor=who.actor, clock=clock
        )
        return RepaidOut(
            loan_id=r.loan_id,
            transaction_id=r.txn_id,
            state=r.state,
            principal_outstanding_fen=r.principal_outstanding_fen,
            credit_balance_fen=r.credit_balance_fen,
        )

    return idem.run(work, status_code=201)


# --------------------------------------------------------------------------------- staff


@router.get("/admin/api/v1/marketplace/listings", response_model=Page[ListingOut])
def staff_listings(
    staff: Reader,
    engine: EngineDep,
    page: Pagination,
    status: Literal["draft", "open", "funded", "failed", "closed"] | None = None,
    risk_grade: Grade | None = None,
) -> Page[ListingOut]:
    """Every listing and how far its funding has come."""
    return _page(engine, page, status, risk_grade, None)


class ListingIn(Body):
    application_id: Annotated[int, Field(ge=1, le=2**62)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(min_length=1, max_length=5000)]
    risk_grade: Grade
    min_bid_fen: Fen
    step_fen: Fen
    disclosure: dict[str, Annotated[str, Field(max_length=2000)]]


@router.post("/admin/api/v1/marketplace/listings", response_model=ListingOut, status_code=201)
def create_listing(
    body: ListingIn, staff: Manager, engine: EngineDep, clock: ClockDep
) -> ListingOut:
    """A draft listing from an approved application of a marketplace product."""
    made = run_in_transaction(
        engine,
        lambda c: listings.create_listing(
            c,
            application_id=body.application_id,
            title=body.title,
            description=body.description,
            risk_grade=body.risk_grade,
            min_bid_fen=body.min_bid_fen,
            step_fen=body.step_fen,
            disclosure=body.disclosure,
            actor=staff.actor,
            clock=clock,
        ),
    )
    return _out(made)


@router.post("/admin/api/v1/marketplace/listings/{listing_id}/publish", response_model=ListingOut)
def publish(listing_id: Id, staff: Manager, engine: EngineDep, clock: ClockDep) -> ListingOut:
    """Open a draft for bids once every DIS-PRJ-01 field is filled."""
    return _out(
        run_in_transaction(
            engine,
            lambda c: listings.publish(c, listing_id=listing_id, actor=staff.actor, clock=clock),
        )
    )


class CloseIn(Body):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


@router.post("/admin/api/v1/marketplace/listings/{listing_id}/close", response_model=ListingOut)
def close(
    listing_id: Id, body: CloseIn, staff: Manager, engine: EngineDep, clock: ClockDep
) -> ListingOut:
    """Withdraw a listing before it funds; every frozen bid is released."""

    def work(c: Any) -> Listing:
        jobs.close_listing(
            c, listing_id=listing_id, reason=body.reason, actor=staff.actor, clock=clock
        )
        return listings.get_listing(c, listing_id=listing_id)

    return _out(run_in_transaction(engine, work))


class ExpiredOut(BaseModel):
    listings: int
    bids_voided: int
    fen_released: int


@router.post("/admin/api/v1/marketplace/expire", response_model=ExpiredOut)
def expire(staff: Manager, engine: EngineDep, clock: ClockDep) -> ExpiredOut:
    """流标: fail every listing whose window closed unfilled and release its bids."""
    done = run_in_transaction(
        engine, lambda c: jobs.expire_listings(c, actor=staff.actor, clock=clock)
    )
    return ExpiredOut(**done.__dict__)


@router.get("/admin/api/v1/marketplace/reserve", response_model=ReserveOut)
def staff_reserve(staff: Reader, engine: EngineDep) -> ReserveOut:
    with engine.connect() as c:
        return ReserveOut(**views.reserve(c).__dict__)
