"""Partners and webhooks in the back office (合作机构与回调): the partners with their key ids,
scopes, mode and rate limit (never a secret), a partner's page with its webhook endpoints and
delivery log, manual redelivery, and onboarding a partner.

Every page asks for ``operations.manage``, the permission of the ``/admin/api/v1`` partner
routes, and calls the same domain functions (``partners.create`` writes the audit entry). The
new partner's secret is shown once, on the page that answers the onboarding post: it is never
put in a URL, and no other page can show it (puhui keeps it sealed). A second post of the same
onboarding form is refused by the taken code. A delivery is redelivered only from ``failed``:
one already queued or delivered is refused, so a double click queues it once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection, Engine, select
from starlette.responses import Response

from puhui.core.errors import PuhuiError, ValidationError
from puhui.openplatform import partners, webhooks
from puhui.openplatform.models import partner_keys
from puhui.web import nav
from puhui.web.common import ClockDep, EngineDep, KeysDep, attempt
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import ERROR_TEXT, page
from puhui.web.security import StaffDep, Visitor, html_redirect

PERMISSION = "operations.manage"
router = APIRouter(prefix="/admin", include_in_schema=False)
nav.register("admin", NavItem("partners", N_("Partners"), "/admin/partners", 84, PERMISSION))

ERROR_TEXT.update(
    {
        "partner_exists": N_("A partner with this code exists already."),
        "partner_code_invalid": N_("A code is 2 to 48 of a-z, 0-9, _ and -."),
        "partner_name_invalid": N_("A name has 1 to 200 characters."),
        "partner_mode_invalid": N_("The mode is sandbox or live."),
        "scope_unknown": N_("Choose one or more of the listed scopes."),
        "ip_allowlist_empty": N_("Name the partner's networks (0.0.0.0/0 allows any address)."),
        "ip_network_invalid": N_("One of the lines is not an IP network."),
        "rate_limit_invalid": N_("1 to 100000 requests a minute."),
        "partner_not_found": N_("No such partner."),
        "delivery_not_found": N_("No such delivery."),
        "redelivery_refused": N_("Only a failed delivery can be sent again; this one is not."),
    }
)
#: a delivery's state in the log's words (``pending`` is queued for its next attempt)
DELIVERY_STATES = {
    "pending": N_("Queued"),
    "delivering": N_("Delivering"),
    "succeeded": N_("Delivered"),
    "failed": N_("Failed"),
}
FORM_FIELDS = ("code", "name", "mode", "ip_allowlist", "product_codes", "rate_limit_per_minute")
DELIVERIES = 50


def _key_ids(conn: Connection) -> dict[int, list[str]]:
    """Each partner's active key ids (public identifiers; the secrets stay sealed)."""
    rows = conn.execute(
        select(partner_keys.c.partner_id, partner_keys.c.key_id)
        .where(partner_keys.c.status == "active")
        .order_by(partner_keys.c.id)
    )
    found: dict[int, list[str]] = {}
    for r in rows:
        found.setdefault(r.partner_id, []).append(r.key_id)
    return found


@router.get("/partners")
def partner_list(request: Request, v: StaffDep, engine: EngineDep) -> Response:
    v.require(PERMISSION)
    with engine.connect() as c:
        found = partners.list_partners(c)
        keys = _key_ids(c)
    return page(request, v, "admin/partners.html", active="partners", rows=found, key_ids=keys)


def _new_form(
    request: Request, v: Visitor, *, error: PuhuiError | None = None, status: int = 200
) -> Response:
    form = v.form.values(*FORM_FIELDS) if error else {}
    return page(
        request,
        v,
        "admin/partners_new.html",
        status=status,
        active="partners",
        error=error,
        form=form,
        chosen=set(v.form.getlist("scopes")),
        scopes=partners.SCOPES,
        modes=partners.MODES,
        default_rate=partners.DEFAULT_RATE_LIMIT,
    )


@router.get("/partners/new")
def new_partner(request: Request, v: StaffDep) -> Response:
    v.require(PERMISSION)
    return _new_form(request, v)


def _lines(text: str) -> list[str]:
    return [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]


@router.post("/partners")
def onboard(
    request: Request, v: StaffDep, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    """Onboard a partner and answer with its key id and secret, this once."""
    v.require(PERMISSION)
    f = v.form
    rate = f.get("rate_limit_per_minute") or str(partners.DEFAULT_RATE_LIMIT)

    def work(c: Connection) -> partners.Credentials:
        if not rate.isdigit():
            raise ValidationError(
                "rate_limit_invalid", "a whole number", field="rate_limit_per_minute"
            )
        return partners.create(
            c,
            keys=keys,
            code=f.get("code"),
            name=f.get("name"),
            mode=f.get("mode"),
            scopes=f.getlist("scopes"),
            ip_allowlist=_lines(f.get("ip_allowlist")),
            product_codes=_lines(f.get("product_codes")),
            rate_limit_per_minute=int(rate),
            actor=v.actor,
            clock=clock,
        )

    done = attempt(engine, work)
    if done.error is not None or done.value is None:
        return _new_form(request, v, error=done.error, status=422)
    return page(
        request, v, "admin/partners_created.html", status=201, active="partners", new=done.value
    )


def _partner_page(
    request: Request,
    v: Visitor,
    engine: Engine,
    partner_id: int,
    *,
    error: PuhuiError | None = None,
    error_delivery: int | None = None,
    status: int = 200,
) -> Response:
    v.require(PERMISSION)

    def work(c: Connection) -> dict[str, Any]:
        partner = partners.get(c, partner_id=partner_id)
        deliveries, more = webhooks.list_deliveries(c, partner_id=partner_id, limit=DELIVERIES)
        return {
            "partner": partner,
            "key_ids": _key_ids(c).get(partner_id, []),
            "subscriptions": webhooks.list_subscriptions(c, partner_id=partner_id),
            "deliveries": deliveries,
            "more": more,
        }

    with engine.connect() as c:
        data = work(c)
    return page(
        request,
        v,
        "admin/partners_partner.html",
        status=status,
        active="partners",
        error=error,
        error_delivery=error_delivery,
        delivery_states=DELIVERY_STATES,
        **data,
    )


@router.get("/partners/{partner_id}")
def partner(partner_id: int, request: Request, v: StaffDep, engine: EngineDep) -> Response:
    return _partner_page(request, v, engine, partner_id)


@router.post("/partners/{partner_id}/deliveries/{delivery_id}/redeliver")
def redeliver(
    partner_id: int,
    delivery_id: int,
    request: Request,
    v: StaffDep,
    engine: EngineDep,
    clock: ClockDep,
) -> Response:
    """Queue a failed delivery again; a refusal is shown beside the delivery's row."""
    v.require(PERMISSION)

    def work(c: Connection) -> webhooks.Delivery:
        return webhooks.redeliver(
            c, delivery_id=delivery_id, partner_id=partner_id, clock=clock, only_from=("failed",)
        )

    done = attempt(engine, work)
    if done.error is None:
        return html_redirect(f"/admin/partners/{partner_id}", request)
    if done.error.code == "delivery_not_found":
        raise done.error
    return _partner_page(
        request, v, engine, partner_id, error=done.error, error_delivery=delivery_id, status=409
    )
