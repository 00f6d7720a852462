"""Largest-remainder split: parts add up exactly, each within a fen of its exact share."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from puhui.marketplace.split import split, split_grouped


def test_literal_split() -> None:
    # 100 fen over 1:1:1 → 34, 33, 33 (the tie goes to the earlier note)
    assert split(100, [1, 1, 1]) == [34, 33, 33]
    assert split(1_000, [333_300, 333_300, 333_400]) == [333, 333, 334]
    assert split(0, [5, 7]) == [0, 0]


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=60).filter(
        lambda w: sum(w) > 0
    ),
)
def test_parts_sum_exactly_and_stay_within_a_fen(total: int, weights: list[int]) -> None:
    parts = split(total, weights)
    assert sum(parts) == total
    w = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, w)
        assert exact - 1 < part < exact + 1
        if weight == 0:
            assert part == 0


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**7),
            st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_grouped_equals_one_by_one(loans: list[tuple[int, list[int]]]) -> None:
    totals = np.array([t for t, _ in loans], dtype=np.int64)
    groups = np.array([g for g, (_, w) in enumerate(loans) for _ in w], dtype=np.int64)
    weights = np.array([x for _, w in loans for x in w], dtype=np.int64)
    together = split_grouped(totals, groups, weights).tolist()
    one_by_one = [p for t, w in loans for p in split(t, w)]
    assert together == one_by_one
