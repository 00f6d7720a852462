"""A points scorecard as plain data: characteristics, their bins and the points of each bin.

This is what a model artifact holds and what scoring runs on, so it needs nothing but numpy.
A number falls in bin *i* when ``splits[i-1] <= x < splits[i]`` (the binning library's
convention); a category falls in the bin that lists it. A missing number or a category the
training data never saw scores 0 points, the points of a weight of evidence of 0 (no evidence
either way).

Points are scaled from odds: ``score = offset + factor × ln(good:bad odds)`` with
``factor = pdo / ln 2`` and ``offset = base_score − factor × ln(base_odds)``, so a score of
``base_score`` means odds of ``base_odds``:1 and every ``pdo`` points double them. Each bin's
points are whole numbers, so a score is an exact integer sum and the scalar and vectorised
paths agree to the point.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from puhui.credit.features import Kind

GRADES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Scaling:
    """How log-odds become points: ``base_score`` at ``base_odds``:1 good:bad, ``pdo`` points
    to double the odds."""

    base_score: int = 600
    base_odds: float = 50.0
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def probability_of_default(self, score: float) -> float:
        """The probability of going bad that a score stands for."""
        return 1.0 / (1.0 + math.exp((score - self.offset) / self.factor))

    def probabilities_of_default(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp((scores - self.offset) / self.factor))


@dataclass(frozen=True)
class Bin:
    """One attribute of a characteristic: its range or categories, what training saw in it,
    its weight of evidence (ln of good share over bad share) and its points."""

    label: str
    count: int
    bad: int
    woe: float
    points: int = 0
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Characteristic:
    """A scored attribute: how its values fall into bins and what each bin is worth."""

    name: str
    kind: Kind
    bins: tuple[Bin, ...]
    splits: tuple[float, ...] = ()
    iv: float = 0.0
    coefficient: float = 0.0
    _lookup: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        self._lookup.update({c: i for i, b in enumerate(self.bins) for c in b.categories})

    @property
    def points(self) -> np.ndarray:
        """Points by bin, with the neutral 0 of a missing or unseen value appended last."""
        return np.array([b.points for b in self.bins] + [0], dtype=np.int64)

    @property
    def max_points(self) -> int:
        return max(b.points for b in self.bins)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(c for b in self.bins for c in b.categories)

    def bin_of(self, value: Any) -> int:
        """The bin a value falls in; ``len(bins)`` for a missing or unseen value."""
        if self.kind is Kind.CATEGORICAL:
            return (
                self._lookup.get(value, len(self.bins))
                if isinstance(value, str)
                else len(self.bins)
            )
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return len(self.bins)
        return bisect.bisect_right(self.splits, float(value))

    def bins_of(self, values: np.ndarray) -> np.ndarray:
        """The bin of every value (vectorised). Categories may come as strings or as integer
        codes into ``categories`` (-1 for missing)."""
        missing = len(self.bins)
        if self.kind is Kind.NUMERIC:
            x = np.asarray(values, dtype=np.float64)
            idx = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right")
            return np.where(np.isnan(x), missing, idx)
        if np.issubdtype(np.asarray(values).dtype, np.integer):
            by_code = np.array(
                [self._lookup[c] for c in self.categories] + [missing], dtype=np.int64
            )
            return by_code[np.asarray(values)]  # -1 picks the appended ``missing``
        get = self._lookup.get  # a dict lookup per value beats sorting strings (np.unique)
        return np.fromiter((get(v, missing) for v in values), dtype=np.int64, count=len(values))


@dataclass(frozen=True)
class GradeBand:
    grade: str
    min_score: int  # the lowest score in the grade; grade E takes everything below D


@dataclass(frozen=True)
class Scorecard:
    """Base points plus one characteristic's points each; grades by score."""

    characteristics: tuple[Characteristic, ...]
    base_points: int
    intercept: float
    scaling: Scaling
    grades: tuple[GradeBand, ...]

    def grade_of(self, score: int) -> str:
        for band in self.grades:
            if score >= band.min_score:
                return band.grade
        return GRADES[-1]

    def grades_of(self, scores: np.ndarray) -> np.ndarray:
        """Grade letters for an array of scores."""
        mins = np.array([b.min_score for b in self.grades])  # descending
        letters = np.array([b.grade for b in self.grades] + [GRADES[-1]])
        return letters[np.searchsorted(-mins, -np.asarray(scores), side="left")]


def grade_bands(train_scores: np.ndarray, quantiles: Sequence[float]) -> tuple[GradeBand, ...]:
    """Grades A–D start at the given quantiles of the training scores, highest first."""
    cuts = sorted((math.ceil(np.quantile(train_scores, q)) for q in quantiles), reverse=True)
    return tuple(GradeBand(g, c) for g, c in zip(GRADES, cuts, strict=False))


def characteristic_from_mapping(data: Mapping[str, Any]) -> Characteristic:
    return Characteristic(
        name=data["name"],
        kind=Kind(data["kind"]),
        bins=tuple(
            Bin(
                label=b["label"],
                count=b["count"],
                bad=b["bad"],
                woe=b["woe"],
                points=b["points"],
                categories=tuple(b.get("categories", ())),
            )
            for b in data["bins"]
        ),
        splits=tuple(data.get("splits", ())),
        iv=data["iv"],
        coefficient=data["coefficient"],
    )


def characteristic_to_mapping(c: Characteristic) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": c.name,
        "kind": c.kind.value,
        "iv": c.iv,
        "coefficient": c.coefficient,
        "bins": [
            {
                "label": b.label,
                "count": b.count,
                "bad": b.bad,
                "woe": b.woe,
                "points": b.points,
                **({"categories": list(b.categories)} if c.kind is Kind.CATEGORICAL else {}),
            }
            for b in c.bins
        ],
    }
    if c.kind is Kind.NUMERIC:
        out["splits"] = list(c.splits)
    return out


def scorecard_from_mapping(data: Mapping[str, Any]) -> Scorecard:
    s = data["scaling"]
    return Scorecard(
        characteristics=tuple(characteristic_from_mapping(c) for c in data["characteristics"]),
        base_points=data["base_points"],
        intercept=data["intercept"],
        scaling=Scaling(s["base_score"], s["base_odds"], s["pdo"]),
        grades=tuple(GradeBand(g["grade"], g["min_score"]) for g in data["grades"]),
    )


def scorecard_to_mapping(card: Scorecard) -> dict[str, Any]:
    sc = card.scaling
    return {
        "scaling": {"base_score": sc.base_score, "base_odds": sc.base_odds, "pdo": sc.pdo},
        "base_points": card.base_points,
        "intercept": card.intercept,
        "grades": [{"grade": g.grade, "min_score": g.min_score} for g in card.grades],
        "characteristics": [characteristic_to_mapping(c) for c in card.characteristics],
    }
