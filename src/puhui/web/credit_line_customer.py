"""The consumer credit line (消费信贷) for customers (H5, usable at 375 px): my line, purchases and
refunds, statements, instalments (分期) of a purchase or a statement, early settlement of a plan,
and repaying after a quote.

The work is the credit-line domain's, the same calls ``api/credit_line.py`` makes, with the debit
channel the API keeps on ``app.state``. Wherever a rate appears the IRR annual rate comes first
and largest (``_lending.html``'s ``rates`` macro; RATE-APR-02/03). The line's own rate is simple
daily interest on what is left of a statement (ACT/365), whose IRR annual rate — the daily rate
times 365 — is that rate itself, so it is shown as the lead rate.

A purchase and a repayment are confirmed with a key drawn with the form; the domain's
``reference`` derives from it, so a double submit or a refresh spends or charges once and shows
the first result. A conversion or an early settlement is guarded by state: the second submit is
refused beside the button and nothing moves twice.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.api.lending import ChannelDep
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.lending.credit_line import draws, instalments, repayment, rules, service, views
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, attempt, call
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import ERROR_TEXT, page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m/credit-line", include_in_schema=False)
nav.register("customer", NavItem("credit_line", N_("Credit line"), "/m/credit-line", 52))

PERIODS = rules.PERIODS
#: The entries a customer sees as purchases and refunds.
SPENDING = ("purchase", "cash_draw", "refund")

ERROR_TEXT.update(
    {
        "credit_line_not_found": N_("You have no credit line."),
        "credit_line_state": N_("The credit line is not active: this cannot be done now."),
        "credit_line_closed": N_("The credit line is closed."),
        "credit_line_owes": N_("Refused: the line still owes money."),
        "credit_line_exists": N_("This customer already has a credit line."),
        "limit_exceeded": N_("The amount is more than the available limit."),
        "limit_below_outstanding": N_("Refused: the limit cannot be below what is owed."),
        "limit_above_cap": N_("A consumer credit line is at most 200,000 yuan."),
        "limit_above_allowed": N_("The limit is above what the grade and income allow."),
        "no_limit": N_("The caps leave no room for a line."),
        "grade_not_approved": N_("This credit grade is not granted a line."),
        "customer_not_eligible": N_("A line is for an active natural person."),
        "until_in_past": N_("The raise ends today or later."),
        "overpayment": N_("The amount is more than what is payable now."),
        "periods_invalid": N_("Choose 3, 6, 9 or 12 instalments."),
        "instalment_too_small": N_("An instalment plan needs at least 1 yuan a period."),
        "rate_above_cap": N_("Refused: the annual rate would be above the legal cap."),
        "purchase_not_found": N_("No such purchase."),
        "purchase_not_convertible": N_(
            "Only a purchase of the current cycle, not refunded nor converted, goes into "
            "instalments."
        ),
        "statement_not_convertible": N_("There is no statement open for instalments."),
        "already_in_instalments": N_("This is already in instalments."),
        "plan_not_found": N_("No such instalment plan."),
        "plan_state": N_("This instalment plan is already settled."),
        "merchant_invalid": N_("A merchant is 1 to 64 characters."),
        "amount_invalid": N_("Enter an amount above zero."),
        "reference_reused": N_("This form was already used for another amount; reload the page."),
    }
)

#: the line's states, by their own words (``Frozen`` elsewhere is an amount held)
LINE_STATES = {
    "active": N_("Active"),
    "frozen": N_("Frozen line"),
    "suspended": N_("Suspended"),
    "closed": N_("Closed line"),
}
#: entry kinds and plan states shown as ``_(value|capitalize)``
STATE_WORDS = (
    N_("Purchase"),
    N_("Cash_draw"),
    N_("Payment"),
    N_("Fee"),
    N_("Interest"),
    N_("Penalty"),
    N_("Instalment"),
    N_("Early_settled"),
    N_("Statement"),
)
#: refusals of one choice of periods only; any other refuses the conversion as a whole
PER_CHOICE = ("rate_above_cap", "instalment_too_small")
_FIELDS = {"amount_fen": "amount"}
#: the purchase form's fields (the repay form's amount is ``amount``: one page, two forms)
_SPEND_FIELDS = {"amount_fen": "spend", "merchant": "merchant"}


def _digest(*parts: object) -> str:
    """One domain reference per drawn confirmation form."""
    text = "\x1f".join(map(str, parts))
    return f"web-{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def _line_id(c: Connection, v: Visitor) -> int:
    return service.line_of(c, customer_id=v.customer_id)


def _owed(line: service.Line) -> int:
    """Everything owed: principal, fees, interest and penalty."""
    return line.outstanding_fen + line.fees_fen + line.interest_fen + line.penalty_fen


def _payable(line: service.Line) -> int:
    """What a payment may pay now (instalment principal not yet billed is settled by plan)."""
    return _owed(line) - line.instalment_fen


def _home_context(c: Connection, v: Visitor, clock: Clock) -> dict[str, Any]:
    line_id = _line_id(c, v)
    line = service.get(c, line_id=line_id, clock=clock, customer_id=v.customer_id)
    spent = views.list_entries(c, line_id=line_id, kinds=SPENDING, limit=1000)
    plans = instalments.list_plans(c, line_id=line_id)
    return {
        "line": line,
        "owed": _owed(line),
        "payable": _payable(line),
        "entries": list(reversed(spent)),
        "plans": list(reversed(plans)),
        "latest": next(iter(views.statements_of(c, line_id=line_id, limit=1)), None),
    }


def _home(request: Request, v: Visitor, engine: Engine, clock: Clock, **extra: Any) -> Response:
    with engine.connect() as c:
        try:
            ctx = _home_context(c, v, clock)
        except NotFound:
            return page(
                request, v, "customer/credit_line_none.html", status=200, active="credit_line"
            )
    error: PuhuiError | None = extra.get("error")
    return page(
        request,
        v,
        "customer/credit_line.html",
        status=extra.pop("status", error.status if error else 200),
        active="credit_line",
        q=request.query_params,
        line_states=LINE_STATES,
        **ctx,
        **extra,
    )


@router.get("")
def my_line(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """额度: the limit, any temporary raise, what is available and owed, the statement to pay,
    purchases and refunds, and the instalment plans."""
    return _home(request, v, engine, clock, form_key=uuid.uuid4().hex)


# ------------------------------------------------------------------------------ purchase


@router.post("/purchases")
def purchase(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """消费 at the sandbox merchant (partners buy through the open platform), once per form."""
    f = v.form
    values = {"spend": f.get("spend"), "merchant": f.get("merchant") or "sandbox"}
    form_key = f.get("form_key")
    error: PuhuiError | None = None
    if not form_key:
        error = ValidationError("form_incomplete", "reload the page", field="spend")
    amount = call(lambda: parse_yuan(values["spend"], field="spend", allow_zero=False))
    error = error or amount.error
    if error is None:
        done = attempt(
            engine,
            lambda c: draws.purchase(
                c,
                line_id=_line_id(c, v),
                customer_id=v.customer_id,
                amount_fen=amount.value or 0,
                merchant=values["merchant"],
                actor=v.actor,
                clock=clock,
                reference=_digest(v.customer_id, "purchase", form_key),
            ),
        )
        if done.ok and done.value is not None:
            return html_redirect(f"/m/credit-line?bought={done.value.entry_id}", request)
        error = on_field(done.error, _SPEND_FIELDS, default="spend")
    return _home(request, v, engine, clock, buy_form=values, error=error, form_key=uuid.uuid4().hex)


# ------------------------------------------------------------------------------- repay


@router.post("/repay/quote")
def repay_quote(request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep) -> Response:
    """Step one: how the amount would be applied (fees and penalty, interest, principal)."""
    text = v.form.get("amount")

    def quote(c: Connection) -> tuple[int, rules.Split]:
        line = service.get(c, line_id=_line_id(c, v), clock=clock, customer_id=v.customer_id)
        if not text:
            raise ValidationError("form_incomplete", "fill in this field", field="amount")
        amount = parse_yuan(text, field="amount", allow_zero=False)
        split = rules.allocate(
            amount,
            fees=line.fees_fen,
            penalty=line.penalty_fen,
            interest=line.interest_fen,
            billed=line.billed_fen,
            unbilled=line.unbilled_fen,
        )
        return amount, split

    with engine.connect() as c:
        found = call(lambda: quote(c))
    if found.ok and found.value is not None:
        amount, split = found.value
        return _home(
            request,
            v,
            engine,
            clock,
            confirm={"amount_fen": amount, "split": split},
            pay_key=uuid.uuid4().hex,
            form_key=uuid.uuid4().hex,
        )
    error = on_field(found.error, _FIELDS, default="amount")
    return _home(
        request, v, engine, clock, pay_form={"amount": text}, error=error, form_key=uuid.uuid4().hex
    )


@router.post("/repay")
def repay(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep, channel: ChannelDep
) -> Response:
    """Step two: charge the card and pay, once per confirmation form."""
    f = v.form
    amount_text, key = f.get("amount_fen"), f.get("pay_key")
    if not amount_text.isdigit() or not key:
        error = ValidationError("form_incomplete", "quote the payment again", field="amount")
        return _home(request, v, engine, clock, error=error, form_key=uuid.uuid4().hex)
    done = attempt(
        engine,
        lambda c: repayment.pay(
            c,
            line_id=_line_id(c, v),
            customer_id=v.customer_id,
            amount_fen=int(amount_text),
            actor=v.actor,
            clock=clock,
            channel=channel,
            reference=_digest(v.customer_id, "payment", key),
        ),
    )
    if done.ok and done.value is not None:
        return html_redirect(f"/m/credit-line?paid={done.value.entry_id}", request)
    error = on_field(done.error, _FIELDS, default="amount")
    return _home(request, v, engine, clock, error=error, form_key=uuid.uuid4().hex)


# -------------------------------------------------------------------------- instalments


def _periods(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) in PERIODS else None


def _instalment_page(
    request: Request,
    v: Visitor,
    engine: Engine,
    clock: Clock,
    *,
    purchase_id: int | None,
    periods: int | None,
    error: PuhuiError | None = None,
) -> Response:
    """The quote for each choice of periods, the chosen one's rates and payments first."""

    def quote(c: Connection, n: int) -> rules.InstalmentQuote:
        line_id = _line_id(c, v)
        if purchase_id is None:
            return instalments.quote_statement(
                c, line_id=line_id, customer_id=v.customer_id, periods=n, clock=clock
            )
        return instalments.quote_purchase(
            c,
            line_id=line_id,
            customer_id=v.customer_id,
            purchase_id=purchase_id,
            periods=n,
            clock=clock,
        )

    options: list[tuple[int, rules.InstalmentQuote]] = []
    refusal: PuhuiError | None = None
    for n in PERIODS:
        with engine.begin() as c:  # the quote locks the line, as the API's does
            got = call(lambda c=c, n=n: quote(c, n))
        if got.ok and got.value is not None:
            options.append((n, got.value))
        elif got.error is not None and got.error.code not in (
            "rate_above_cap",
            "instalment_too_small",
        ):
            refusal = got.error  # the purchase or statement cannot be converted at all
            break
    if refusal is not None and not options:
        if isinstance(refusal, NotFound):
            raise refusal
        error = error or on_field(refusal, {}, default="periods")
    chosen = next((q for n, q in options if n == periods), None)
    action = (
        f"/m/credit-line/purchases/{purchase_id}/instalments"
        if purchase_id is not None
        else "/m/credit-line/statement-instalments"
    )
    return page(
        request,
        v,
        "customer/credit_line_instalments.html",
        status=error.status if error else 200,
        active="credit_line",
        purchase_id=purchase_id,
        options=options,
        chosen=chosen,
        periods=periods,
        action=action,
        error=error,
    )


def _convert(
    request: Request,
    v: Visitor,
    engine: Engine,
    clock: Clock,
    purchase_id: int | None,
) -> Response:
    periods = _periods(v.form.get("periods"))
    if periods is None:
        error: PuhuiError | None = ValidationError(
            "periods_invalid", "choose 3, 6, 9 or 12", field="periods"
        )
    else:

        def work(c: Connection) -> instalments.Plan:
            line_id = _line_id(c, v)
            if purchase_id is None:
                return instalments.convert_statement(
                    c,
                    line_id=line_id,
                    customer_id=v.customer_id,
                    periods=periods,
                    actor=v.actor,
                    clock=clock,
                )
            return instalments.convert_purchase(
                c,
                line_id=line_id,
                customer_id=v.customer_id,
                purchase_id=purchase_id,
                periods=periods,
                actor=v.actor,
                clock=clock,
            )

        done = attempt(engine, work)
        if done.ok and done.value is not None:
            return html_redirect(f"/m/credit-line?plan={done.value.id}", request)
        error = on_field(done.error, {"periods": "periods"}, default="periods")
    return _instalment_page(
        request, v, engine, clock, purchase_id=purchase_id, periods=periods, error=error
    )


@router.get("/purchases/{purchase_id}/instalments")
def purchase_instalments(
    purchase_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """分期 of one purchase: the choices, and the chosen one's IRR annual rate first."""
    periods = _periods(request.query_params.get("periods"))
    return _instalment_page(request, v, engine, clock, purchase_id=purchase_id, periods=periods)


@router.post("/purchases/{purchase_id}/instalments")
def convert_purchase(
    purchase_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _convert(request, v, engine, clock, purchase_id)


@router.get("/statement-instalments")
def statement_instalments(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """账单分期 of the current statement's principal."""
    periods = _periods(request.query_params.get("periods"))
    return _instalment_page(request, v, engine, clock, purchase_id=None, periods=periods)


@router.post("/statement-instalments")
def convert_statement(
    request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _convert(request, v, engine, clock, None)


@router.post("/plans/{plan_id}/settle")
def settle_plan(
    plan_id: int,
    request: Request,
    v: CustomerDep,
    engine: EngineDep,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """提前结清: the plan's principal not yet billed is charged to the card, no further fees."""
    done = attempt(
        engine,
        lambda c: instalments.settle_early(
            c,
            line_id=_line_id(c, v),
            customer_id=v.customer_id,
            plan_id=plan_id,
            actor=v.actor,
            clock=clock,
            channel=channel,
        ),
    )
    if done.ok and done.value is not None:
        return html_redirect(f"/m/credit-line?settled={plan_id}", request)
    if isinstance(done.error, NotFound) and done.error.code == "plan_not_found":
        raise done.error
    error = on_field(done.error, {}, default=f"plan-{plan_id}")
    return _home(request, v, engine, clock, error=error, form_key=uuid.uuid4().hex)


# ---------------------------------------------------------------------------- statements


@router.get("/statements")
def my_statements(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    """账单, newest first."""
    with engine.connect() as c:
        found = views.statements_of(c, line_id=_line_id(c, v), limit=120)
    return page(
        request, v, "customer/credit_line_statements.html", active="credit_line", rows=found
    )


@router.get("/statements/{statement_id}")
def my_statement(
    statement_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """One statement: every purchase, refund, fee and payment of its cycle, what to pay in full
    and at least, and by when."""
    with engine.connect() as c:
        line_id = _line_id(c, v)
        found = views.statement(c, line_id=line_id, statement_id=statement_id)
        line = service.get(c, line_id=line_id, clock=clock, customer_id=v.customer_id)
    if found is None:
        raise NotFound("statement_not_found", f"no statement {statement_id}", field="statement_id")
    return page(
        request,
        v,
        "customer/credit_line_statement.html",
        active="credit_line",
        s=found,
        line=line,
        current=line.due_date == found.due_date,
    )
