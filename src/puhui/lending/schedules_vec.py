"""Schedules of many loans at once, in numpy: simulation, portfolio projection, end of day.

The result is the schedule ``schedules.build_schedule`` gives for every loan, to the fen. The
arithmetic runs in float64, which is exact for whole fen but not for the fractions between, so
every value that is rounded is checked: a value within a hair (about 1e-13 of the principal) of
a rounding boundary, where float and Decimal could round apart, sends its loan to the Decimal
path. That happens to a handful of loans in a million (more for amounts that land exactly on
half a fen, such as round balances at round rates); all other loans are rounded half up here
explicitly (``floor(x + 0.5)``; ``np.rint`` would round half to even).

Work runs in chunks of loans so that the period-by-loan temporaries stay in the CPU cache, and
in period-major layout so each period is one contiguous vector. Arrays come back loan-major:
``principal_fen[j, k]`` is installment k + 1 of loan j, zero past the loan's installments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np

from puhui.core.errors import ValidationError
from puhui.core.money import MAX_FEN
from puhui.core.rates import MAX_ANNUAL_RATE
from puhui.lending.dates import DayCount
from puhui.lending.schedules import (
    MAX_DAYS,
    MAX_MONTHS,
    MIN_DAYS,
    MONTHS_PER_YEAR,
    Installment,
    LoanTerms,
    Method,
    TermUnit,
    build_schedule,
)

#: How far from a rounding boundary a float value must be, per fen of principal, for float and
#: exact arithmetic to be sure to round it alike: 10 × this, or for equal installments (whose
#: recurrence gathers a rounding error each period, for up to ``ANCHOR_PERIODS``) this × those
#: periods if more. Float errors here are a few 1e-16 per operation: a margin of ten or more.
RELATIVE_TOLERANCE = 1e-14
#: Equal installments restart their recurrence from a direct power every this many periods.
ANCHOR_PERIODS = 16
CHUNK = 8_192
Array = np.ndarray


@dataclass(frozen=True)
class VecSchedules:
    """The schedules of ``m`` loans, ``width`` installment columns each (loan-major arrays)."""

    principal_fen: np.ndarray
    interest_fen: np.ndarray
    fee_fen: np.ndarray
    due_date: np.ndarray
    """datetime64[D]; NaT past the loan's installments."""
    count: np.ndarray
    """Installments of each loan."""
    principal_total_fen: np.ndarray
    upfront_fee_fen: np.ndarray
    exact_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Loans recomputed on the Decimal path because a value sat on a rounding boundary."""

    @property
    def total_fen(self) -> np.ndarray:
        return self.principal_fen + self.interest_fen + self.fee_fen

    @property
    def remaining_principal_fen(self) -> np.ndarray:
        return self.principal_total_fen[:, None] - np.cumsum(self.principal_fen, axis=1)

    def installments(self, j: int) -> tuple[Installment, ...]:
        """Loan ``j``'s installments, as the Decimal path shapes them."""
        remaining = self.principal_total_fen[j] - np.cumsum(self.principal_fen[j])
        return tuple(
            Installment(
                k + 1,
                self.due_date[j, k].astype(date),
                int(self.principal_fen[j, k]),
                int(self.interest_fen[j, k]),
                int(self.fee_fen[j, k]),
                int(remaining[k]),
            )
            for k in range(int(self.count[j]))
        )

    def cash_flows(self) -> np.ndarray:
        """Each borrower's flows per period for ``apr.irr_many``: net received, then payments."""
        flows = np.empty((len(self.count), self.principal_fen.shape[1] + 1))
        flows[:, 0] = self.principal_total_fen - self.upfront_fee_fen
        flows[:, 1:] = -self.total_fen
        return flows


@dataclass(frozen=True)
class LoanArrays:
    """Many loans of one method, as ``LoanTerms`` is one: each other input per loan (an array)
    or shared (a scalar). Construction checks every loan and broadcasts every input.

    ``annual_rate`` is a float64 array (each rate then means the shortest decimal that prints as
    it, its ``repr``) or a sequence of ``Decimal``, kept for the loans redone on the Decimal
    path.
    """

    principal_fen: np.ndarray | Sequence[int]
    annual_rate: np.ndarray | Sequence[Decimal]
    term: np.ndarray | Sequence[int] | int
    method: Method | str
    start: np.ndarray | date
    term_unit: TermUnit | str = TermUnit.MONTH
    day_count: DayCount | str = DayCount.ACT_360
    repayment_day: np.ndarray | int | None = None
    upfront_fee_fen: np.ndarray | int = 0
    period_fee_fen: np.ndarray | int = 0
    # Derived in __post_init__:
    rate: np.ndarray = field(init=False)  # float64 annual rate
    month_index: np.ndarray = field(init=False)  # each start's month, counted in ``calendar``
    calendar: np.ndarray = field(init=False)  # day 0–31 of each month from the first start's
    anchor: np.ndarray = field(init=False)  # the day of the month each loan falls due on
    broken: np.ndarray = field(init=False)  # whether the first period is broken

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "method", Method(self.method))
        set_(self, "term_unit", TermUnit(self.term_unit))
        set_(self, "day_count", DayCount(self.day_count))
        principal = np.asarray(self.principal_fen, dtype=np.int64)
        m = len(principal)
        if isinstance(self.annual_rate, np.ndarray):
            rate = np.broadcast_to(self.annual_rate.astype(np.float64), (m,))
        else:
            rate = np.asarray([float(r) for r in self.annual_rate], dtype=np.float64)

        def each(value: object, dtype: str) -> np.ndarray:
            return np.broadcast_to(np.asarray(value, dtype=dtype), (m,))

        start = self.start
        set_(self, "principal_fen", principal)
        set_(self, "rate", rate)
        set_(self, "term", each(self.term, "int64"))
        set_(
            self,
            "start",
            each(np.datetime64(start, "D") if isinstance(start, date) else start, "datetime64[D]"),
        )
        set_(self, "upfront_fee_fen", each(self.upfront_fee_fen, "int64"))
        set_(self, "period_fee_fen", each(self.period_fee_fen, "int64"))
        if self.repayment_day is not None:
            set_(self, "repayment_day", each(self.repayment_day, "int64"))
        self._check()
        month0, day0 = _month_and_day(self.start)
        first = int(month0.min()) if m else 0
        months = (int(month0.max()) - first if m else 0) + int(self.term.max() if m else 0) + 2
        set_(self, "month_index", month0 - first)
        set_(self, "calendar", _month_table(first, months).ravel())
        days = self.repayment_day
        set_(self, "anchor", day0 if days is None else days)
        set_(self, "broken", np.zeros(m, dtype=bool) if days is None else days != day0)

    def _check(self) -> None:
        principal, rate, terms = self.principal_fen, self.rate, self.term
        upfront, period = self.upfront_fee_fen, self.period_fee_fen
        _refuse(
            (principal <= 0) | (principal > MAX_FEN),
            "principal_out_of_range",
            "principal must be 1 fen or more",
            "principal",
        )
        _refuse(
            ~((rate >= 0) & (rate <= float(MAX_ANNUAL_RATE))),
            "rate_out_of_range",
            "annual rate must be between 0 and 10",
            "annual_rate",
        )
        _refuse((upfront < 0) | (period < 0), "amount_negative", "fees must not be negative", "fee")
        _refuse(
            upfront >= principal,
            "upfront_fee_too_large",
            "the upfront fee must be less than the principal",
            "upfront_fee",
        )
        day_unit = self.term_unit is TermUnit.DAY
        low, high = (MIN_DAYS, MAX_DAYS) if day_unit else (1, MAX_MONTHS)
        _refuse(
            (terms < low) | (terms > high),
            "term_out_of_range",
            f"term must be {low}–{high} {self.term_unit.value}s",
            "term",
        )
        if day_unit and self.method is not Method.BULLET:
            raise ValidationError(
                "day_term_needs_bullet", "a loan counted in days is a bullet loan", field="method"
            )
        if self.repayment_day is not None:
            if self.single_installment:
                raise ValidationError(
                    "repayment_day_not_applicable",
                    "a bullet loan falls due once",
                    field="repayment_day",
                )
            days = self.repayment_day
            _refuse(
                (days < 1) | (days > 31),
                "repayment_day_out_of_range",
                "repayment day must be 1–31",
                "repayment_day",
            )

    @property
    def single_installment(self) -> bool:
        return self.term_unit is TermUnit.DAY or self.method is Method.BULLET

    def terms(self, j: int) -> LoanTerms:
        """Loan ``j`` alone, for the Decimal path."""
        rate = self.annual_rate[j]
        return LoanTerms(
            principal_fen=int(self.principal_fen[j]),
            annual_rate=rate if isinstance(rate, Decimal) else Decimal(repr(float(rate))),
            term=int(self.term[j]),
            method=self.method,
            start=self.start[j].astype(date),
            term_unit=self.term_unit,
            day_count=self.day_count,
            repayment_day=None if self.repayment_day is None else int(self.repayment_day[j]),
            upfront_fee_fen=int(self.upfront_fee_fen[j]),
            period_fee_fen=int(self.period_fee_fen[j]),
        )


def _refuse(bad: np.ndarray, code: str, message: str, field: str) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        raise ValidationError(code, f"loan {row}: {message}", field=field)


def build_schedules(loans: LoanArrays, *, chunk: int = CHUNK) -> VecSchedules:
    """The schedules of many loans, exactly as ``schedules.build_schedule`` makes each."""
    m = len(loans.principal_fen)
    count = np.ones(m, dtype=np.int64) if loans.single_installment else loans.term.copy()
    width = int(count.max()) if m else 0
    ragged = bool((count != width).any())
    principal = np.empty((width, m), dtype=np.int64)
    interest = np.empty((width, m), dtype=np.int64)
    due = np.empty((width, m), dtype="datetime64[D]")
    days = due.view(np.int64)
    exact: list[np.ndarray] = []
    for lo in range(0, m, chunk):
        part = slice(lo, min(lo + chunk, m))
        unsure = _amounts(loans, part, width, principal[:, part], interest[:, part])
        _due_dates(loans, part, width, out=days[:, part])
        exact.append(np.flatnonzero(unsure) + lo)
    fee = np.broadcast_to(loans.period_fee_fen, (width, m))
    if ragged:
        past = np.arange(width)[:, None] >= count[None, :]
        principal[past] = interest[past] = 0
        due[past] = np.datetime64("NaT")
        fee = np.where(past, 0, fee)
    rows = np.concatenate(exact) if exact else np.zeros(0, dtype=np.int64)
    for j in rows:
        for k, line in enumerate(build_schedule(loans.terms(int(j))).installments):
            principal[k, j], interest[k, j] = line.principal_fen, line.interest_fen
    return VecSchedules(
        principal.T,
        interest.T,
        fee.T,
        due.T,
        count,
        loans.principal_fen,
        loans.upfront_fee_fen,
        rows,
    )


def _half_up(x: np.ndarray, tol: np.ndarray, unsure: np.ndarray) -> np.ndarray:
    """``x`` rounded half up, marking the loans (columns) where a value sits on a boundary.

    Returns the rounded values; ``x`` is left holding ``x - rounded`` (in [-0.5, 0.5)).
    """
    rounded = x + 0.5
    np.floor(rounded, out=rounded)
    np.subtract(x, rounded, out=x)
    gap = np.abs(x)
    unsure |= (gap.max(axis=0) if gap.ndim == 2 else gap) > 0.5 - tol
    return rounded


def _amounts(
    loans: LoanArrays, part: slice, width: int, principal: np.ndarray, interest: np.ndarray
) -> np.ndarray:
    """Fill one chunk's principal and interest (period-major); return the loans to redo."""
    p = loans.principal_fen[part].astype(np.float64)
    rate, n = loans.rate[part], loans.term[part]
    periods = min(width, ANCHOR_PERIODS) if loans.method is Method.EQUAL_INSTALLMENT else 0
    tol = (p + 1.0) * (RELATIVE_TOLERANCE * max(periods, 10)) + 1e-9
    unsure = np.zeros(len(p), dtype=bool)
    if loans.single_installment:
        basis = loans.day_count.basis if loans.term_unit is TermUnit.DAY else MONTHS_PER_YEAR
        interest[0] = _half_up(p * rate * n / basis, tol, unsure)
        principal[0] = loans.principal_fen[part]
        return unsure
    _SPLITS[loans.method](p, rate / MONTHS_PER_YEAR, n, tol, unsure, principal, interest)
    broken = loans.broken[part]
    if broken.any():
        by_days = p * rate * _first_period_days(loans, part) / loans.day_count.basis
        on_edge = np.zeros_like(unsure)
        interest[0] = np.where(broken, _half_up(by_days, tol, on_edge), interest[0])
        unsure |= on_edge & broken
    return unsure


def _equal_installment(
    p: Array, i: Array, n: Array, tol: Array, unsure: Array, principal: Array, interest: Array
) -> None:
    """The Decimal path's rule: cumulative principal is the exact amortisation, rounded; each
    installment is the rounded level payment, moved a fen where its interest would otherwise be
    more than a fen from the exact interest.

    The cumulative principal X[k] = P((1+i)^k - 1)/((1+i)^n - 1) follows the recurrence
    X[k] = X[k-1](1+i) + Pi/((1+i)^n - 1), which never cancels, restarted from
    ``expm1(k log1p(i))`` every ``ANCHOR_PERIODS`` periods. The interest's excess over the
    exact interest is the level payment's rounding plus the change in the cumulative
    principal's rounding, ``(level - exact level) + d[k] - d[k-1]`` with ``d = X - round(X)``,
    so it comes from residues already at hand; as it lies in (-1.5, 1.5], ``trunc`` of it is
    the fen the installment moves (an excess of exactly ±1 is on a boundary: redone exactly).
    """
    width, c = principal.shape
    cols = np.arange(c)
    free = i == 0  # no interest: redone below in integers
    log_growth = np.log1p(i)
    full = np.expm1(n * log_growth)  # (1 + i)^n - 1
    scale = p / np.where(free, 1.0, full)
    step = scale * i
    level_residue = step * (full + 1.0)  # the exact level payment, then its rounding residue
    level = _half_up(level_residue, tol, unsure)
    growth = 1.0 + i
    x = np.empty((width, c))
    np.copyto(x[0], step)
    for k in range(1, width):
        if (k + 1) % ANCHOR_PERIODS:
            np.multiply(x[k - 1], growth, out=x[k])
            x[k] += step
        else:  # a fresh start, so the recurrence's rounding errors never pile up
            np.multiply(log_growth, k + 1, out=x[k])
            np.expm1(x[k], out=x[k])
            x[k] *= scale
    x[n - 1, cols] = p
    if (n != width).any():
        np.copyto(x, p, where=np.arange(width)[:, None] >= n[None, :])
    cumulative = _half_up(x, tol, unsure)  # x now holds the residues d
    part = np.empty_like(x)
    part[0] = cumulative[0]
    np.subtract(cumulative[1:], cumulative[:-1], out=part[1:])
    np.copyto(principal, part, casting="unsafe")
    excess = cumulative  # reuse the buffer: cumulative is no longer needed
    excess[0] = x[0]
    np.subtract(x[1:], x[:-1], out=excess[1:])
    excess -= level_residue
    np.abs(excess, out=x)
    x -= 1.0
    np.abs(x, out=x)
    unsure |= x.min(axis=0) < tol
    np.trunc(excess, out=excess)
    part += excess
    np.subtract(level, part, out=interest, casting="unsafe")
    if free.any():
        k = np.arange(1, width + 1)[:, None]
        whole, count = _whole_fen(p[free]), n[free]
        share = (2 * whole * np.minimum(k, count) + count) // (2 * count)
        principal[:, free] = np.diff(share, axis=0, prepend=0)
        interest[:, free] = 0
        unsure[free] = False


def _whole_fen(values: Array) -> Array:
    return values.astype(np.int64)


def _equal_principal(
    p: Array, i: Array, n: Array, tol: Array, unsure: Array, principal: Array, interest: Array
) -> None:
    width = principal.shape[0]
    whole = _whole_fen(p)
    base = (2 * whole + n) // (2 * n)  # half up, exactly; never a negative last installment:
    base = np.where(base * (n - 1) <= whole, base, whole // n)
    k = np.arange(width)[:, None]
    principal[:] = np.where(k < n - 1, base, np.where(k == n - 1, whole - base * (n - 1), 0))
    interest[:] = _half_up((whole - base * k) * i, tol, unsure)


def _interest_only(
    p: Array, i: Array, n: Array, tol: Array, unsure: Array, principal: Array, interest: Array
) -> None:
    k = np.arange(principal.shape[0])[:, None]
    principal[:] = np.where(k == n - 1, _whole_fen(p), 0)
    interest[:] = _half_up(p * i, tol, unsure)


_SPLITS: dict[Method, Callable[..., None]] = {
    Method.EQUAL_INSTALLMENT: _equal_installment,
    Method.EQUAL_PRINCIPAL: _equal_principal,
    Method.INTEREST_ONLY: _interest_only,
}


def _month_table(first_month: int, months: int) -> np.ndarray:
    """Day ``a`` (1–31) of each month, clamped to the month's end, as days since 1970."""
    index = np.arange(first_month, first_month + months + 1).astype("datetime64[M]")
    first = index.astype("datetime64[D]").astype(np.int64)
    length = np.diff(first)
    day = np.arange(32)[None, :]
    return first[:-1, None] + np.minimum(np.maximum(day, 1), length[:, None]) - 1


def _month_and_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The month (since 1970-01) and day of month of each date, looked up in a table over the
    span of the dates: numpy's calendar conversion of every date would cost more."""
    if not len(days):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    number = days.astype(np.int64)
    first = int(number.min())
    span = np.arange(first, int(number.max()) + 1).astype("datetime64[D]")
    months = span.astype("datetime64[M]")
    day = (span - months.astype("datetime64[D]")).astype(np.int64) + 1
    return months.astype(np.int64)[number - first], day[number - first]


def _monthly(loans: LoanArrays, part: slice, steps: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Day ``anchor`` of the month ``steps[k]`` months after each start's month, as days since
    1970, into row k of ``out``: a lookup in the loans' table of (month, day of month)."""
    base = loans.month_index[part] * 32 + loans.anchor[part]
    index = np.empty_like(base)
    for row, step in zip(out, steps, strict=True):
        np.add(base, step * 32, out=index)
        np.take(loans.calendar, index, out=row, mode="clip")  # every index is in the table
    return out


def _due_dates(loans: LoanArrays, part: slice, width: int, out: np.ndarray) -> None:
    """Write the chunk's due dates, as days since 1970, into ``out`` (period-major)."""
    if loans.term_unit is TermUnit.DAY:
        out[0] = loans.start[part].astype(np.int64) + loans.term[part]
        return
    if loans.method is Method.BULLET:
        steps = loans.term[part][None, :]
    else:
        steps = np.arange(1, width + 1)[:, None]
    _monthly(loans, part, steps, out)


def _first_period_days(loans: LoanArrays, part: slice) -> np.ndarray:
    first_due = np.empty((1, part.stop - part.start), dtype=np.int64)
    _monthly(loans, part, np.ones((1, 1), dtype=np.int64), first_due)
    return first_due[0] - loans.start[part].astype(np.int64)
