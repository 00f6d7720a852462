"""Staff access to customers: every read is scoped to the staff member's customers and written
to the audit log, and unmasking states its reason (SEC-AUD-01, PFI-C2-01).

The back office reaches customers through the API and through the web pages; both call these
functions so the scope check and the audit entry can never differ between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection

from puhui.core.clock import Clock
from puhui.core.errors import ValidationError
from puhui.identity import audit, customers
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.customers import CustomerView


def list_customers(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool],
    actor: Actor,
    after_id: int = 0,
    limit: int = 20,
    clock: Clock,
) -> list[CustomerView]:
    """A page of the customers in scope, masked; the listing itself is audited."""
    rows = customers.list_visible(conn, keys=keys, where=where, after_id=after_id, limit=limit)
    audit.record(
        conn,
        actor=actor,
        event="customer.list",
        object_type="customer",
        object_id="-",
        detail={"count": len(rows)},
        clock=clock,
    )
    return rows


def view_customer(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool],
    customer_id: int,
    actor: Actor,
    clock: Clock,
) -> CustomerView:
    """One customer in scope, masked (404 outside the scope); the view is audited."""
    customers.visible(conn, where=where, customer_id=customer_id)
    audit.record(
        conn,
        actor=actor,
        event="customer.view",
        object_type="customer",
        object_id=customer_id,
        clock=clock,
    )
    return customers.view(conn, keys=keys, customer_id=customer_id)


def find_customer(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool],
    phone: str | None,
    id_number: str | None,
    actor: Actor,
    clock: Clock,
) -> CustomerView:
    """Find a customer in scope by phone or ID number (blind index); the search is audited
    without the searched value."""
    found = customers.find(conn, keys=keys, where=where, phone=phone, id_number=id_number)
    audit.record(
        conn,
        actor=actor,
        event="customer.search",
        object_type="customer",
        object_id=found.id,
        detail={"by": "phone" if phone else "id_number"},
        clock=clock,
    )
    return found


def unmask_customer(
    conn: Connection,
    *,
    keys: Keyring,
    where: ColumnElement[bool],
    customer_id: int,
    fields: Sequence[str],
    reason: str,
    actor: Actor,
    clock: Clock,
) -> dict[str, str | None]:
    """Plain personal values for a stated reason; the access is audited before it happens."""
    if not 5 <= len(reason.strip()) <= 200:
        raise ValidationError(
            "reason_required", "state why, in 5 to 200 characters", field="reason"
        )
    customers.visible(conn, where=where, customer_id=customer_id)
    audit.record(
        conn,
        actor=actor,
        event="customer.unmask",
        object_type="customer",
        object_id=customer_id,
        detail={"fields": list(fields), "reason": reason},
        clock=clock,
    )
    return customers.unmask(conn, keys=keys, customer_id=customer_id, fields=list(fields))
