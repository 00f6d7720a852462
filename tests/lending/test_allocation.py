"""The repayment waterfall: exact, ordered, and the same as a plain loop over the slots."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.errors import ValidationError
from puhui.lending import allocation
from puhui.lending.allocation import COMPONENTS, default_rules, slots, waterfall
from puhui.lending.product_terms import ProductTerms

from .samples import LICENSED


def reference(loans: list[list[int]], payments: list[int]) -> tuple[list[list[int]], list[int]]:
    """The waterfall the slow way: each loan's slots in order, taking what is left."""
    allocated, leftover = [], []
    for owed, pay in zip(loans, payments, strict=True):
        row = []
        for amount in owed:
            take = min(amount, pay)
            row.append(take)
            pay -= take
        allocated.append(row)
        leftover.append(pay)
    return allocated, leftover


owed_lists = st.lists(st.lists(st.integers(0, 10**15), max_size=8), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(owed_lists, st.data())
def test_waterfall_matches_the_reference(loans: list[list[int]], data: st.DataObject) -> None:
    payments = [data.draw(st.integers(0, sum(o) + 10**6)) for o in loans]
    loan_idx = np.array([i for i, o in enumerate(loans) for _ in o], dtype=np.int64)
    owed = np.array([a for o in loans for a in o], dtype=np.int64)
    allocated, leftover = waterfall(loan_idx, owed, np.array(payments, dtype=np.int64))
    want, want_left = reference(loans, payments)
    assert allocated.tolist() == [a for row in want for a in row]
    assert leftover.tolist() == want_left
    # Σ allocated + leftover = payment, per loan; no slot takes more than it is owed; a slot
    # gets anything only when every earlier slot of its loan is paid in full.
    spent = np.zeros(len(loans), dtype=np.int64)
    np.add.at(spent, loan_idx, allocated)
    assert (spent + leftover).tolist() == payments
    assert ((allocated >= 0) & (allocated <= owed)).all()
    for row, owed_row in zip(want, loans, strict=True):
        for k in range(1, len(row)):
            if row[k] > 0:
                assert row[:k] == owed_row[:k]


def test_slots_follow_the_rules_then_the_oldest_installment() -> None:
    # Loan 0: installment 1 past due, 2 due today, 3 in advance; loan 1: one past due.
    owed = np.zeros((4, 5), dtype=np.int64)
    col = allocation.COMPONENT_INDEX
    owed[0, [col["penalty"], col["interest"], col["principal"]]] = [7, 100, 1000]
    owed[1, [col["interest"], col["principal"]]] = [90, 1010]
    owed[2, [col["interest"], col["principal"]]] = [30, 1020]
    owed[3, [col["late_fee"], col["principal"]]] = [50, 500]
    s = slots(
        loan=[0, 0, 0, 1],
        seq=[1, 2, 3, 1],
        due=np.array(["2026-10-02", "2026-11-02", "2026-12-02", "2026-10-20"], "datetime64[D]"),
        owed=owed,
        value_date=np.array(["2026-11-02", "2026-11-02"], "datetime64[D]"),
        rules=default_rules(COMPONENTS),
    )
    names = [(int(i), COMPONENTS[c]) for i, c in zip(s.installment, s.component, strict=True)]
    assert names == [
        (0, "penalty"),
        (0, "interest"),
        (0, "principal"),
        (1, "interest"),
        (1, "principal"),
        (3, "late_fee"),
        (3, "principal"),
    ]  # in_advance is not in the default rules: installment 3 is never paid ahead
    allocated, left = waterfall(s.loan, s.owed, [1150, 600])
    assert allocated.tolist() == [7, 100, 1000, 43, 0, 50, 500]
    assert left.tolist() == [0, 50]
    paid = allocation.paid_matrix(s, allocated, 4)
    assert paid[1].tolist() == [0, 0, 0, 43, 0]


def test_interest_first_across_installments_when_the_rules_say_so() -> None:
    rules = ("past_due.interest", "past_due.principal", "in_advance.principal")
    owed = np.array([[0, 0, 0, 10, 100], [0, 0, 0, 20, 200], [0, 0, 0, 5, 300]])
    s = slots(
        loan=[0, 0, 0],
        seq=[1, 2, 3],
        due=[10, 20, 40],
        owed=owed,
        value_date=[30],
        rules=rules,
    )
    allocated, left = waterfall(s.loan, s.owed, [400])
    # interest of 1 and 2, principal of 1 and 2, then principal of 3 ahead (not its interest).
    assert list(zip(s.installment.tolist(), allocated.tolist(), strict=True)) == [
        (0, 10),
        (1, 20),
        (0, 100),
        (1, 200),
        (2, 70),
    ]
    assert left.tolist() == [0]


def test_loans_of_different_products_in_one_call() -> None:
    ranks = np.stack(
        [
            allocation.rank_matrix(("past_due.principal", "past_due.interest")),
            allocation.rank_matrix(("past_due.interest", "past_due.principal")),
        ]
    )
    owed = np.array([[0, 0, 0, 10, 100], [0, 0, 0, 10, 100]])
    s = slots(loan=[0, 1], seq=[1, 1], due=[1, 1], owed=owed, value_date=[5, 5], rules=ranks)
    allocated, _ = waterfall(s.loan, s.owed, [50, 50])
    assert [COMPONENTS[c] for c in s.component] == [
        "principal",
        "interest",
        "interest",
        "principal",
    ]
    assert allocated.tolist() == [50, 0, 10, 40]


def test_no_slots_leaves_the_payment() -> None:
    allocated, left = waterfall(np.zeros(0, np.int64), np.zeros(0, np.int64), [5, 0])
    assert allocated.tolist() == [] and left.tolist() == [5, 0]


def test_product_rules_default_validate_and_read_back() -> None:
    assert LICENSED.allocation_rules == default_rules(LICENSED.allocation_order)
    assert LICENSED.allocation_rules[0] == "past_due.penalty"
    custom = replace(LICENSED, allocation_rules=("due.interest", "in_advance.principal"))
    assert ProductTerms.from_mapping(custom.to_mapping()) == custom
    old = {k: v for k, v in LICENSED.to_mapping().items() if k != "allocation_rules"}
    assert ProductTerms.from_mapping(old) == LICENSED  # a version stored before the field
    for bad, code in (
        (("due.interest", "due.interest"), "allocation_rules_duplicate"),
        (("due.capital",), "allocation_rules_invalid"),
        (("someday.interest",), "allocation_rules_invalid"),
    ):
        with pytest.raises(ValidationError) as err:
            replace(LICENSED, allocation_rules=bad)
        assert err.value.code == code
