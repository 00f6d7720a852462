"""Schedules against numpy-financial: our vectorised builder vs ``npf.ppmt``/``npf.ipmt``.

    .venv/bin/python bench/schedules_npf.py                # 1,000,000 loans × 12 months
    .venv/bin/python bench/schedules_npf.py --loans 100000 --markdown bench/results/schedules.md

The loans are those of ``bench/schedules.py`` (principal 1,000–100,000 yuan, whole basis-point
rates 6–36%, start dates over a year; equal installments, monthly). numpy-financial computes
each period's principal (``ppmt``) and interest (``ipmt``) of the textbook annuity in floats,
broadcast over loans × periods in one call each; ours is ``schedules_vec.build_schedules``,
which also rounds to the fen (half up, interest on the rounded balance, the last installment
absorbing the remainder), dates every installment and checks the rounding boundaries.

Times are the best of ``--repeat`` after a warm-up, the two sides interleaved. Then the
difference in fen: numpy-financial's values rounded half up against ours, per installment
(principal, interest, total), and how often its rounded principal fails to add up to the loan.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np
import numpy_financial as npf

sys.path.insert(0, str(Path(__file__).parent))
from schedules import TERM, Loans, interleaved, make_loans, ours  # bench/schedules.py


def numpy_financial(loans: Loans) -> tuple[np.ndarray, np.ndarray]:
    """Principal and interest of every period, as numpy-financial gives them (floats)."""
    rate = (loans.rate / 12)[:, None]
    per = np.arange(1, TERM + 1)[None, :]
    pv = -loans.principal[:, None].astype(np.float64)
    return npf.ppmt(rate, per, TERM, pv), npf.ipmt(rate, per, TERM, pv)


def half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def fmt(seconds: list[float]) -> str:
    return f"{min(seconds):.3f} s (median {statistics.median(seconds):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown", type=Path, help="append the results here")
    args = ap.parse_args()
    loans = make_loans(args.loans)
    times = interleaved(
        {"npf": lambda: numpy_financial(loans), "ours": lambda: ours(loans)}, args.repeat
    )
    principal, interest = numpy_financial(loans)
    vec = ours(loans)
    p_fen, i_fen = half_up(principal), half_up(interest)
    dp = np.abs(vec.principal_fen - p_fen)
    di = np.abs(vec.interest_fen - i_fen)
    dt = np.abs(vec.principal_fen + vec.interest_fen - (p_fen + i_fen))
    unbalanced = int(np.count_nonzero(p_fen.sum(axis=1) != loans.principal))
    ours_unbalanced = int(np.count_nonzero(vec.principal_fen.sum(axis=1) != loans.principal))
    ratio = min(times["npf"]) / min(times["ours"])
    cells = args.loans * TERM
    lines = [
        f"### Schedules vs numpy-financial: {args.loans:,} loans × {TERM} months",
        "",
        f"    .venv/bin/python bench/schedules_npf.py {' '.join(sys.argv[1:])}".rstrip(),
        "",
        f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; Python "
        f"{sys.version.split()[0]}, numpy {np.__version__}, numpy-financial {npf.__version__}",
        "",
        f"| {args.loans:,} loans × {TERM} months, equal installment | time | npf ÷ ours |",
        "|---|---|---|",
        f"| numpy-financial `ppmt` + `ipmt`, broadcast (floats, no rounding, no dates) "
        f"| {fmt(times['npf'])} | {ratio:.2f} |",
        f"| **ours** `build_schedules` (fen half up, due dates, boundary checks) "
        f"| {fmt(times['ours'])} | 1 |",
        "",
        f"Difference in fen, numpy-financial rounded half up vs ours, over {cells:,} "
        f"installments: principal max {dp.max()} ({np.count_nonzero(dp):,} differ), "
        f"interest max {di.max()} ({np.count_nonzero(di):,} differ), installment total max "
        f"{dt.max()} ({np.count_nonzero(dt):,} differ). numpy-financial's rounded principal "
        f"does not add up to the loan in {unbalanced:,} of {args.loans:,} loans (ours: "
        f"{ours_unbalanced}; the last installment absorbs the rounding).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with args.markdown.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
