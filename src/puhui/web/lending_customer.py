"""Borrowing pages for customers (H5, usable at 375 px): apply, the decision and its reasons, the
offer, the contract, sign or decline, cancel, my loans, a loan's repayment calendar, and repay
or prepay after a quote.

The work is ``lending.flows`` and the lending services, the same calls the borrower API makes,
with the collaborators the API keeps on ``app.state`` (lending config, scoring services, the
debit channel). Wherever a rate appears, the IRR annual rate (年化利率（按内部收益率法/复利计算）)
comes first and largest (``_lending.html``'s ``rates`` macro; RATE-APR-02/03).

A payment is quoted first and confirmed second. The confirmation form carries a key drawn with
it and the loan transaction's ``external_ref`` derives from it, so a double submit or a refresh
charges the card once and shows the first payment (as the deposit form does).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.api.lending import ChannelDep, ConfigDep, CreditDep
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.credit.application import PROHIBITED_PURPOSES, PURPOSE_WORDS, Purpose
from puhui.lending import applications, calendar, contracts, flows, products, servicing, views
from puhui.lending.debit_channel import DebitChannel
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, KeysDep, attempt, call, missing
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field, to_us
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m", include_in_schema=False)
nav.register("customer", NavItem("borrow", N_("Borrow"), "/m/borrow", 45))
nav.register("customer", NavItem("loans", N_("My loans"), "/m/loans", 50))

#: What the application form offers: every purpose the platform lends for.
PURPOSES = tuple(p for p in Purpose if p not in PROHIBITED_PURPOSES and p != Purpose.UNSPECIFIED)
#: The payment modes of the repay form: an amount now, or a prepayment of one of three kinds.
MODES = ("repay", *flows.PREPAY_MODES)
_PURPOSE_BY_VALUE = {p.value: words for p, words in PURPOSE_WORDS.items()}
#: The apply form's fields as the domain names them.
_APPLY_FIELDS = {
    "amount_fen": "amount",
    "amount": "amount",
    "product_version_id": "product",
    "code": "product",
    "product_code": "product",
    "term": "term",
    "purpose": "purpose",
}


def _purposes() -> list[tuple[str, str, str]]:
    return [(p.value, *PURPOSE_WORDS[p]) for p in PURPOSES]


# ------------------------------------------------------------------------------- apply


def _form_status(error: PuhuiError | None) -> int:
    """A refused form answers with its error's status; a choice that names nothing (an unknown
    product) is bad input to this form, not a missing page."""
    if error is None:
        return 200
    return 422 if isinstance(error, NotFound) else error.status


def _apply_page(request: Request, v: Visitor, engine: Engine, **extra: Any) -> Response:
    with engine.connect() as c:
        found = products.list_products(c, limit=100).items
        mine = applications.list_applications(c, customer_id=v.customer_id, limit=50).items
    direct = [p for p in found if p.terms.mode == "direct"] or list(found)
    terms = sorted({t for p in direct for t in p.terms.terms})
    form = extra.pop("form", None) or {
        "product": direct[0].code if direct else "",
        "term": str(terms[-1]) if terms else "",
        "purpose": PURPOSES[0].value,
    }
    return page(
        request,
        v,
        "customer/borrow.html",
        status=_form_status(extra.get("error")),
        active="borrow",
        products=direct,
        terms=terms,
        purposes=_purposes(),
        applications=list(reversed(mine)),
        form=form,
        **extra,
    )


@router.get("/borrow")
def borrow(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    return _apply_page(request, v, engine)


@router.post("/borrow")
def apply(
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    config: ConfigDep,
    credit: CreditDep,
) -> Response:
    """Apply: decided at once; the next page shows the decision, its reasons and any offer."""
    actor = v.actor
    values = v.form.values("product", "amount", "term", "purpose")
    error = missing(values, "product", "amount", "term", "purpose")
    amount = call(lambda: parse_yuan(values["amount"], field="amount", allow_zero=False))
    error = error or amount.error
    if error is None and not (values["term"].isdigit() and 0 < int(values["term"]) <= 3660):
        error = ValidationError("term_not_offered", "choose a term", field="term")
    if error is None:
        done = attempt(
            engine,
            lambda c: flows.apply(
                c,
                customer_id=v.customer_id,
                product_code=values["product"],
                amount_fen=amount.value or 0,
                term=int(values["term"]),
                purpose=values["purpose"],
                actor=actor,
                keys=keys,
                clock=clock,
                config=config,
                credit=credit,
            ),
        )
        if done.ok and done.value is not None:
            return html_redirect(f"/m/applications/{done.value.id}", request)
        error = on_field(done.error, _APPLY_FIELDS, default="amount")
    return _apply_page(request, v, engine, form=values, error=error)


# ------------------------------------------------------------------------ an application


def _application_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, application_id: int, **extra: Any
) -> Response:
    with engine.connect() as c:
        app = applications.get_application(
            c, application_id=application_id, customer_id=v.customer_id
        )
        version = products.get_version(c, version_id=app.product_version_id)
        loan = (
            views.get_loan(c, loan_id=app.loan_id, customer_id=v.customer_id)
            if app.loan_id
            else None
        )
    now = to_us(clock)
    cooling = loan is not None and loan.state == "accepted" and now < loan.cooling_off_until_us
    cancellable = app.state in ("draft", "submitted", "approved", "offered") or cooling
    return page(
        request,
        v,
        "customer/application.html",
        status=extra.pop("status", extra["error"].status if extra.get("error") else 200),
        active="borrow",
        app=app,
        offer=app.offer,
        product=version,
        loan=loan,
        purpose_words=_PURPOSE_BY_VALUE.get(app.purpose),
        cancellable=cancellable,
        **extra,
    )


@router.get("/applications/{application_id}")
def application(
    application_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _application_page(request, v, engine, clock, application_id)


@router.post("/applications/{application_id}/{action}")
def application_action(
    application_id: int,
    action: str,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    config: ConfigDep,
) -> Response:
    """Sign (``accept``), ``decline`` or ``cancel``: each moves the application once; posting the
    same form again is refused by the state machine and shown beside the buttons."""
    actor = v.actor
    kw: dict[str, Any] = {
        "application_id": application_id,
        "customer_id": v.customer_id,
        "actor": actor,
        "clock": clock,
    }
    if action == "accept" and v.form.get("agree") != "1":
        error: PuhuiError | None = ValidationError(
            "consent_required", "read and agree to the contract first", field="agree"
        )
        return _application_page(request, v, engine, clock, application_id, error=error)

    def work(c: Connection) -> applications.LoanApplication:
        if action == "accept":
            return applications.accept(c, keys=keys, config=config, **kw)
        if action == "decline":
            return applications.decline(c, **kw)
        if action == "cancel":
            return applications.cancel(c, **kw)
        raise NotFound("page_not_found", "no such action")

    done = attempt(engine, work)
    if done.ok:
        return html_redirect(f"/m/applications/{application_id}", request)
    error = on_field(done.error, {}, default="action")
    return _application_page(request, v, engine, clock, application_id, error=error)


# ------------------------------------------------------------------------------- loans


@router.get("/loans")
def my_loans(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    with engine.connect() as c:
        found = views.list_loans(c, customer_id=v.customer_id, limit=100)
    return page(request, v, "customer/loans.html", active="loans", loans=found)


def _loan_context(c: Connection, v: Visitor, clock: Clock, loan_id: int) -> dict[str, Any]:
    loan = views.get_loan(c, loan_id=loan_id, customer_id=v.customer_id)
    schedule = views.schedule(c, loan_id=loan_id, clock=clock, customer_id=v.customer_id)
    today = calendar.current(c, clock=clock)
    open_ = loan.state in ("disbursed", "active")
    quote = servicing.quote(c, loan_id=loan_id, clock=clock) if open_ else None
    due_now = sum(i.unpaid_fen for i in schedule if i.due_date <= today)
    upcoming = next((i for i in schedule if i.unpaid_fen > 0), None)
    return {
        "loan": loan,
        "schedule": schedule,
        "today": today,
        "open": open_,
        "quote": quote,
        "due_now": due_now,
        "next_installment": upcoming,
        "in_cooling_off": open_ and to_us(clock) < loan.cooling_off_until_us,
    }


def _loan_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, loan_id: int, **extra: Any
) -> Response:
    with engine.connect() as c:
        ctx = _loan_context(c, v, clock, loan_id)
    return page(
        request,
        v,
        "customer/loan.html",
        status=extra["error"].status if extra.get("error") else 200,
        active="loans",
        paid=request.query_params.get("paid"),
        **ctx,
        **extra,
    )


@router.get("/loans/{loan_id}")
def my_loan(
    loan_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """The loan and its repayment calendar (还款计划) as it stands on the business date."""
    return _loan_page(request, v, engine, clock, loan_id)


@router.get("/loans/{loan_id}/contract")
def my_contract(loan_id: int, request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    with engine.connect() as c:
        contract = contracts.get_contract(c, loan_id=loan_id, customer_id=v.customer_id)
        intact = contracts.verify_contract(c, loan_id)
    return page(
        request, v, "customer/contract.html", active="loans", contract=contract, intact=intact
    )


# ------------------------------------------------------------------- repay and prepay


def _payment_amount(
    c: Connection, v: Visitor, clock: Clock, loan_id: int, mode: str, amount_text: str
) -> int:
    """The amount the confirmation will charge: the quote's total for a full prepayment, else
    the amount typed (refused beside its field)."""
    views.get_loan(c, loan_id=loan_id, customer_id=v.customer_id)
    if mode == "full":
        return servicing.quote(c, loan_id=loan_id, clock=clock).total_fen
    if not amount_text:
        raise ValidationError("form_incomplete", "fill in this field", field="amount")
    return parse_yuan(amount_text, field="amount", allow_zero=False)


@router.post("/loans/{loan_id}/pay/quote")
def pay_quote(
    loan_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Step one: what will be charged, for the borrower to confirm."""
    values = v.form.values("mode", "amount")
    error: PuhuiError | None = None
    if values["mode"] not in MODES:
        error = ValidationError("prepay_mode_invalid", "choose how to pay", field="mode")
    if error is None:
        with engine.connect() as c:
            found = call(
                lambda: _payment_amount(c, v, clock, loan_id, values["mode"], values["amount"])
            )
        if found.ok and found.value is not None:
            return _loan_page(
                request,
                v,
                engine,
                clock,
                loan_id,
                confirm={"mode": values["mode"], "amount_fen": found.value},
                form_key=uuid.uuid4().hex,
            )
        error = found.error
    return _loan_page(request, v, engine, clock, loan_id, form=values, error=error)


def _external_ref(customer_id: int, loan_id: int, form_key: str) -> str:
    """One loan transaction per drawn confirmation form."""
    digest = hashlib.sha256(f"{customer_id}\x1f{loan_id}\x1f{form_key}".encode()).hexdigest()
    return f"web-{digest[:40]}"


def _pay(
    c: Connection,
    channel: DebitChannel,
    v: Visitor,
    clock: Clock,
    *,
    loan_id: int,
    mode: str,
    amount_fen: int,
    form_key: str,
) -> servicing.Result:
    return flows.borrower_pays(
        c,
        channel,
        loan_id=loan_id,
        customer_id=v.customer_id,
        mode=mode,
        amount_fen=amount_fen,
        actor=v.actor,
        clock=clock,
        external_ref=_external_ref(v.customer_id, loan_id, form_key),
    )


@router.post("/loans/{loan_id}/pay")
def pay(
    loan_id: int,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """Step two: charge the card and pay, once per confirmation form."""
    f = v.form
    mode, amount_text, form_key = f.get("mode"), f.get("amount_fen"), f.get("form_key")
    if mode not in MODES or not amount_text.isdigit() or not form_key:
        error = ValidationError("form_incomplete", "quote the payment again", field="mode")
        return _loan_page(request, v, engine, clock, loan_id, error=error)
    amount = int(amount_text)
    done = attempt(
        engine,
        lambda c: _pay(
            c, channel, v, clock, loan_id=loan_id, mode=mode, amount_fen=amount, form_key=form_key
        ),
    )
    if done.ok and done.value is not None:
        return html_redirect(f"/m/loans/{loan_id}?paid={done.value.txn_id}", request)
    error = on_field(done.error, {"amount_fen": "amount"}, default="amount")
    return _loan_page(
        request, v, engine, clock, loan_id, form={"mode": mode, "amount": ""}, error=error
    )


@router.post("/loans/{loan_id}/cancel")
def cancel_loan(
    loan_id: int,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """冷静期取消 of a paid-out loan: the principal and interest for the days used are charged."""
    actor = v.actor
    done = attempt(
        engine,
        lambda c: flows.borrower_cancels(
            c, channel, loan_id=loan_id, customer_id=v.customer_id, actor=actor, clock=clock
        ),
    )
    if done.ok:
        return html_redirect(f"/m/loans/{loan_id}", request)
    error = on_field(done.error, {}, default="cancel")
    return _loan_page(request, v, engine, clock, loan_id, error=error)
