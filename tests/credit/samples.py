"""Applicants and products for the credit tests, written the way a credit officer reads them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from puhui.credit.application import Application, ProductOffer, Purpose
from puhui.identity.identifiers import id_check_char

#: A strong applicant in the German credit vocabulary (the scorecard's best or near-best bins).
STRONG: dict[str, Any] = {
    "status_of_existing_checking_account": "no checking account",
    "credit_history": "critical account/ other credits existing (not at this bank)",
    "purpose": "car (used)",
    "credit_amount": 3500,
    "savings_account_and_bonds": "unknown/ no savings account",
    "present_employment_since": "4 <= ... < 7 years",
    "installment_rate_in_percentage_of_disposable_income": 1,
    "other_debtors_or_guarantors": "guarantor",
    "present_residence_since": 4,
    "property": "real estate",
    "other_installment_plans": "none",
    "housing": "own",
    "number_of_existing_credits_at_this_bank": 1,
    "job": "skilled employee / official",
    "number_of_people_being_liable_to_provide_maintenance_for": 1,
    "telephone": "none",
}

#: A weak one: overdrawn, past delays, no savings, new in the job, renting.
WEAK: dict[str, Any] = {
    **STRONG,
    "status_of_existing_checking_account": "... < 0 DM",
    "credit_history": "all credits at this bank paid back duly",
    "purpose": "education",
    "credit_amount": 12000,
    "savings_account_and_bonds": "... < 100 DM",
    "present_employment_since": "... < 1 year",
    "installment_rate_in_percentage_of_disposable_income": 4,
    "other_debtors_or_guarantors": "co-applicant",
    "property": "unknown / no property",
    "other_installment_plans": "bank",
    "housing": "rent",
}


def id_number(birth: str = "19900307", seq: str = "447", region: str = "110101") -> str:
    """A valid GB 11643 number for a birth date (YYYYMMDD)."""
    first17 = region + birth + seq
    return first17 + id_check_char(first17)


def application(**changes: Any) -> Application:
    """A 36-year-old with 200,000 a year asking for 30,000 over 12 months for consumer goods."""
    base = Application(
        applicant_ref="c-1",
        id_number=id_number(),
        kyc_verified=True,
        annual_income_fen=200_000_00,
        purpose=Purpose.CONSUMER_GOODS,
        requested_fen=30_000_00,
        term_months=12,
        features=STRONG,
        income_verified=True,
        device_id="dev-1",
        ip="10.0.0.1",
        phone="13800138000",
        card="6222021234567890123",
    )
    return replace(base, **changes)


def offer(**changes: Any) -> ProductOffer:
    """A licensed micro-lender's consumer loan: 1,000–200,000 at 8–18%, ages 22–55."""
    base = ProductOffer(
        code="XFD-12",
        marketplace=False,
        profile="licensed_lender",
        min_rate=Decimal("0.08"),
        max_rate=Decimal("0.18"),
        min_amount_fen=1_000_00,
        max_amount_fen=200_000_00,
    )
    return replace(base, **changes)


#: Between them: a checking account in credit, a good history and savings, the rest weak.
#: At 36 over 12 months this scores grade C.
MIDDLING: dict[str, Any] = {
    **WEAK,
    "status_of_existing_checking_account": STRONG["status_of_existing_checking_account"],
    "credit_history": STRONG["credit_history"],
    "savings_account_and_bonds": STRONG["savings_account_and_bonds"],
    "present_employment_since": STRONG["present_employment_since"],
}
