"""Offers: the priced loan a borrower is shown before signing, and the contract made from it.

An offer carries the whole schedule, every fee, the penalty rate and the annual rate by IRR
(年化利率, RATE-APR-01) labelled as RATE-APR-03 asks, alongside the contract's simple rate
(RATE-APR-02). It is refused when that IRR rate, as disclosed, is above the cap on the contract
date: the product was checked when it was created, but the LPR moves, so every loan is checked
again (RATE-CAP-01/02). ``contract_content`` turns an accepted offer into what ``contracts``
renders and hashes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig, rate_cap
from puhui.core.errors import ValidationError
from puhui.core.rates import format_percent
from puhui.identity.times import span_us
from puhui.lending import contract_terms
from puhui.lending.apr import schedule_rates
from puhui.lending.contracts import IRR_LABEL, ContractContent
from puhui.lending.products import ProductVersion
from puhui.lending.rules import DISCLOSED
from puhui.lending.schedules import Schedule, build_schedule


@dataclass(frozen=True)
class OfferLine:
    seq: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    total_fen: int
    remaining_principal_fen: int


@dataclass(frozen=True)
class Offer:
    """What the borrower is offered: the IRR annual rate (年化利率, labelled per RATE-APR-03)
    comes with the contract rate, every fee and the whole schedule, for a loan starting on
    ``start_date``; due dates move with the date the loan is actually paid out."""

    product_version_id: int
    product_code: str
    product_version: int
    amount_fen: int
    term: int
    term_unit: str
    method: str
    day_count: str
    irr_annual_rate: Decimal
    irr_label: str
    effective_annual_rate: Decimal
    annual_rate: Decimal
    penalty_rate: Decimal
    upfront_fee_fen: int
    period_fee_fen: int
    late_fee_fen: int
    grace_days: int
    total_interest_fen: int
    total_fee_fen: int
    total_repayment_fen: int
    start_date: date
    maturity_date: date
    schedule: tuple[OfferLine, ...]
    cooling_off_hours: int
    prepayment: str
    prepayment_fee_rate: Decimal
    expires_us: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Offer:
        data = json.loads(text)
        for key in (
            "irr_annual_rate",
            "effective_annual_rate",
            "annual_rate",
            "penalty_rate",
            "prepayment_fee_rate",
        ):
            data[key] = Decimal(data[key])
        for key in ("start_date", "maturity_date"):
            data[key] = date.fromisoformat(data[key])
        data["schedule"] = tuple(
            OfferLine(**{**line, "due_date": date.fromisoformat(line["due_date"])})
            for line in data["schedule"]
        )
        return cls(**data)


def loan_schedule(
    version: ProductVersion, amount_fen: int, term: int, rate: Decimal, start: date
) -> Schedule:
    """The schedule of one loan under ``version`` (amount, term and rate checked)."""
    terms = contract_terms.loan_terms(
        version, amount_fen=amount_fen, term=term, annual_rate=rate, start=start
    )
    return build_schedule(terms)


def build_offer(
    version: ProductVersion,
    *,
    amount_fen: int,
    term: int,
    annual_rate: Decimal,
    start: date,
    expires_us: int,
    cooling_off_hours: int,
    cap_config: CapConfig = DEFAULT_CAP_CONFIG,
) -> Offer:
    """The offer of a loan under ``version``, refused when its IRR annual rate is above the
    cap on ``start`` (the cap is checked for each loan on its contract date: the LPR moves)."""
    schedule = loan_schedule(version, amount_fen, term, annual_rate, start)
    rates = schedule_rates(schedule)
    cap = rate_cap(profile=version.terms.regulatory_profile, contract_date=start, config=cap_config)
    disclosed = rates.annual_rate_irr.quantize(DISCLOSED, rounding=ROUND_HALF_UP)
    if disclosed > cap.cap:
        raise ValidationError(
            "annual_rate_above_cap",
            f"this loan's annual rate by IRR is {format_percent(disclosed)}, above the cap "
            f"{format_percent(cap.cap)} ({cap.basis})",
            field="annual_rate",
        )
    terms = version.terms
    lines = tuple(
        OfferLine(
            i.period,
            i.due_date,
            i.principal_fen,
            i.interest_fen,
            i.fee_fen,
            i.total_fen,
            i.remaining_principal_fen,
        )
        for i in schedule.installments
    )
    return Offer(
        product_version_id=version.version_id,
        product_code=version.code,
        product_version=version.version,
        amount_fen=amount_fen,
        term=term,
        term_unit=terms.term_unit.value,
        method=terms.method.value,
        day_count=terms.day_count.value,
        irr_annual_rate=rates.annual_rate_irr,
        irr_label=IRR_LABEL,
        effective_annual_rate=rates.effective_annual_rate,
        annual_rate=annual_rate,
        penalty_rate=contract_terms.penalty_rate(version, annual_rate),
        upfront_fee_fen=schedule.terms.upfront_fee_fen,
        period_fee_fen=schedule.terms.period_fee_fen,
        late_fee_fen=terms.late_fee_fen,
        grace_days=terms.grace_days,
        total_interest_fen=schedule.total_interest_fen,
        total_fee_fen=schedule.total_fee_fen,
        total_repayment_fen=sum(schedule.payments_fen) + schedule.terms.upfront_fee_fen,
        start_date=start,
        maturity_date=schedule.installments[-1].due_date,
        schedule=lines,
        cooling_off_hours=cooling_off_hours,
        prepayment=terms.prepayment.value,
        prepayment_fee_rate=terms.prepayment_fee_rate,
        expires_us=expires_us,
    )


def contract_content(
    *,
    application_id: int,
    customer_id: int,
    version: ProductVersion,
    schedule: Schedule,
    penalty: Decimal,
    borrower_name: str,
    borrower_id_number: str,
    signed_us: int,
    lender: str,
    cooling_off_hours: int,
) -> ContractContent:
    """The contract of an accepted offer (party details masked)."""
    rates = schedule_rates(schedule)
    terms, lt = version.terms, schedule.terms
    return ContractContent(
        application_id=application_id,
        lender=lender,
        borrower_name=borrower_name,
        borrower_id_number=borrower_id_number,
        customer_id=customer_id,
        product_code=version.code,
        product_version=version.version,
        principal_fen=lt.principal_fen,
        term=lt.term,
        term_unit=lt.term_unit,
        method=lt.method,
        day_count=lt.day_count.value,
        annual_rate=lt.annual_rate,
        irr_annual_rate=rates.annual_rate_irr,
        effective_annual_rate=rates.effective_annual_rate,
        penalty_rate=penalty,
        upfront_fee_fen=lt.upfront_fee_fen,
        period_fee_fen=lt.period_fee_fen,
        late_fee_fen=terms.late_fee_fen,
        grace_days=terms.grace_days,
        schedule=schedule.installments,
        start_date=lt.start,
        maturity_date=schedule.installments[-1].due_date,
        cooling_off_hours=cooling_off_hours,
        cooling_off_until_us=signed_us + span_us(timedelta(hours=cooling_off_hours)),
        prepayment=terms.prepayment,
        prepayment_fee_rate=terms.prepayment_fee_rate,
        signed_us=signed_us,
    )
