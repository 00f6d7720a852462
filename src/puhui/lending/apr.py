"""The true annual rate of a loan: the internal rate of return of the borrower's cash flows.

PBoC announcement 〔2021〕3号 and regulation §4 (RATE-APR-01): the borrower's cost is the IRR of
the net amount actually received at the start (the principal less any fee paid at once) against
every payment after it — principal, interest and every fee. It is shown as the periodic IRR ×
periods per year (the nominal rate, labelled 按内部收益率法) and kept as the effective rate
(1 + periodic)^periods − 1. Irregular dates use XIRR: a rate per day-count year.

The scalar functions solve in ``Decimal`` and return ``Decimal``; ``irr_many`` solves many
regular schedules at once in numpy floats, for simulation and portfolio projection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

import numpy as np

from puhui.core.errors import ValidationError
from puhui.lending.dates import DayCount, add_months
from puhui.lending.schedules import MONTHS_PER_YEAR, PRECISION, Schedule

LABEL = "年化利率（按内部收益率法）"
#: Annual rates are reported to 10 decimal places (a millionth of a percent).
RATE_QUANTUM = Decimal("1e-10")
#: Periodic rates are reported to 14 decimal places; they are solved to 24.
PERIODIC_QUANTUM = Decimal("1e-14")
_SOLVE_QUANTUM = Decimal("1e-24")
_HIGHEST = 10**6
_NEAREST_MINUS_ONE = Decimal("1e-30")  # a periodic rate of -100% means nothing is repaid
#: Cash flows in fen: whole, or exact fractions for pricing before rounding (``rules``).
Flows = Sequence[int] | Sequence[Decimal]


@dataclass(frozen=True)
class AnnualRates:
    """A loan's cost: the periodic IRR and the two annual figures made from it."""

    periodic_rate: Decimal
    periods_per_year: Decimal
    annual_rate_irr: Decimal
    """Periodic IRR × periods per year: the figure to display (年化利率, 按内部收益率法)."""
    effective_annual_rate: Decimal
    """(1 + periodic IRR)^periods per year − 1."""
    label: str = LABEL


def _check_flows(flows: Flows, times: Sequence[Decimal]) -> None:
    if len(flows) != len(times) or len(flows) < 2:
        raise ValidationError(
            "irr_needs_flows", "an IRR needs at least two cash flows, each with a time"
        )
    if not (any(f > 0 for f in flows) and any(f < 0 for f in flows)):
        raise ValidationError(
            "irr_needs_both_signs",
            "an IRR needs money both received and paid (positive and negative flows)",
        )


def _npv(flows: Flows, times: Sequence[Decimal], rate: Decimal) -> tuple[Decimal, Decimal]:
    """Net present value at ``rate`` and its derivative."""
    base = 1 + rate
    value = slope = Decimal(0)
    for flow, t in zip(flows, times, strict=True):
        discounted = flow / base**t if t else Decimal(flow)
        value += discounted
        slope -= t * discounted / base
    return value, slope


def _bracket(flows: Flows, times: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Rates either side of a root: widen upwards to 10^6, then down towards -100%."""
    lo, hi = Decimal("-0.9"), Decimal(1)
    f_lo, f_hi = _npv(flows, times, lo)[0], _npv(flows, times, hi)[0]
    while (f_lo > 0) == (f_hi > 0):
        if hi < _HIGHEST:
            hi *= 4
            f_hi = _npv(flows, times, hi)[0]
        elif 1 + lo > _NEAREST_MINUS_ONE:
            lo = (1 + lo) / 1000 - 1
            f_lo = _npv(flows, times, lo)[0]
        else:
            raise ValidationError("irr_not_found", "these cash flows have no rate of return")
    return lo, hi


def irr(flows: Flows, times: Sequence[Decimal] | None = None) -> Decimal:
    """The periodic rate r with Σ flows[k] / (1 + r)^times[k] = 0; times default to 0, 1, 2…

    Newton's method kept inside a bracket that halves whenever a step would leave it, so it
    converges for any flows that change sign; loan flows (one sign change) have one root.
    """
    times = [Decimal(t) for t in (range(len(flows)) if times is None else times)]
    _check_flows(flows, times)
    with localcontext(PRECISION):
        lo, hi = _bracket(flows, times)
        rising = _npv(flows, times, hi)[0] > 0
        rate = Decimal("0.01") if lo < Decimal("0.01") < hi else (lo + hi) / 2
        for _ in range(200):
            value, slope = _npv(flows, times, rate)
            if value == 0:
                break
            if (value > 0) == rising:
                hi = rate
            else:
                lo = rate
            step = value / slope if slope else hi - lo
            if abs(step) < _SOLVE_QUANTUM:
                break
            guess = rate - step
            rate = guess if lo < guess < hi else (lo + hi) / 2
            if hi - lo < _SOLVE_QUANTUM:
                break
        return rate.quantize(_SOLVE_QUANTUM)


def annualise(periodic: Decimal, periods_per_year: Decimal | int) -> AnnualRates:
    per_year = Decimal(periods_per_year)
    with localcontext(PRECISION):
        nominal = periodic * per_year
        effective = (1 + periodic) ** per_year - 1
    return AnnualRates(
        periodic_rate=periodic.quantize(PERIODIC_QUANTUM),
        periods_per_year=per_year,
        annual_rate_irr=nominal.quantize(RATE_QUANTUM),
        effective_annual_rate=effective.quantize(RATE_QUANTUM),
    )


def annual_rates(
    *,
    received_fen: int,
    payments_fen: Flows,
    periods_per_year: Decimal | int,
    times: Sequence[Decimal] | None = None,
) -> AnnualRates:
    """The annual rates of a loan: ``received_fen`` at the start, then each payment.

    ``times`` (in periods) default to 1, 2, 3…, one period apart.
    """
    at = [Decimal(0), *(times or [Decimal(k) for k in range(1, len(payments_fen) + 1)])]
    return annualise(irr([received_fen, *(-p for p in payments_fen)], at), periods_per_year)


def schedule_rates(schedule: Schedule) -> AnnualRates:
    """The annual rates of a schedule: net amount received against every installment."""
    return annual_rates(
        received_fen=schedule.net_received_fen,
        payments_fen=schedule.payments_fen,
        periods_per_year=schedule.periods_per_year,
        times=schedule.period_times,
    )


def merge_by_date(flows: Sequence[tuple[date, int]]) -> list[tuple[date, int]]:
    """Flows on the same date added together, in date order."""
    merged: dict[date, int] = defaultdict(int)
    for day, amount in flows:
        merged[day] += amount
    return sorted(merged.items())


def xirr(flows: Sequence[tuple[date, int]], *, day_count: DayCount = DayCount.ACT_365) -> Decimal:
    """The effective annual rate of dated flows, time counted in day-count years (XIRR)."""
    dated = merge_by_date(flows)
    if not dated:
        raise ValidationError("irr_needs_flows", "an IRR needs at least two cash flows")
    first = dated[0][0]
    times = [day_count.year_fraction(first, day) for day, _ in dated]
    return irr([amount for _, amount in dated], times).quantize(RATE_QUANTUM)


@dataclass(frozen=True)
class DatedRates:
    """The rates of dated flows: XIRR always, and when the flows fall on a grid of whole
    months from the first date, the grid's periodic IRR annualised as a schedule's would be."""

    xirr: Decimal
    day_count: DayCount
    regular: AnnualRates | None


def month_step(dates: Sequence[date]) -> int | None:
    """The number of months between consecutive dates, when every step is the same whole
    number of months from the first date (month-end aware); else None."""
    first, second = dates[0], dates[1]
    months = (second.year - first.year) * 12 + second.month - first.month
    if months < 1:
        return None
    on_grid = all(day == add_months(first, k * months) for k, day in enumerate(dates))
    return months if on_grid else None


def dated_rates(
    flows: Sequence[tuple[date, int]], *, day_count: DayCount = DayCount.ACT_365
) -> DatedRates:
    """XIRR of dated flows, and their periodic rates when they fall on a monthly grid."""
    dated = merge_by_date(flows)
    rate = xirr(dated, day_count=day_count)
    step = month_step([day for day, _ in dated])
    regular = None
    if step is not None:
        periodic = irr([amount for _, amount in dated])
        regular = annualise(periodic, Decimal(MONTHS_PER_YEAR) / step)
    return DatedRates(rate, day_count, regular)


# --------------------------------------------------------------------------------------
# many schedules at once


def irr_many(flows: np.ndarray, *, tol: float = 1e-14, max_iter: int = 60) -> np.ndarray:
    """Periodic IRRs of many regular schedules: ``flows[j, k]`` falls at period ``k``.

    Newton's method in the discount factor x = 1/(1 + r), evaluating the polynomial and its
    derivative by Horner's rule one period column at a time over all loans together. Loan flows
    (received at 0, paid after) make the polynomial concave and falling, so Newton converges
    from any start; rows that still fail (other shapes of flows) are bisected. Rows without a
    rate (all flows of one sign) come back NaN.
    """
    cols = np.ascontiguousarray(np.asarray(flows, dtype=np.float64).T)
    n, m = cols.shape
    received, paid = cols[0], -cols[1:].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # The rate of a level annuity paying the same total, to first order: a close start.
        guess = 2.0 * (paid / received - 1.0) / n
        x = 1.0 / (1.0 + np.clip(np.nan_to_num(guess), -0.5, 10.0))
        done = np.zeros(m, dtype=bool)
        for _ in range(max_iter):
            value, slope = _horner(cols, x)
            step = value / slope
            x_next = x - step
            done = np.abs(step) <= tol * np.abs(x)
            x = np.where(np.isfinite(x_next) & (x_next > 0), x_next, x * 0.5)
            if done.all():
                break
        rates = 1.0 / x - 1.0
    bad = ~done | ~np.isfinite(rates)
    if bad.any():
        rates[bad] = _bisect_many(cols[:, bad])
    return rates


def _horner(cols: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value = cols[-1].copy()
    slope = np.zeros_like(x)
    for k in range(cols.shape[0] - 2, -1, -1):
        slope *= x
        slope += value
        value *= x
        value += cols[k]
    return value, slope


def _bisect_many(cols: np.ndarray, iterations: int = 200) -> np.ndarray:
    periods = np.arange(cols.shape[0], dtype=np.float64)[:, None]

    def npv(rate: np.ndarray) -> np.ndarray:
        return (cols / (1.0 + rate) ** periods).sum(axis=0)

    m = cols.shape[1]
    lo, hi = np.full(m, -0.999999), np.full(m, 1e3)
    f_lo = npv(lo)
    valid = np.sign(f_lo) != np.sign(npv(hi))
    for _ in range(iterations):
        mid = (lo + hi) / 2
        same = np.sign(npv(mid)) == np.sign(f_lo)
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return np.where(valid, (lo + hi) / 2, np.nan)
