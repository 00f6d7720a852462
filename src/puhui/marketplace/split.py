"""Pro-rata splitting to the fen with the largest-remainder rule (最大余额法).

Every repayment of a marketplace loan is shared across the notes by outstanding principal; the
parts must add up to the amount exactly, so the floor of each exact share is taken and the fen
left over go, one each, to the largest fractional remainders (ties to the earlier note). The
grouped form splits many loans' amounts in one vectorised pass, as the end-of-day step needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def split(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` fen in parts proportional to ``weights`` (non-negative, not all zero)."""
    parts = split_grouped(
        np.array([total], dtype=np.int64),
        np.zeros(len(weights), dtype=np.int64),
        np.array(weights, dtype=np.int64),
    )
    return [int(p) for p in parts]


def split_grouped(totals: IntArray, groups: IntArray, weights: IntArray) -> IntArray:
    """Split ``totals[g]`` across the rows whose ``groups`` is ``g`` by their ``weights``.

    Rows of a group keep their order for ties. A group whose weights sum to zero gets nothing
    (its total must then be zero). Exact in integers: ``total × weight`` stays below 2**63 for
    any amount the caps allow.
    """
    n = len(weights)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if (weights < 0).any() or (totals < 0).any():
        raise ValueError("weights and totals must not be negative")
    wsum = np.bincount(groups, weights=weights, minlength=len(totals)).astype(np.int64)
    if ((wsum == 0) & (totals != 0)).any():
        raise ValueError("a non-zero total has no weight to be split by")
    t = totals[groups]
    w_all = np.where(wsum[groups] == 0, 1, wsum[groups])
    product = t * weights
    base = product // w_all
    remainder = product - base * w_all
    short = totals - np.bincount(groups, weights=base, minlength=len(totals)).astype(np.int64)
    # Order rows by group, then by remainder descending, then by position; the first `short`
    # rows of each group get one more fen.
    idx = np.arange(n)
    order = np.lexsort((idx, -remainder, groups))
    g_sorted = groups[order]
    starts = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(n) - starts
    extra = np.zeros(n, dtype=np.int64)
    extra[order] = (rank < short[g_sorted]).astype(np.int64)
    return base + extra
