"""What a partner does through ``/open/v1``: its products, its applications, their loans.

A partner only ever sees what it pushed: an application of someone else's, or a loan that did
not come from one of its applications, is not found, exactly like a missing one. Pushing is
allowed to live partners only (a sandbox key reads and tests webhooks), for products the
partner may sell, for a customer who consented to credit assessment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity import consents
from puhui.identity import customers as customer_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.errors import Forbidden
from puhui.identity.times import now_us
from puhui.lending import applications, products, views
from puhui.lending.applications import LoanApplication
from puhui.lending.products import ProductVersion
from puhui.openplatform.models import partner_applications
from puhui.openplatform.partners import Partner

#: The consent a customer must have given before a partner may apply on their behalf.
CONSENT_PURPOSE = "credit_assessment"


@dataclass(frozen=True)
class PushedApplication:
    application: LoanApplication
    external_ref: str


def list_products(conn: Connection, *, partner: Partner) -> list[ProductVersion]:
    """The current version of every product the partner may sell, by code."""
    found = []
    for code in partner.product_codes:
        try:
            found.append(products.get_product(conn, code=code))
        except NotFound:
            continue  # a product staff allowed before it was created; nothing to sell yet
    return found


def push_application(
    conn: Connection,
    *,
    partner: Partner,
    keys: Keyring,
    customer_phone: str,
    product_code: str,
    amount_fen: int,
    term: int,
    purpose: str,
    external_ref: str,
    actor: Actor,
    clock: Clock,
    purpose_detail: str = "",
) -> PushedApplication:
    """Create and submit an application for a consenting customer, as the partner."""
    if not partner.live:
        raise Forbidden(
            "sandbox_partner",
            "a sandbox partner cannot push applications; use a live partner's key",
        )
    if product_code not in partner.product_codes:
        raise Forbidden(
            "product_not_offered",
            f"this partner may not sell {product_code!r}",
            field="product_code",
        )
    if not 0 < len(external_ref) <= 64:
        raise ValidationError(
            "external_ref_invalid", "external_ref is 1–64 characters", field="external_ref"
        )
    taken = conn.execute(
        select(partner_applications.c.application_id).where(
            partner_applications.c.partner_id == partner.id,
            partner_applications.c.external_ref == external_ref,
        )
    ).first()
    if taken is not None:
        raise Conflict(
            "external_ref_exists",
            f"external_ref {external_ref!r} names application {taken[0]} already",
            field="external_ref",
        )
    customer = customer_service.find(conn, keys=keys, phone=customer_phone)
    consents.require(conn, customer_id=customer.id, purpose=CONSENT_PURPOSE)
    version = products.get_product(conn, code=product_code)
    draft = applications.create(
        conn,
        customer_id=customer.id,
        product_version_id=version.version_id,
        amount_fen=amount_fen,
        term=term,
        purpose=purpose,
        purpose_detail=purpose_detail,
        channel=f"open:{partner.code}"[:64],
        actor=actor,
        clock=clock,
    )
    conn.execute(
        insert(partner_applications).values(
            application_id=draft.id,
            partner_id=partner.id,
            customer_id=customer.id,
            external_ref=external_ref,
            created_us=now_us(clock),
        )
    )
    submitted = applications.submit(
        conn, application_id=draft.id, customer_id=customer.id, actor=actor, clock=clock
    )
    return PushedApplication(submitted, external_ref)


def _owned(conn: Connection, partner: Partner, application_id: int) -> str | None:
    return conn.execute(
        select(partner_applications.c.external_ref).where(
            partner_applications.c.application_id == application_id,
            partner_applications.c.partner_id == partner.id,
        )
    ).scalar()


def get_application(
    conn: Connection, *, partner: Partner, application_id: int
) -> PushedApplication:
    ref = _owned(conn, partner, application_id)
    if ref is None:
        raise NotFound(
            "application_not_found", f"no application {application_id}", field="application_id"
        )
    return PushedApplication(applications.get_application(conn, application_id=application_id), ref)


def get_loan(conn: Connection, *, partner: Partner, loan_id: int) -> views.LoanDetail:
    try:
        loan = views.get_loan(conn, loan_id=loan_id)
    except NotFound:
        loan = None
    if loan is None or _owned(conn, partner, loan.application_id) is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return loan


def loan_schedule(
    conn: Connection, *, partner: Partner, loan_id: int, clock: Clock
) -> list[views.InstallmentView]:
    get_loan(conn, partner=partner, loan_id=loan_id)
    return views.schedule(conn, loan_id=loan_id, clock=clock)
