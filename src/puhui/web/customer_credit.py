"""The borrower's credit decisions: the outcome, the reasons in plain words, and a way to ask a
person to review an automated rejection (PI-ADM-01).

A decision is found only together with its owner (``applicant_ref`` is the customer id), so
another borrower's is 404, as on ``/api/v1/me/credit/decisions``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from puhui.credit import review as reviews
from puhui.credit.decision import get_own_decision, list_decisions
from puhui.web.common import ClockDep, EngineDep, attempt, missing
from puhui.web.render import page
from puhui.web.security import CustomerDep, Visitor, html_redirect

router = APIRouter(prefix="/m", include_in_schema=False)


@router.get("/credit")
def my_decisions(request: Request, v: CustomerDep, engine: EngineDep) -> Response:
    with engine.connect() as c:
        found = list_decisions(c, applicant_ref=str(v.customer_id), limit=50)
    return page(request, v, "customer/credit.html", active="credit", decisions=found)


def _detail(request: Request, v: Visitor, engine: Any, decision_id: int, **extra: Any) -> Response:
    with engine.connect() as c:
        decision = get_own_decision(c, decision_id=decision_id, applicant_ref=str(v.customer_id))
        review = reviews.get_review(c, decision_id=decision_id)
    return page(
        request,
        v,
        "customer/decision.html",
        status=400 if extra.get("error") else 200,
        active="credit",
        d=decision,
        review=review,
        **extra,
    )


@router.get("/credit/{decision_id}")
def my_decision(decision_id: int, request: Request, v: CustomerDep, engine: EngineDep):
    return _detail(request, v, engine, decision_id)


@router.post("/credit/{decision_id}/review")
def ask_for_review(
    decision_id: int, request: Request, v: CustomerDep, engine: EngineDep, clock: ClockDep
) -> Response:
    reason = v.form.get("reason")
    error = (
        missing({"reason": reason}, "reason")
        or attempt(
            engine,
            lambda c: reviews.request_review(
                c,
                decision_id=decision_id,
                applicant_ref=str(v.customer_id),
                reason=reason,
                clock=clock,
            ),
        ).error
    )
    if error is None:
        return html_redirect(f"/m/credit/{decision_id}", request)
    return _detail(request, v, engine, decision_id, error=error, form={"reason": reason})
