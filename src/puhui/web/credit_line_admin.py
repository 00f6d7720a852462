"""Consumer credit lines (消费信贷) in the back office: the lines (filtered by state), a line with
its statements and instalment plans, and granting (授信), adjusting the limit (调额, never below
what is owed), a temporary raise (临时额度) with its end date, freezing, unfreezing and closing.

Each page asks for the permission its ``/admin/api/v1/credit-lines`` twin asks for
(``creditlines.read`` to read, ``creditlines.manage`` to change) and calls the same domain
functions, which lock the line and write the audit entry in the transaction that does the work.
A second submit is safe by state: a line is granted once per customer, a freeze of a frozen line
is refused, and setting the same limit twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.responses import Response

from puhui.api.credit_line import CreditDep
from puhui.api.identity import KeysDep
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, PuhuiError, ValidationError
from puhui.core.money import parse_yuan
from puhui.credit.policy import CreditPolicy
from puhui.lending.credit_line import instalments, service, underwriting, views
from puhui.web import credit_line_customer, nav
from puhui.web.common import ClockDep, EngineDep, attempt, call, missing
from puhui.web.i18n import N_
from puhui.web.lending_common import on_field
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin/credit-lines", include_in_schema=False)
nav.register(
    "admin",
    NavItem("credit_lines", N_("Credit lines"), "/admin/credit-lines", 63, "creditlines.read"),
)
#: the customer pages' words for the line's refusals and states serve here too
LINE_STATES = credit_line_customer.LINE_STATES

READ, MANAGE = "creditlines.read", "creditlines.manage"
STATES = service.STATES
#: The state changes with no form fields: the action name → the domain function.
STATE_ACTIONS: dict[str, Callable[..., service.Line]] = {
    "freeze": service.freeze,
    "unfreeze": service.unfreeze,
    "close": service.close,
}
_GRANT_FIELDS = {
    "customer_id": "customer_id",
    "features": "features",
    "limit_fen": "limit",
}


# --------------------------------------------------------------------------------- lines


def _lines_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, **extra: Any
) -> Response:
    v.require(READ)
    raw = request.query_params.get("state")
    state = raw if raw in STATES else None
    with engine.connect() as c:
        found = service.list_lines(c, clock=clock, state=state)
    error: PuhuiError | None = extra.get("error")
    return page(
        request,
        v,
        "admin/credit_lines.html",
        status=error.status if error else 200,
        active="credit_lines",
        rows=found,
        state=state,
        states=STATES,
        line_states=LINE_STATES,
        grades=sorted(CreditPolicy().approve_grades),
        **extra,
    )


@router.get("")
def credit_lines(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    """The lines, ``?state=`` to filter; the grant form for those who may grant."""
    return _lines_page(request, v, engine, clock)


@router.post("")
def grant(
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    credit: CreditDep,
) -> Response:
    """授信 by a credit decision, as the API grants: the customer is scored on the scorecard's
    attributes and their records, the limit comes from the grade and income within the caps,
    and staff may ask for less, never more. A decline opens no line and is shown with the
    rules that fired."""
    v.require(MANAGE)
    values = v.form.values("customer_id", "features", "limit")
    error = missing(values, "customer_id")
    if error is None and not values["customer_id"].isdigit():
        error = ValidationError("form_incomplete", "a customer number", field="customer_id")
    features = call(lambda: _features(values["features"]))
    error = error or features.error
    limit = call(
        lambda: (
            parse_yuan(values["limit"], field="limit", allow_zero=False)
            if values["limit"]
            else None
        )
    )
    error = error or limit.error
    if error is None:
        done = attempt(
            engine,
            lambda c: underwriting.grant_by_decision(
                c,
                customer_id=int(values["customer_id"]),
                actor=v.actor,
                keys=keys,
                clock=clock,
                credit=credit,
                features=features.value,
                limit_fen=limit.value,
            ),
        )
        made = done.value
        if done.ok and made is not None and made.line is not None:
            return html_redirect(f"/admin/credit-lines/{made.line.id}", request)
        if done.ok and made is not None:
            return _lines_page(request, v, engine, clock, form=values, declined=made)
        error = on_field(done.error, _GRANT_FIELDS, default="customer_id")
    return _lines_page(request, v, engine, clock, form=values, error=error)


def _features(text: str) -> dict[str, Any]:
    """The scorecard's attributes as the form's JSON object (empty: none given)."""
    if not text.strip():
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        raise ValidationError("features_invalid", "a JSON object", field="features") from None
    if not isinstance(found, dict):
        raise ValidationError("features_invalid", "a JSON object", field="features")
    return found


# ---------------------------------------------------------------------------------- a line


def _line_page(
    request: Request, v: Visitor, engine: Engine, clock: Clock, line_id: int, **extra: Any
) -> Response:
    v.require(READ)
    with engine.connect() as c:
        line = service.get(c, line_id=line_id, clock=clock)
        statements = list(reversed(views.all_statements(c, line_id=line_id)))
        plans = instalments.list_plans(c, line_id=line_id)
    error: PuhuiError | None = extra.get("error")
    return page(
        request,
        v,
        "admin/credit_line.html",
        status=error.status if error else 200,
        active="credit_lines",
        line=line,
        owed=line.outstanding_fen + line.fees_fen + line.interest_fen + line.penalty_fen,
        statements=statements,
        plans=plans,
        may_manage=v.may(MANAGE),
        line_states=LINE_STATES,
        **extra,
    )


@router.get("/{line_id}")
def credit_line(
    line_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _line_page(request, v, engine, clock, line_id)


@router.post("/{line_id}/limit")
def adjust(
    line_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """调额: refused below what is owed, beside the field."""
    v.require(MANAGE)
    values = v.form.values("limit")
    amount = call(lambda: parse_yuan(values["limit"], field="limit", allow_zero=False))
    error = missing(values, "limit") or amount.error
    if error is None:
        done = attempt(
            engine,
            lambda c: service.adjust(
                c, line_id=line_id, limit_fen=amount.value or 0, actor=v.actor, clock=clock
            ),
        )
        if done.ok:
            return html_redirect(f"/admin/credit-lines/{line_id}", request)
        error = on_field(done.error, {"limit_fen": "limit"}, default="limit")
    return _line_page(request, v, engine, clock, line_id, form=values, error=error)


@router.post("/{line_id}/temporary-raise")
def raise_temporarily(
    line_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """临时额度: an amount on top of the limit through an end date."""
    v.require(MANAGE)
    values = v.form.values("extra", "until")
    error = missing(values, "extra", "until")
    extra = call(lambda: parse_yuan(values["extra"], field="extra", allow_zero=False))
    error = error or extra.error
    until: date | None = None
    if error is None:
        try:
            until = date.fromisoformat(values["until"])
        except ValueError:
            error = ValidationError("date_invalid", "YYYY-MM-DD", field="until")
    if error is None and until is not None:
        end = until
        done = attempt(
            engine,
            lambda c: service.raise_temporarily(
                c,
                line_id=line_id,
                extra_fen=extra.value or 0,
                until=end,
                actor=v.actor,
                clock=clock,
            ),
        )
        if done.ok:
            return html_redirect(f"/admin/credit-lines/{line_id}", request)
        error = on_field(done.error, {"extra_fen": "extra", "until": "until"}, default="extra")
    return _line_page(request, v, engine, clock, line_id, form=values, error=error)


@router.post("/{line_id}/{action}")
def change_state(
    line_id: int,
    action: str,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
) -> Response:
    """冻结, 解冻, 销户: refused by state (a frozen line is not frozen twice; a line that owes
    does not close) and shown beside the buttons."""
    operation = STATE_ACTIONS.get(action)
    if operation is None:
        raise NotFound("page_not_found", "no such action")
    v.require(MANAGE)
    done = attempt(engine, lambda c: operation(c, line_id=line_id, actor=v.actor, clock=clock))
    if done.ok:
        return html_redirect(f"/admin/credit-lines/{line_id}", request)
    if isinstance(done.error, NotFound):
        raise done.error
    error = on_field(done.error, {}, default="state")
    return _line_page(request, v, engine, clock, line_id, error=error)
