"""Hash chains for tamper evidence.

Each journal entry chains to the previous entry *of the same account*, so writers already
holding an account's row lock can extend its chain without any global lock; a daily seal then
hashes the heads of every chain that moved, tying the chains together in time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

TRANSFER_FIELDS = (
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "code",
    "flags",
    "timeout",
    "reference",
    "book",
    "currency",
    "ts_us",
)
ENTRY_DELTAS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")


def _digest(parts: Iterable[object]) -> str:
    text = "\x1f".join(["" if p is None else str(p) for p in parts])
    return hashlib.sha256(text.encode()).hexdigest()


def transfer_digest(row: Mapping[str, Any]) -> str:
    """Digest of a stored transfer, so editing a transfer row breaks its entries' hashes."""
    return _digest(row[f] for f in TRANSFER_FIELDS)


def request_hash(fields: Iterable[object]) -> str:
    return _digest(fields)


def entry_hash(
    *, prev_hash: str, account_id: int, seq: int, transfer_digest: str, deltas: Iterable[int]
) -> str:
    return _digest((prev_hash, account_id, seq, transfer_digest, *deltas))


def seal_hash(prev_hash: str, business_date: str, heads: Iterable[tuple[int, int, str]]) -> str:
    """Hash of one day's seal: the previous seal and (account, seq, head) of every moved chain."""
    h = hashlib.sha256(f"{prev_hash}\x1f{business_date}".encode())
    for account_id, seq, head in heads:
        h.update(f"\x1e{account_id}\x1f{seq}\x1f{head}".encode())
    return h.hexdigest()
