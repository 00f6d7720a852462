"""The loan lifecycle over HTTP: borrowers under ``/api/v1/me``, staff under ``/admin/api/v1``.

Thin handlers: parse, authorise (a permission for staff; for a borrower, the object must be
theirs, else 404 as if it did not exist), call the lending service in one transaction, answer.
Money-moving POSTs (disburse, a borrower's repayment, prepayment and cooling-off cancel, a
staff-posted repayment, a reversal) take an ``Idempotency-Key``; lists page with
``limit``/``starting_after``/``has_more``. The end-of-day run answers when the dates are closed
(the batch commits step by step, so an interrupted request leaves a run a rerun resumes).
Wherever a rate is shown, the IRR annual rate (RATE-APR-01) is beside it at the same level with
its label (RATE-APR-02/03).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from puhui.api.idempotency import Idempotency, Idempotent, idempotency
from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    CustomerAuth,
    EngineDep,
    KeysDep,
    StaffAuth,
    customer_limit,
    require,
)
from puhui.api.pagination import Page, Pagination
from puhui.api.pagination import id_cursor as _after
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.lending import (
    applications,
    collections,
    contracts,
    eod,
    flows,
    offers,
    servicing,
    views,
)
from puhui.lending.debit_channel import DebitChannel, SandboxChannel
from puhui.lending.engine import Allocation
from puhui.lending.states import AppState

router = APIRouter(tags=["lending"])
MoneyLimit = customer_limit("money_customer")

LoanReader = Annotated[StaffAuth, Depends(require("loans.read"))]
CollectionsManager = Annotated[StaffAuth, Depends(require("collections.manage"))]
Collector = Annotated[StaffAuth, Depends(require("loans.collect"))]
Note = Annotated[str, Field(max_length=2000)]
#: A row id in a path: positive and within BIGINT, so no id is a database error.
Id = Annotated[int, Path(ge=1, le=2**62)]


# ---------------------------------------------------------------------------- applications


def _config(request: Request) -> applications.LendingConfig:
    """The application flow's settings (``app.state.lending_config`` overrides the default)."""
    return getattr(request.app.state, "lending_config", applications.DEFAULT_CONFIG)


def _credit(request: Request) -> applications.CreditServices | None:
    """The scoring services when a deployment set them (``app.state.lending_credit``); without
    them a review is the rules-only decision."""
    return getattr(request.app.state, "lending_credit", None)


ConfigDep = Annotated[applications.LendingConfig, Depends(_config)]
CreditDep = Annotated[applications.CreditServices | None, Depends(_credit)]
Reviewer = Annotated[StaffAuth, Depends(require("loans.review"))]
Approver = Annotated[StaffAuth, Depends(require("loans.approve"))]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
Rate = Annotated[str, Field(pattern=r"^0\.\d{1,9}$", examples=["0.18"])]


#: The automated review and offer's actor (kept here for callers of the old name).
system_actor = flows.system_actor


class ApplyIn(Body):
    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    product_version: Annotated[int, Field(ge=1)] | None = None
    amount_fen: Annotated[int, Field(gt=0, le=10**12)]
    term: Annotated[int, Field(ge=1, le=3660)]
    purpose: Annotated[str, Field(min_length=1, max_length=32)]
    purpose_detail: Annotated[str, Field(max_length=500)] = ""


@router.post(
    "/api/v1/me/loan-applications", response_model=applications.LoanApplication, status_code=201
)
def apply(
    body: ApplyIn,
    who: Customer,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    config: ConfigDep,
    credit: CreditDep,
) -> applications.LoanApplication:
    """Apply for a loan: the application is submitted and decided at once; when approved, the
    offer (schedule, rates, fees) is on it. A rejection carries its reasons."""

    def work(c: Connection) -> applications.LoanApplication:
        return flows.apply(
            c,
            customer_id=who.customer_id,
            product_code=body.product_code,
            product_version=body.product_version,
            amount_fen=body.amount_fen,
            term=body.term,
            purpose=body.purpose,
            purpose_detail=body.purpose_detail,
            actor=who.actor,
            keys=keys,
            clock=clock,
            config=config,
            credit=credit,
        )

    return run_in_transaction(engine, work)


@router.get("/api/v1/me/loan-applications", response_model=Page[applications.LoanApplication])
def my_applications(
    who: Customer, engine: EngineDep, page: Pagination
) -> Page[applications.LoanApplication]:
    """The borrower's applications by id, each with its decision, reasons and offer."""
    with engine.connect() as conn:
        found = applications.list_applications(
            conn, customer_id=who.customer_id, limit=page.limit, starting_after=_after(page)
        )
    return Page[applications.LoanApplication](data=list(found.items), has_more=found.has_more)


@router.get(
    "/api/v1/me/loan-applications/{application_id}", response_model=applications.LoanApplication
)
def my_application(
    application_id: Id, who: Customer, engine: EngineDep
) -> applications.LoanApplication:
    with engine.connect() as conn:
        return applications.get_application(
            conn, application_id=application_id, customer_id=who.customer_id
        )


@router.get("/api/v1/me/loan-applications/{application_id}/offer", response_model=offers.Offer)
def my_offer(application_id: Id, who: Customer, engine: EngineDep) -> offers.Offer:
    """The offer: the IRR annual rate (年化利率, labelled) beside the contract rate, every fee,
    the whole schedule, the cooling-off window and when the offer expires."""
    with engine.connect() as conn:
        app = applications.get_application(
            conn, application_id=application_id, customer_id=who.customer_id
        )
    if app.offer is None:
        raise NotFound(
            "offer_not_found", f"application {application_id} has no offer", field="application_id"
        )
    return app.offer


@router.post(
    "/api/v1/me/loan-applications/{application_id}/accept",
    response_model=applications.LoanApplication,
)
def accept_offer(
    application_id: Id,
    who: Customer,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    config: ConfigDep,
) -> applications.LoanApplication:
    """Sign the offer: the loan is created with its contract and SHA-256; the cooling-off
    window starts now."""
    return run_in_transaction(
        engine,
        lambda c: applications.accept(
            c,
            application_id=application_id,
            customer_id=who.customer_id,
            actor=who.actor,
            keys=keys,
            clock=clock,
            config=config,
        ),
    )


@router.post(
    "/api/v1/me/loan-applications/{application_id}/decline",
    response_model=applications.LoanApplication,
)
def decline_offer(
    application_id: Id, who: Customer, engine: EngineDep, clock: ClockDep
) -> applications.LoanApplication:
    return run_in_transaction(
        engine,
        lambda c: applications.decline(
            c,
            application_id=application_id,
            customer_id=who.customer_id,
            actor=who.actor,
            clock=clock,
        ),
    )


@router.post(
    "/api/v1/me/loan-applications/{application_id}/cancel",
    response_model=applications.LoanApplication,
)
def cancel_application(
    application_id: Id, who: Customer, engine: EngineDep, clock: ClockDep
) -> applications.LoanApplication:
    """Withdraw an application before the money is paid out (a signed one only within the
    cooling-off window, RATE-COOL-01)."""
    return run_in_transaction(
        engine,
        lambda c: applications.cancel(
            c,
            application_id=application_id,
            customer_id=who.customer_id,
            actor=who.actor,
            clock=clock,
        ),
    )


AppStateName = Literal[tuple(s.value for s in AppState)]  # type: ignore[valid-type]


@router.get("/admin/api/v1/loan-applications", response_model=Page[applications.LoanApplication])
def review_queue(
    _staff: Reviewer,
    engine: EngineDep,
    page: Pagination,
    state: Annotated[AppStateName, Query()] = AppState.MANUAL_REVIEW.value,
) -> Page[applications.LoanApplication]:
    """The review queue: applications waiting for a person (``manual_review``), oldest first;
    ``state`` lists another state's."""
    with engine.connect() as conn:
        found = applications.list_applications(
            conn, state=state, limit=page.limit, starting_after=_after(page)
        )
    return Page[applications.LoanApplication](data=list(found.items), has_more=found.has_more)


class ApplicationDetail(BaseModel):
    application: applications.LoanApplication
    events: list[applications.ApplicationEvent]


@router.get("/admin/api/v1/loan-applications/{application_id}", response_model=ApplicationDetail)
def staff_application(
    application_id: Id, _staff: LoanReader, engine: EngineDep
) -> ApplicationDetail:
    """An application with its history (every move: from, to, who, when, why)."""
    with engine.connect() as conn:
        app = applications.get_application(conn, application_id=application_id)
        events = applications.list_events(conn, application_id=application_id)
    return ApplicationDetail(application=app, events=list(events))


class RecommendIn(Body):
    recommendation: Literal["approve", "reject"]
    reason: Reason
    approved_fen: Annotated[int, Field(gt=0, le=10**12)] | None = None
    annual_rate: Rate | None = None


@router.post(
    "/admin/api/v1/loan-applications/{application_id}/recommend",
    response_model=applications.LoanApplication,
)
def recommend(
    application_id: Id, body: RecommendIn, staff: Reviewer, engine: EngineDep, clock: ClockDep
) -> applications.LoanApplication:
    """The maker's recommendation on an application in manual review."""
    return run_in_transaction(
        engine,
        lambda c: applications.recommend(
            c,
            application_id=application_id,
            recommendation=body.recommendation,
            reason=body.reason,
            approved_fen=body.approved_fen,
            annual_rate=body.annual_rate,
            actor=staff.actor,
            clock=clock,
        ),
    )


class ApproveIn(Body):
    reason: Reason
    approved_fen: Annotated[int, Field(gt=0, le=10**12)] | None = None
    annual_rate: Rate | None = None


@router.post(
    "/admin/api/v1/loan-applications/{application_id}/approve",
    response_model=applications.LoanApplication,
)
def approve(
    application_id: Id,
    body: ApproveIn,
    staff: Approver,
    engine: EngineDep,
    clock: ClockDep,
    config: ConfigDep,
) -> applications.LoanApplication:
    """The checker approves (a different person from the maker above the maker-checker
    amount); the offer is made to the borrower at once."""

    return run_in_transaction(
        engine,
        lambda c: flows.approve_and_offer(
            c,
            application_id=application_id,
            reason=body.reason,
            approved_fen=body.approved_fen,
            annual_rate=body.annual_rate,
            actor=staff.actor,
            clock=clock,
            config=config,
        ),
    )


class RejectIn(Body):
    reason: Reason


@router.post(
    "/admin/api/v1/loan-applications/{application_id}/reject",
    response_model=applications.LoanApplication,
)
def reject(
    application_id: Id,
    body: RejectIn,
    staff: Approver,
    engine: EngineDep,
    clock: ClockDep,
    config: ConfigDep,
) -> applications.LoanApplication:
    """The checker rejects an application in manual review."""
    return run_in_transaction(
        engine,
        lambda c: applications.reject(
            c,
            application_id=application_id,
            reason=body.reason,
            actor=staff.actor,
            clock=clock,
            config=config,
        ),
    )


# ------------------------------------------------------------------------------ loan reads


LoanState = Literal["accepted", "disbursed", "active", "settled", "written_off", "cancelled"]
Bucket = Literal["M0", "M1", "M2", "M3", "M4"]


@router.get("/admin/api/v1/loans", response_model=Page[views.LoanSummary])
def staff_loans(
    _staff: LoanReader,
    engine: EngineDep,
    page: Pagination,
    state: Annotated[LoanState | None, Query()] = None,
    bucket: Annotated[Bucket | None, Query()] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Page[views.LoanSummary]:
    """Every loan by id, optionally one state's, one overdue bucket's or one borrower's."""
    with engine.connect() as conn:
        found = views.list_loans(
            conn,
            customer_id=customer_id,
            state=state,
            bucket=bucket,
            after_id=_after(page),
            limit=page.limit + 1,
        )
    return Page[views.LoanSummary].from_rows(found, page)


@router.get("/admin/api/v1/loans/{loan_id}", response_model=views.LoanDetail)
def staff_loan(loan_id: Id, _staff: LoanReader, engine: EngineDep) -> views.LoanDetail:
    with engine.connect() as conn:
        return views.get_loan(conn, loan_id=loan_id)


@router.get("/admin/api/v1/loans/{loan_id}/schedule", response_model=list[views.InstallmentView])
def staff_schedule(
    loan_id: Id, _staff: LoanReader, engine: EngineDep, clock: ClockDep
) -> list[views.InstallmentView]:
    """The installments as they stand today: charged, paid, unpaid, status."""
    with engine.connect() as conn:
        return views.schedule(conn, loan_id=loan_id, clock=clock)


@router.get(
    "/admin/api/v1/loans/{loan_id}/transactions", response_model=Page[views.TransactionView]
)
def staff_transactions(
    loan_id: Id, _staff: LoanReader, engine: EngineDep, page: Pagination
) -> Page[views.TransactionView]:
    """Repayments, disbursement, reversals and adjustments of the loan, by id."""
    with engine.connect() as conn:
        found = views.transactions(
            conn, loan_id=loan_id, after_id=_after(page), limit=page.limit + 1
        )
    return Page[views.TransactionView].from_rows(found, page)


# ------------------------------------------------------------------------------- servicing


def _channel(request: Request) -> DebitChannel:
    """The 代扣 channel that collects a borrower's own repayments from their card
    (``app.state.debit_channel``; the sandbox by default)."""
    state = request.app.state
    if not hasattr(state, "debit_channel"):
        state.debit_channel = SandboxChannel()
    return state.debit_channel


ChannelDep = Annotated[DebitChannel, Depends(_channel)]
#: Staff money routes read the key optionally and insist on it inside, so that a request with
#: a bad body is told so (422) before it is told about the key.
OptionalIdempotent = Annotated[Idempotency, Depends(idempotency(required=False))]
Disburser = Annotated[StaffAuth, Depends(require("loans.disburse"))]
Servicer = Annotated[StaffAuth, Depends(require("loans.service"))]
Amount = Annotated[int, Field(gt=0, le=10**12)]


def _keyed(idem: Idempotency) -> Idempotency:
    if idem.key is None:
        raise PuhuiError(
            "idempotency_key_required",
            "this request moves money: send an Idempotency-Key header",
            field="Idempotency-Key",
        )
    return idem


class ServicingOut(BaseModel):
    """What a servicing operation did: its transaction and the loan afterwards."""

    loan_id: Id
    transaction_id: Id
    state: str
    #: How a payment was split (fen); ``overpayment_fen`` stays on the credit balance.
    allocation: Allocation | None
    principal_outstanding_fen: int
    credit_balance_fen: int
    dpd: int


def _serviced(result: servicing.Result) -> ServicingOut:
    return ServicingOut(
        loan_id=result.loan_id,
        transaction_id=result.txn_id,
        state=result.state,
        allocation=result.allocation,
        principal_outstanding_fen=result.principal_outstanding_fen,
        credit_balance_fen=result.credit_balance_fen,
        dpd=result.dpd,
    )


def _paid(
    idem: Idempotency,
    channel: DebitChannel,
    clock: Clock,
    *,
    loan_id: Id,
    who: CustomerAuth,
    mode: str,
    amount: int | None,
) -> Response:
    """A borrower's own payment, once per Idempotency-Key: the servicing operation and the
    card charge for the amount it took, in one transaction (a declined card undoes both)."""
    return idem.run(
        lambda c: _serviced(
            flows.borrower_pays(
                c,
                channel,
                loan_id=loan_id,
                customer_id=who.customer_id,
                mode=mode,
                amount_fen=amount,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


@router.get("/api/v1/me/loans", response_model=Page[views.LoanSummary])
def my_loans(who: Customer, engine: EngineDep, page: Pagination) -> Page[views.LoanSummary]:
    """The borrower's loans, each with the IRR annual rate beside the contract rate."""
    with engine.connect() as conn:
        found = views.list_loans(
            conn, customer_id=who.customer_id, after_id=_after(page), limit=page.limit + 1
        )
    return Page[views.LoanSummary].from_rows(found, page)


@router.get("/api/v1/me/loans/{loan_id}", response_model=views.LoanDetail)
def my_loan(loan_id: Id, who: Customer, engine: EngineDep) -> views.LoanDetail:
    with engine.connect() as conn:
        return views.get_loan(conn, loan_id=loan_id, customer_id=who.customer_id)


@router.get("/api/v1/me/loans/{loan_id}/schedule", response_model=list[views.InstallmentView])
def my_schedule(
    loan_id: Id, who: Customer, engine: EngineDep, clock: ClockDep
) -> list[views.InstallmentView]:
    """还款计划: each installment charged, paid, still unpaid, and its status today."""
    with engine.connect() as conn:
        return views.schedule(conn, loan_id=loan_id, clock=clock, customer_id=who.customer_id)


@router.get("/api/v1/me/loans/{loan_id}/contract", response_model=contracts.Contract)
def my_contract(loan_id: Id, who: Customer, engine: EngineDep) -> contracts.Contract:
    """The signed contract's text and the SHA-256 recorded when it was signed."""
    with engine.connect() as conn:
        return contracts.get_contract(conn, loan_id=loan_id, customer_id=who.customer_id)


class RepayIn(Body):
    amount_fen: Amount


@router.post(
    "/api/v1/me/loans/{loan_id}/repayments",
    response_model=ServicingOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def repay(
    loan_id: Id,
    body: RepayIn,
    who: Customer,
    idem: Idempotent,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """还款: charge the card and pay the loan, oldest past-due amounts first (the product's
    waterfall); anything beyond what is owed stays on the credit balance."""
    return _paid(
        idem, channel, clock, loan_id=loan_id, who=who, mode="repay", amount=body.amount_fen
    )


class QuoteOut(BaseModel):
    """提前还款试算 for today: due now (interest to date), principal not yet due, the fee."""

    payable_fen: int
    principal_fen: int
    fee_fen: int
    total_fen: int


@router.get("/api/v1/me/loans/{loan_id}/prepayment-quote", response_model=QuoteOut)
def prepayment_quote(loan_id: Id, who: Customer, engine: EngineDep, clock: ClockDep) -> QuoteOut:
    with engine.connect() as conn:
        views.get_loan(conn, loan_id=loan_id, customer_id=who.customer_id)
        q = servicing.quote(conn, loan_id=loan_id, clock=clock)
    return QuoteOut(
        payable_fen=q.payable_fen,
        principal_fen=q.principal_fen,
        fee_fen=q.fee_fen,
        total_fen=q.total_fen,
    )


class PrepayIn(Body):
    mode: Literal["full", "shorter_term", "lower_installment"]
    #: Required unless ``full`` (which defaults to the quote's total).
    amount_fen: Amount | None = None


@router.post(
    "/api/v1/me/loans/{loan_id}/prepayments",
    response_model=ServicingOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def prepay(
    loan_id: Id,
    body: PrepayIn,
    who: Customer,
    idem: Idempotent,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """提前还款: in full (the quote), or in part for a shorter term or a lower installment."""
    return _paid(
        idem, channel, clock, loan_id=loan_id, who=who, mode=body.mode, amount=body.amount_fen
    )


@router.post(
    "/api/v1/me/loans/{loan_id}/cancel",
    response_model=ServicingOut,
    status_code=201,
    dependencies=[MoneyLimit],
)
def cancel_loan(
    loan_id: Id,
    who: Customer,
    idem: Idempotent,
    clock: ClockDep,
    channel: ChannelDep,
) -> Response:
    """冷静期取消 (RATE-COOL-01): within the window, return the principal and the interest for
    the days used (no prepayment fee); the loan is cancelled."""
    return idem.run(
        lambda c: _serviced(
            flows.borrower_cancels(
                c,
                channel,
                loan_id=loan_id,
                customer_id=who.customer_id,
                actor=who.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


class DisburseIn(Body):
    #: Whether the borrower pays any upfront fee straight back as its own payment.
    fee_paid: bool = True


@router.post("/admin/api/v1/loans/{loan_id}/disburse", response_model=ServicingOut, status_code=201)
def disburse(
    loan_id: Id,
    body: DisburseIn,
    staff: Disburser,
    idem: OptionalIdempotent,
    clock: ClockDep,
) -> Response:
    """放款: pay the full principal (RATE-FEE-01) from the company's cash; the schedule starts
    on the business date."""
    return _keyed(idem).run(
        lambda c: _serviced(
            servicing.disburse(
                c, loan_id=loan_id, fee_paid=body.fee_paid, actor=staff.actor, clock=clock
            )
        ),
        status_code=201,
    )


class PostRepaymentIn(Body):
    amount_fen: Amount
    #: Earlier than the business date: a backdated payment, and the loan is replayed.
    value_date: date | None = None
    #: The bank's reference; the same reference twice records the payment once.
    external_ref: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    #: A payment on a written-off loan is a recovery.
    recovery: bool = False


@router.post(
    "/admin/api/v1/loans/{loan_id}/repayments", response_model=ServicingOut, status_code=201
)
def post_repayment(
    loan_id: Id,
    body: PostRepaymentIn,
    staff: Servicer,
    idem: OptionalIdempotent,
    clock: ClockDep,
) -> Response:
    """Record a payment received (a bank transfer, a counter payment), backdated to its
    value date if the bank confirms it late; on a written-off loan, a recovery."""
    operation = servicing.recover if body.recovery else servicing.repay
    return _keyed(idem).run(
        lambda c: _serviced(
            operation(
                c,
                loan_id=loan_id,
                amount_fen=body.amount_fen,
                value_date=body.value_date,
                external_ref=body.external_ref,
                actor=staff.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


class ReverseIn(Body):
    reason: Reason


@router.post(
    "/admin/api/v1/loans/{loan_id}/transactions/{transaction_id}/reverse",
    response_model=ServicingOut,
    status_code=201,
)
def reverse(
    loan_id: Id,
    transaction_id: Id,
    body: ReverseIn,
    staff: Servicer,
    idem: OptionalIdempotent,
    clock: ClockDep,
) -> Response:
    """冲正: undo a wrong payment; the loan is replayed as if it never happened."""
    return _keyed(idem).run(
        lambda c: _serviced(
            servicing.reverse(
                c,
                loan_id=loan_id,
                txn_id=transaction_id,
                reason=body.reason,
                actor=staff.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


class RolloverIn(Body):
    #: Terms added to what remains (RATE-ROLL-01: at most two rollovers per loan).
    extra_terms: Annotated[int, Field(ge=1, le=12)]
    reason: Reason


@router.post(
    "/admin/api/v1/loans/{loan_id}/rollovers", response_model=ServicingOut, status_code=201
)
def rollover(
    loan_id: Id, body: RolloverIn, staff: Servicer, idem: OptionalIdempotent, clock: ClockDep
) -> Response:
    """展期: interest to date falls due today, the principal not yet due is spread over the
    remaining terms plus ``extra_terms``; the third rollover is refused."""
    return _keyed(idem).run(
        lambda c: _serviced(
            servicing.rollover(
                c,
                loan_id=loan_id,
                extra_terms=body.extra_terms,
                reason=body.reason,
                actor=staff.actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


class WriteOffIn(Body):
    reason: Reason


@router.post(
    "/admin/api/v1/loans/{loan_id}/write-off", response_model=ServicingOut, status_code=201
)
def write_off(
    loan_id: Id, body: WriteOffIn, staff: Servicer, idem: OptionalIdempotent, clock: ClockDep
) -> Response:
    """核销 by hand, ahead of the batch's days-past-due rule; later payments are recoveries."""
    return _keyed(idem).run(
        lambda c: _serviced(
            servicing.write_off(
                c, loan_id=loan_id, reason=body.reason, actor=staff.actor, clock=clock
            )
        ),
        status_code=201,
    )


class RefundIn(Body):
    #: Part of the credit balance; all of it when left out.
    amount_fen: Amount | None = None


@router.post("/admin/api/v1/loans/{loan_id}/refunds", response_model=ServicingOut, status_code=201)
def refund(
    loan_id: Id, body: RefundIn, staff: Servicer, idem: OptionalIdempotent, clock: ClockDep
) -> Response:
    """退款: pay an overpayment (the loan's credit balance) back to the borrower."""
    return _keyed(idem).run(
        lambda c: _serviced(
            servicing.refund_credit_balance(
                c, loan_id=loan_id, amount_fen=body.amount_fen, actor=staff.actor, clock=clock
            )
        ),
        status_code=201,
    )


# ------------------------------------------------------------------------------ collections


@router.get("/admin/api/v1/collections/queue", response_model=Page[collections.QueueItem])
def collections_queue(
    staff: LoanReader,
    engine: EngineDep,
    clock: ClockDep,
    page: Pagination,
    bucket: Annotated[Literal["M1", "M2", "M3", "M4", "M4+"] | None, Query()] = None,
    collector_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    unassigned: bool = False,
) -> Page[collections.QueueItem]:
    """Overdue loans, most days past due first. A collector who does not manage collections
    sees only the loans assigned to them."""
    perms = staff.ctx.permissions
    if "loans.collect" in perms and "collections.manage" not in perms:
        collector_id, unassigned = staff.ctx.id, False
    with engine.connect() as conn:
        found = collections.queue(
            conn,
            clock=clock,
            bucket=bucket,
            collector_id=collector_id,
            unassigned=unassigned,
            after_loan_id=_after(page),
            limit=page.limit + 1,
        )
    return Page[collections.QueueItem].from_rows(found, page)


class AssignIn(Body):
    collector_id: Annotated[int, Field(ge=1, le=2**62)]
    reason: Annotated[str, Field(max_length=500)] = ""


@router.post(
    "/admin/api/v1/collections/loans/{loan_id}/assignment",
    response_model=collections.Assignment,
    status_code=201,
)
def assign_collector(
    loan_id: Id, body: AssignIn, staff: CollectionsManager, engine: EngineDep, clock: ClockDep
) -> collections.Assignment:
    """Assign (or reassign) an overdue loan to a collector; the previous assignment closes."""
    return run_in_transaction(
        engine,
        lambda c: collections.assign(
            c,
            loan_id=loan_id,
            collector_id=body.collector_id,
            reason=body.reason,
            actor=staff.actor,
            clock=clock,
        ),
    )


@router.get(
    "/admin/api/v1/collections/loans/{loan_id}/assignments",
    response_model=list[collections.Assignment],
)
def assignment_history(
    loan_id: Id, _staff: LoanReader, engine: EngineDep
) -> list[collections.Assignment]:
    """Who has worked the loan, oldest first; the open one is current."""
    with engine.connect() as conn:
        views.get_loan(conn, loan_id=loan_id)
        return collections.assignment_history(conn, loan_id=loan_id)


class ContactIn(Body):
    channel: Literal["phone", "sms", "app", "visit", "letter"]
    #: Only ``borrower`` is accepted; any other party is refused by name (141号).
    party: Annotated[str, Field(min_length=1, max_length=32)] = "borrower"
    result: Annotated[str, Field(min_length=1, max_length=32)]
    promise_date: date | None = None
    promise_fen: Annotated[int, Field(gt=0, le=10**15)] | None = None
    note: Note = ""


@router.post(
    "/admin/api/v1/collections/loans/{loan_id}/contacts",
    response_model=collections.Contact,
    status_code=201,
)
def log_contact(
    loan_id: Id,
    body: ContactIn,
    request: Request,
    staff: Collector,
    engine: EngineDep,
    clock: ClockDep,
) -> collections.Contact:
    """Record a contact made now with the borrower of a loan assigned to you. Refused between
    22:00 and 08:00, after the day's maximum (``app.state.contact_policy``, 3 by default), for
    anyone but the borrower, or a loan that is not overdue."""
    return run_in_transaction(
        engine,
        lambda c: collections.log_contact(
            c,
            loan_id=loan_id,
            collector_id=staff.ctx.id,
            channel=body.channel,
            party=body.party,
            result=body.result,
            promise_date=body.promise_date,
            promise_fen=body.promise_fen,
            note=body.note,
            actor=staff.actor,
            clock=clock,
            policy=getattr(request.app.state, "contact_policy", collections.DEFAULT_POLICY),
        ),
    )


@router.get(
    "/admin/api/v1/collections/loans/{loan_id}/contacts", response_model=list[collections.Contact]
)
def contact_log(
    loan_id: Id, _staff: LoanReader, engine: EngineDep, clock: ClockDep
) -> list[collections.Contact]:
    """The loan's contact log, newest first, each promise to pay kept, broken or pending."""
    with engine.connect() as conn:
        views.get_loan(conn, loan_id=loan_id)
        return collections.contacts_of(conn, loan_id=loan_id, clock=clock)


# ------------------------------------------------------------------------------ end of day

EodRunner = Annotated[StaffAuth, Depends(require("eod.run"))]


class EodIn(Body):
    #: The first date to close (default: the business date); ``through`` catches up a range.
    business_date: date | None = None
    through: date | None = None
    partitions: Annotated[int, Field(ge=1, le=256)] = 1


class StepTotal(BaseModel):
    loans: int
    amount_fen: int


class DayReportOut(BaseModel):
    """What the batch did for a date: every step of every partition, the totals per step,
    the closing checks (sub-ledger = GL, trial balance) and whether the date is closed."""

    business_date: date
    partitions: int
    closed: bool
    already_closed: bool
    steps: list[eod.StepRecord]
    totals: dict[str, StepTotal]
    checks: dict[str, Any]


def _day(day: eod.DayReport) -> DayReportOut:
    return DayReportOut(
        business_date=day.business_date,
        partitions=day.partitions,
        closed=day.closed,
        already_closed=day.already_closed,
        steps=list(day.steps),
        totals={k: StepTotal(loans=n, amount_fen=f) for k, (n, f) in day.totals().items()},
        checks=day.checks,
    )


@router.post("/admin/api/v1/eod/runs", response_model=list[DayReportOut], status_code=201)
def run_eod(
    body: EodIn,
    staff: EodRunner,
    engine: EngineDep,
    clock: ClockDep,
    channel: ChannelDep,
) -> list[DayReportOut]:
    """日终: close a business date (or catch up a range of them, in order). A date already
    closed is skipped, so running it again changes nothing."""
    days = flows.run_eod(
        engine,
        actor=staff.actor,
        clock=clock,
        channel=channel,
        start=body.business_date,
        through=body.through,
        partitions=body.partitions,
    )
    return [_day(d) for d in days]


@router.get("/admin/api/v1/eod/runs", response_model=Page[views.EodRun])
def eod_runs(_staff: EodRunner, engine: EngineDep, page: Pagination) -> Page[views.EodRun]:
    """End-of-day runs, latest date first; ``starting_after`` is a date (YYYY-MM-DD)."""
    before = None
    if page.starting_after is not None:
        try:
            before = date.fromisoformat(page.starting_after)
        except ValueError:
            raise ValidationError(
                "invalid_cursor",
                "starting_after is a date here (YYYY-MM-DD)",
                field="starting_after",
            ) from None
    with engine.connect() as conn:
        found = views.eod_runs(conn, before=before, limit=page.limit + 1)
    return Page[views.EodRun].from_rows(found, page)


@router.get("/admin/api/v1/eod/runs/{business_date}", response_model=DayReportOut)
def eod_run(business_date: date, _staff: EodRunner, engine: EngineDep) -> DayReportOut:
    """One date's run: its steps per partition, their totals and the closing checks."""
    day = eod.report(engine, business_date)
    if day.partitions == 0:
        raise NotFound(
            "eod_run_not_found", f"no end-of-day run for {business_date}", field="business_date"
        )
    return _day(day)
