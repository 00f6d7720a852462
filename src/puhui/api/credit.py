"""Credit decisions over HTTP: staff ask for and read decisions, borrowers read their own and
ask for a person to review a rejection (PI-ADM-01). Not mounted here; the app mounts it.

Staff endpoints live under ``/admin/api/v1/credit`` and need ``kyc.review`` to decide or
resolve a review, ``customers.read`` to read. A borrower's decision is found only together with
its owner (``applicant_ref`` is the customer id), so another borrower's answers 404.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from puhui.api.identity import Body, ClockDep, Customer, EngineDep, StaffAuth, require
from puhui.core.clock import business_date
from puhui.credit import review as reviews
from puhui.credit.application import Application, ProductOffer
from puhui.credit.bureau import SandboxBureau
from puhui.credit.decision import Decision, decide, get_decision, get_own_decision
from puhui.credit.fraud import key_from_env
from puhui.credit.monitoring import monitor
from puhui.credit.policy import CreditPolicy
from puhui.credit.review import Review
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.lending.products import get_product

router = APIRouter(tags=["credit"])

Fen = Annotated[int, Field(ge=0, le=10**15)]
Short = Annotated[str, Field(min_length=1, max_length=128)]
Decider = Annotated[StaffAuth, Depends(require("kyc.review"))]
Reader = Annotated[StaffAuth, Depends(require("customers.read"))]


def _service(request: Request, name: str, make: Any) -> Any:
    """A credit collaborator kept on ``app.state`` (a test or deployment may set its own)."""
    if not hasattr(request.app.state, name):
        setattr(request.app.state, name, make())
    return getattr(request.app.state, name)


class DecisionIn(Body):
    product_code: Short
    product_version: int | None = None
    applicant_ref: Annotated[str, Field(min_length=1, max_length=64)]
    id_number: Annotated[str, Field(min_length=1, max_length=32)]
    kyc_verified: bool
    annual_income_fen: Fen
    income_verified: bool = False
    student: bool = False
    purpose: Short
    requested_fen: Annotated[int, Field(gt=0, le=10**15)]
    term_months: Annotated[int, Field(ge=1, le=360)]
    features: dict[str, str | float] = Field(default_factory=dict)
    monthly_debt_fen: Fen = 0
    platform_outstanding_fen: Fen = 0
    device_id: Short | None = None
    ip: Short | None = None
    phone: Short | None = None
    card: Short | None = None


class DecisionView(BaseModel):
    """A decision (``credit.decision.Decision``; rates and PD as decimal strings) and its
    human review, if one was asked for."""

    decision: Decision
    review: Review | None = None


def _view(conn: Connection, decision: Decision) -> DecisionView:
    return DecisionView(decision=decision, review=reviews.get_review(conn, decision_id=decision.id))


@router.post("/admin/api/v1/credit/decisions", response_model=DecisionView, status_code=201)
def create_decision(
    body: DecisionIn, request: Request, _staff: Decider, engine: EngineDep, clock: ClockDep
) -> DecisionView:
    """Decide on an application for a product and record the decision."""
    application = Application(**body.model_dump(exclude={"product_code", "product_version"}))
    model = _service(request, "credit_model", default_model)
    bureau = _service(request, "credit_bureau", lambda: SandboxBureau(synthetic=True))
    policy = _service(request, "credit_policy", CreditPolicy)
    key = _service(request, "credit_fingerprint_key", key_from_env)

    def work(conn: Connection) -> DecisionView:
        product = get_product(conn, code=body.product_code, version=body.product_version)
        decision = decide(
            conn,
            application=application,
            offer=ProductOffer.from_product(product),
            model=model,
            bureau=bureau,
            policy=policy,
            fingerprint_key=key,
            clock=clock,
        )
        return _view(conn, decision)

    return run_in_transaction(engine, work)


@router.get("/admin/api/v1/credit/decisions/{decision_id}", response_model=DecisionView)
def read_decision(decision_id: int, _staff: Reader, engine: EngineDep) -> DecisionView:
    with engine.connect() as conn:
        return _view(conn, get_decision(conn, decision_id=decision_id))


class ResolveIn(Body):
    overturn: bool
    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/admin/api/v1/credit/decisions/{decision_id}/review/resolve", response_model=Review)
def resolve_review(
    decision_id: int, body: ResolveIn, staff: Decider, engine: EngineDep, clock: ClockDep
) -> Review:
    """A credit officer upholds or overturns the rejection under review."""
    return run_in_transaction(
        engine,
        lambda c: reviews.resolve_review(
            c,
            decision_id=decision_id,
            reviewer=staff.actor.principal,
            overturn=body.overturn,
            note=body.note,
            clock=clock,
        ),
    )


@router.get("/admin/api/v1/credit/monitoring")
def monitoring(
    request: Request,
    _staff: Reader,
    engine: EngineDep,
    clock: ClockDep,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
) -> dict[str, Any]:
    """PSI against training, approval rate, bad rates by grade and vintage."""
    last = until or business_date(clock.now())
    model = _service(request, "credit_model", default_model)
    with engine.connect() as conn:
        found = monitor(conn, model=model, since=since or last - timedelta(days=30), until=last)
    return found.as_dict()


@router.get("/api/v1/me/credit/decisions/{decision_id}", response_model=DecisionView)
def my_decision(decision_id: int, who: Customer, engine: EngineDep) -> DecisionView:
    """The borrower's own decision, with its reasons in plain words."""
    with engine.connect() as conn:
        return _view(
            conn,
            get_own_decision(conn, decision_id=decision_id, applicant_ref=str(who.customer_id)),
        )


class ReviewIn(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post(
    "/api/v1/me/credit/decisions/{decision_id}/review", response_model=Review, status_code=201
)
def ask_for_review(
    decision_id: int, body: ReviewIn, who: Customer, engine: EngineDep, clock: ClockDep
) -> Review:
    """Ask for a person to review an automated rejection (PI-ADM-01)."""
    return run_in_transaction(
        engine,
        lambda c: reviews.request_review(
            c,
            decision_id=decision_id,
            applicant_ref=str(who.customer_id),
            reason=body.reason,
            clock=clock,
        ),
    )
