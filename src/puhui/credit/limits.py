"""Limits and prices: how much a grade may borrow and at what rate, and pre-authorised limits
(预授信) for customers who already borrowed with us.

A limit starts from annual income times the grade's multiple and is then cut to the product's
largest loan and to the room under every regulatory cap that applies (``rules.cap_rooms``),
rounded down to the policy's step; ``basis`` says which of them bound it. A price sits in the
product's rate range at the grade's position, never above the legal cap on the contract date
(``compliance.rate_caps``).

A pre-authorised limit is the same limit for an existing customer, scaled by their history:
+10% per loan repaid on time (at most +50%) once six months on the books, halved after any
overdue in the last 12 months, nothing after one of more than 30 days. It is stored with its
basis and is valid for 90 days.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from puhui.compliance.rate_caps import rate_cap
from puhui.core.clock import Clock, business_date
from puhui.core.money import check_fen, format_fen
from puhui.credit.application import ProductOffer
from puhui.credit.models import preauthorisations
from puhui.credit.policy import CreditPolicy
from puhui.credit.rules import CapRoom, cap_rooms
from puhui.credit.scoring import ScoringModel

RATE_STEP = Decimal("0.0001")
PREAUTH_VALID_DAYS = 90
SERIOUS_OVERDUE_DAYS = 30


@dataclass(frozen=True)
class Limit:
    limit_fen: int
    basis: tuple[str, ...]


def credit_limit(
    *,
    grade: str,
    annual_income_fen: int,
    offer: ProductOffer,
    rooms: list[CapRoom],
    policy: CreditPolicy,
    factor: Decimal = Decimal(1),
) -> Limit:
    """The most a grade may borrow under the product, the caps and the policy."""
    multiple = policy.income_multiple[grade] * factor
    raw = int((annual_income_fen * multiple).to_integral_value(rounding=ROUND_DOWN))
    candidates = [(raw, f"income × {multiple.normalize()} (grade {grade})")]
    candidates.append((offer.max_amount_fen, f"product {offer.code} maximum"))
    candidates += [(max(r.room_fen, 0), f"{r.code} room") for r in rooms]
    amount = min(a for a, _ in candidates)
    amount -= amount % policy.limit_step_fen
    return Limit(
        amount, tuple(why for a, why in candidates if a - a % policy.limit_step_fen == amount)
    )


def price(*, grade: str, offer: ProductOffer, policy: CreditPolicy, contract_date: date) -> Decimal:
    """The annual rate for a grade: its position in the product's range, within the cap."""
    cap = rate_cap(profile=offer.profile, contract_date=contract_date).cap
    top = min(offer.max_rate, cap)
    rate = offer.min_rate + policy.price_position[grade] * (top - offer.min_rate)
    return min(rate.quantize(RATE_STEP, rounding=ROUND_HALF_UP), top)


@dataclass(frozen=True)
class CustomerHistory:
    """What we know of an existing customer (filled by lending from their loans)."""

    customer_ref: str
    annual_income_fen: int
    months_on_book: int
    loans_repaid: int
    max_days_overdue_12m: int
    platform_outstanding_fen: int
    features: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fen(self.annual_income_fen, field="annual_income_fen")
        check_fen(self.platform_outstanding_fen, field="platform_outstanding_fen")


def history_factor(history: CustomerHistory) -> tuple[Decimal, str]:
    """How the customer's own record scales their limit, and why."""
    if history.max_days_overdue_12m > SERIOUS_OVERDUE_DAYS:
        return Decimal(0), f"overdue {history.max_days_overdue_12m} days in the last 12 months"
    factor, why = Decimal(1), []
    if history.months_on_book >= 6 and history.loans_repaid:
        factor += Decimal("0.1") * min(history.loans_repaid, 5)
        why.append(f"{history.loans_repaid} loan(s) repaid")
    if history.max_days_overdue_12m > 0:
        factor /= 2
        why.append("overdue in the last 12 months")
    return factor, ", ".join(why) or "no history adjustment"


@dataclass(frozen=True)
class PreAuthorisation:
    id: int
    customer_ref: str
    limit_fen: int
    grade: str
    score: int
    basis: tuple[str, ...]
    model_version: str
    valid_until: date


def preauthorise(
    conn: Connection,
    *,
    history: CustomerHistory,
    offer: ProductOffer,
    model: ScoringModel,
    policy: CreditPolicy,
    clock: Clock,
) -> PreAuthorisation:
    """Score an existing customer, set and store their pre-authorised limit."""
    today = business_date(clock.now())
    scored = model.score(history.features)
    factor, why = history_factor(history)
    rooms = cap_rooms(
        marketplace=offer.marketplace,
        annual_income_fen=history.annual_income_fen,
        own_outstanding_fen=history.platform_outstanding_fen,
        other_outstanding_fen=0,
        policy=policy,
    )
    limit = credit_limit(
        grade=scored.grade,
        annual_income_fen=history.annual_income_fen,
        offer=offer,
        rooms=rooms,
        policy=policy,
        factor=factor,
    )
    basis = (*limit.basis, why, f"limit {format_fen(limit.limit_fen)}")
    valid_until = today + timedelta(days=PREAUTH_VALID_DAYS)
    row_id = conn.execute(
        insert(preauthorisations).values(
            customer_ref=history.customer_ref,
            limit_fen=limit.limit_fen,
            grade=scored.grade,
            score=scored.score,
            basis_json=json.dumps(basis, ensure_ascii=False),
            model_version=model.version,
            valid_until=valid_until,
            created_us=int(clock.now().timestamp() * 1_000_000),
        )
    ).inserted_primary_key[0]
    return PreAuthorisation(
        row_id,
        history.customer_ref,
        limit.limit_fen,
        scored.grade,
        scored.score,
        basis,
        model.version,
        valid_until,
    )


def current_preauthorisation(
    conn: Connection, *, customer_ref: str, on: date
) -> PreAuthorisation | None:
    """The customer's latest pre-authorised limit still valid on ``on``."""
    row = conn.execute(
        select(preauthorisations)
        .where(preauthorisations.c.customer_ref == customer_ref)
        .where(preauthorisations.c.valid_until >= on)
        .order_by(preauthorisations.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return PreAuthorisation(
        row.id,
        row.customer_ref,
        row.limit_fen,
        row.grade,
        row.score,
        tuple(json.loads(row.basis_json)),
        row.model_version,
        row.valid_until,
    )
