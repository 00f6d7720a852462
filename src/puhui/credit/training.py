"""Training the scorecard (``puhui score train``): split, bin, select, fit, scale, evaluate.

1. A stratified split, fixed by the seed (70% train, 30% test by default).
2. Each attribute binned by optbinning (``binning.py``) with its risk shape; protected
   attributes are never binned (``features.PROTECTED``).
3. Attributes whose information value is below ``min_iv`` are dropped.
4. A logistic regression on the weights of evidence (L2, ``regularisation`` = sklearn's C). A
   characteristic whose coefficient comes out with the wrong sign (more evidence of good,
   more risk) is dropped and the fit repeated, so every bin's points read the right way.
5. Points scaled from the odds (``Scaling``: 600 at 50:1, 20 points to double by default),
   rounded to whole points; grades A–E at quintiles of the training scores.
6. The headline figure: the whole procedure repeated over 5 × 5 repeated stratified
   cross-validation on all 1,000 applicants, with the LightGBM challenger on the same folds.

Everything that draws random numbers takes the seed, so a seed gives one artifact hash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.credit.artifact import seal
from puhui.credit.binning import BinningParams, fit_binning, woe_matrix
from puhui.credit.challenger import ChallengerParams, fit_challenger
from puhui.credit.data import CreditData, load_german_credit
from puhui.credit.features import BY_NAME, FEATURES, PROTECTED
from puhui.credit.metrics import Separation, band_edges, psi, separation, shares
from puhui.credit.scorecard import (
    Characteristic,
    Scaling,
    Scorecard,
    grade_bands,
    scorecard_to_mapping,
)
from puhui.credit.scoring import ScoringModel

#: The issue's target for the mean cross-validated AUC of the scorecard on German credit.
TARGET_AUC = 0.79

#: ``progress(step, done, total)``, for a progress bar.
Progress = Callable[[str, int, int], None]


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 42
    test_size: float = 0.3
    cv_splits: int = 5
    cv_repeats: int = 5
    min_iv: float = 0.01
    regularisation: float = 0.3
    binning: BinningParams = field(default_factory=BinningParams)
    scaling: Scaling = field(default_factory=Scaling)
    grade_quantiles: tuple[float, ...] = (0.8, 0.6, 0.4, 0.2)
    excluded: tuple[str, ...] = PROTECTED
    challenger: ChallengerParams = field(default_factory=ChallengerParams)

    @property
    def candidates(self) -> list[str]:
        return [f.name for f in FEATURES if f.name not in self.excluded]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["grade_quantiles"] = list(self.grade_quantiles)
        out["excluded"] = list(self.excluded)
        return out


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


@dataclass(frozen=True)
class FittedScorecard:
    card: Scorecard
    information_value: dict[str, float]
    low_iv: tuple[str, ...]
    wrong_sign: tuple[str, ...]


def fit_scorecard(train: CreditData, config: TrainingConfig) -> FittedScorecard:
    """Bin, select and fit on ``train``; the scorecard with points and grades."""
    binned = [
        fit_binning(BY_NAME[n], train.columns[n], train.bad, config.binning)
        for n in config.candidates
    ]
    kept = [c for c in binned if c.iv >= config.min_iv]
    wrong: list[str] = []
    while True:
        model = LogisticRegression(C=config.regularisation, max_iter=2000)
        model.fit(woe_matrix(kept, train.columns), train.bad)
        coef = model.coef_[0]
        misfit = [j for j in range(len(kept)) if coef[j] >= 0]
        if not misfit:
            break
        weakest = min(misfit, key=lambda j: kept[j].iv)
        wrong.append(kept.pop(weakest).name)
    factor = config.scaling.factor
    scored = [_with_points(c, float(b), factor) for c, b in zip(kept, coef, strict=True)]
    intercept = float(model.intercept_[0])
    card = Scorecard(
        characteristics=tuple(scored),
        base_points=round(config.scaling.offset - factor * intercept),
        intercept=_r(intercept, 8),
        scaling=config.scaling,
        grades=(),
    )
    train_scores = ScoringModel(card, "training").scores(train.columns)
    return FittedScorecard(
        card=replace(card, grades=grade_bands(train_scores, config.grade_quantiles)),
        information_value={c.name: c.iv for c in binned},
        low_iv=tuple(c.name for c in binned if c.iv < config.min_iv),
        wrong_sign=tuple(wrong),
    )


def _with_points(c: Characteristic, coefficient: float, factor: float) -> Characteristic:
    bins = tuple(replace(b, points=round(-factor * coefficient * b.woe)) for b in c.bins)
    return replace(c, bins=bins, coefficient=_r(coefficient, 8))


def split(data: CreditData, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the stratified train and test parts."""
    rows = np.arange(len(data))
    train, test = train_test_split(
        rows, test_size=config.test_size, stratify=data.bad, random_state=config.seed
    )
    return np.sort(train), np.sort(test)


def _sep(s: Separation) -> dict[str, float]:
    return {"auc": _r(s.auc), "ks": _r(s.ks), "gini": _r(s.gini)}


def _summary(aucs: list[float]) -> dict[str, Any]:
    return {
        "mean": _r(np.mean(aucs)),
        "std": _r(np.std(aucs)),
        "folds": [_r(a) for a in aucs],
    }


def cross_validate(
    data: CreditData, config: TrainingConfig, progress: Progress = _quiet
) -> dict[str, Any]:
    """Mean, spread and per-fold AUC of the scorecard and the challenger over repeated
    stratified k-fold cross-validation of the whole procedure."""
    folds = RepeatedStratifiedKFold(
        n_splits=config.cv_splits, n_repeats=config.cv_repeats, random_state=config.seed
    )
    total = config.cv_splits * config.cv_repeats
    card_aucs, challenger_aucs = [], []
    for k, (tr, te) in enumerate(folds.split(np.zeros(len(data)), data.bad)):
        train, test = data.take(tr), data.take(te)
        fitted = fit_scorecard(train, config)
        scores = ScoringModel(fitted.card, "cv").scores(test.columns)
        card_aucs.append(separation(scores, test.bad).auc)
        ch = fit_challenger(train, config.candidates, seed=config.seed, params=config.challenger)
        challenger_aucs.append(separation(-ch.probability_of_default(test), test.bad).auc)
        progress("cross-validation", k + 1, total)
    return {
        "splits": config.cv_splits,
        "repeats": config.cv_repeats,
        "target_auc": TARGET_AUC,
        "scorecard": _summary(card_aucs),
        "challenger": _summary(challenger_aucs),
    }


def _bands(
    scores: np.ndarray, bad: np.ndarray, edges: list[float], card: Scorecard
) -> list[dict[str, Any]]:
    idx = np.searchsorted(edges, scores, side="right")
    pd_ = card.scaling.probabilities_of_default(scores.astype(np.float64))
    out = []
    for i in range(len(edges) + 1):
        mask = idx == i
        low = "-inf" if i == 0 else f"{edges[i - 1]:g}"
        high = "inf" if i == len(edges) else f"{edges[i]:g}"
        n = int(mask.sum())
        out.append(
            {
                "band": f"[{low}, {high})",
                "count": n,
                "bad": int(bad[mask].sum()),
                "bad_rate": _r(bad[mask].mean()) if n else None,
                "mean_pd": _r(pd_[mask].mean()) if n else None,
            }
        )
    return out


def _by_grade(scores: np.ndarray, bad: np.ndarray, card: Scorecard) -> list[dict[str, Any]]:
    grades = card.grades_of(scores)
    pd_ = card.scaling.probabilities_of_default(scores.astype(np.float64))
    rows = []
    for g in ("A", "B", "C", "D", "E"):
        mask = grades == g
        n = int(mask.sum())
        rows.append(
            {
                "grade": g,
                "count": n,
                "bad": int(bad[mask].sum()),
                "bad_rate": _r(bad[mask].mean()) if n else None,
                "mean_pd": _r(pd_[mask].mean()) if n else None,
            }
        )
    return rows


def _histogram(scores: np.ndarray, bad: np.ndarray, width: int = 10) -> dict[str, Any]:
    low = int(math.floor(scores.min() / width) * width)
    high = int(math.floor(scores.max() / width) * width) + width
    edges = list(range(low, high + 1, width))
    good_counts, _ = np.histogram(scores[bad == 0], bins=edges)
    bad_counts, _ = np.histogram(scores[bad == 1], bins=edges)
    return {"edges": edges, "good": good_counts.tolist(), "bad": bad_counts.tolist()}


def evaluate(
    fitted: FittedScorecard, train: CreditData, test: CreditData, config: TrainingConfig
) -> dict[str, Any]:
    """Test-split figures for the scorecard and the challenger, stability and calibration."""
    model = ScoringModel(fitted.card, "evaluation")
    train_scores, test_scores = model.scores(train.columns), model.scores(test.columns)
    edges = band_edges(train_scores, 10)
    reference = shares(train_scores, edges)
    ch = fit_challenger(train, config.candidates, seed=config.seed, params=config.challenger)
    return {
        "train": _sep(separation(train_scores, train.bad)),
        "test": _sep(separation(test_scores, test.bad)),
        "psi_train_test": _r(psi(reference, shares(test_scores, edges))),
        "reference": {"edges": edges, "shares": [_r(s) for s in reference]},
        "calibration": _bands(test_scores, test.bad, edges, fitted.card),
        "grades": _by_grade(test_scores, test.bad, fitted.card),
        "histogram": _histogram(test_scores, test.bad),
        "challenger": {
            "model": "lightgbm",
            "params": config.challenger.as_dict(),
            "test": _sep(separation(-ch.probability_of_default(test), test.bad)),
        },
    }


def train(
    config: TrainingConfig | None = None,
    *,
    data: CreditData | None = None,
    cross_validation: bool = True,
    progress: Progress = _quiet,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """Train on German credit and return the sealed artifact (see ``artifact.py``)."""
    config = config or TrainingConfig()
    data = data or load_german_credit()
    train_rows, test_rows = split(data, config)
    train_part, test_part = data.take(train_rows), data.take(test_rows)
    progress("scorecard", 0, 1)
    fitted = fit_scorecard(train_part, config)
    progress("scorecard", 1, 1)
    evaluation = evaluate(fitted, train_part, test_part, config)
    if cross_validation:
        evaluation["cv"] = cross_validate(data, config, progress)
    body = {
        "data": {
            "source": data.source,
            "sha256": data.sha256,
            "rows": len(data),
            "bad": int(data.bad.sum()),
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
        },
        "config": config.as_dict(),
        "selection": {
            "information_value": {k: _r(v) for k, v in fitted.information_value.items()},
            "excluded": list(config.excluded),
            "low_iv": list(fitted.low_iv),
            "wrong_sign": list(fitted.wrong_sign),
        },
        "scorecard": scorecard_to_mapping(fitted.card),
        "evaluation": evaluation,
    }
    trained_at = clock.now().astimezone().isoformat(timespec="seconds")
    return seal(body, trained_at=trained_at)
