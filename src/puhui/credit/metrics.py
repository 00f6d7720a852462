"""How well scores separate good from bad, and how far one score distribution has moved from
another. Plain numpy, so monitoring needs no training libraries.

Scores here are "higher is safer" (a scorecard score); for a probability of default pass its
negative. ``auc`` is the Mann–Whitney statistic with ties counted half, ``ks`` the largest gap
between the cumulative score distributions of the bad and the good, ``gini = 2·auc − 1``.
``psi`` is Σ (actual − expected) · ln(actual / expected) over bands, with empty bands floored
at a small share so one empty band does not make it infinite; by the usual reading below 0.1 is
stable, 0.1–0.25 worth a look, above 0.25 a shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Separation:
    auc: float
    ks: float
    gini: float


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks, 1-based, ties sharing the mean of their positions."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(x)] - 1
    ranks = np.empty(len(x))
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def auc(scores: np.ndarray, bad: np.ndarray) -> float:
    """The chance that a random good scores above a random bad (ties count half)."""
    scores, bad = np.asarray(scores, dtype=np.float64), np.asarray(bad, dtype=bool)
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if not n_bad or not n_good:
        return float("nan")
    rank_sum_good = _ranks(scores)[~bad].sum()
    return float((rank_sum_good - n_good * (n_good + 1) / 2) / (n_good * n_bad))


def ks(scores: np.ndarray, bad: np.ndarray) -> float:
    scores, bad = np.asarray(scores, dtype=np.float64), np.asarray(bad, dtype=bool)
    cuts = np.unique(scores)
    cdf_bad = np.searchsorted(np.sort(scores[bad]), cuts, side="right") / max(bad.sum(), 1)
    cdf_good = np.searchsorted(np.sort(scores[~bad]), cuts, side="right") / max((~bad).sum(), 1)
    return float(np.max(np.abs(cdf_bad - cdf_good)))


def separation(scores: np.ndarray, bad: np.ndarray) -> Separation:
    a = auc(scores, bad)
    return Separation(a, ks(scores, bad), 2 * a - 1)


def band_edges(reference: np.ndarray, bands: int = 10) -> list[float]:
    """Inner edges splitting ``reference`` into ``bands`` bands of about equal size."""
    qs = np.quantile(np.asarray(reference, dtype=np.float64), np.linspace(0, 1, bands + 1)[1:-1])
    return sorted({float(q) for q in qs})


def shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """The share of ``values`` in each band (``x < edges[0]``, …, ``x >= edges[-1]``)."""
    values = np.asarray(values, dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return (counts / max(len(values), 1)).tolist()


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))
