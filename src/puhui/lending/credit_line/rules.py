"""Pure rules of the credit line: its terms, the limit at grant, billing dates, the minimum
payment, the payment waterfall and the instalment (分期) schedule with its IRR annual rate.

No database here: the service and the batch call these with plain values, and the tests can
check each rule with literal numbers.
"""

from __future__ import annotations

import calendar as cal
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig, Profile, rate_cap
from puhui.core.errors import ValidationError
from puhui.core.rates import format_percent
from puhui.credit.policy import CreditPolicy
from puhui.lending import apr
from puhui.lending.contract_terms import rate_ppb
from puhui.lending.schedules import div_half_up

PPB = 1_000_000_000
#: bank.consumer_credit.cap (§9): a person's consumer credit line at most 200,000 yuan.
CONSUMER_CREDIT_CAP_FEN = 200_000_00
PERIODS = (3, 6, 9, 12)
YEAR_DAYS = 365


@dataclass(frozen=True)
class LineTerms:
    """The product's settings a line is granted under (all configurable)."""

    #: Interest on the unpaid part of a statement after its due date (年化, ACT/365).
    annual_rate: Decimal = Decimal("0.146")
    #: Penalty on the overdue minimum: 0.05% a day, before the cap (RATE-FEE-02).
    penalty_daily_rate: Decimal = Decimal("0.0005")
    #: The minimum payment's share of the billed principal (plus every fee and charge).
    min_payment_rate: Decimal = Decimal("0.10")
    #: The instalment fee per period, of the converted principal.
    instalment_fee_rate: Decimal = Decimal("0.006")
    statement_day: int = 1
    due_day: int = 10
    suspend_dpd: int = 7
    close_dpd: int = 30
    cash_draw_allowed: bool = False
    profile: Profile = Profile.LICENSED_LENDER
    cap_config: CapConfig = DEFAULT_CAP_CONFIG


DEFAULT_TERMS = LineTerms()


def check_days(statement_day: int, due_day: int) -> None:
    """Billing days are 1–28 (every month has them) and differ."""
    for name, day in (("statement_day", statement_day), ("due_day", due_day)):
        if not 1 <= day <= 28:
            raise ValidationError(
                "billing_day_invalid", f"{name} is a day from 1 to 28", field=name
            )
    if statement_day == due_day:
        raise ValidationError(
            "billing_day_invalid", "the due day differs from the statement day", field="due_day"
        )


def penalty_rate(terms: LineTerms, *, contract_date: date) -> Decimal:
    """The annual penalty rate: the configured daily rate × 365, cut so that interest plus
    penalty stays within the cap of the contract date (RATE-FEE-02). Refused when the interest
    rate alone is above the cap."""
    cap = rate_cap(profile=terms.profile, contract_date=contract_date, config=terms.cap_config)
    if terms.annual_rate > cap.cap:
        raise ValidationError(
            "rate_above_cap",
            f"the line's rate {format_percent(terms.annual_rate)} is above the cap "
            f"{format_percent(cap.cap)} ({cap.basis})",
            field="annual_rate",
        )
    wanted = terms.penalty_daily_rate * YEAR_DAYS
    return min(wanted, cap.cap - terms.annual_rate).quantize(Decimal("1e-9"), ROUND_DOWN)


def ppb_of(rate: Decimal) -> int:
    return rate_ppb(rate)


@dataclass(frozen=True)
class GrantLimit:
    limit_fen: int
    basis: tuple[str, ...]


def grant_limit(
    *, grade: str, annual_income_fen: int, owed_elsewhere_fen: int, policy: CreditPolicy
) -> GrantLimit:
    """授信额度 from the credit grade and income (policy ``income_multiple``), within
    MCL-CAP-01 (min(300,000, income / 3) less what the person already owes the company) and
    bank.consumer_credit.cap (200,000), in whole steps of the policy (100 yuan)."""
    if grade not in policy.income_multiple:
        raise ValidationError("grade_unknown", f"no credit grade {grade!r}", field="grade")
    if annual_income_fen < 0:
        raise ValidationError("income_invalid", "income is not negative", field="annual_income_fen")
    multiple = policy.income_multiple[grade]
    mcl = min(policy.mcl_person_cap_fen, annual_income_fen // policy.mcl_income_divisor)
    candidates = [
        (
            int((annual_income_fen * multiple).to_integral_value(ROUND_DOWN)),
            f"income × {multiple.normalize()} (grade {grade})",
        ),
        (mcl - owed_elsewhere_fen, "MCL-CAP-01"),
        (CONSUMER_CREDIT_CAP_FEN, "bank.consumer_credit.cap"),
    ]
    step = policy.limit_step_fen
    amount = max(0, min(a for a, _ in candidates))
    amount -= amount % step
    return GrantLimit(amount, tuple(w for a, w in candidates if max(0, a) - a % step == amount))


def effective_limit(limit_fen: int, temp_fen: int, temp_until: date | None, today: date) -> int:
    """The limit today: the temporary raise counts through its end date."""
    return limit_fen + (temp_fen if temp_until is not None and today <= temp_until else 0)


def add_month(day: date, months: int = 1) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, cal.monthrange(year, month)[1]))


def next_on_day(after: date, day_of_month: int) -> date:
    """The first date strictly after ``after`` falling on ``day_of_month`` (1–28)."""
    candidate = after.replace(day=day_of_month)
    return candidate if candidate > after else add_month(candidate)


def minimum_payment(*, principal_fen: int, charges_fen: int, instalments_fen: int, ppb: int) -> int:
    """最低还款额: the share of the revolving principal, plus every fee, interest and penalty,
    plus the instalments billed in full."""
    return div_half_up(principal_fen * ppb, PPB) + charges_fen + instalments_fen


@dataclass(frozen=True)
class Split:
    """How a payment is applied (fen)."""

    fees_fen: int
    penalty_fen: int
    interest_fen: int
    billed_fen: int
    unbilled_fen: int

    @property
    def principal_fen(self) -> int:
        return self.billed_fen + self.unbilled_fen

    @property
    def total_fen(self) -> int:
        return self.fees_fen + self.penalty_fen + self.interest_fen + self.principal_fen


def allocate(
    amount: int, *, fees: int, penalty: int, interest: int, billed: int, unbilled: int
) -> Split:
    """The waterfall: fees and penalty → interest → billed principal (the oldest instalments
    are billed first) → principal not yet billed. Instalment principal not yet billed is only
    paid by settling its plan early; a payment above everything payable is refused."""
    payable = fees + penalty + interest + billed + unbilled
    if amount > payable:
        raise ValidationError(
            "overpayment",
            f"{amount} fen is more than the {payable} fen payable now",
            field="amount_fen",
        )
    out = []
    left = amount
    for owed in (fees, penalty, interest, billed, unbilled):
        take = min(left, owed)
        out.append(take)
        left -= take
    return Split(*out)


@dataclass(frozen=True)
class InstalmentQuote:
    """分期 before the customer confirms: each period's payment and the IRR annual rate
    (RATE-APR-01/03) checked against the cap (RATE-CAP-02)."""

    principal_fen: int
    periods: int
    fee_per_period_fen: int
    payments_fen: tuple[int, ...]
    total_fee_fen: int
    annual_rate_irr: Decimal
    effective_annual_rate: Decimal
    cap: Decimal
    label: str = apr.LABEL


def period_principal(principal_fen: int, periods: int, k: int) -> int:
    """Period ``k`` (1-based): an equal share, the last absorbing the remainder."""
    base = principal_fen // periods
    return principal_fen - base * (periods - 1) if k == periods else base


def quote_instalments(
    *, principal_fen: int, periods: int, fee_rate: Decimal, terms: LineTerms, contract_date: date
) -> InstalmentQuote:
    if periods not in PERIODS:
        raise ValidationError(
            "periods_invalid", f"instalments are {', '.join(map(str, PERIODS))}", field="periods"
        )
    if principal_fen < periods * 100:
        raise ValidationError(
            "instalment_too_small",
            "an instalment plan needs at least 1 yuan a period",
            field="amount",
        )
    fee = div_half_up(principal_fen * ppb_of(fee_rate), PPB)
    payments = tuple(
        period_principal(principal_fen, periods, k) + fee for k in range(1, periods + 1)
    )
    rates = apr.annual_rates(received_fen=principal_fen, payments_fen=payments, periods_per_year=12)
    cap = rate_cap(profile=terms.profile, contract_date=contract_date, config=terms.cap_config)
    if rates.annual_rate_irr > cap.cap:
        raise ValidationError(
            "rate_above_cap",
            f"the instalments' annual rate {format_percent(rates.annual_rate_irr)} is above "
            f"the cap {format_percent(cap.cap)} ({cap.basis})",
            field="periods",
        )
    return InstalmentQuote(
        principal_fen,
        periods,
        fee,
        payments,
        fee * periods,
        rates.annual_rate_irr,
        rates.effective_annual_rate,
        cap.cap,
    )


def bucket(dpd: int) -> str:
    return (
        "M0"
        if dpd <= 0
        else "M1"
        if dpd <= 30
        else "M2"
        if dpd <= 60
        else "M3"
        if dpd <= 90
        else "M4"
    )


def days(a: date, b: date) -> int:
    return (a - b).days


ONE_DAY = timedelta(days=1)
