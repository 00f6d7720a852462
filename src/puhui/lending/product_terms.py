"""What a loan product offers: one immutable set of terms per product version.

Construction checks only that the terms are well formed (ranges in order, known names); whether
the law allows them (no deduction from principal, rates within the cap) is ``rules.py``'s call,
so a rejected product can still be shown with every reason it was rejected.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from datetime import date
from decimal import Decimal, InvalidOperation, localcontext
from enum import StrEnum
from typing import Any

from puhui.compliance.rate_caps import Profile
from puhui.core.errors import ValidationError
from puhui.core.money import check_fen, round_fen
from puhui.core.rates import parse_rate
from puhui.lending.allocation import COMPONENTS, check_rules, default_rules
from puhui.lending.dates import DayCount
from puhui.lending.schedules import (
    MAX_DAYS,
    MAX_MONTHS,
    MIN_DAYS,
    PRECISION,
    LoanTerms,
    Method,
    TermUnit,
    parse_choice,
)


class Mode(StrEnum):
    DIRECT = "direct"  # the company lends its own money
    MARKETPLACE = "marketplace"  # lenders on the platform fund the loan (private lending)


class Deduction(StrEnum):
    """Things a product might take out of the principal before paying it: all refused."""

    INTEREST = "interest"  # 砍头息
    SERVICE_FEE = "service_fee"
    MANAGEMENT_FEE = "management_fee"
    DEPOSIT = "deposit"  # 保证金


class Prepayment(StrEnum):
    ALLOWED = "allowed"
    ALLOWED_WITH_FEE = "allowed_with_fee"
    NOT_ALLOWED = "not_allowed"


ALLOCATION_COMPONENTS = COMPONENTS
MAX_TERMS = 400


@dataclass(frozen=True)
class ProductTerms:
    """The terms of one product version.

    Fees: the upfront service fee (a rate of the principal and/or a fixed amount) is paid by the
    borrower at disbursement as a separate payment; the period fee (a rate of the original
    principal and/or a fixed amount) comes with every installment; the late fee is charged per
    overdue installment. Overdue principal accrues the penalty rate, ``penalty_rate_multiplier``
    × the contract rate, after ``grace_days``. ``allocation_order`` says which part of the debt a
    payment settles first. ``deductions`` lists whatever the product would withhold from the
    principal; any entry makes the product unlawful (RATE-FEE-01).
    """

    mode: Mode
    method: Method
    term_unit: TermUnit
    terms: tuple[int, ...]
    min_annual_rate: Decimal
    max_annual_rate: Decimal
    min_amount_fen: int
    max_amount_fen: int
    regulatory_profile: Profile
    day_count: DayCount = DayCount.ACT_360
    upfront_fee_rate: Decimal = Decimal(0)
    upfront_fee_fen: int = 0
    period_fee_rate: Decimal = Decimal(0)
    period_fee_fen: int = 0
    late_fee_fen: int = 0
    penalty_rate_multiplier: Decimal = Decimal("1.5")
    grace_days: int = 0
    allocation_order: tuple[str, ...] = ALLOCATION_COMPONENTS
    #: The repayment waterfall as ``bucket.component`` rules (allocation.py); empty means the
    #: default derived from ``allocation_order``, so versions stored before it read back.
    allocation_rules: tuple[str, ...] = ()
    prepayment: Prepayment = Prepayment.ALLOWED
    prepayment_fee_rate: Decimal = Decimal(0)
    deductions: tuple[Deduction, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, kind in (
            ("mode", Mode),
            ("method", Method),
            ("term_unit", TermUnit),
            ("regulatory_profile", Profile),
            ("day_count", DayCount),
            ("prepayment", Prepayment),
        ):
            set_(self, name, parse_choice(kind, getattr(self, name), name))
        set_(
            self,
            "deductions",
            tuple(parse_choice(Deduction, d, "deduction") for d in self.deductions),
        )
        for name in (
            "min_annual_rate",
            "max_annual_rate",
            "upfront_fee_rate",
            "period_fee_rate",
            "prepayment_fee_rate",
            "penalty_rate_multiplier",
        ):
            set_(self, name, parse_rate(getattr(self, name), field=name))
        for name in ("upfront_fee_fen", "period_fee_fen", "late_fee_fen"):
            check_fen(getattr(self, name), field=name)
        check_fen(self.min_amount_fen, field="min_amount_fen", allow_zero=False)
        check_fen(self.max_amount_fen, field="max_amount_fen", allow_zero=False)
        set_(self, "terms", tuple(sorted(set(self.terms))))
        set_(self, "allocation_order", tuple(self.allocation_order))
        self._check_ranges()
        set_(
            self,
            "allocation_rules",
            check_rules(self.allocation_rules or default_rules(self.allocation_order)),
        )

    def _check_ranges(self) -> None:
        def refuse(code: str, message: str, field: str) -> None:
            raise ValidationError(code, message, field=field)

        if self.min_annual_rate > self.max_annual_rate:
            refuse("rate_range_inverted", "min_annual_rate is above max_annual_rate", "rates")
        if self.min_amount_fen > self.max_amount_fen:
            refuse("amount_range_inverted", "min_amount_fen is above max_amount_fen", "amounts")
        low, high = (MIN_DAYS, MAX_DAYS) if self.term_unit is TermUnit.DAY else (1, MAX_MONTHS)
        if not self.terms or len(self.terms) > MAX_TERMS:
            refuse("terms_missing", f"a product offers 1–{MAX_TERMS} terms", "terms")
        if any(
            isinstance(t, bool) or not isinstance(t, int) or not low <= t <= high
            for t in self.terms
        ):
            refuse(
                "term_out_of_range",
                f"terms must be whole {self.term_unit.value}s, {low}–{high}",
                "terms",
            )
        if self.term_unit is TermUnit.DAY and self.method is not Method.BULLET:
            refuse("day_term_needs_bullet", "a product in days must use method bullet", "method")
        if (
            isinstance(self.grace_days, bool)
            or not isinstance(self.grace_days, int)
            or not (0 <= self.grace_days <= 30)
        ):
            refuse("grace_days_out_of_range", "grace_days must be 0–30", "grace_days")
        if sorted(self.allocation_order) != sorted(ALLOCATION_COMPONENTS):
            refuse(
                "allocation_order_invalid",
                f"allocation_order must list each of {', '.join(ALLOCATION_COMPONENTS)} once",
                "allocation_order",
            )
        if self.upfront_fee_rate >= 1 or self.period_fee_rate >= 1:
            refuse("fee_rate_out_of_range", "a fee rate must be below 1 (100%)", "fees")

    def fees_fen(self, principal_fen: int) -> tuple[int, int]:
        """The upfront fee and the fee per installment on a loan of ``principal_fen``."""
        with localcontext(PRECISION):
            upfront = round_fen(principal_fen * self.upfront_fee_rate) + self.upfront_fee_fen
            period = round_fen(principal_fen * self.period_fee_rate) + self.period_fee_fen
        return upfront, period

    def loan_terms(
        self, *, principal_fen: int, term: int, annual_rate: Decimal, start: date
    ) -> LoanTerms:
        """The terms of one loan under this product (amount, term and rate are not checked
        against the product's ranges here)."""
        upfront, period = self.fees_fen(principal_fen)
        return LoanTerms(
            principal_fen=principal_fen,
            annual_rate=annual_rate,
            term=term,
            method=self.method,
            start=start,
            term_unit=self.term_unit,
            day_count=self.day_count,
            upfront_fee_fen=upfront,
            period_fee_fen=period,
        )

    def to_mapping(self) -> dict[str, Any]:
        """Plain JSON values: rates as decimal strings, amounts as integer fen."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, Decimal):
                out[key] = str(value)
            elif isinstance(value, tuple):
                out[key] = [str(v) if isinstance(v, StrEnum) else v for v in value]
            elif isinstance(value, StrEnum):
                out[key] = value.value
            else:
                out[key] = value
        return out

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ProductTerms:
        """Terms from JSON or TOML values (the shape ``to_mapping`` writes)."""
        if not isinstance(data, dict):
            raise ValidationError("terms_not_a_table", "product terms must be a table/object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                "unknown_field",
                f"unknown product field(s): {', '.join(unknown)}",
                field=unknown[0],
            )
        missing = sorted(
            f.name
            for f in fields(cls)
            if f.name not in data and f.default is MISSING and f.default_factory is MISSING
        )
        if missing:
            raise ValidationError(
                "missing_field",
                f"missing product field(s): {', '.join(missing)}",
                field=missing[0],
            )
        values = {
            key: tuple(value) if isinstance(value, list) else _decimal_text(key, value)
            for key, value in data.items()
        }
        try:
            return cls(**values)
        except (TypeError, InvalidOperation) as exc:
            raise ValidationError("terms_invalid", f"product terms: {exc}") from exc


def _decimal_text(key: str, value: Any) -> Any:
    """Floats are refused (a rate must be typed exactly); a TOML/JSON number that is a rate
    comes through as a string in the files we write, and integers stay integers."""
    if isinstance(value, float):
        raise ValidationError(
            "rate_not_decimal", f'{key} must be a decimal string such as "0.12"', field=key
        )
    return value
