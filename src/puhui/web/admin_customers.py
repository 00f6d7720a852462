"""Back-office customer pages: the list and a customer, masked and inside the staff member's
scope, and unmasking for a stated reason (``customers.unmask``), each access audited through
``identity.staff_access`` exactly as the ``/admin/api/v1/customers`` endpoints audit it.

Searching by phone or ID number is a form post, so the value never lands in a URL or a log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from puhui.identity import staff_access
from puhui.identity.customers import UNMASKABLE
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, KeysDep, attempt
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register(
    "admin",
    NavItem("customers", N_("Customers"), "/admin/customers", 20, permission="customers.read"),
)
PAGE = 20


@router.get("/customers")
def customers_list(
    request: Request, v: StaffDep, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> Response:
    v.require("customers.read")
    who = v.signed_in_staff
    raw = request.query_params.get("after", "0")
    after = int(raw) if raw.isdigit() else 0
    rows = (
        attempt(
            engine,
            lambda c: staff_access.list_customers(
                c,
                keys=keys,
                where=who.ctx.customer_filter(),
                actor=who.actor,
                after_id=after,
                limit=PAGE + 1,
                clock=clock,
            ),
        ).value
        or []
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return page(
        request,
        v,
        "admin/customers.html",
        active="customers",
        rows=rows,
        next_after=rows[-1].id if more and rows else None,
    )


@router.post("/customers/search")
def search(
    request: Request, v: StaffDep, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> Response:
    v.require("customers.read")
    who = v.signed_in_staff
    term = v.form.get("q").replace(" ", "")
    by_id = len(term) == 18
    done = attempt(
        engine,
        lambda c: staff_access.find_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            phone=None if by_id else term,
            id_number=term if by_id else None,
            actor=who.actor,
            clock=clock,
        ),
    )
    if done.ok and done.value is not None:
        return html_redirect(f"/admin/customers/{done.value.id}", request)
    return page(
        request,
        v,
        "admin/customers.html",
        status=404,
        active="customers",
        rows=[],
        error=done.error,
    )


def _detail(
    request: Request, v: Visitor, engine: Any, keys: Any, clock: Any, customer_id: int, **extra: Any
) -> Response:
    who = v.signed_in_staff
    done = attempt(
        engine,
        lambda c: staff_access.view_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            customer_id=customer_id,
            actor=who.actor,
            clock=clock,
        ),
    )
    if done.error is not None:
        raise done.error
    return page(
        request,
        v,
        "admin/customer.html",
        status=400 if extra.get("error") else 200,
        active="customers",
        c=done.value,
        unmaskable=UNMASKABLE,
        **extra,
    )


@router.get("/customers/{customer_id}")
def customer(
    customer_id: int,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    keys: KeysDep,
    clock: ClockDep,
) -> Response:
    v.require("customers.read")
    return _detail(request, v, engine, keys, clock, customer_id)


@router.post("/customers/{customer_id}/unmask")
def unmask(
    customer_id: int,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    keys: KeysDep,
    clock: ClockDep,
) -> Response:
    """Show plain values once, on this answer only; the reason goes to the audit log."""
    v.require("customers.read")
    v.require("customers.unmask")
    who = v.signed_in_staff
    fields = [f for f in v.form.getlist("fields") if f in UNMASKABLE]
    reason = v.form.get("reason")
    done = attempt(
        engine,
        lambda c: staff_access.unmask_customer(
            c,
            keys=keys,
            where=who.ctx.customer_filter(),
            customer_id=customer_id,
            fields=fields,
            reason=reason,
            actor=who.actor,
            clock=clock,
        ),
    )
    return _detail(
        request,
        v,
        engine,
        keys,
        clock,
        customer_id,
        unmasked=done.value,
        error=done.error,
        form={"reason": reason},
    )
