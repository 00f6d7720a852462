"""The credit policy: every threshold the rules, limits and prices use, under one version.

Each decision records the policy version beside the model version, so a decision can be
explained later with the numbers that made it. Amounts are fen, ratios ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum


class Action(StrEnum):
    REJECT = "reject"
    REVIEW = "review"


@dataclass(frozen=True)
class VelocityLimit:
    """How many *other* applicants may share one device, IP, phone or card within the window
    before the rule fires, and what it then does."""

    max_others: int
    action: Action


def _velocity() -> dict[str, VelocityLimit]:
    return {
        "device": VelocityLimit(0, Action.REVIEW),
        "ip": VelocityLimit(3, Action.REVIEW),  # homes and offices share an address
        "phone": VelocityLimit(0, Action.REJECT),
        "card": VelocityLimit(0, Action.REJECT),
    }


def _by_grade(*values: str) -> dict[str, Decimal]:
    return {g: Decimal(v) for g, v in zip("ABCDE", values, strict=True)}


@dataclass(frozen=True)
class CreditPolicy:
    version: str = "2026-11"
    #: More distinct lenders than this at other platforms is a reject (多头借贷).
    max_other_lenders: int = 3
    #: Monthly repayments, with the new loan's, over monthly income.
    max_debt_to_income: Decimal = Decimal("0.5")
    #: Overdue episodes in the last six months tolerated (0: any is a reject).
    max_overdue_6m: int = 0
    #: More recent bureau inquiries than this sends the application to a person.
    max_inquiries_30d: int = 6
    velocity_window: timedelta = timedelta(hours=24)
    velocity: dict[str, VelocityLimit] = field(default_factory=_velocity)
    approve_grades: frozenset[str] = frozenset("ABC")
    review_grades: frozenset[str] = frozenset("D")
    #: The limit is this share of annual income, by grade (then capped).
    income_multiple: dict[str, Decimal] = field(
        default_factory=lambda: _by_grade("0.5", "0.4", "0.3", "0.2", "0")
    )
    #: Where in the product's rate range (0 = lowest, 1 = highest allowed) a grade is priced.
    price_position: dict[str, Decimal] = field(
        default_factory=lambda: _by_grade("0", "0.25", "0.5", "0.75", "1")
    )
    #: Limits are whole multiples of this (100 yuan).
    limit_step_fen: int = 100_00
    # P2P mode (§1.1): a person's balance on this platform, and across all platforms.
    p2p_person_platform_cap_fen: int = 200_000_00  # P2P-CAP-01
    p2p_person_all_platforms_cap_fen: int = 1_000_000_00  # P2P-CAP-03
    # Licensed micro-lender (§5.1): min(300,000, a third of annual income).
    mcl_person_cap_fen: int = 300_000_00  # MCL-CAP-01
    mcl_income_divisor: int = 3
