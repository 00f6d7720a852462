"""The consumer credit line (消费信贷) over HTTP: the customer's own line under
``/api/v1/me/credit-line``, staff under ``/admin/api/v1/credit-lines``.

Thin handlers: parse, authorise (a permission for staff; a customer only ever reaches their own
line), call the credit-line service in one transaction, answer. Every purchase, payment,
instalment conversion and early settlement takes an ``Idempotency-Key``; a payment charges the
customer's card through the debit channel in the same transaction. Instalment quotes carry the
IRR annual rate with its label (RATE-APR-01/03) beside the fee.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from puhui.api.idempotency import Idempotent
from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    EngineDep,
    KeysDep,
    StaffAuth,
    customer_limit,
    require,
)
from puhui.api.lending import ChannelDep, OptionalIdempotent
from puhui.api.pagination import Page, Pagination, id_cursor
from puhui.core.errors import NotFound
from puhui.credit.bureau import SandboxBureau
from puhui.credit.fraud import key_from_env
from puhui.credit.policy import CreditPolicy
from puhui.credit.scoring import default_model
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line import (
    draws,
    instalments,
    repayment,
    rules,
    service,
    underwriting,
    views,
)

router = APIRouter(tags=["credit line"])
MoneyLimit = customer_limit("money_customer")
Reader = Annotated[StaffAuth, Depends(require("creditlines.read"))]
Manager = Annotated[StaffAuth, Depends(require("creditlines.manage"))]
Id = Annotated[int, Path(ge=1, le=2**62)]
Amount = Annotated[int, Field(gt=0, le=10**12)]
Periods = Annotated[int, Query(description="3, 6, 9 or 12")]


class LineOut(BaseModel):
    """额度: the limit, what is owed and what is available; the current statement."""

    id: int
    state: str
    limit_fen: int
    temp_limit_fen: int
    temp_limit_until: date | None
    effective_limit_fen: int
    outstanding_fen: int
    available_fen: int
    unbilled_fen: int
    billed_fen: int
    instalment_fen: int
    fees_fen: int
    interest_fen: int
    penalty_fen: int
    stmt_remaining_fen: int
    min_remaining_fen: int
    due_date: date | None
    next_statement_date: date
    statement_day: int
    due_day: int
    annual_rate: str
    irr_label: str = rules.apr.LABEL
    dpd: int
    bucket: str


def _line(line: service.Line) -> LineOut:
    fields = asdict(line)
    fields.pop("customer_id")
    return LineOut(**fields)


class StaffLineOut(LineOut):
    customer_id: int


def _staff_line(line: service.Line) -> StaffLineOut:
    return StaffLineOut(**asdict(line))


class EntryOut(BaseModel):
    id: int
    kind: str
    amount_fen: int
    business_date: date
    merchant: str | None
    statement_id: int | None
    plan_id: int | None
    refunded_fen: int


def _entry(e: views.Entry) -> EntryOut:
    return EntryOut(**{k: v for k, v in asdict(e).items() if k != "reference"})


class StatementOut(BaseModel):
    id: int
    statement_date: date
    period_start: date
    due_date: date
    opening_fen: int
    purchases_fen: int
    refunds_fen: int
    payments_fen: int
    fees_fen: int
    interest_fen: int
    penalty_fen: int
    instalments_fen: int
    closing_fen: int
    minimum_fen: int
    entries: list[EntryOut] = []


def _statement(s: views.Statement) -> StatementOut:
    fields = {k: v for k, v in asdict(s).items() if k not in ("entries", "line_id")}
    return StatementOut(**fields, entries=[_entry(e) for e in s.entries])


class QuoteOut(BaseModel):
    """分期试算: each period's payment and the IRR annual rate, before confirmation."""

    principal_fen: int
    periods: int
    fee_per_period_fen: int
    payments_fen: list[int]
    total_fee_fen: int
    irr_annual_rate: str
    effective_annual_rate: str
    irr_label: str
    cap_rate: str


def _quote(q: rules.InstalmentQuote) -> QuoteOut:
    return QuoteOut(
        principal_fen=q.principal_fen,
        periods=q.periods,
        fee_per_period_fen=q.fee_per_period_fen,
        payments_fen=list(q.payments_fen),
        total_fee_fen=q.total_fee_fen,
        irr_annual_rate=str(q.annual_rate_irr),
        effective_annual_rate=str(q.effective_annual_rate),
        irr_label=q.label,
        cap_rate=str(q.cap),
    )


class PlanOut(BaseModel):
    id: int
    source: str
    source_id: int
    principal_fen: int
    periods: int
    fee_per_period_fen: int
    irr_annual_rate: str
    irr_label: str
    state: str
    periods_billed: int
    principal_billed_fen: int
    created_date: date


def _plan(p: instalments.Plan) -> PlanOut:
    return PlanOut(
        id=p.id,
        source=p.source,
        source_id=p.source_id,
        principal_fen=p.principal_fen,
        periods=p.periods,
        fee_per_period_fen=p.fee_per_period_fen,
        irr_annual_rate=p.annual_rate_irr,
        irr_label=p.irr_label,
        state=p.state,
        periods_billed=p.periods_billed,
        principal_billed_fen=p.principal_billed_fen,
        created_date=p.created_date,
    )


class DrawOut(BaseModel):
    entry_id: int
    kind: str
    amount_fen: int
    applied_fen: int
    line: LineOut


def _draw(d: draws.Draw) -> DrawOut:
    return DrawOut(
        entry_id=d.entry_id,
        kind=d.kind,
        amount_fen=d.amount_fen,
        applied_fen=d.applied_fen,
        line=_line(d.line),
    )


class PaymentOut(BaseModel):
    entry_id: int
    amount_fen: int
    to_fees_fen: int
    to_penalty_fen: int
    to_interest_fen: int
    to_principal_fen: int
    line: LineOut


def _payment(p: repayment.Payment) -> PaymentOut:
    return PaymentOut(
        entry_id=p.entry_id,
        amount_fen=p.amount_fen,
        to_fees_fen=p.split.fees_fen,
        to_penalty_fen=p.split.penalty_fen,
        to_interest_fen=p.split.interest_fen,
        to_principal_fen=p.split.principal_fen,
        line=_line(p.line),
    )


def _mine(conn: Connection, customer_id: int) -> int:
    return service.line_of(conn, customer_id=customer_id)


def _credit(request: Request) -> CreditServices:
    """The scoring services a line is decided with: the deployment's for loan reviews
    (``app.state.lending_credit``) or else the credit API's collaborators (``credit_model``,
    ``credit_bureau``, ``credit_policy``, ``credit_fingerprint_key`` on ``app.state``, their
    defaults otherwise), kept on ``app.state.credit_line_credit``."""
    state = request.app.state
    found = getattr(state, "lending_credit", None) or getattr(state, "credit_line_credit", None)
    if found is None:
        found = CreditServices(
            model=getattr(state, "credit_model", None) or default_model(),
            bureau=getattr(state, "credit_bureau", None) or SandboxBureau(synthetic=True),
            fingerprint_key=getattr(state, "credit_fingerprint_key", None) or key_from_env(),
            policy=getattr(state, "credit_policy", None) or CreditPolicy(),
        )
        state.credit_line_credit = found
    return found


CreditDep = Annotated[CreditServices, Depends(_credit)]
#: The scorecard's attributes (as a scored loan review takes them).
Features = Annotated[dict[str, str | float], Field(default_factory=dict, max_length=64)]


class ReasonOut(BaseModel):
    code: str
    action: str
    regulation: str | None
    text_zh: str
    text_en: str


class LineDecisionOut(BaseModel):
    """The credit decision on a line (kept whatever its outcome) and the line it opened."""

    decision_id: int
    outcome: str
    score: int
    grade: str
    limit_fen: int
    reasons: list[ReasonOut]
    line: LineOut | None


class StaffLineDecisionOut(LineDecisionOut):
    line: StaffLineOut | None  # type: ignore[assignment]


def _decision(d: underwriting.LineDecision, *, staff: bool) -> LineDecisionOut:
    fields: dict[str, Any] = {
        "decision_id": d.decision_id,
        "outcome": d.outcome,
        "score": d.score,
        "grade": d.grade,
        "limit_fen": d.limit_fen,
        "reasons": [ReasonOut(**h.as_dict()) for h in d.rules],
    }
    if staff:
        return StaffLineDecisionOut(**fields, line=d.line and _staff_line(d.line))
    return LineDecisionOut(**fields, line=d.line and _line(d.line))


# ------------------------------------------------------------------------------- customer


@router.get("/api/v1/me/credit-line", response_model=LineOut)
def my_line(who: Customer, engine: EngineDep, clock: ClockDep) -> LineOut:
    with engine.connect() as c:
        return _line(service.get(c, line_id=_mine(c, who.customer_id), clock=clock))


class ApplyIn(Body):
    features: Features


@router.post("/api/v1/me/credit-line", response_model=LineDecisionOut, status_code=201)
def apply(
    body: ApplyIn,
    who: Customer,
    idem: OptionalIdempotent,
    keys: KeysDep,
    credit: CreditDep,
    clock: ClockDep,
) -> Response:
    """开通: ask for a line; a credit decision sets its limit from the score and income within
    the caps. A rejection (201: the decision is recorded) says why and opens no line."""
    return idem.run(
        lambda c: _decision(
            underwriting.apply(
                c,
                customer_id=who.customer_id,
                keys=keys,
                clock=clock,
                credit=credit,
                features=body.features,
            ),
            staff=False,
        ),
        status_code=201,
    )


class PurchaseIn(Body):
    amount_fen: Amount
    #: The sandbox merchant by default; partners buy through the open platform.
    merchant: Annotated[str, Field(min_length=1, max_length=64)] = "sandbox"
    #: A cash draw (取现), where the line allows it.
    cash: bool = False


@router.post(
    "/api/v1/me/credit-line/purchases",
    response_model=DrawOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def purchase(body: PurchaseIn, who: Customer, idem: Idempotent, clock: ClockDep) -> Response:
    """消费: spend on the line at a merchant, within the available limit."""
    return idem.run(
        lambda c: _draw(
            draws.purchase(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                amount_fen=body.amount_fen,
                merchant=body.merchant,
                cash=body.cash,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.get("/api/v1/me/credit-line/purchases", response_model=Page[EntryOut])
def my_purchases(who: Customer, engine: EngineDep, page: Pagination) -> Page[EntryOut]:
    with engine.connect() as c:
        found = views.list_entries(
            c,
            line_id=_mine(c, who.customer_id),
            kinds=("purchase", "cash_draw"),
            after_id=id_cursor(page),
            limit=page.limit + 1,
        )
    return Page[EntryOut].from_rows([_entry(e) for e in found], page)


@router.get(
    "/api/v1/me/credit-line/purchases/{purchase_id}/instalment-quote", response_model=QuoteOut
)
def purchase_quote(
    purchase_id: Id, periods: Periods, who: Customer, engine: EngineDep, clock: ClockDep
) -> QuoteOut:
    with engine.begin() as c:
        return _quote(
            instalments.quote_purchase(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                purchase_id=purchase_id,
                periods=periods,
                clock=clock,
            )
        )


class InstalmentIn(Body):
    periods: int


@router.post(
    "/api/v1/me/credit-line/purchases/{purchase_id}/instalments",
    response_model=PlanOut,
    status_code=201,
)
def convert_purchase(
    purchase_id: Id, body: InstalmentIn, who: Customer, idem: Idempotent, clock: ClockDep
) -> Response:
    """分期: confirm the quote; the purchase leaves the coming statement."""
    return idem.run(
        lambda c: _plan(
            instalments.convert_purchase(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                purchase_id=purchase_id,
                periods=body.periods,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.get("/api/v1/me/credit-line/statements", response_model=Page[StatementOut])
def my_statements(who: Customer, engine: EngineDep, page: Pagination) -> Page[StatementOut]:
    """账单, newest first (``starting_after``: a statement id; older ones follow)."""
    with engine.connect() as c:
        found = views.statements_of(
            c, line_id=_mine(c, who.customer_id), after_id=id_cursor(page), limit=page.limit + 1
        )
    return Page[StatementOut].from_rows([_statement(s) for s in found], page)


@router.get("/api/v1/me/credit-line/statements/{statement_id}", response_model=StatementOut)
def my_statement(statement_id: Id, who: Customer, engine: EngineDep) -> StatementOut:
    """One statement with every purchase, refund, fee and payment of its cycle."""
    with engine.connect() as c:
        found = views.statement(c, line_id=_mine(c, who.customer_id), statement_id=statement_id)
    if found is None:
        raise NotFound("statement_not_found", f"no statement {statement_id}", field="statement_id")
    return _statement(found)


@router.get("/api/v1/me/credit-line/statement-instalment-quote", response_model=QuoteOut)
def statement_quote(
    periods: Periods, who: Customer, engine: EngineDep, clock: ClockDep
) -> QuoteOut:
    with engine.begin() as c:
        return _quote(
            instalments.quote_statement(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                periods=periods,
                clock=clock,
            )
        )


@router.post(
    "/api/v1/me/credit-line/statement-instalments", response_model=PlanOut, status_code=201
)
def convert_statement(
    body: InstalmentIn, who: Customer, idem: Idempotent, clock: ClockDep
) -> Response:
    """账单分期: the current statement's principal into instalments, by its due date."""
    return idem.run(
        lambda c: _plan(
            instalments.convert_statement(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                periods=body.periods,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.get("/api/v1/me/credit-line/instalment-plans", response_model=list[PlanOut])
def my_plans(who: Customer, engine: EngineDep) -> list[PlanOut]:
    with engine.connect() as c:
        return [_plan(p) for p in instalments.list_plans(c, line_id=_mine(c, who.customer_id))]


@router.post(
    "/api/v1/me/credit-line/instalment-plans/{plan_id}/settle",
    response_model=PlanOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def settle_plan(
    plan_id: Id, who: Customer, idem: Idempotent, clock: ClockDep, channel: ChannelDep
) -> Response:
    """提前结清: pay the plan's principal not yet billed from the card; no further fees."""
    return idem.run(
        lambda c: _plan(
            instalments.settle_early(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                plan_id=plan_id,
                actor=who.actor,
                clock=clock,
                channel=channel,
            )
        ),
        status_code=201,
    )


class RepayIn(Body):
    amount_fen: Amount


@router.post(
    "/api/v1/me/credit-line/repayments",
    response_model=PaymentOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def repay(
    body: RepayIn, who: Customer, idem: Idempotent, clock: ClockDep, channel: ChannelDep
) -> Response:
    """还款: charge the card; fees and penalty, then interest, then billed principal (oldest
    instalments first), then the rest."""
    return idem.run(
        lambda c: _payment(
            repayment.pay(
                c,
                line_id=_mine(c, who.customer_id),
                customer_id=who.customer_id,
                amount_fen=body.amount_fen,
                actor=who.actor,
                clock=clock,
                channel=channel,
            )
        ),
        status_code=201,
    )


# ---------------------------------------------------------------------------------- staff


class GrantIn(Body):
    customer_id: Annotated[int, Field(ge=1, le=2**62)]
    features: Features
    #: Less than the limit the credit decision allows, if wanted (never more).
    limit_fen: Amount | None = None


@router.post("/admin/api/v1/credit-lines", response_model=StaffLineDecisionOut, status_code=201)
def grant(
    body: GrantIn,
    staff: Manager,
    idem: OptionalIdempotent,
    keys: KeysDep,
    credit: CreditDep,
    clock: ClockDep,
) -> Response:
    """授信: the customer through the credit decision; when approved a line with the limit
    from the score grade and the customer's income, within MCL-CAP-01 and
    bank.consumer_credit.cap. A rejection is recorded (201) with its reasons and no line."""
    return idem.run(
        lambda c: _decision(
            underwriting.grant_by_decision(
                c,
                customer_id=body.customer_id,
                actor=staff.actor,
                keys=keys,
                clock=clock,
                credit=credit,
                features=body.features,
                limit_fen=body.limit_fen,
            ),
            staff=True,
        ),
        status_code=201,
    )


@router.get("/admin/api/v1/credit-lines/{line_id}", response_model=StaffLineOut)
def staff_line(line_id: Id, _staff: Reader, engine: EngineDep, clock: ClockDep) -> StaffLineOut:
    with engine.connect() as c:
        return _staff_line(service.get(c, line_id=line_id, clock=clock))


@router.get("/admin/api/v1/credit-lines/{line_id}/statements", response_model=list[StatementOut])
def staff_statements(line_id: Id, _staff: Reader, engine: EngineDep) -> list[StatementOut]:
    with engine.connect() as c:
        return [_statement(s) for s in views.all_statements(c, line_id=line_id)]


class QueueOut(BaseModel):
    line_id: int
    customer_id: int
    state: str
    dpd: int
    bucket: str
    overdue_fen: int
    owed_fen: int


@router.get("/admin/api/v1/credit-line-collections", response_model=list[QueueOut])
def staff_queue(_staff: Reader, engine: EngineDep) -> list[QueueOut]:
    """Overdue lines, most days past due first."""
    with engine.connect() as c:
        return [QueueOut(**asdict(q)) for q in views.collections_queue(c)]


class LimitIn(Body):
    limit_fen: Amount


class RaiseIn(Body):
    extra_fen: Amount
    until: date


@router.post("/admin/api/v1/credit-lines/{line_id}/limit", response_model=StaffLineOut)
def adjust(
    line_id: Id, body: LimitIn, staff: Manager, idem: OptionalIdempotent, clock: ClockDep
) -> Response:
    """调额: never below what is owed."""
    return idem.run(
        lambda c: _staff_line(
            service.adjust(
                c, line_id=line_id, limit_fen=body.limit_fen, actor=staff.actor, clock=clock
            )
        )
    )


@router.post("/admin/api/v1/credit-lines/{line_id}/temporary-raise", response_model=StaffLineOut)
def raise_temporarily(
    line_id: Id, body: RaiseIn, staff: Manager, idem: OptionalIdempotent, clock: ClockDep
) -> Response:
    """临时额度 through ``until``."""
    return idem.run(
        lambda c: _staff_line(
            service.raise_temporarily(
                c,
                line_id=line_id,
                extra_fen=body.extra_fen,
                until=body.until,
                actor=staff.actor,
                clock=clock,
            )
        )
    )


def _state_route(name: str, operation: Any, doc: str) -> None:
    def handler(line_id: Id, staff: Manager, idem: OptionalIdempotent, clock: ClockDep) -> Response:
        return idem.run(
            lambda c: _staff_line(operation(c, line_id=line_id, actor=staff.actor, clock=clock))
        )

    handler.__doc__ = doc
    handler.__name__ = f"credit_line_{name}"
    router.post(f"/admin/api/v1/credit-lines/{{line_id}}/{name}", response_model=StaffLineOut)(
        handler
    )


_state_route("freeze", service.freeze, "冻结: no new draws; billing and repayment go on.")
_state_route("unfreeze", service.unfreeze, "解冻: a frozen or cured suspended line is active.")
_state_route("close", service.close, "销户: a line that owes nothing.")
