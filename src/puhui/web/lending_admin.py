"""Lending in the back office: the review queue with maker-checker, loans (detail, schedule,
transactions, disbursement), the collections queue with assignment and the contact log, and the
end-of-day runs with their step reports.

Each page asks for the permission its ``/admin/api/v1`` twin asks for (``loans.review`` for the
queue and recommending, ``loans.approve`` to decide, ``loans.read`` to read loans and the
collections queue, ``loans.disburse``, ``collections.manage`` to assign, ``loans.collect`` to
log a contact, ``eod.run`` for the batch) and calls the same domain functions, which write the
audit entry in the transaction that does the work; the end-of-day run is audited before it
starts (``flows.run_eod``). A refusal — the checker who was the maker, a contact in quiet hours
— is shown beside the form field it concerns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.api.lending import ChannelDep, ConfigDep
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.core.rates import parse_rate
from puhui.identity import staff as staff_service
from puhui.lending import (
    applications,
    collections,
    eod,
    flows,
    jobs,
    products,
    servicing,
    views,
)
from puhui.lending import engine as engine_kinds
from puhui.lending.states import AppState
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, attempt, call, missing
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin", include_in_schema=False)
for _item in (
    NavItem("reviews", N_("Loan reviews"), "/admin/loan-applications", 60, "loans.review"),
    NavItem("loans", N_("Loans"), "/admin/loans", 62, "loans.read"),
    NavItem("collections", N_("Collections"), "/admin/collections", 64, "loans.read"),
    NavItem("eod", N_("End of day"), "/admin/eod", 66, "eod.run"),
):
    nav.register("admin", _item)

APP_STATES = tuple(s.value for s in AppState)
LOAN_STATES = ("accepted", "disbursed", "active", "settled", "written_off", "cancelled")
QUEUE_BUCKETS = ("M1", "M2", "M3", "M4+")
#: The decision forms' fields as the domain names them.
_DECISION_FIELDS = {
    "approved_fen": "approved",
    "annual_rate": "annual_rate",
    "recommendation": "recommendation",
    "actor": "decision",
    "state": "decision",
}


def _read(engine: Engine, work: Callable[[Connection], Any]) -> Any:
    with engine.connect() as c:
        return work(c)


# ----------------------------------------------------------------------- review queue


@router.get("/loan-applications")
def review_queue(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """Applications waiting for a person (``manual_review``), oldest first; ``?state=`` shows
    another state's."""
    v.require("loans.review")
    state = request.query_params.get("state", AppState.MANUAL_REVIEW.value)
    state = state if state in APP_STATES else AppState.MANUAL_REVIEW.value
    found = _read(engine, lambda c: applications.list_applications(c, state=state, limit=100))
    return page(
        request,
        v,
        "admin/loan_applications.html",
        active="reviews",
        rows=found.items,
        state=state,
        states=APP_STATES,
    )


def _application_page(
    request: Request, v: Visitor, engine: Engine, application_id: int, **extra: Any
) -> Response:
    v.require("loans.read")

    def work(c: Connection) -> dict[str, Any]:
        app = applications.get_application(c, application_id=application_id)
        return {
            "app": app,
            "events": applications.list_events(c, application_id=application_id),
            "product": products.get_version(c, version_id=app.product_version_id),
        }

    data = _read(engine, work)
    config: applications.LendingConfig = extra.pop("config")
    return page(
        request,
        v,
        "admin/loan_application.html",
        status=extra.pop("status", 200),
        active="reviews",
        threshold_fen=config.maker_checker_above_fen,
        **data,
        **extra,
    )


@router.get("/loan-applications/{application_id}")
def application(
    application_id: int, request: Request, v: StaffDep, engine: EngineDep, config: ConfigDep
) -> Response:
    return _application_page(request, v, engine, application_id, config=config)


def _decision_values(v: Visitor) -> tuple[dict[str, str], PuhuiError | None, dict[str, Any]]:
    """The decision form: reason required; an approved amount (yuan) and a rate optional."""
    values = v.form.values("reason", "approved", "annual_rate", "recommendation")
    error = missing(values, "reason")
    terms: dict[str, Any] = {"approved_fen": None, "annual_rate": None}
    if error is None and values["approved"]:
        amount = call(lambda: parse_yuan(values["approved"], field="approved", allow_zero=False))
        error, terms["approved_fen"] = amount.error, amount.value
    if error is None and values["annual_rate"]:
        rate = call(lambda: parse_rate(values["annual_rate"], field="annual_rate"))
        error = rate.error
        terms["annual_rate"] = str(rate.value) if rate.ok else None
    return values, error, terms


@router.post("/loan-applications/{application_id}/{action}")
def decide(
    application_id: int,
    action: str,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
    config: ConfigDep,
) -> Response:
    """``recommend`` (maker, ``loans.review``), ``approve`` — which makes the offer — or
    ``reject`` (checker, ``loans.approve``). Above the maker-checker amount the checker must
    not be the maker: the domain refuses and the page says so beside the buttons."""
    if action not in ("recommend", "approve", "reject"):
        raise NotFound("page_not_found", "no such action")
    v.require("loans.review" if action == "recommend" else "loans.approve")
    actor = v.actor
    values, error, terms = _decision_values(v)
    if (
        error is None
        and action == "recommend"
        and values["recommendation"]
        not in (
            "approve",
            "reject",
        )
    ):
        error = ValidationError("recommendation_invalid", "choose", field="recommendation")

    def work(c: Connection) -> applications.LoanApplication:
        common = {"application_id": application_id, "actor": actor, "clock": clock}
        if action == "recommend":
            return applications.recommend(
                c,
                recommendation=values["recommendation"],
                reason=values["reason"],
                **terms,
                **common,
            )
        if action == "approve":
            return flows.approve_and_offer(
                c, reason=values["reason"], config=config, **terms, **common
            )
        return applications.reject(c, reason=values["reason"], config=config, **common)

    if error is None:
        error = attempt(engine, work).error
        if error is None:
            return html_redirect(f"/admin/loan-applications/{application_id}", request)
        error = on_field(error, _DECISION_FIELDS, default="decision")
    return _application_page(
        request,
        v,
        engine,
        application_id,
        config=config,
        status=error.status,
        error=error,
        form=values,
        form_action=action,
    )


# ------------------------------------------------------------------------------- loans


@router.get("/loans")
def loans(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require("loans.read")
    q = request.query_params
    state = q.get("state") if q.get("state") in LOAN_STATES else None
    bucket = q.get("bucket") if q.get("bucket") in views.BUCKETS else None
    found = _read(engine, lambda c: views.list_loans(c, state=state, bucket=bucket, limit=100))
    return page(
        request,
        v,
        "admin/loans.html",
        active="loans",
        rows=found,
        state=state,
        bucket=bucket,
        states=LOAN_STATES,
        buckets=views.BUCKETS,
    )


def _loan_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, loan_id: int, **extra: Any
) -> Response:
    v.require("loans.read")

    def work(c: Connection) -> dict[str, Any]:
        return {
            "loan": views.get_loan(c, loan_id=loan_id),
            "schedule": views.schedule(c, loan_id=loan_id, clock=clock),
            "txns": views.transactions(c, loan_id=loan_id),
            "may_reverse": v.may("loans.service"),
            "reversible": engine_kinds.PAYMENTS,
        }

    return page(
        request,
        v,
        "admin/loan.html",
        status=extra.pop("status", 200),
        active="loans",
        **_read(engine, work),
        **extra,
    )


@router.get("/loans/{loan_id}")
def loan(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """A loan with its schedule as it stands and every transaction."""
    return _loan_page(request, v, engine, clock, loan_id)


@router.post("/loans/{loan_id}/disburse")
def disburse(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """放款 of the full principal; a second post finds the loan paid out and is refused by its
    state, so a double submit pays once."""
    v.require("loans.disburse")
    actor = v.actor
    done = attempt(
        engine, lambda c: servicing.disburse(c, loan_id=loan_id, actor=actor, clock=clock)
    )
    if done.ok:
        return html_redirect(f"/admin/loans/{loan_id}", request)
    error = on_field(done.error, {}, default="disburse")
    return _loan_page(request, v, engine, clock, loan_id, status=done.error.status, error=error)


@router.post("/loans/{loan_id}/repayments")
def record_repayment(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """A payment the bank confirmed (a transfer, a counter payment), backdated to its value
    date; on a written-off loan a recovery. The bank's reference is required: the same
    reference twice records the payment once, so a double submit pays once."""
    v.require("loans.service")
    actor = v.actor
    values = v.form.values("amount", "value_date", "external_ref")

    def work(c: Connection) -> Any:
        loan_state = views.get_loan(c, loan_id=loan_id).state
        operation = servicing.recover if loan_state == "written_off" else servicing.repay
        return operation(
            c,
            loan_id=loan_id,
            amount_fen=parse_yuan(values["amount"], field="amount", allow_zero=False),
            value_date=_date(values["value_date"], "value_date"),
            external_ref=values["external_ref"],
            actor=actor,
            clock=clock,
        )

    error = missing(values, "amount", "external_ref") or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/loans/{loan_id}", request)
    error = on_field(
        error,
        {"amount_fen": "amount", "value_date": "value_date", "external_ref": "external_ref"},
        default="repayment",
    )
    return _loan_page(
        request, v, engine, clock, loan_id, status=error.status, error=error, form=values
    )


@router.post("/loans/{loan_id}/transactions/{transaction_id}/reverse")
def reverse_transaction(
    loan_id: int,
    transaction_id: int,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
) -> Response:
    """冲正 of a wrong payment, with the reason on the record; the loan is replayed as if it
    never happened, and a second submit finds it reversed already and is refused."""
    v.require("loans.service")
    actor = v.actor
    values = v.form.values("reason")

    def work(c: Connection) -> Any:
        return servicing.reverse(
            c,
            loan_id=loan_id,
            txn_id=transaction_id,
            reason=values["reason"],
            actor=actor,
            clock=clock,
        )

    error = missing(values, "reason") or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/loans/{loan_id}", request)
    error = on_field(error, {"reason": "reason"}, default="reverse")
    return _loan_page(
        request, v, engine, clock, loan_id, status=error.status, error=error, form=values
    )


# ------------------------------------------------------------------------ collections


def _manages(v: Visitor) -> bool:
    return v.may("collections.manage")


@router.get("/collections")
def collections_queue(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """Overdue loans, worst first, by bucket; assigned to me or unassigned. A collector who does
    not manage collections sees only their own loans, as on the API."""
    v.require("loans.read")
    q = request.query_params
    bucket = q.get("bucket") if q.get("bucket") in QUEUE_BUCKETS else None
    show = q.get("show") if q.get("show") in ("mine", "unassigned") else "all"
    me = v.signed_in_staff.ctx.id
    if v.may("loans.collect") and not _manages(v):
        show = "mine"
    rows = _read(
        engine,
        lambda c: collections.queue(
            c,
            clock=clock,
            bucket=bucket,
            collector_id=me if show == "mine" else None,
            unassigned=show == "unassigned",
            limit=100,
        ),
    )
    return page(
        request,
        v,
        "admin/collections.html",
        active="collections",
        rows=rows,
        bucket=bucket,
        show=show,
        buckets=QUEUE_BUCKETS,
        me=me,
    )


def _collectors(c: Connection) -> list[staff_service.StaffMember]:
    members = staff_service.list_all(c, limit=100)
    return [
        m
        for m in members
        if m.status == "active"
        and "loans.collect" in staff_service.context(c, staff_id=m.id).permissions
    ]


def _case_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, loan_id: int, **extra: Any
) -> Response:
    v.require("loans.read")

    def work(c: Connection) -> dict[str, Any]:
        return {
            "loan": views.get_loan(c, loan_id=loan_id),
            "history": collections.assignment_history(c, loan_id=loan_id),
            "contacts": collections.contacts_of(c, loan_id=loan_id, clock=clock),
            "collectors": _collectors(c) if _manages(v) else [],
        }

    data = _read(engine, work)
    current = next((a for a in data["history"] if a.ended_us is None), None)
    return page(
        request,
        v,
        "admin/collection.html",
        status=extra.pop("status", 200),
        active="collections",
        current=current,
        channels=collections.CHANNELS,
        parties=collections.PARTIES,
        results=collections.RESULTS,
        me=v.signed_in_staff.ctx.id,
        **data,
        **extra,
    )


@router.get("/collections/{loan_id}")
def collection_case(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """One overdue loan's assignments and contact log, with the forms the role may use."""
    return _case_page(request, v, engine, clock, loan_id)


@router.post("/collections/{loan_id}/assign")
def assign(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    v.require("collections.manage")
    actor = v.actor
    values = v.form.values("collector_id", "reason")
    error: PuhuiError | None = None
    if not values["collector_id"].isdigit():
        error = ValidationError("not_a_collector", "choose a collector", field="collector_id")
    else:
        error = attempt(
            engine,
            lambda c: collections.assign(
                c,
                loan_id=loan_id,
                collector_id=int(values["collector_id"]),
                reason=values["reason"],
                actor=actor,
                clock=clock,
            ),
        ).error
    if error is None:
        return html_redirect(f"/admin/collections/{loan_id}", request)
    error = on_field(error, {"collector_id": "collector_id"}, default="collector_id")
    return _case_page(
        request, v, engine, clock, loan_id, status=error.status, error=error, form=values
    )


def _date(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError("date_invalid", "YYYY-MM-DD", field=field) from None


@router.post("/collections/{loan_id}/contacts")
def log_contact(
    loan_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """A contact made now with the borrower. The guards (quiet hours, the day's maximum, no
    third parties, overdue and assigned to you) refuse it and write nothing; the refusal is
    shown beside the field it concerns, a field-less one beside the button."""
    v.require("loans.collect")
    actor, me = v.actor, v.signed_in_staff.ctx.id
    values = v.form.values("channel", "party", "result", "promise_date", "promise", "note")
    policy = getattr(request.app.state, "contact_policy", collections.DEFAULT_POLICY)

    def work(c: Connection) -> collections.Contact:
        promise_fen = (
            parse_yuan(values["promise"], field="promise", allow_zero=False)
            if values["promise"]
            else None
        )
        return collections.log_contact(
            c,
            loan_id=loan_id,
            collector_id=me,
            channel=values["channel"],
            party=values["party"] or "borrower",
            result=values["result"],
            promise_date=_date(values["promise_date"], "promise_date"),
            promise_fen=promise_fen,
            note=values["note"],
            actor=actor,
            clock=clock,
            policy=policy,
        )

    error = missing(values, "channel", "result") or attempt(engine, work).error
    if error is None:
        return html_redirect(f"/admin/collections/{loan_id}", request)
    error = on_field(
        error,
        {
            "channel": "channel",
            "party": "party",
            "result": "result",
            "promise_date": "promise_date",
            "promise_fen": "promise",
            "promise": "promise",
        },
        default="contact",
    )
    return _case_page(
        request, v, engine, clock, loan_id, status=error.status, error=error, form=values
    )


# ------------------------------------------------------------------------- end of day


@router.get("/eod")
def eod_runs(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    v.require("eod.run")
    return _eod_page(request, v, engine, clock)


def _eod_page(request: Request, v: Visitor, engine: Engine, clock: Clock, **extra: Any) -> Response:
    runs = _read(engine, lambda c: views.eod_runs(c, limit=60))
    today = jobs.business_date(engine, clock=clock)
    return page(
        request,
        v,
        "admin/eod.html",
        status=extra.pop("status", 200),
        active="eod",
        runs=runs,
        business_date=today,
        **extra,
    )


@router.post("/eod")
def run_eod(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep, channel: ChannelDep
) -> Response:
    """Close a business date (the batch's own date by default); a closed date is skipped. The
    run is audited before it starts."""
    v.require("eod.run")
    actor = v.actor
    values = v.form.values("business_date")
    chosen = call(lambda: _date(values["business_date"], "business_date"))
    error = chosen.error
    if error is None:
        done = call(
            lambda: flows.run_eod(
                engine, actor=actor, clock=clock, channel=channel, start=chosen.value
            )
        )
        if done.ok and done.value:
            return html_redirect(f"/admin/eod/{done.value[-1].business_date}", request)
        error = on_field(done.error, {}, default="business_date")
    return _eod_page(request, v, engine, clock, status=400, error=error, form=values)


@router.get("/eod/{business_date}")
def eod_day(business_date: str, request: Request, v: StaffDep, engine: EngineDep) -> Response:
    """One date's run: every step of every partition, the totals and the closing checks."""
    v.require("eod.run")
    try:
        day_date = date.fromisoformat(business_date)
    except ValueError:
        raise NotFound("eod_run_not_found", "no such date") from None
    day = eod.report(engine, day_date)
    if day.partitions == 0:
        raise NotFound("eod_run_not_found", f"no end-of-day run for {day_date}")
    return page(request, v, "admin/eod_day.html", active="eod", day=day, totals=day.totals())
