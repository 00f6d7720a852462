"""Hash chains for tamper evidence.

Each journal entry chains to the previous entry *of the same account*, so writers already
holding an account's row lock can extend its chain without any global lock; a daily seal then
hashes the heads of every chain that moved, tying the chains together in time.
"""

from __future__ import annotations

import hashlib
import operator
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


_transfer_fields = operator.itemgetter(*TRANSFER_FIELDS)


def transfer_digest(row: Mapping[str, Any]) -> str:
    """Digest of a stored transfer, so editing a transfer row breaks its entries' hashes."""
    a, b, c, d, e, f, g, h, i, j, k, m = _transfer_fields(row)
    # ``'' if x is None else x`` inline, not ``_opt(x)``: twelve calls cost more than the hash.
    text = (
        f"{'' if a is None else a}\x1f{'' if b is None else b}\x1f{'' if c is None else c}"
        f"\x1f{'' if d is None else d}\x1f{'' if e is None else e}\x1f{'' if f is None else f}"
        f"\x1f{'' if g is None else g}\x1f{'' if h is None else h}\x1f{'' if i is None else i}"
        f"\x1f{'' if j is None else j}\x1f{'' if k is None else k}\x1f{'' if m is None else m}"
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
        f"{'' if debit is None else debit}\x1f{'' if credit is None else credit}"
        f"\x1f{'' if amount is None else amount}\x1f{'' if code is None else code}"
        f"\x1f{'' if flags is None else flags}\x1f{'' if pending_id is None else pending_id}"
        f"\x1f{'' if timeout is None else timeout}\x1f{'' if reference is None else reference}"
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
