"""The marketplace's configurable numbers and its pure checks (no database).

Each check raises the ``puhui.core.errors`` type an API maps to a 4xx, with the regulation it
enforces in the message where there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from puhui.core.errors import Conflict, ValidationError

GRADES = ("R1", "R2", "R3", "R4", "R5")

#: DIS-PRJ-01 (一)(二)(三): what a listing shows lenders before it may open.
DISCLOSURE_FIELDS = (
    # (一) borrower
    "borrower_kind",
    "industry",
    "income_and_debt",
    "credit_overdue_6m",
    "other_platform_loans",
    # (二) project
    "repayment_source",
    "repayment_safeguards",
    # (三) risk
    "risk_assessment",
)


@dataclass(frozen=True)
class MarketConfig:
    """What the platform configures; defaults follow issue 7."""

    #: Days a listing stays open for bids (募集期).
    open_days: int = 7
    #: Share of the lenders' interest the platform keeps as its service fee.
    service_fee_rate: Decimal = Decimal("0.10")
    #: Share of every platform fee that goes to the risk reserve (风险备付金).
    reserve_share: Decimal = Decimal("0.20")
    #: Auto-invest takes at most this share of a listing.
    auto_invest_share: Decimal = Decimal("0.80")
    #: Claim transfer: minimum holding, blackout before a due date, price band, fee, life.
    claim_min_holding_days: int = 30
    claim_blackout_days: int = 3
    claim_max_discount: Decimal = Decimal("0.05")
    claim_fee_rate: Decimal = Decimal("0.003")
    claim_valid_days: int = 3
    #: Expected loss rate per grade, for the reserve's coverage ratio.
    expected_loss: tuple[tuple[str, Decimal], ...] = (
        ("R1", Decimal("0.005")),
        ("R2", Decimal("0.01")),
        ("R3", Decimal("0.02")),
        ("R4", Decimal("0.04")),
        ("R5", Decimal("0.08")),
    )


DEFAULT_CONFIG = MarketConfig()


def check_grade(grade: str) -> str:
    if grade not in GRADES:
        raise ValidationError(
            "risk_grade_invalid", "risk grade is one of R1..R5", field="risk_grade"
        )
    return grade


def missing_disclosure(disclosure: dict[str, str]) -> list[str]:
    """The DIS-PRJ-01 fields not filled in, in order."""
    return [f for f in DISCLOSURE_FIELDS if not str(disclosure.get(f) or "").strip()]


def check_bid_amount(
    *, amount_fen: int, min_bid_fen: int, step_fen: int, remaining_fen: int
) -> None:
    """A bid takes at least the minimum (or all that remains), in steps, and never more than
    what remains: the listing cannot be oversubscribed."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValidationError(
            "amount_invalid", "amount_fen must be a positive integer", field="amount_fen"
        )
    if remaining_fen <= 0:
        raise Conflict("listing_full", "the listing is fully subscribed", field="amount_fen")
    if amount_fen > remaining_fen:
        raise Conflict(
            "amount_over_remaining",
            f"only {remaining_fen} fen remain on this listing",
            field="amount_fen",
        )
    if amount_fen == remaining_fen:
        return  # the last piece may be smaller than the minimum or off the step
    if amount_fen < min_bid_fen:
        raise ValidationError(
            "amount_below_minimum", f"the minimum bid is {min_bid_fen} fen", field="amount_fen"
        )
    if (amount_fen - min_bid_fen) % step_fen:
        raise ValidationError(
            "amount_off_step",
            f"bids go up from {min_bid_fen} fen in steps of {step_fen} fen",
            field="amount_fen",
        )


def claim_price_band(value_fen: int, config: MarketConfig = DEFAULT_CONFIG) -> tuple[int, int]:
    """Lowest and highest price of a claim worth ``value_fen`` (principal plus accrued
    interest): par down to the configured discount, rounded up to the fen."""
    low = -((-value_fen * (1 - config.claim_max_discount)) // 1)
    return int(low), value_fen


def in_blackout(today: date, next_due: date | None, config: MarketConfig = DEFAULT_CONFIG) -> bool:
    """Within the blackout days before a repayment date a claim may not be offered."""
    return next_due is not None and today >= next_due - timedelta(days=config.claim_blackout_days)


def fee_of(amount_fen: int, rate: Decimal) -> int:
    """A fee at ``rate`` of ``amount_fen``, half up to the fen."""
    return int((Decimal(amount_fen) * rate).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
