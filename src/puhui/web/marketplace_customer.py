"""Marketplace pages for lenders (出借人, H5 usable at 375 px): open listings with filters, a
listing's full project disclosure (DIS-PRJ-01, borrower data masked as the domain keeps it)
with the risk notice to confirm, the bid form, my investments (notes, expected and received
returns, XIRR), the repayment calendar (回款日历), the auto-invest authorisation and claim
transfers (债权转让).

The work is ``puhui.marketplace``, the calls the lender API makes. Every money-moving form (bid,
claim offer, purchase, cancellation) carries a key drawn with the page and runs under the API's
own idempotency store, scoped to the form's action and the customer: a double submit or a
refresh does the work once and shows the first answer, as an ``Idempotency-Key`` does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.api.idempotency import Idempotency
from puhui.api.money import user_ref
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.credit.application import PURPOSE_WORDS
from puhui.custody import service as custody
from puhui.identity import risk
from puhui.marketplace import auto_invest, bids, claims, listings, rules, views
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, Outcome, attempt, call, missing
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import ERROR_TEXT, page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m", include_in_schema=False)
for _item in (
    NavItem("market", N_("Invest"), "/m/market", 42),
    NavItem("market-portfolio", N_("My investments"), "/m/market/portfolio", 43),
):
    nav.register("customer", _item)

ERROR_TEXT.update(
    {
        "listing_not_open": N_("This listing is no longer open for bids."),
        "listing_not_found": N_("No such listing."),
        "own_listing": N_("You cannot lend to your own listing."),
        "disclosure_stale": N_("The disclosure has changed; read it again before investing."),
        "amount_invalid": N_("Enter an amount above zero."),
        "listing_full": N_("The listing is fully subscribed."),
        "amount_over_remaining": N_("The amount is more than what remains on this listing."),
        "amount_below_minimum": N_("The amount is below the minimum."),
        "amount_off_step": N_("Invest the minimum plus whole steps."),
        "risk_assessment_required": N_("Complete the risk assessment (valid 12 months) first."),
        "risk_notice_required": N_("Confirm the risk notice first."),
        "project_grade_not_allowed": N_("Your risk level does not allow this listing's grade."),
        "amount_over_single_limit": N_("Your risk level does not allow this much in one bid."),
        "amount_over_total_limit": N_("Your risk level does not allow this much in total."),
        "insufficient_funds": N_("The account's available balance is not enough."),
        "lender_account_required": N_("Open a lender account and deposit first."),
        "notice_not_confirmed": N_("Read the disclosure and confirm the risk notice first."),
        "rate_percent_invalid": N_("Enter a rate in percent, such as 8.5."),
        "term_range_invalid": N_("The shortest term must not exceed the longest."),
        "auto_invest_amount_invalid": N_("The amount per listing is not allowed."),
        "auto_invest_not_active": N_("Auto-invest is not switched on."),
        "note_not_found": N_("No such note."),
        "note_not_active": N_("This note can no longer be sold."),
        "note_overdue": N_("Refused: notes of an overdue loan cannot be sold."),
        "holding_period": N_("Refused: a note can be sold only after the minimum holding period."),
        "repayment_blackout": N_("Refused: no transfer within 3 days of a repayment date."),
        "price_out_of_band": N_("The price is outside the allowed band."),
        "principal_invalid": N_("The principal offered is more than the note holds."),
        "offer_exists": N_("This note is already on offer."),
        "offer_not_open": N_("The offer is no longer open."),
        "offer_stale": N_("The offer has changed; reload the page."),
        "own_offer": N_("You cannot buy your own offer."),
        "own_loan": N_("You cannot buy a claim on your own loan."),
        "claim_offer_not_found": N_("No such offer."),
        "bid_not_found": N_("No such bid."),
        "bid_not_cancellable": N_("This bid can no longer be cancelled."),
        "idempotency_key_reused": N_("The form has expired"),
        "form_expired": N_("The form has expired"),
        "idempotency_request_in_progress": N_("Still working on it; reload the page."),
    }
)

#: DIS-PRJ-01's fields, in order, with the words a lender reads.
DISCLOSURE_LABELS = {
    "borrower_kind": N_("Borrower"),
    "industry": N_("Industry"),
    "income_and_debt": N_("Income and debt"),
    "credit_overdue_6m": N_("Overdue in the last 6 months"),
    "other_platform_loans": N_("Loans on other platforms"),
    "repayment_source": N_("Source of repayment"),
    "repayment_safeguards": N_("Repayment safeguards"),
    "risk_assessment": N_("Risk assessment"),
    "related_party": N_("Related party of the platform"),
}
#: Words of the marketplace's states shown as ``_(value|capitalize)``.
STATE_WORDS = (N_("Funded"), N_("Frozen"), N_("Sold"), N_("Revoked"), N_("Bid"), N_("Claim"))
TERMS = (3, 6, 12, 24, 36)
#: Repayment methods and term units in both languages, as the domain spells them.
WORDS: dict[str, tuple[str, str]] = {
    "equal_installment": ("等额本息", "equal installments"),
    "equal_principal": ("等额本金", "equal principal"),
    "interest_only": ("先息后本", "interest first, principal at the end"),
    "bullet": ("一次性还本付息", "principal and interest at the end"),
    "month": ("个月", "months"),
    "day": ("天", "days"),
    **{p.value: words for p, words in PURPOSE_WORDS.items()},
}
_BID_FIELDS = {"amount_fen": "amount", "disclosure_version": "agree", "project_grade": "amount"}
_CLAIM_FIELDS = {"principal_fen": "principal", "price_fen": "price", "note_id": "principal"}
_AUTO_FIELDS = {
    "amount_per_listing_fen": "amount_per_listing",
    "min_rate": "min_rate",
    "min_term": "min_term",
    "max_term": "max_term",
    "max_grade": "max_grade",
    "keep_balance_fen": "keep_balance",
}


def _lender_balance(c: Connection, customer_id: int) -> custody.SubAccountBalance | None:
    found = custody.balances(c, user_ref=user_ref(customer_id), roles=(custody.Role.LENDER,))
    return found[0] if found else None


def _percent(text: str, field: str) -> Decimal:
    """A rate typed in percent (``8.5``) as the fraction the domain keeps (``0.085``)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
        raise ValidationError("rate_percent_invalid", "enter a rate in percent", field=field)
    return value / 100


def once(
    engine: Engine,
    clock: Clock,
    v: Visitor,
    action: str,
    values: dict[str, Any],
    work: Callable[[Connection], dict[str, Any]],
) -> Outcome[dict[str, Any]]:
    """Run ``work`` at most once per drawn form (its ``form_key``), through the API's
    idempotency store: a second post of the same form gets the first answer back."""
    key = v.form.get("form_key")
    if not key or len(key) > 64 or not key.isascii():
        return Outcome(error=ValidationError("form_expired", "reload the form", field="_"))
    fingerprint = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()
    done = call(
        lambda: Idempotency(
            engine=engine,
            clock=clock,
            scope=f"web {action} customer:{v.customer_id}",
            key=key,
            request_hash=fingerprint,
        ).run(work)
    )
    if done.error is not None or done.value is None:
        return Outcome(error=done.error)
    body = json.loads(bytes(done.value.body))
    if done.value.status_code < 300:
        return Outcome(body)
    e = body["error"]
    error = PuhuiError(e["code"], e["message"], field=e.get("field"))
    error.status = done.value.status_code  # the refusal's own status, as first answered
    return Outcome(error=error)


# ---------------------------------------------------------------------------- listings


@router.get("/market")
def market(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    """Open listings, newest first; ``grade``, ``max_term`` and ``min_rate`` (percent) filter."""
    q = request.query_params
    form = {k: q.get(k, "") for k in ("grade", "max_term", "min_rate")}
    grade = form["grade"] if form["grade"] in rules.GRADES else None
    max_term = int(form["max_term"]) if form["max_term"] in map(str, TERMS) else None
    min_rate = call(lambda: _percent(form["min_rate"], "min_rate")) if form["min_rate"] else None
    error = min_rate.error if min_rate else None
    with engine.connect() as c:
        found, more = listings.list_listings(
            c, status="open", risk_grade=grade, max_term=max_term, limit=100
        )
    if min_rate is not None and min_rate.value is not None:
        found = [x for x in found if x.annual_rate >= min_rate.value]
    return page(
        request,
        v,
        "customer/market.html",
        status=422 if error else 200,
        active="market",
        rows=found,
        more=more,
        form=form,
        grades=rules.GRADES,
        terms=TERMS,
        words=WORDS,
        error=error,
    )


def _form_status(error: PuhuiError | None) -> int:
    """A refused form answers with its error's status; a missing note or offer named by the
    form is bad input to the form, not a missing page."""
    if error is None:
        return 200
    return 422 if isinstance(error, NotFound) or error.status == 404 else error.status


def _listing_page(
    request: Request, v: Visitor, engine: Engine, listing_id: int, **extra: Any
) -> Response:
    with engine.connect() as c:
        found = listings.get_listing(c, listing_id=listing_id)
        if found.status == "draft":
            raise NotFound("listing_not_found", f"no listing {listing_id}", field="listing_id")
        balance = _lender_balance(c, v.customer_id)
    return page(
        request,
        v,
        "customer/market_listing.html",
        status=_form_status(extra.get("error")),
        active="market",
        listing=found,
        disclosure=[
            (DISCLOSURE_LABELS.get(k, k), found.disclosure[k])
            for k in (*rules.DISCLOSURE_FIELDS, "related_party")
            if k in found.disclosure
        ],
        notice=risk.RISK_NOTICE,
        words=WORDS,
        balance=balance,
        progress=found.funded_fen * 100 // found.amount_fen if found.amount_fen else 0,
        form_key=uuid.uuid4().hex,
        bid=request.query_params.get("bid"),
        **extra,
    )


@router.get("/market/{listing_id:int}")
def listing(listing_id: int, request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    return _listing_page(request, v, engine, listing_id)


@router.post("/market/{listing_id:int}/bid")
def bid(
    listing_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """出借: freeze the amount; the bid that fills the listing funds it. Once per form."""
    values = v.form.values("amount", "disclosure_version")
    error = missing(values, "amount")
    amount = call(lambda: parse_yuan(values["amount"], field="amount", allow_zero=False))
    error = error or amount.error
    if error is None and v.form.get("agree") != "1":
        error = ValidationError("notice_not_confirmed", "confirm the risk notice", field="agree")
    if error is None and not values["disclosure_version"].isdigit():
        error = ValidationError("disclosure_stale", "read the disclosure again", field="agree")
    if error is None:
        actor, amount_fen = v.actor, amount.value or 0

        def work(c: Connection) -> dict[str, Any]:
            b = bids.place_bid(
                c,
                listing_id=listing_id,
                lender_id=v.customer_id,
                amount_fen=amount_fen,
                disclosure_version=int(values["disclosure_version"]),
                actor=actor,
                clock=clock,
            )
            return {"id": b.id, "listing_status": b.listing_status}

        done = once(engine, clock, v, f"bid {listing_id}", values, work)
        if done.ok and done.value is not None:
            return html_redirect(f"/m/market/{listing_id}?bid={done.value['id']}", request)
        error = on_field(done.error, _BID_FIELDS, default="amount")
    return _listing_page(request, v, engine, listing_id, form=values, error=error)


# ------------------------------------------------------------------ my investments


def _portfolio_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, **extra: Any
) -> Response:
    with engine.connect() as c:
        mine = views.portfolio(c, lender_id=v.customer_id)
        days = views.repayment_calendar(c, lender_id=v.customer_id)
        rate = views.xirr(c, lender_id=v.customer_id, clock=clock)
        balance = _lender_balance(c, v.customer_id)
        frozen = views.frozen_bids(c, lender_id=v.customer_id)
        reserve = views.reserve(c)
    return page(
        request,
        v,
        "customer/market_portfolio.html",
        status=_form_status(extra.get("error")),
        active="market-portfolio",
        p=mine,
        xirr=Decimal(rate) if rate is not None else None,
        expected_principal=sum(d.principal_fen for d in days),
        expected_interest=sum(d.interest_fen for d in days),
        balance=balance,
        frozen_bids=frozen,
        bid_fields=tuple(f"bid-{b.id}" for b in frozen),
        reserve=reserve,
        form_key=uuid.uuid4().hex,
        cancelled=request.query_params.get("cancelled"),
        **extra,
    )


@router.get("/market/portfolio")
def portfolio(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """My frozen bids and notes, what is outstanding, what has come back and what is
    expected, with the XIRR of the actual cash flows, and the risk reserve's coverage."""
    return _portfolio_page(request, v, engine, clock)


@router.post("/market/bids/{bid_id:int}/cancel")
def cancel_bid(
    bid_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Withdraw a frozen bid while its listing is open: the money is available at once.
    Once per form."""
    actor = v.actor

    def work(c: Connection) -> dict[str, Any]:
        b = bids.cancel_bid(c, bid_id=bid_id, lender_id=v.customer_id, actor=actor, clock=clock)
        return {"id": b.id, "status": b.status}

    done = once(engine, clock, v, f"bid cancel {bid_id}", {"bid": bid_id}, work)
    if done.ok:
        return html_redirect(f"/m/market/portfolio?cancelled={bid_id}", request)
    error = on_field(done.error, {}, default=f"bid-{bid_id}")
    return _portfolio_page(request, v, engine, clock, error=error)


@router.get("/market/calendar")
def repayment_calendar(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    """回款日历: what the notes are expected to bring back, by due date."""
    with engine.connect() as c:
        days = views.repayment_calendar(c, lender_id=v.customer_id)
    return page(request, v, "customer/market_calendar.html", active="market-portfolio", days=days)


# ------------------------------------------------------------------------ auto-invest


def _auto_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    with engine.connect() as c:
        found = call(lambda: auto_invest.get_authorisation(c, lender_id=v.customer_id)).value
    form = extra.pop("form", None) or (
        {
            "amount_per_listing": f"{found.amount_per_listing_fen / 100:.2f}",
            "min_rate": f"{found.min_rate * 100:.2f}",
            "min_term": str(found.min_term),
            "max_term": str(found.max_term),
            "max_grade": found.max_grade,
            "keep_balance": f"{found.keep_balance_fen / 100:.2f}",
        }
        if found
        else {"min_term": "3", "max_term": "12", "max_grade": "R2", "keep_balance": "0"}
    )
    error = extra.get("error")
    return page(
        request,
        v,
        "customer/market_auto.html",
        status=error.status if error else 200,
        active="market-portfolio",
        auth=found,
        form=form,
        grades=rules.GRADES,
        text=auto_invest.AUTHORISATION_TEXT,
        **extra,
    )


@router.get("/market/auto-invest")
def auto_settings(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    return _auto_page(request, v, engine)


def _term(text: str, field: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 360):
        raise ValidationError("term_range_invalid", "a term of 1 to 360 months", field=field)
    return int(text)


@router.post("/market/auto-invest")
def authorise(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """自动投标: grant or change the explicit, revocable authorisation (P2P-LND-05). Posting the
    same settings again leaves them as they are."""
    names = ("amount_per_listing", "min_rate", "min_term", "max_term", "max_grade", "keep_balance")
    values = v.form.values(*names)
    error = missing(values, "amount_per_listing", "min_rate", "min_term", "max_term")
    parsed: dict[str, Any] = {}
    if error is None:
        steps: tuple[tuple[str, Callable[[], Any]], ...] = (
            (
                "amount_per_listing_fen",
                lambda: parse_yuan(
                    values["amount_per_listing"], field="amount_per_listing", allow_zero=False
                ),
            ),
            ("min_rate", lambda: _percent(values["min_rate"], "min_rate")),
            ("min_term", lambda: _term(values["min_term"], "min_term")),
            ("max_term", lambda: _term(values["max_term"], "max_term")),
            ("max_grade", lambda: rules.check_grade(values["max_grade"])),
            (
                "keep_balance_fen",
                lambda: parse_yuan(values["keep_balance"] or "0", field="keep_balance"),
            ),
        )
        for name, step in steps:
            got = call(step)
            if got.error is not None:
                error = on_field(got.error, {"risk_grade": "max_grade"}, default=name)
                break
            parsed[name] = got.value
    if error is None and v.form.get("confirm") != "1":
        error = ValidationError("consent_required", "confirm the authorisation", field="confirm")
    if error is None:
        actor = v.actor
        done = attempt(
            engine,
            lambda c: auto_invest.authorise(
                c, lender_id=v.customer_id, actor=actor, clock=clock, **parsed
            ),
        )
        if done.ok:
            return html_redirect("/m/market/auto-invest", request)
        error = on_field(done.error, _AUTO_FIELDS, default="amount_per_listing")
    return _auto_page(request, v, engine, form=values, error=error)


@router.post("/market/auto-invest/revoke")
def revoke(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Withdraw the authorisation: nothing more is bid for the lender."""
    actor = v.actor
    done = attempt(
        engine, lambda c: auto_invest.revoke(c, lender_id=v.customer_id, actor=actor, clock=clock)
    )
    if done.ok:
        return html_redirect("/m/market/auto-invest", request)
    return _auto_page(request, v, engine, error=on_field(done.error, {}, default="revoke"))


# ---------------------------------------------------------------------- claim transfer


def _claims_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    with engine.connect() as c:
        offers, _ = claims.list_offers(c, limit=100)
        mine = views.portfolio(c, lender_id=v.customer_id)
    error = extra.get("error")
    return page(
        request,
        v,
        "customer/market_claims.html",
        status=_form_status(error),
        active="market-portfolio",
        offers=offers,
        offer_fields=("principal", "price", *(f"offer-{o.id}" for o in offers)),
        notes=[n for n in mine.notes if n.status == "active"],
        form_key=uuid.uuid4().hex,
        done=request.query_params.get("done"),
        **extra,
    )


@router.get("/market/claims")
def claim_offers(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    return _claims_page(request, v, engine)


@router.post("/market/claims")
def offer(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Offer all or part of one note at a price within the band; once per form."""
    values = v.form.values("note", "principal", "price")
    error = missing(values, "principal", "price")
    principal = call(lambda: parse_yuan(values["principal"], field="principal", allow_zero=False))
    price = call(lambda: parse_yuan(values["price"], field="price", allow_zero=False))
    error = error or principal.error or price.error
    if error is None and not values["note"].isdigit():
        error = ValidationError("note_not_found", "choose a note", field="principal")
    if error is None:
        actor = v.actor

        def work(c: Connection) -> dict[str, Any]:
            o = claims.offer_claim(
                c,
                note_id=int(values["note"]),
                seller_id=v.customer_id,
                principal_fen=principal.value or 0,
                price_fen=price.value or 0,
                actor=actor,
                clock=clock,
            )
            return {"id": o.id}

        done = once(engine, clock, v, "claim offer", values, work)
        if done.ok and done.value is not None:
            return html_redirect(f"/m/market/claims?done=offered-{done.value['id']}", request)
        error = on_field(done.error, _CLAIM_FIELDS, default="principal")
    return _claims_page(request, v, engine, form=values, error=error)


@router.post("/market/claims/{offer_id:int}/{action}")
def claim_action(
    offer_id: int,
    action: str,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
) -> Response:
    """Buy an open offer (the price moves through the ledger) or cancel one's own; once per
    form."""
    if action not in ("buy", "cancel"):
        raise NotFound("page_not_found", "no such action")
    actor = v.actor

    def work(c: Connection) -> dict[str, Any]:
        if action == "buy":
            o = claims.buy_claim(
                c, offer_id=offer_id, buyer_id=v.customer_id, actor=actor, clock=clock
            )
        else:
            o = claims.cancel_offer(
                c, offer_id=offer_id, seller_id=v.customer_id, actor=actor, clock=clock
            )
        return {"id": o.id, "status": o.status}

    done = once(engine, clock, v, f"claim {action} {offer_id}", {"offer": offer_id}, work)
    if done.ok:
        return html_redirect(f"/m/market/claims?done={action}-{offer_id}", request)
    error = on_field(done.error, {}, default=f"offer-{offer_id}")
    return _claims_page(request, v, engine, error=error)
