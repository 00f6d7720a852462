"""Schedules benchmark: our vectorised schedules against the bare numpy limit and a Python loop.

    .venv/bin/python bench/schedules.py                 # full run, about 10 seconds
    .venv/bin/python bench/schedules.py --quick         # 100,000 loans, a few seconds
    .venv/bin/python bench/schedules.py --markdown out.md

In one run, on 1,000,000 loans of 12 monthly periods (principal 1,000–100,000 yuan, whole
basis-point rates 6–36%, start dates spread over a year, a fee at disbursement):

* ours: ``schedules_vec.build_schedules`` — integer fen, half up, the last installment
  absorbing the rounding, due dates (month-end aware), and the boundary check that sends a
  loan to the Decimal path when float and Decimal could round apart;
* the bare numpy closed form: payment, interest and principal as float arrays, with no
  rounding and no dates — the limit for any numpy formulation;
* a per-loan pure-Python loop (floats, half-up rounding, due dates), timed on 100,000 loans
  and scaled;
* exactness: the vectorised schedules of a random sample, and of every loan that went to the
  Decimal path, compared to the fen with ``schedules.build_schedule``.

Then the IRR of 100,000 schedules: ``apr.irr_many`` against pyxirr's vectorised ``rate`` on
the same level-payment cash flows (time and agreement to 1e-10), and against ``pyxirr.irr`` on
every actual schedule (agreement; pyxirr's ``irr`` takes one schedule a call).

Timings are the best of several runs after a warm-up, bare numpy and ours interleaved, so a
busy machine hurts both alike; the median is shown too.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyxirr

from puhui.lending.apr import irr_many
from puhui.lending.dates import add_months
from puhui.lending.schedules import Method, build_schedule
from puhui.lending.schedules_vec import LoanArrays, VecSchedules, build_schedules

TERM = 12
FEE_RATE = 0.01


@dataclass(frozen=True)
class Loans:
    principal: np.ndarray  # int64 fen
    rate: np.ndarray  # float64 annual, whole basis points
    start: np.ndarray  # datetime64[D]
    upfront_fee: np.ndarray  # int64 fen


def make_loans(m: int, seed: int = 20260115) -> Loans:
    rng = np.random.default_rng(seed)
    principal = rng.integers(100_000, 10_000_001, m)
    rate = rng.integers(600, 3_601, m) / 10_000
    start = np.datetime64("2025-01-01") + rng.integers(0, 365, m).astype("timedelta64[D]")
    upfront = np.floor(principal * FEE_RATE + 0.5).astype(np.int64)
    return Loans(principal, rate, start, upfront)


def as_arrays(loans: Loans) -> LoanArrays:
    """The loans checked and broadcast: part of what ``ours`` times."""
    return LoanArrays(
        principal_fen=loans.principal,
        annual_rate=loans.rate,
        term=TERM,
        method=Method.EQUAL_INSTALLMENT,
        start=loans.start,
        upfront_fee_fen=loans.upfront_fee,
    )


def ours(loans: Loans) -> VecSchedules:
    return build_schedules(as_arrays(loans))


def bare_numpy(loans: Loans) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level payment, interest and principal of every period: the closed form, in floats."""
    p = loans.principal.astype(np.float64)
    i = loans.rate / 12
    payment = p * i / (1.0 - (1.0 + i) ** -TERM)
    growth = (1.0 + i)[:, None] ** np.arange(TERM)[None, :]
    principal = (payment - i * p)[:, None] * growth
    interest = payment[:, None] - principal
    return payment, interest, principal


def python_loop(loans: Loans) -> list[list[tuple[date, int, int, int]]]:
    """What a per-loan implementation in plain Python does: floats, half up, due dates."""
    out = []
    starts = loans.start.astype(date).tolist()
    for p, r, start in zip(loans.principal.tolist(), loans.rate.tolist(), starts, strict=True):
        i = r / 12
        level = math.floor(p * i / (1 - (1 + i) ** -TERM) + 0.5)
        balance, rows = p, []
        for k in range(1, TERM + 1):
            interest = math.floor(balance * i + 0.5)
            part = balance if k == TERM else level - interest
            balance -= part
            rows.append((add_months(start, k), part, interest, balance))
        out.append(rows)
    return out


def subset(loans: Loans, count: int) -> Loans:
    return Loans(
        *(a[:count] for a in (loans.principal, loans.rate, loans.start, loans.upfront_fee))
    )


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def interleaved(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    for fn in fns.values():  # warm-up: first-touch page faults, numpy's caches
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name] += timed(fn, 1)
    return times


def mismatches(vec: VecSchedules, arrays: LoanArrays, rows: np.ndarray) -> int:
    return sum(
        vec.installments(int(j)) != build_schedule(arrays.terms(int(j))).installments for j in rows
    )


def level_flows(loans: Loans) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Net received and a level payment (half up) of each loan, and the cash-flow matrix."""
    p = loans.principal.astype(np.float64)
    i = loans.rate / 12
    level = np.floor(p * i / (1.0 - (1.0 + i) ** -TERM) + 0.5)
    received = p - loans.upfront_fee
    flows = np.empty((len(p), TERM + 1))
    flows[:, 0] = received
    flows[:, 1:] = -level[:, None]
    return received, level, flows


def fmt(seconds: list[float]) -> str:
    return f"{min(seconds):.3f} s (median {statistics.median(seconds):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 loans, fewer repeats")
    parser.add_argument("--loans", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--sample", type=int, default=2_000, help="loans checked in Decimal")
    parser.add_argument("--markdown", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    m = args.loans or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (3 if args.quick else 7)
    loop_n = min(m, 10_000 if args.quick else 100_000)
    irr_n = min(m, 100_000)

    loans = make_loans(m)
    lines = [
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; Python {sys.version.split()[0]}, numpy {np.__version__}"
        f", pyxirr {pyxirr.__version__}",
        f"loans: {m:,} × {TERM} months (principal 1,000–100,000 yuan, 6–36%, fee 1% upfront)",
        "",
    ]

    times = interleaved({"bare": lambda: bare_numpy(loans), "ours": lambda: ours(loans)}, repeat)
    loop_times = timed(lambda: python_loop(subset(loans, loop_n)), 2 if not args.quick else 1)
    scale = m / loop_n
    decimal_n = min(m, 2_000)
    arrays = as_arrays(loans)
    decimal_time = timed(lambda: [build_schedule(arrays.terms(j)) for j in range(decimal_n)], 1)[
        0
    ] * (m / decimal_n)
    bare, mine, loop = min(times["bare"]), min(times["ours"]), min(loop_times) * scale

    vec = ours(loans)
    rng = np.random.default_rng(1)
    sample = np.unique(np.concatenate([rng.integers(0, m, args.sample), vec.exact_rows]))
    wrong = mismatches(vec, arrays, sample)
    lines += [
        "| schedules of 1 loan × 12 months, all loans | time | vs ours |",
        "|---|---|---|",
        f"| bare numpy closed form (no rounding, no dates) | {fmt(times['bare'])} "
        f"| {mine / bare:.2f} × faster than ours |",
        f"| ours, vectorised (`build_schedules`) | {fmt(times['ours'])} | 1 |",
        f"| per-loan Python loop ({loop_n:,} timed, × {scale:g}) | {loop:.2f} s "
        f"| {loop / mine:.0f} × slower |",
        f"| per-loan Decimal path ({decimal_n:,} timed, × {m / decimal_n:g}) "
        f"| {decimal_time:.1f} s | {decimal_time / mine:.0f} × slower |",
        "",
        f"ours / bare numpy = {mine / bare:.2f} (target ≤ 2); "
        f"Python loop / ours = {loop / mine:.0f} (target ≥ 30)",
        f"loans redone on the Decimal path (value on a rounding boundary): {len(vec.exact_rows)}"
        f" of {m:,}",
        f"exactness: {len(sample):,} loans (random sample plus every redone loan) compared to "
        f"the fen with the Decimal path: {wrong} differ",
        "",
    ]

    part = subset(loans, irr_n)
    schedules = ours(part)
    flows = schedules.cash_flows()
    received, level, annuity = level_flows(part)
    irr_times = interleaved(
        {
            "ours": lambda: irr_many(annuity),
            "pyxirr": lambda: pyxirr.rate(TERM, -level, received),
        },
        repeat,
    )
    ours_rate = irr_many(annuity)
    pyxirr_rate = np.array(pyxirr.rate(TERM, -level, received), dtype=np.float64)
    actual = irr_many(flows)
    t0 = time.perf_counter()
    reference = np.array([pyxirr.irr(row) for row in flows])
    loop_irr = time.perf_counter() - t0
    ours_irr, pyx_irr = min(irr_times["ours"]), min(irr_times["pyxirr"])
    lines += [
        f"| IRR of {irr_n:,} schedules of 12 months | time | max difference |",
        "|---|---|---|",
        f"| pyxirr.rate, vectorised, level payments | {fmt(irr_times['pyxirr'])} | — |",
        f"| ours, `irr_many`, same cash flows | {fmt(irr_times['ours'])} "
        f"| {np.max(np.abs(ours_rate - pyxirr_rate)):.1e} |",
        f"| pyxirr.irr, one call per actual schedule | {loop_irr:.3f} s | — |",
        f"| ours, `irr_many`, actual schedules | — | {np.max(np.abs(actual - reference)):.1e} |",
        "",
        f"irr_many / pyxirr.rate = {ours_irr / pyx_irr:.2f} (target ≤ 2); "
        f"agreement within 1e-10: "
        f"{bool(np.max(np.abs(ours_rate - pyxirr_rate)) <= 1e-10)} (level payments), "
        f"{bool(np.max(np.abs(actual - reference)) <= 1e-10)} (actual schedules)",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
