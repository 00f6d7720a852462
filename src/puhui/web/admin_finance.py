"""Reconciliation breaks under maker-checker: one staff member proposes the adjustment that
closes a break, another approves (or rejects) it; ``custody.breaks`` refuses a checker who is
the maker. Reading needs ``finance.read`` or ``finance.reconcile``, acting ``finance.reconcile``.

Each step is written to the audit log in the same transaction as the step itself, so a
proposal or an approval without its audit entry cannot exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from puhui.core.clock import business_date
from puhui.core.errors import PuhuiError
from puhui.custody import breaks
from puhui.custody.breaks import Proposal
from puhui.identity import audit
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, attempt
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import page
from puhui.web.security import PermissionRefused, StaffDep, Visitor, html_redirect

router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register(
    "admin",
    NavItem(
        "breaks", N_("Reconciliation breaks"), "/admin/breaks", 40, permission="finance.reconcile"
    ),
)


def _require_reader(v: Visitor) -> None:
    if not (v.may("finance.read") or v.may("finance.reconcile")):
        raise PermissionRefused("finance.read")


def _breaks_page(
    request: Request, v: Visitor, engine: Any, clock: Any, *, error: PuhuiError | None = None
) -> Response:
    today = business_date(clock.now())
    show_all = request.query_params.get("all") == "1"
    with engine.connect() as c:
        rows = breaks.list_breaks(c, as_of=today, include_resolved=show_all)
        proposals = breaks.list_proposals(c, break_ids=[b.id for b in rows])
    by_break: dict[int, list[Proposal]] = {}
    for p in proposals:
        by_break.setdefault(p.break_id, []).append(p)
    return page(
        request,
        v,
        "admin/breaks.html",
        status=error.status if error else 200,
        active="breaks",
        rows=rows,
        proposals=by_break,
        show_all=show_all,
        error=error,
    )


@router.get("/breaks")
def list_breaks(request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep) -> Response:
    _require_reader(v)
    return _breaks_page(request, v, engine, clock)


def _step(
    request: Request,
    v: Visitor,
    engine: Any,
    clock: Any,
    event: str,
    do: Callable[[Connection, str], Proposal],
) -> Response:
    """One maker-checker step and its audit entry in one transaction, then the list again."""
    v.require("finance.reconcile")
    actor = v.actor

    def work(c: Connection) -> Proposal:
        proposal = do(c, actor.principal)
        audit.record(
            c,
            actor=actor,
            event=event,
            object_type="recon_break",
            object_id=proposal.break_id,
            after={"proposal": proposal.id, "status": proposal.status},
            detail={
                "amount_fen": proposal.amount,
                "proposed_by": proposal.proposed_by,
                "ledger_transfer_id": proposal.ledger_transfer_id,
            },
            clock=clock,
        )
        return proposal

    error = attempt(engine, work).error
    if error is None:
        return html_redirect("/admin/breaks", request)
    return _breaks_page(request, v, engine, clock, error=error)


@router.post("/breaks/{break_id}/propose")
def propose(
    break_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """The maker's half: the adjustment that makes the ledger say what the bank says."""
    reason = v.form.get("reason")
    return _step(
        request,
        v,
        engine,
        clock,
        "break.propose",
        lambda c, me: breaks.propose(
            c, break_id=break_id, proposed_by=me, reason=reason, clock=clock
        ),
    )


@router.post("/proposals/{proposal_id}/approve")
def approve(
    proposal_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    """The checker's half: books the adjustment and closes the break."""
    return _step(
        request,
        v,
        engine,
        clock,
        "break.approve",
        lambda c, me: breaks.approve(c, proposal_id=proposal_id, approved_by=me, clock=clock),
    )


@router.post("/proposals/{proposal_id}/reject")
def reject(
    proposal_id: int, request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep
) -> Response:
    return _step(
        request,
        v,
        engine,
        clock,
        "break.reject",
        lambda c, me: breaks.reject(c, proposal_id=proposal_id, rejected_by=me, clock=clock),
    )
