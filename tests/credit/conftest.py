"""Credit fixtures: the German data, the shipped model, and one full training shared by the
session (it runs the 5 × 5 cross-validation, about 15 s)."""

from __future__ import annotations

from typing import Any

import pytest

from puhui.credit.data import CreditData, load_german_credit
from puhui.credit.scoring import ScoringModel, default_model
from puhui.credit.training import TrainingConfig, train


@pytest.fixture(scope="session")
def german() -> CreditData:
    return load_german_credit()


@pytest.fixture(scope="session")
def model() -> ScoringModel:
    return default_model()


@pytest.fixture(scope="session")
def trained(german: CreditData) -> dict[str, Any]:
    """The default training, cross-validation included, as ``puhui score train`` runs it."""
    return train(TrainingConfig(), data=german)
