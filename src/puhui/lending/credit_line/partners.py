"""A purchase at a partner merchant through the open platform (开放平台消费).

The partner names the customer by phone; the customer must have consented to credit assessment
(as for a pushed application), a sandbox partner moves no money, and the partner's order
reference makes the purchase happen once.
"""

from __future__ import annotations

from sqlalchemy import Connection

from puhui.core.clock import Clock
from puhui.identity import consents
from puhui.identity import customers as customer_service
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.errors import Forbidden
from puhui.lending.credit_line import draws, service

#: The consent a partner needs before it may act for the customer (as for applications).
CONSENT_PURPOSE = "credit_assessment"


def partner_purchase(
    conn: Connection,
    *,
    partner_code: str,
    live: bool,
    keys: Keyring,
    customer_phone: str,
    amount_fen: int,
    external_ref: str,
    actor: Actor,
    clock: Clock,
) -> draws.Draw:
    if not live:
        raise Forbidden(
            "sandbox_partner", "a sandbox partner cannot spend a credit line; use a live key"
        )
    customer = customer_service.find(conn, keys=keys, phone=customer_phone)
    consents.require(conn, customer_id=customer.id, purpose=CONSENT_PURPOSE)
    return draws.purchase(
        conn,
        line_id=service.line_of(conn, customer_id=customer.id),
        customer_id=customer.id,
        amount_fen=amount_fen,
        merchant=partner_code,
        reference=f"{partner_code}:{external_ref}"[:64],
        actor=actor,
        clock=clock,
    )
