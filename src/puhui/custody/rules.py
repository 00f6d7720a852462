"""Pure reconciliation rules: how one transaction's two records compare.

A transaction is seen from each side as its legs: the net signed amount per sub-account
(+ into the sub-account, − out of it), the custody master left out because every leg has it
as the other side. A deposit is one leg, a withdrawal one, a transfer between two users two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class BreakKind(StrEnum):
    BANK_ONLY = "bank_only"  # 长款: the bank has it, the ledger does not
    LEDGER_ONLY = "ledger_only"  # 短款: the ledger has it, the bank does not
    AMOUNT_MISMATCH = "amount_mismatch"  # same sub-accounts, other amounts
    ACCOUNT_MISMATCH = "account_mismatch"  # booked to another sub-account
    #: A sub-account's closing balance differs by more than its known breaks explain.
    BALANCE_MISMATCH = "balance_mismatch"
    #: CUS-ACC-01: Σ sub-accounts ≠ master balance at the bank, beyond the known breaks.
    MASTER_MISMATCH = "master_mismatch"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    BreakKind.BANK_ONLY: "长款 bank only",
    BreakKind.LEDGER_ONLY: "短款 ledger only",
    BreakKind.AMOUNT_MISMATCH: "金额不符 amount",
    BreakKind.ACCOUNT_MISMATCH: "账户不符 account",
    BreakKind.BALANCE_MISMATCH: "余额不符 balance",
    BreakKind.MASTER_MISMATCH: "总分不符 master",
}


@dataclass(frozen=True)
class LegDiff:
    """One sub-account on which the two records of a transaction disagree."""

    kind: BreakKind
    sub_account: str
    bank_amount: int
    ledger_amount: int

    @property
    def delta(self) -> int:
        """What the ledger must add to agree with the bank."""
        return self.bank_amount - self.ledger_amount


def classify(bank: Mapping[str, int], ledger: Mapping[str, int]) -> list[LegDiff]:
    """Compare a transaction's legs as the bank and the ledger have them.

    An empty list means matched; otherwise one ``LegDiff`` per sub-account that differs, all of
    one kind: ``bank_only`` or ``ledger_only`` when one side has nothing, ``amount_mismatch``
    when both touch the same sub-accounts, ``account_mismatch`` when they touch others.
    """
    b = {k: v for k, v in bank.items() if v}
    g = {k: v for k, v in ledger.items() if v}
    if b == g:
        return []
    if not g:
        kind = BreakKind.BANK_ONLY
    elif not b:
        kind = BreakKind.LEDGER_ONLY
    elif b.keys() == g.keys():
        kind = BreakKind.AMOUNT_MISMATCH
    else:
        kind = BreakKind.ACCOUNT_MISMATCH
    return [
        LegDiff(kind, s, b.get(s, 0), g.get(s, 0))
        for s in sorted(b.keys() | g.keys())
        if b.get(s, 0) != g.get(s, 0)
    ]
