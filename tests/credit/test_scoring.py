"""Scoring: points scaling, vectorised equals scalar, reason codes are the costliest
characteristics."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from puhui.credit.scorecard import Scaling
from puhui.credit.scoring import TOP_REASONS

from .samples import STRONG, WEAK


def rows(data):
    names = list(data.columns)
    return [{n: data.columns[n][i] for n in names} for i in range(len(data))]


def test_points_are_scaled_600_at_50_to_1_with_20_to_double():
    s = Scaling()
    assert s.probability_of_default(600) == pytest.approx(1 / 51)
    assert s.probability_of_default(620) == pytest.approx(1 / 101)
    assert s.probability_of_default(580) == pytest.approx(1 / 26)
    assert Scaling(500, 10, 40).factor == pytest.approx(40 / math.log(2))


def test_vectorised_scores_equal_scalar_scores(model, german):
    vector = model.scores(german.columns)
    scalar = np.array([model.score(r).score for r in rows(german)])
    assert vector.dtype == np.int64
    np.testing.assert_array_equal(vector, scalar)
    assert len(np.unique(vector)) > 100


def test_categories_as_codes_score_the_same(model, german):
    coded = dict(german.columns)
    for c in model.characteristics:
        if c.kind == "categorical":
            coded[c.name] = model.encode(c.name, german.columns[c.name])
            assert coded[c.name].dtype == np.int64
    np.testing.assert_array_equal(model.scores(coded), model.scores(german.columns))


def test_points_matrix_adds_up_to_the_score(model, german):
    matrix = model.points_matrix(german.columns)
    np.testing.assert_array_equal(
        matrix.sum(axis=1) + model.card.base_points, model.scores(german.columns)
    )


def test_missing_and_unseen_values_score_zero_points(model):
    full = model.score(STRONG | {"age_in_years": 40, "duration_in_month": 12})
    blank = model.score({})
    assert blank.score == model.card.base_points
    unseen = model.score(STRONG | {"age_in_years": 40, "duration_in_month": 12, "housing": "boat"})
    housing = dict(full.points)["housing"]
    assert unseen.score == full.score - housing


def test_reasons_are_the_characteristics_that_cost_the_most_points(model):
    scored = model.score(WEAK | {"age_in_years": 23, "duration_in_month": 48})
    lost = {c.name: c.max_points - dict(scored.points)[c.name] for c in model.characteristics}
    order = {c.name: i for i, c in enumerate(model.characteristics)}
    expected = sorted((n for n in lost if lost[n] > 0), key=lambda n: (-lost[n], order[n]))
    assert [r.code for r in scored.reasons] == expected[:TOP_REASONS]
    assert [r.points_lost for r in scored.reasons] == [lost[n] for n in expected[:TOP_REASONS]]
    first = scored.reasons[0]
    assert first.points_lost > 0
    assert str(first.points_lost) in first.text_zh and str(first.points_lost) in first.text_en
    assert first.label_zh in first.text_zh and first.label_en in first.text_en


def test_a_perfect_applicant_has_no_reasons(model):
    best = {}
    for c in model.characteristics:
        top = max(range(len(c.bins)), key=lambda i: c.bins[i].points)
        if c.kind == "categorical":
            best[c.name] = c.bins[top].categories[0]
    scored = model.score(best)
    numeric = {c.name for c in model.characteristics if c.kind == "numeric"}
    assert {r.code for r in scored.reasons} <= numeric  # only the numbers left unset cost points


def test_grades_follow_the_score(model, german):
    scores = model.scores(german.columns)
    grades = model.card.grades_of(scores)
    for s, g in zip(scores[:200], grades[:200], strict=True):
        assert model.card.grade_of(int(s)) == g
    cuts = [b.min_score for b in model.card.grades]
    assert cuts == sorted(cuts, reverse=True)


def test_scoring_needs_no_training_library():
    code = (
        "import sys; from puhui.credit.scoring import default_model; default_model(); "
        "print(sorted(m for m in ('sklearn', 'optbinning', 'lightgbm', 'pandas', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
