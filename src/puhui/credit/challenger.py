"""The challenger: gradient-boosted trees (LightGBM) on the same attributes and split.

It shows how much a model without the scorecard's constraints (additive, monotonic bins,
explainable points) would gain. Categories are passed as integer codes declared categorical;
training is single-threaded and ``deterministic`` so the figures repeat with the seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from puhui.credit.data import CreditData
from puhui.credit.features import BY_NAME, Kind


@dataclass(frozen=True)
class ChallengerParams:
    n_estimators: int = 300
    learning_rate: float = 0.02
    num_leaves: int = 8
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.6
    reg_lambda: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matrix(data: CreditData, names: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    cols = []
    for name in names:
        values = data.columns[name]
        if BY_NAME[name].kind is Kind.CATEGORICAL:
            lookup = {c: i for i, c in enumerate(categories[name])}
            values = np.array([lookup.get(v, -1) for v in values], dtype=np.float64)
        cols.append(np.asarray(values, dtype=np.float64))
    return np.column_stack(cols)


@dataclass(frozen=True)
class Challenger:
    model: lgb.LGBMClassifier
    names: list[str]
    categories: dict[str, list[str]]

    def probability_of_default(self, data: CreditData) -> np.ndarray:
        return self.model.predict_proba(_matrix(data, self.names, self.categories))[:, 1]


def fit_challenger(
    data: CreditData, names: list[str], *, seed: int, params: ChallengerParams
) -> Challenger:
    categories = {
        n: sorted({str(v) for v in data.columns[n]})
        for n in names
        if BY_NAME[n].kind is Kind.CATEGORICAL
    }
    model = lgb.LGBMClassifier(
        **params.as_dict(),
        subsample_freq=1,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        verbose=-1,
    )
    model.fit(
        _matrix(data, names, categories),
        data.bad,
        categorical_feature=[i for i, n in enumerate(names) if n in categories],
    )
    return Challenger(model, names, categories)
