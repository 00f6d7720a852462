"""Related parties (关联方) of the platform.

The platform may not raise money for itself or its related parties (暂行办法 第十条 item 1), and
the monthly report discloses what related parties still owe (§3.3 items 12–13). The list is
kept here so the marketplace can refuse or flag a listing and the disclosure can count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from puhui.compliance.models import related_parties
from puhui.core.clock import Clock
from puhui.core.errors import ValidationError

MAX_RELATION = 64


@dataclass(frozen=True)
class RelatedParty:
    customer_id: int
    relation: str
    disclosed: bool
    flagged_at: datetime


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def related_party(conn: Connection, customer_id: int) -> RelatedParty | None:
    """The customer's related-party record, or None when the customer is not one."""
    row = conn.execute(
        select(related_parties).where(related_parties.c.customer_id == customer_id)
    ).one_or_none()
    if row is None:
        return None
    return RelatedParty(
        customer_id=row.customer_id,
        relation=row.relation,
        disclosed=bool(row.disclosed),
        flagged_at=_from_us(row.flagged_us),
    )


def flag_related_party(
    conn: Connection, *, customer_id: int, relation: str, disclosed: bool, clock: Clock
) -> RelatedParty:
    """Mark a customer as a related party; flagging again updates the relation and disclosure."""
    relation = (relation or "").strip()
    if not relation or len(relation) > MAX_RELATION:
        raise ValidationError(
            "relation_invalid",
            f"a relation (1–{MAX_RELATION} characters) is required, e.g. shareholder",
            field="relation",
        )
    if not isinstance(customer_id, int) or customer_id <= 0:
        raise ValidationError(
            "customer_id_invalid", "customer_id must be a positive integer", field="customer_id"
        )
    now_us = _us(clock.now())
    values = {"relation": relation, "disclosed": bool(disclosed), "flagged_us": now_us}
    updated = conn.execute(
        related_parties.update()
        .where(related_parties.c.customer_id == customer_id)
        .values(**values)
    ).rowcount
    if not updated:
        conn.execute(related_parties.insert().values(customer_id=customer_id, **values))
    found = related_party(conn, customer_id)
    assert found is not None
    return found
