"""Whether the law allows a product: pure checks, returning every problem found.

* RATE-FEE-01: nothing — interest, a fee, a management fee, a deposit — may be deducted from
  the principal; a fee collected at disbursement is a separate payment and enters the rate.
* RATE-CAP-01/02/03: the product's highest all-in annual rate must be within its regulatory
  profile's cap on the date the version takes effect. The highest rate is the IRR-based
  nominal annual rate (``apr``) at the product's worst corner: the highest rate with every fee,
  on the smallest and the largest amount and on every term it offers, over the exact
  installments (the agreed pricing, before rounding to the fen). It is compared as disclosed,
  rounded half up to 0.01%; the contract rate itself is compared exactly.
* RATE-FEE-02: the penalty rate (a multiple of the contract rate) must stay within the
  profile's hard limit too.
* A marketplace loan is private lending between lenders and a borrower, so a marketplace
  product must use the ``private_lending`` profile.

The cap is checked again for each loan on its contract date, because the LPR moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig, Profile, RateCap, rate_cap
from puhui.core.errors import ValidationError
from puhui.core.money import format_fen
from puhui.core.rates import format_percent
from puhui.lending.apr import AnnualRates, annual_rates
from puhui.lending.product_terms import Deduction, Mode, ProductTerms
from puhui.lending.schedules import due_dates, exact_payments, period_timing

DISCLOSED = Decimal("0.0001")  # annual rates are disclosed to 0.01%

_DEDUCTED = {
    Deduction.INTEREST: "interest (砍头息)",
    Deduction.SERVICE_FEE: "a service fee",
    Deduction.MANAGEMENT_FEE: "a management fee",
    Deduction.DEPOSIT: "a deposit (保证金)",
}


@dataclass(frozen=True)
class RateAssessment:
    """The product's highest all-in annual rate, where it occurs, and the cap it meets."""

    highest: AnnualRates
    amount_fen: int
    term: int
    cap: RateCap

    @property
    def disclosed_rate(self) -> Decimal:
        return self.highest.annual_rate_irr.quantize(DISCLOSED, rounding=ROUND_HALF_UP)


def pricing_rates(terms: ProductTerms, *, amount_fen: int, term: int, start: date) -> AnnualRates:
    """The all-in annual rate of a loan at the product's highest rate, by IRR over the
    exact (unrounded) installments and every fee."""
    loan = terms.loan_terms(
        principal_fen=amount_fen, term=term, annual_rate=terms.max_annual_rate, start=start
    )
    times, per_year = period_timing(loan, due_dates(loan))
    return annual_rates(
        received_fen=amount_fen - loan.upfront_fee_fen,
        payments_fen=[x + loan.period_fee_fen for x in exact_payments(loan)],
        periods_per_year=per_year,
        times=times,
    )


def highest_rate(terms: ProductTerms, *, start: date) -> tuple[AnnualRates, int, int]:
    """The highest all-in annual rate any loan under the product can carry, with the amount
    and term where it occurs."""
    worst: tuple[AnnualRates, int, int] | None = None
    for amount in sorted({terms.min_amount_fen, terms.max_amount_fen}):
        for term in terms.terms:
            rates = pricing_rates(terms, amount_fen=amount, term=term, start=start)
            if worst is None or rates.annual_rate_irr > worst[0].annual_rate_irr:
                worst = (rates, amount, term)
    assert worst is not None  # a product offers at least one term
    return worst


def deduction_problems(terms: ProductTerms) -> list[ValidationError]:
    return [
        ValidationError(
            "deduction_from_principal",
            f"the product deducts {_DEDUCTED[d]} from the principal; the borrower must receive "
            "the whole principal and pay any fee separately (RATE-FEE-01)",
            field="deductions",
        )
        for d in terms.deductions
    ]


def profile_problems(terms: ProductTerms) -> list[ValidationError]:
    if terms.mode is Mode.MARKETPLACE and terms.regulatory_profile is not Profile.PRIVATE_LENDING:
        return [
            ValidationError(
                "profile_mismatch",
                "a marketplace product is private lending: use regulatory profile private_lending",
                field="regulatory_profile",
            )
        ]
    return []


def cap_problems(terms: ProductTerms, assessment: RateAssessment) -> list[ValidationError]:
    cap, problems = assessment.cap, []
    limit = f"{format_percent(cap.cap)} ({cap.basis})"
    if terms.max_annual_rate > cap.cap:
        problems.append(
            ValidationError(
                "rate_above_cap",
                f"max_annual_rate {format_percent(terms.max_annual_rate)} is above the cap {limit}",
                field="max_annual_rate",
            )
        )
    if assessment.disclosed_rate > cap.cap:
        problems.append(
            ValidationError(
                "annual_rate_above_cap",
                f"the all-in annual rate (IRR) reaches {format_percent(assessment.disclosed_rate)}"
                f" on {format_fen(assessment.amount_fen, grouping=True)} yuan over "
                f"{assessment.term} {terms.term_unit.value}(s), above the cap {limit}",
                field="max_annual_rate",
            )
        )
    penalty = terms.penalty_rate_multiplier * terms.max_annual_rate
    if penalty > cap.hard_limit:
        problems.append(
            ValidationError(
                "penalty_rate_above_cap",
                f"the penalty rate {terms.penalty_rate_multiplier.normalize()} × "
                f"{format_percent(terms.max_annual_rate)} = {format_percent(penalty)} is above "
                f"the limit {format_percent(cap.hard_limit)} ({cap.basis})",
                field="penalty_rate_multiplier",
            )
        )
    return problems


def assess_product(
    terms: ProductTerms, *, on: date, config: CapConfig = DEFAULT_CAP_CONFIG
) -> tuple[RateAssessment, list[ValidationError]]:
    """The product's rate assessment on date ``on``, and every rule it breaks."""
    cap = rate_cap(profile=terms.regulatory_profile, contract_date=on, config=config)
    highest, amount, term = highest_rate(terms, start=on)
    assessment = RateAssessment(highest, amount, term, cap)
    problems = deduction_problems(terms) + profile_problems(terms)
    return assessment, problems + cap_problems(terms, assessment)


def check_product(
    terms: ProductTerms, *, on: date, config: CapConfig = DEFAULT_CAP_CONFIG
) -> RateAssessment:
    """The assessment of a lawful product; raises the first problem of any other."""
    assessment, problems = assess_product(terms, on=on, config=config)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more: {', '.join(p.code for p in problems[1:])})"
        raise ValidationError(
            first.code, first.message + (more if len(problems) > 1 else ""), field=first.field
        )
    return assessment
