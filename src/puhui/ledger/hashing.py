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
    """SHA-256 of the parts as text, ``\x1f``-separated, ``None`` as the empty string.

    The functions below build the same text with one f-string each (``format(x, "")`` is
    ``str(x)``): on the write path they run four times per transfer, and the generic join
    cost more than the hashing itself. ``test_hashing`` holds them to this definition.
    """
    text = "\x1f".join(["" if p is None else str(p) for p in parts])
    return hashlib.sha256(text.encode()).hexdigest()


def _opt(v: object) -> object:
    return "" if v is None else v


def transfer_digest(row: Mapping[str, Any]) -> str:
    """Digest of a stored transfer, so editing a transfer row breaks its entries' hashes."""
    r = row
    text = (
        f"{_opt(r['id'])}\x1f{_opt(r['debit_account_id'])}\x1f{_opt(r['credit_account_id'])}"
        f"\x1f{_opt(r['amount'])}\x1f{_opt(r['pending_id'])}\x1f{_opt(r['code'])}"
        f"\x1f{_opt(r['flags'])}\x1f{_opt(r['timeout'])}\x1f{_opt(r['reference'])}"
        f"\x1f{_opt(r['book'])}\x1f{_opt(r['currency'])}\x1f{_opt(r['ts_us'])}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def request_hash(fields: Iterable[object]) -> str:
    return _digest(fields)


def request_hash8(
    debit: object,
    credit: object,
    amount: object,
    code: object,
    flags: object,
    pending_id: object,
    timeout: object,
    reference: object,
) -> str:
    """``request_hash`` of a transfer's eight client fields, without building a tuple."""
    text = (
        f"{_opt(debit)}\x1f{_opt(credit)}\x1f{_opt(amount)}\x1f{_opt(code)}\x1f{_opt(flags)}"
        f"\x1f{_opt(pending_id)}\x1f{_opt(timeout)}\x1f{_opt(reference)}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def entry_hash(
    *, prev_hash: str, account_id: int, seq: int, transfer_digest: str, deltas: Iterable[int]
) -> str:
    return _digest((prev_hash, account_id, seq, transfer_digest, *deltas))


def entry_hash_fast(
    prev_hash: str, account_id: int, seq: int, transfer_digest: str, d: tuple[int, ...]
) -> str:
    """``entry_hash`` for the write path: every part is known to be set."""
    text = (
        f"{prev_hash}\x1f{account_id}\x1f{seq}\x1f{transfer_digest}"
        f"\x1f{d[0]}\x1f{d[1]}\x1f{d[2]}\x1f{d[3]}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def seal_hash(prev_hash: str, business_date: str, heads: Iterable[tuple[int, int, str]]) -> str:
    """Hash of one day's seal: the previous seal and (account, seq, head) of every moved chain."""
    h = hashlib.sha256(f"{prev_hash}\x1f{business_date}".encode())
    for account_id, seq, head in heads:
        h.update(f"\x1e{account_id}\x1f{seq}\x1f{head}".encode())
    return h.hexdigest()
