"""Repayment schedules, computed exactly with ``Decimal``: the reference every other path meets.

Amounts are integer fen, rounded half up. The principal of every method follows its exact
curve and the last installment repays whatever principal remains, so the principal always sums
to the loan to the fen. For equal installments (等额本息) the cumulative principal repaid after
each period is the exact amortisation, rounded; every installment is the rounded level payment,
moved by one fen in a period where that keeps the period's interest within one fen of the
exact interest. Each installment therefore stays within one fen of the textbook
payment/interest/principal of every period, the last included, and the installments never
differ by more than one fen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, localcontext
from enum import StrEnum
from itertools import pairwise

from puhui.core.errors import ValidationError
from puhui.core.money import check_fen, round_fen
from puhui.core.rates import parse_rate
from puhui.lending.dates import DayCount, add_months, day_term_due_date, monthly_due_dates

#: Working precision for schedule arithmetic: far beyond any rounding that reaches the fen.
PRECISION = Context(prec=40)
MONTHS_PER_YEAR = 12
MAX_MONTHS = 360
MIN_DAYS, MAX_DAYS = 7, 365


class Method(StrEnum):
    """How principal and interest are spread over the installments."""

    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY = "interest_only"  # 先息后本
    BULLET = "bullet"  # 一次性还本付息


class TermUnit(StrEnum):
    MONTH = "month"
    DAY = "day"


def parse_choice(kind: type[StrEnum], value: object, field: str) -> StrEnum:
    """``value`` as a member of ``kind``, or a ValidationError naming the allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ValidationError(
            f"unknown_{field}",
            f"{value!r} is not a {field.replace('_', ' ')} ({allowed})",
            field=field,
        ) from None


@dataclass(frozen=True)
class LoanTerms:
    """What a schedule is computed from; construction refuses anything that cannot be a loan.

    Fees are whole fen: ``upfront_fee_fen`` is paid by the borrower at disbursement as its own
    payment (never deducted from the principal, RATE-FEE-01) and ``period_fee_fen`` with every
    installment. ``repayment_day`` fixes the day of the month the loan falls due; when it is
    not the start's day, the first period is broken and its interest accrues by days.
    """

    principal_fen: int
    annual_rate: Decimal
    term: int
    method: Method
    start: date
    term_unit: TermUnit = TermUnit.MONTH
    day_count: DayCount = DayCount.ACT_360
    repayment_day: int | None = None
    upfront_fee_fen: int = 0
    period_fee_fen: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "method", parse_choice(Method, self.method, "method"))
        set_(self, "term_unit", parse_choice(TermUnit, self.term_unit, "term_unit"))
        set_(self, "day_count", parse_choice(DayCount, self.day_count, "day_count"))
        set_(self, "annual_rate", parse_rate(self.annual_rate))
        check_fen(self.principal_fen, field="principal", allow_zero=False)
        check_fen(self.upfront_fee_fen, field="upfront_fee")
        check_fen(self.period_fee_fen, field="period_fee")
        self._check_term()
        if self.upfront_fee_fen >= self.principal_fen:
            raise ValidationError(
                "upfront_fee_too_large",
                "the upfront fee must be less than the principal",
                field="upfront_fee",
            )
        if self.repayment_day is not None:
            if self.method is Method.BULLET or self.term_unit is TermUnit.DAY:
                raise ValidationError(
                    "repayment_day_not_applicable",
                    "a bullet loan falls due once: a repayment day does not apply",
                    field="repayment_day",
                )
            if not 1 <= self.repayment_day <= 31:
                raise ValidationError(
                    "repayment_day_out_of_range",
                    "repayment day must be 1–31",
                    field="repayment_day",
                )

    def _check_term(self) -> None:
        if isinstance(self.term, bool) or not isinstance(self.term, int):
            raise ValidationError("term_not_integer", "term must be a whole number", field="term")
        if self.term_unit is TermUnit.DAY:
            if not MIN_DAYS <= self.term <= MAX_DAYS:
                raise ValidationError(
                    "term_out_of_range",
                    f"a term in days must be {MIN_DAYS}–{MAX_DAYS}",
                    field="term",
                )
            if self.method is not Method.BULLET:
                raise ValidationError(
                    "day_term_needs_bullet",
                    "a loan counted in days is repaid in one payment: use method bullet",
                    field="method",
                )
        elif not 1 <= self.term <= MAX_MONTHS:
            raise ValidationError(
                "term_out_of_range", f"a term in months must be 1–{MAX_MONTHS}", field="term"
            )

    @property
    def monthly_rate(self) -> Decimal:
        with localcontext(PRECISION):
            return self.annual_rate / MONTHS_PER_YEAR

    @property
    def broken_first_period(self) -> bool:
        return self.repayment_day is not None and self.repayment_day != self.start.day

    @property
    def installment_count(self) -> int:
        return 1 if self.term_unit is TermUnit.DAY or self.method is Method.BULLET else self.term


@dataclass(frozen=True)
class Installment:
    """One line of a schedule; ``remaining_principal_fen`` is what is still owed after it."""

    period: int
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    remaining_principal_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen + self.fee_fen


@dataclass(frozen=True)
class Schedule:
    """A loan's installments, and when each falls in periods, for the annual rate (IRR).

    ``period_times`` counts periods from the start: 1, 2, 3… for whole months; a broken first
    period counts its days over a twelfth of the day-count year. A bullet loan is one period of
    its own length, and ``periods_per_year`` is then the year over that length.
    """

    terms: LoanTerms
    installments: tuple[Installment, ...]
    period_times: tuple[Decimal, ...]
    periods_per_year: Decimal

    @property
    def total_principal_fen(self) -> int:
        return sum(i.principal_fen for i in self.installments)

    @property
    def total_interest_fen(self) -> int:
        return sum(i.interest_fen for i in self.installments)

    @property
    def total_fee_fen(self) -> int:
        """Every fee the borrower pays: the upfront fee and the fee of every installment."""
        return self.terms.upfront_fee_fen + sum(i.fee_fen for i in self.installments)

    @property
    def net_received_fen(self) -> int:
        """The principal the borrower is paid, less the upfront fee paid straight back."""
        return self.terms.principal_fen - self.terms.upfront_fee_fen

    @property
    def payments_fen(self) -> tuple[int, ...]:
        return tuple(i.total_fen for i in self.installments)


def div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, exactly, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def level_principal_fen(principal_fen: int, count: int) -> int:
    """The equal principal of each installment but the last, which takes the remainder.

    Half up, unless that would leave a negative last installment (a loan of a few fen over many
    periods), when it is rounded down instead.
    """
    base = div_half_up(principal_fen, count)
    return base if base * (count - 1) <= principal_fen else principal_fen // count


def first_period_days(terms: LoanTerms, first_due: date) -> int:
    return (first_due - terms.start).days


def _interest_for_days(terms: LoanTerms, days: int) -> int:
    with localcontext(PRECISION):
        return round_fen(
            terms.principal_fen * terms.annual_rate * days / Decimal(terms.day_count.basis)
        )


Split = tuple[list[int], list[int]]


def _equal_installment(terms: LoanTerms, broken_interest: int | None) -> Split:
    p, n, i = terms.principal_fen, terms.term, terms.monthly_rate
    if i == 0:  # no interest: the principal split evenly, cumulatively
        cumulative = [div_half_up(p * k, n) for k in range(n + 1)]
        return [b - a for a, b in pairwise(cumulative)], [0] * n
    with localcontext(PRECISION):
        growth = [Decimal(0)]  # (1 + i)^k - 1, by a recurrence that never cancels
        for _ in range(n):
            growth.append(growth[-1] + i * (growth[-1] + 1))
        scale = p / growth[n]
        level = round_fen(scale * i * (growth[n] + 1))
        repaid = [scale * g for g in growth[:n]] + [Decimal(p)]  # exact cumulative principal
        cumulative = [round_fen(x) for x in repaid]
        principal = [b - a for a, b in pairwise(cumulative)]
        interest = []
        for k, part in enumerate(principal):
            if k == 0 and broken_interest is not None:
                interest.append(broken_interest)
                continue
            excess = level - part - i * (p - repaid[k])  # over the exact interest of period k+1
            interest.append(level - (excess > 1) + (excess < -1) - part)
    return principal, interest


def _equal_principal(terms: LoanTerms, broken_interest: int | None) -> Split:
    p, n, i = terms.principal_fen, terms.term, terms.monthly_rate
    base = level_principal_fen(p, n)
    principal = [base] * (n - 1) + [p - base * (n - 1)]
    interest, remaining = [], p
    with localcontext(PRECISION):
        for part in principal:
            interest.append(round_fen(remaining * i))
            remaining -= part
    if broken_interest is not None:
        interest[0] = broken_interest
    return principal, interest


def _interest_only(terms: LoanTerms, broken_interest: int | None) -> Split:
    n = terms.term
    with localcontext(PRECISION):
        regular = round_fen(terms.principal_fen * terms.monthly_rate)
    interest = [regular] * n
    if broken_interest is not None:
        interest[0] = broken_interest
    return [0] * (n - 1) + [terms.principal_fen], interest


def _bullet(terms: LoanTerms, _broken_interest: int | None) -> Split:
    if terms.term_unit is TermUnit.DAY:
        interest = _interest_for_days(terms, terms.term)
    else:
        with localcontext(PRECISION):
            interest = round_fen(
                terms.principal_fen * terms.annual_rate * terms.term / MONTHS_PER_YEAR
            )
    return [terms.principal_fen], [interest]


_SPLITS: dict[Method, Callable[[LoanTerms, int | None], Split]] = {
    Method.EQUAL_INSTALLMENT: _equal_installment,
    Method.EQUAL_PRINCIPAL: _equal_principal,
    Method.INTEREST_ONLY: _interest_only,
    Method.BULLET: _bullet,
}


def due_dates(terms: LoanTerms) -> list[date]:
    if terms.term_unit is TermUnit.DAY:
        return [day_term_due_date(terms.start, terms.term)]
    if terms.method is Method.BULLET:
        return [add_months(terms.start, terms.term)]
    return monthly_due_dates(terms.start, terms.term, day=terms.repayment_day)


def period_timing(terms: LoanTerms, dates: list[date]) -> tuple[tuple[Decimal, ...], Decimal]:
    """When each installment falls, in periods, and how many periods make a year.

    A bullet loan is one period as long as the loan, so its IRR annualises the way its simple
    interest was charged.
    """
    basis = Decimal(terms.day_count.basis)
    with localcontext(PRECISION):
        if terms.term_unit is TermUnit.DAY:
            return (Decimal(1),), basis / terms.term
        if terms.method is Method.BULLET:
            return (Decimal(1),), Decimal(MONTHS_PER_YEAR) / terms.term
        first = Decimal(1)
        if terms.broken_first_period:
            first = first_period_days(terms, dates[0]) * MONTHS_PER_YEAR / basis
    return tuple(first + k for k in range(len(dates))), Decimal(MONTHS_PER_YEAR)


def build_schedule(terms: LoanTerms) -> Schedule:
    """The schedule of one loan (the Decimal reference path)."""
    dates = due_dates(terms)
    broken = (
        _interest_for_days(terms, first_period_days(terms, dates[0]))
        if terms.broken_first_period
        else None
    )
    principal, interest = _SPLITS[terms.method](terms, broken)
    installments, remaining = [], terms.principal_fen
    for k, (due, part, owed) in enumerate(zip(dates, principal, interest, strict=True), 1):
        remaining -= part
        installments.append(Installment(k, due, part, owed, terms.period_fee_fen, remaining))
    times, per_year = period_timing(terms, dates)
    return Schedule(terms, tuple(installments), times, per_year)


def exact_payments(terms: LoanTerms) -> list[Decimal]:
    """Each installment's principal and interest before rounding to the fen, fees excluded.

    This is the loan's pricing as agreed; rounding moves a schedule off it by at most a fen an
    installment, which on the smallest loans can nudge the IRR by a hundredth of a percent, so
    caps are checked on these amounts.
    """
    p, n, i = Decimal(terms.principal_fen), terms.term, terms.monthly_rate
    basis = terms.day_count.basis
    with localcontext(PRECISION):
        if terms.term_unit is TermUnit.DAY:
            return [p + p * terms.annual_rate * n / basis]
        if terms.method is Method.BULLET:
            return [p + p * terms.annual_rate * n / MONTHS_PER_YEAR]
        if terms.method is Method.EQUAL_INSTALLMENT:
            payments = [p / n if i == 0 else p * i / (1 - (1 + i) ** -n)] * n
        elif terms.method is Method.EQUAL_PRINCIPAL:
            payments = [p / n + (p - k * p / n) * i for k in range(n)]
        else:
            payments = [p * i] * (n - 1) + [p + p * i]
        if terms.broken_first_period:
            days = first_period_days(terms, due_dates(terms)[0])
            payments[0] += p * terms.annual_rate * days / basis - p * i
    return payments
