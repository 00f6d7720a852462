"""The repayment waterfall (还款冲抵顺序): which part of a debt a payment settles first.

One implementation for everyone: the per-loan engine (servicing, backdated replay) and the
end-of-day batch both call ``slots`` then ``waterfall``, so a payment is split the same way
whether a borrower pays at the counter or the batch debits a million loans at once. Everything
is vectorised numpy over int64 fen: no Python loop over loans, no float.

A product's ``allocation_rules`` are an ordered tuple of ``bucket.component``. The bucket is an
installment's position against the payment's value date: ``past_due`` (due before it), ``due``
(due on it) or ``in_advance`` (due after it). Within a rule the oldest installment is paid
first. Whatever is left after the last rule stays on the borrower's credit balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from puhui.core.errors import ValidationError

BUCKETS = ("past_due", "due", "in_advance")
COMPONENTS = ("penalty", "late_fee", "fee", "interest", "principal")
#: Column of each component in the owed / paid matrices.
COMPONENT_INDEX = {name: k for k, name in enumerate(COMPONENTS)}

IntArray = npt.NDArray[np.int64]


def default_rules(allocation_order: Sequence[str]) -> tuple[str, ...]:
    """The past-due rules, then the due rules, each in the product's ``allocation_order``: a
    payment never settles a later installment while an earlier one is still owed, and never
    pays ahead unless the product says so."""
    return tuple(f"{bucket}.{c}" for bucket in ("past_due", "due") for c in allocation_order)


def check_rules(rules: Sequence[str], *, field: str = "allocation_rules") -> tuple[str, ...]:
    """``rules`` as a tuple, refused if a rule is unknown, repeated or there are none."""
    rules = tuple(rules)
    known = {f"{b}.{c}" for b in BUCKETS for c in COMPONENTS}
    bad = [r for r in rules if r not in known]
    if bad or not rules:
        raise ValidationError(
            "allocation_rules_invalid",
            f"unknown allocation rule(s): {', '.join(map(str, bad))}; a rule is "
            f"bucket.component with bucket one of {', '.join(BUCKETS)} and component one of "
            f"{', '.join(COMPONENTS)}"
            if bad
            else "allocation_rules must list at least one rule",
            field=field,
        )
    if len(set(rules)) != len(rules):
        raise ValidationError(
            "allocation_rules_duplicate", "each allocation rule may appear once", field=field
        )
    return rules


def rank_matrix(rules: Sequence[str]) -> IntArray:
    """A (bucket, component) → rule rank matrix; -1 where no rule takes that part."""
    ranks = np.full((len(BUCKETS), len(COMPONENTS)), -1, dtype=np.int64)
    for rank, rule in enumerate(check_rules(rules)):
        bucket, component = rule.split(".")
        ranks[BUCKETS.index(bucket), COMPONENT_INDEX[component]] = rank
    return ranks


@dataclass(frozen=True)
class Slots:
    """The owed amounts a payment may settle, one per (installment, component), in the order
    they are settled: by loan, then rule rank, then installment sequence.

    ``installment`` indexes the caller's installment arrays; ``component`` the columns of
    ``COMPONENTS``.
    """

    loan: IntArray
    installment: IntArray
    component: IntArray
    owed: IntArray


def slots(
    *,
    loan: npt.ArrayLike,
    seq: npt.ArrayLike,
    due: npt.ArrayLike,
    owed: npt.ArrayLike,
    value_date: npt.ArrayLike,
    rules: Sequence[str] | IntArray,
) -> Slots:
    """The waterfall's slots for installments of many loans.

    ``loan`` is each installment's loan index (0…n_loans−1), ``seq`` its sequence number,
    ``due`` its due date (numpy ``datetime64[D]`` or integer days), ``owed`` an
    (n_installments, 5) matrix of what is still owed per component in ``COMPONENTS`` order
    (charged − paid − waived; for an installment not yet due, its interest is only what has
    accrued so far, since ``in_advance.interest`` never takes unaccrued interest), and
    ``value_date`` the payment's value date per loan. ``rules`` is one product's
    ``allocation_rules`` for all loans, or an (n_loans, 3, 5) stack of ``rank_matrix`` for
    loans of different products. Slots with nothing owed are left out.
    """
    loan_ = np.asarray(loan, dtype=np.int64)
    seq_ = np.asarray(seq, dtype=np.int64)
    due_ = _days(due)
    owed_ = np.asarray(owed, dtype=np.int64).reshape(len(loan_), len(COMPONENTS))
    value = _days(value_date)[loan_]
    bucket = np.where(due_ < value, 0, np.where(due_ == value, 1, 2))
    ranks = np.asarray(rules) if isinstance(rules, np.ndarray) else rank_matrix(rules)
    if ranks.ndim == 2:
        rank = ranks[bucket[:, None], np.arange(len(COMPONENTS))[None, :]]
    else:
        rank = ranks[loan_[:, None], bucket[:, None], np.arange(len(COMPONENTS))[None, :]]
    inst, comp = np.nonzero((rank >= 0) & (owed_ > 0))
    order = np.lexsort((seq_[inst], rank[inst, comp], loan_[inst]))
    inst, comp = inst[order], comp[order]
    return Slots(
        loan=loan_[inst],
        installment=inst.astype(np.int64),
        component=comp.astype(np.int64),
        owed=owed_[inst, comp],
    )


def waterfall(
    loan_idx: npt.ArrayLike, owed: npt.ArrayLike, payment: npt.ArrayLike
) -> tuple[IntArray, IntArray]:
    """Split each loan's ``payment`` over its slots in order: (allocated per slot, leftover per
    loan).

    ``loan_idx`` must be sorted (slots of one loan together, in settling order), as ``slots``
    returns them. A slot gets ``clip(payment − owed before it within its loan, 0, owed)``:
    grouped cumulative sums, exact in int64.
    """
    loan_ = np.asarray(loan_idx, dtype=np.int64)
    owed_ = np.asarray(owed, dtype=np.int64)
    pay = np.asarray(payment, dtype=np.int64)
    if len(loan_) == 0:
        return np.zeros(0, dtype=np.int64), pay.copy()
    before = np.cumsum(owed_) - owed_  # owed before each slot over all loans
    starts = np.ones(len(loan_), dtype=bool)
    starts[1:] = loan_[1:] != loan_[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(len(loan_)), 0))
    before -= before[first]  # … within its own loan
    allocated = np.clip(pay[loan_] - before, 0, owed_)
    spent = np.zeros(len(pay), dtype=np.int64)
    np.add.at(spent, loan_, allocated)
    return allocated, pay - spent


def paid_matrix(s: Slots, allocated: IntArray, n_installments: int) -> IntArray:
    """The allocation as an (n_installments, 5) matrix of fen paid per component."""
    paid = np.zeros((n_installments, len(COMPONENTS)), dtype=np.int64)
    np.add.at(paid, (s.installment, s.component), allocated)
    return paid


def _days(values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[D]").astype(np.int64)
    if arr.dtype == object:  # datetime.date values
        return np.asarray(arr, dtype="datetime64[D]").astype(np.int64)
    return arr.astype(np.int64)
