"""The write path's f-string hashes are byte for byte the generic ``_digest`` definition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from puhui.ledger import hashing
from puhui.ledger.codes import TransferCode, TransferFlags
from puhui.ledger.service import _transfer_row
from puhui.ledger.store import TRANSFER_COLUMNS

values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.booleans(),
    st.sampled_from(list(TransferCode)),
    st.sampled_from([TransferFlags.PENDING, TransferFlags.LINKED | TransferFlags.PENDING]),
)


@given(st.lists(values, min_size=8, max_size=8))
def test_request_hash8_is_request_hash(fields):
    assert hashing.request_hash8(*fields) == hashing.request_hash(fields)


@given(st.lists(values, min_size=len(hashing.TRANSFER_FIELDS), max_size=12))
def test_transfer_digest_is_the_generic_digest(fields):
    row = dict(zip(hashing.TRANSFER_FIELDS, fields, strict=True))
    assert hashing.transfer_digest(row) == hashing._digest(fields)


@given(
    st.text(max_size=64),
    st.integers(min_value=1),
    st.integers(min_value=1),
    st.text(max_size=64),
    st.tuples(*[st.integers()] * 4),
)
def test_entry_hash_fast_is_entry_hash(prev, account, seq, digest, deltas):
    slow = hashing.entry_hash(
        prev_hash=prev, account_id=account, seq=seq, transfer_digest=digest, deltas=deltas
    )
    assert hashing.entry_hash_fast(prev, account, seq, digest, deltas) == slow


def test_transfer_row_keys_follow_the_table():
    """SQLite inserts the row's values in order, so the keys must be the table's columns."""
    from datetime import date

    from puhui.ledger.service import Transfer

    acc = {"id": 1, "book": "custody", "currency": "CNY"}
    row = _transfer_row(Transfer("x", 1, 2, 5, 1), acc, acc, 5, 0, 0, "h", date(2026, 1, 1))
    assert list(row) == TRANSFER_COLUMNS
