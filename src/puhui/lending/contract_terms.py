"""The numbers a loan contract is made of, under one product version.

The product's own checks (``rules.check_product``) prove the worst loan it can make is lawful;
these functions hold one loan to that product: its amount, term and rate must be within the
ranges the version offers, the penalty rate is the product's multiple of the contract rate
capped at the version's rate cap (RATE-FEE-02), and rates are also stored as integer parts per
10⁹ of a year so the end-of-day batch can accrue in exact integer SQL.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_DOWN, Decimal

from puhui.core.errors import ValidationError
from puhui.core.money import format_fen
from puhui.core.rates import format_percent, parse_rate
from puhui.lending.products import ProductVersion
from puhui.lending.schedules import LoanTerms

#: Rates are stored as integer parts per 10⁹ of a year (``rate_ppb``).
PPB = 10**9
RATE_QUANTUM = Decimal(1).scaleb(-9)


def _refuse(code: str, message: str, field: str) -> None:
    raise ValidationError(code, message, field=field)


def check_amount(version: ProductVersion, amount_fen: int) -> None:
    """Refuse an amount outside the product version's range (both ends allowed)."""
    terms = version.terms
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        _refuse("amount_not_integer_fen", "amount must be an integer number of fen", "amount_fen")
    if not terms.min_amount_fen <= amount_fen <= terms.max_amount_fen:
        _refuse(
            "amount_out_of_range",
            f"product {version.code} v{version.version} lends "
            f"{format_fen(terms.min_amount_fen, grouping=True)}–"
            f"{format_fen(terms.max_amount_fen, grouping=True)} yuan; "
            f"{format_fen(amount_fen, grouping=True)} is outside that range",
            "amount_fen",
        )


def check_term(version: ProductVersion, term: int) -> None:
    """Refuse a term the product version does not offer."""
    offered = version.terms.terms
    if isinstance(term, bool) or not isinstance(term, int) or term not in offered:
        unit = version.terms.term_unit.value
        _refuse(
            "term_not_offered",
            f"product {version.code} v{version.version} offers terms of "
            f"{', '.join(str(t) for t in offered)} {unit}(s), not {term!r}",
            "term",
        )


def check_rate(version: ProductVersion, annual_rate: Decimal) -> Decimal:
    """The rate as a Decimal, refused outside the version's rate range."""
    rate = parse_rate(annual_rate)
    terms = version.terms
    if not terms.min_annual_rate <= rate <= terms.max_annual_rate:
        _refuse(
            "rate_out_of_range",
            f"product {version.code} v{version.version} prices at "
            f"{format_percent(terms.min_annual_rate)}–{format_percent(terms.max_annual_rate)}; "
            f"{format_percent(rate)} is outside that range",
            "annual_rate",
        )
    return rate


def loan_terms(
    version: ProductVersion, *, amount_fen: int, term: int, annual_rate: Decimal, start: date
) -> LoanTerms:
    """The schedule inputs of one loan under ``version``, with its fees, after checking the
    amount, the term and the rate against what the version offers."""
    check_amount(version, amount_fen)
    check_term(version, term)
    rate = check_rate(version, annual_rate)
    return version.terms.loan_terms(
        principal_fen=amount_fen, term=term, annual_rate=rate, start=start
    )


def penalty_rate(version: ProductVersion, annual_rate: Decimal) -> Decimal:
    """The annual penalty (default interest, 罚息) rate on overdue principal: the product's
    multiplier × the contract rate, capped at the version's rate cap so the comprehensive
    rate of an overdue loan stays within the cap (RATE-FEE-02). Cut (never rounded up) to 9
    decimals, so it always has an exact ``rate_ppb``."""
    rate = parse_rate(annual_rate)
    multiple = (version.terms.penalty_rate_multiplier * rate).quantize(
        RATE_QUANTUM, rounding=ROUND_DOWN
    )
    return min(multiple, version.cap_rate).normalize()


def rate_ppb(rate: Decimal) -> int:
    """An annual rate as integer parts per 10⁹ of a year; a rate with more than 9 decimals is
    refused rather than rounded, since the batch would then accrue a different rate."""
    value = parse_rate(rate, field="rate") * PPB
    if value != value.to_integral_value():
        _refuse(
            "rate_too_precise",
            f"rate {rate} has more than 9 decimal places; it cannot be stored exactly",
            "rate",
        )
    return int(value)


def year_days(version: ProductVersion) -> int:
    """Days in the product's day-count year (360 for ACT/360, 365 for ACT/365)."""
    return version.terms.day_count.basis
