"""How one transaction's two records compare, as a table a reconciliation clerk could read."""

from __future__ import annotations

import pytest

from puhui.custody.rules import classify

A, B = "SA-ALICE", "SA-BOB"

# bank legs                 ledger legs                expected (kind, sub-account, delta)
CASES = [
    ({A: 100}, {A: 100}, []),
    ({A: -30, B: 30}, {A: -30, B: 30}, []),
    ({A: 100}, {}, [("bank_only", A, 100)]),
    ({}, {A: -100}, [("ledger_only", A, 100)]),
    ({A: 100}, {A: 90}, [("amount_mismatch", A, 10)]),
    ({A: -30, B: 30}, {A: -30, B: 25}, [("amount_mismatch", B, 5)]),
    ({A: 100}, {B: 100}, [("account_mismatch", A, 100), ("account_mismatch", B, -100)]),
    ({A: 0}, {}, []),
]


@pytest.mark.parametrize(("bank", "ledger", "expected"), CASES)
def test_classify(bank: dict, ledger: dict, expected: list) -> None:
    got = [(d.kind.value, d.sub_account, d.delta) for d in classify(bank, ledger)]
    assert got == expected
