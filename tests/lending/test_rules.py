"""Product validation: no deduction from principal (RATE-FEE-01), rates within the cap
(RATE-CAP-01/02/03), penalty within the limit (RATE-FEE-02)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from puhui.core.errors import ValidationError
from puhui.lending.product_terms import Deduction, ProductTerms
from puhui.lending.rules import assess_product, check_product

from .samples import LICENSED

MARKETPLACE = replace(
    LICENSED,
    mode="marketplace",
    regulatory_profile="private_lending",
    max_annual_rate=Decimal("0.10"),
    penalty_rate_multiplier=Decimal("1.2"),
)
TODAY = date(2026, 1, 1)


def codes(terms: ProductTerms, on: date = TODAY) -> list[str]:
    return [p.code for p in assess_product(terms, on=on)[1]]


def test_a_lawful_product_is_assessed():
    assessment = check_product(LICENSED, on=TODAY)
    assert assessment.cap.cap == Decimal("0.24")
    assert abs(assessment.highest.annual_rate_irr - Decimal("0.18")) < Decimal("0.0001")


@pytest.mark.parametrize("deduction", list(Deduction))
def test_any_deduction_from_principal_is_refused(deduction):
    terms = replace(LICENSED, deductions=(deduction,))
    with pytest.raises(ValidationError, match="RATE-FEE-01") as err:
        check_product(terms, on=TODAY)
    assert err.value.code == "deduction_from_principal"
    assert err.value.field == "deductions"


def test_every_deduction_is_reported():
    terms = replace(LICENSED, deductions=tuple(Deduction))
    assert codes(terms) == ["deduction_from_principal"] * 4


def test_licensed_lender_at_exactly_24_percent_is_accepted_above_is_not():
    assert codes(replace(LICENSED, max_annual_rate=Decimal("0.24"))) == []
    assert codes(replace(LICENSED, max_annual_rate=Decimal("0.2401"))) == [
        "rate_above_cap",
        "annual_rate_above_cap",
        "penalty_rate_above_cap",  # 1.5 × 24.01% is above the 36% hard limit
    ]


def test_fees_count_towards_the_cap():
    # 18% plus a 1% fee paid at disbursement on a 3-month loan: about 24.2% by IRR.
    terms = replace(LICENSED, upfront_fee_rate=Decimal("0.01"))
    assessment, problems = assess_product(terms, on=TODAY)
    assert [p.code for p in problems] == ["annual_rate_above_cap"]
    assert assessment.term == 3
    assert "24.17%" in problems[0].message
    # Offering only 12 months spreads the fee: 20.0%, within the cap.
    assert codes(replace(terms, terms=(12,))) == []


def test_fixed_fees_weigh_most_on_the_smallest_amount():
    terms = replace(LICENSED, period_fee_fen=100, max_annual_rate=Decimal("0.12"))
    assessment = check_product(terms, on=TODAY)
    assert assessment.amount_fen == LICENSED.min_amount_fen


@pytest.mark.parametrize(
    ("rate", "on", "accepted"),
    [
        ("0.124", date(2025, 5, 19), True),  # LPR 3.10% → 12.4%
        ("0.124", date(2025, 5, 20), False),  # LPR 3.00% → 12.0%
        ("0.12", date(2025, 5, 20), True),  # exactly at the cap
        ("0.1201", date(2025, 5, 20), False),
        ("0.154", date(2020, 8, 20), True),  # LPR 3.85% → 15.4%
        ("0.1541", date(2020, 8, 20), False),
        ("0.24", date(2020, 8, 19), True),  # before the 2020 revision: 24% band
    ],
)
def test_private_lending_is_held_to_four_times_the_lpr(rate, on, accepted):
    terms = replace(MARKETPLACE, max_annual_rate=Decimal(rate), penalty_rate_multiplier=Decimal(1))
    assert (codes(terms, on) == []) is accepted


def test_penalty_rate_must_stay_within_the_limit():
    # The default penalty, 1.5 × 10% = 15%, is above 4 × LPR (12%) for private lending.
    terms = replace(MARKETPLACE, penalty_rate_multiplier=Decimal("1.5"))
    assert codes(terms) == ["penalty_rate_above_cap"]
    # 1.5 × 24% = 36%: exactly the licensed hard limit.
    assert codes(replace(LICENSED, max_annual_rate=Decimal("0.24"))) == []
    assert codes(replace(LICENSED, penalty_rate_multiplier=Decimal("2.1"))) == [
        "penalty_rate_above_cap"
    ]


def test_marketplace_products_are_private_lending():
    assert codes(replace(MARKETPLACE, regulatory_profile="licensed_lender")) == ["profile_mismatch"]


def test_check_product_names_the_other_problems_too():
    terms = replace(LICENSED, deductions=(Deduction.DEPOSIT,), max_annual_rate=Decimal("0.3"))
    with pytest.raises(ValidationError, match=r"and 3 more: rate_above_cap"):
        check_product(terms, on=TODAY)


def test_day_products():
    terms = replace(
        LICENSED, method="bullet", term_unit="day", terms=(7, 14, 30), upfront_fee_fen=500
    )
    assessment, problems = assess_product(terms, on=TODAY)
    assert assessment.term == 7 and assessment.amount_fen == 100_000  # 5 yuan on 1,000 for 7 days
    assert [p.code for p in problems] == ["annual_rate_above_cap"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"min_annual_rate": Decimal("0.2")}, "rate_range_inverted"),
        ({"min_amount_fen": 30_000_000}, "amount_range_inverted"),
        ({"terms": ()}, "terms_missing"),
        ({"terms": (0, 3)}, "term_out_of_range"),
        ({"term_unit": "day"}, "term_out_of_range"),
        ({"grace_days": 31}, "grace_days_out_of_range"),
        ({"allocation_order": ("principal", "interest")}, "allocation_order_invalid"),
        ({"upfront_fee_rate": Decimal(1)}, "fee_rate_out_of_range"),
        ({"mode": "p2p"}, "unknown_mode"),
        ({"deductions": ("bribe",)}, "unknown_deduction"),
        ({"max_annual_rate": 0.2}, "rate_not_decimal"),
    ],
)
def test_malformed_terms_are_refused(change, code):
    with pytest.raises(ValidationError) as err:
        replace(LICENSED, **change)
    assert err.value.code == code


def test_terms_round_trip_through_plain_values():
    terms = replace(LICENSED, deductions=(Deduction.DEPOSIT,), upfront_fee_rate=Decimal("0.01"))
    assert ProductTerms.from_mapping(terms.to_mapping()) == terms


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"colour": "red"}, "unknown_field"),
        ({"max_annual_rate": None}, "missing_field"),
        ({"upfront_fee_rate": 0.01}, "rate_not_decimal"),
    ],
)
def test_from_mapping_refuses_unknown_missing_and_float(change, code):
    data = LICENSED.to_mapping()
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValidationError) as err:
        ProductTerms.from_mapping(data)
    assert err.value.code == code
