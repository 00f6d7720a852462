"""Scoring an applicant with a scorecard artifact: one at a time with reasons, or a whole
column store at once with numpy.

Reason codes are the characteristics that cost the applicant the most points: for each, the
points of the best bin minus the points the applicant got (a missing or unseen value gets 0).
The four largest losses, in the scorecard's order where they tie, are the reasons, in plain
words in Chinese and English (PI-ADM-01).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from puhui.credit.artifact import default_artifact_path, read_artifact
from puhui.credit.features import BY_NAME, Kind, add_derived
from puhui.credit.scorecard import Characteristic, Scorecard, scorecard_from_mapping

TOP_REASONS = 4


@dataclass(frozen=True)
class Reason:
    """A characteristic that lowered the score, and by how much against its best bin."""

    code: str
    label_zh: str
    label_en: str
    value: str
    points_lost: int
    text_zh: str
    text_en: str


@dataclass(frozen=True)
class Score:
    score: int
    probability_of_default: float
    grade: str
    points: tuple[tuple[str, int], ...]
    reasons: tuple[Reason, ...]


def _reason(c: Characteristic, bin_index: int, lost: int) -> Reason:
    f = BY_NAME.get(c.name)
    zh, en = (f.label_zh, f.label_en) if f else (c.name, c.name)
    value = c.bins[bin_index].label if bin_index < len(c.bins) else "未提供 / missing"
    return Reason(
        code=c.name,
        label_zh=zh,
        label_en=en,
        value=value,
        points_lost=lost,
        text_zh=f"{zh}（{value}）比该项最好的情况少 {lost} 分",
        text_en=f"{en} ({value}) scored {lost} points below the best for this item",
    )


class ScoringModel:
    """A scorecard ready to score: per-characteristic point tables built once."""

    def __init__(
        self, card: Scorecard, version: str, reference: Mapping[str, Any] | None = None
    ) -> None:
        self.version = version
        self.card = card
        #: Training score bands (``edges``) and their ``shares``, the baseline for PSI.
        self.reference = reference
        self.characteristics = self.card.characteristics
        self._points = [c.points for c in self.characteristics]
        self._best = [c.max_points for c in self.characteristics]
        self._points_list = [p.tolist() for p in self._points]
        self.derived = frozenset(
            c.name for c in card.characteristics if c.name in BY_NAME and BY_NAME[c.name].sources
        )

    @classmethod
    def from_artifact(cls, artifact: Mapping[str, Any]) -> ScoringModel:
        return cls(
            scorecard_from_mapping(artifact["scorecard"]),
            artifact["model_version"],
            artifact.get("evaluation", {}).get("reference"),
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.characteristics)

    def score(self, features: Mapping[str, Any], *, top: int = TOP_REASONS) -> Score:
        """One applicant's score, probability of default, grade, points and reasons."""
        if self.derived:
            features = add_derived(features)
        total, points, losses = self.card.base_points, [], []
        for j, c in enumerate(self.characteristics):
            i = c.bin_of(features.get(c.name))
            p = self._points_list[j][i]
            total += p
            points.append((c.name, p))
            losses.append((self._best[j] - p, j, i))
        losses.sort(key=lambda t: (-t[0], t[1]))
        reasons = tuple(
            _reason(self.characteristics[j], i, lost) for lost, j, i in losses[:top] if lost > 0
        )
        return Score(
            score=total,
            probability_of_default=self.card.scaling.probability_of_default(total),
            grade=self.card.grade_of(total),
            points=tuple(points),
            reasons=reasons,
        )

    def points_matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Points per applicant (rows) and characteristic (columns)."""
        if self.derived:
            columns = add_derived(columns)
        return np.column_stack(
            [
                p[c.bins_of(columns[c.name])]
                for c, p in zip(self.characteristics, self._points, strict=True)
            ]
        )

    def scores(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Every applicant's score (int64), from columns of values (categories as strings or
        as integer codes into ``Characteristic.categories``)."""
        if self.derived:
            columns = add_derived(columns)
        total = np.full(len(next(iter(columns.values()))), self.card.base_points, dtype=np.int64)
        for c, p in zip(self.characteristics, self._points, strict=True):
            total += p[c.bins_of(columns[c.name])]
        return total

    def probabilities_of_default(self, scores: np.ndarray) -> np.ndarray:
        return self.card.scaling.probabilities_of_default(np.asarray(scores, dtype=np.float64))

    def encode(self, name: str, values: np.ndarray) -> np.ndarray:
        """Category strings as integer codes (-1 for unseen), for compact batch input."""
        c = next(c for c in self.characteristics if c.name == name)
        assert c.kind is Kind.CATEGORICAL
        get = {v: i for i, v in enumerate(c.categories)}.get
        return np.fromiter((get(v, -1) for v in values), dtype=np.int64, count=len(values))


def load_model(path: Path | None = None) -> ScoringModel:
    """The model in an artifact file, or the default one shipped with puhui."""
    if path is None:
        return default_model()
    return ScoringModel.from_artifact(read_artifact(path))


@functools.cache
def default_model() -> ScoringModel:
    return ScoringModel.from_artifact(read_artifact(default_artifact_path()))
