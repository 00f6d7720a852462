"""Rows with sealed (encrypted) columns: insert, open, update, and master-key rotation.

A table with sealed columns has ``wrapped_key`` and ``key_id`` (see ``models``). Its row id is
part of the associated data, so a row is inserted first and its sealed values written once its
id is known — in the same transaction, so no reader ever sees the row half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from puhui.identity import crypto
from puhui.identity.crypto import Keyring, RecordCipher, WrappedKey

_PENDING = "pending"


def insert_sealed(
    conn: Connection,
    keys: Keyring,
    table: Table,
    *,
    plain: Mapping[str, Any],
    sealed: Mapping[str, str | None],
) -> int:
    row_id = conn.execute(
        insert(table).values(
            **plain, **dict.fromkeys(sealed, _PENDING), wrapped_key=_PENDING, key_id=_PENDING
        )
    ).inserted_primary_key[0]
    cipher, wrapped = crypto.new_record_key(keys, table.name, row_id)
    conn.execute(
        update(table)
        .where(table.c.id == row_id)
        .values(
            wrapped_key=wrapped.wrapped,
            key_id=wrapped.key_id,
            **{col: cipher.seal(col, value) for col, value in sealed.items()},
        )
    )
    return row_id


def cipher_for(keys: Keyring, table: Table, row: Any) -> RecordCipher:
    return crypto.open_record(keys, table.name, row.id, WrappedKey(row.wrapped_key, row.key_id))


def open_columns(
    keys: Keyring, table: Table, row: Any, columns: tuple[str, ...]
) -> dict[str, str | None]:
    cipher = cipher_for(keys, table, row)
    return {c: cipher.open(c, getattr(row, c)) for c in columns}


def update_sealed(
    conn: Connection,
    keys: Keyring,
    table: Table,
    row: Any,
    *,
    sealed: Mapping[str, str | None],
    plain: Mapping[str, Any] | None = None,
) -> None:
    cipher = cipher_for(keys, table, row)
    conn.execute(
        update(table)
        .where(table.c.id == row.id)
        .values(**(plain or {}), **{c: cipher.seal(c, v) for c, v in sealed.items()})
    )


def rotate(
    conn: Connection,
    keys: Keyring,
    tables: tuple[Table | tuple[Table, str], ...],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Re-wrap every data key not yet under the active master key; how many were.

    A table names its master-key column ``key_id`` unless given as ``(table, column)``: the
    open platform's partner keys keep the partner's own key id in ``key_id`` and the master
    key's in ``master_key_id``."""
    done = 0
    for entry in tables:
        table, column = entry if isinstance(entry, tuple) else (entry, "key_id")
        master = table.c[column]
        rows = conn.execute(
            select(table.c.id, table.c.wrapped_key, master.label("master")).where(
                master != keys.active_id
            )
        ).all()
        for r in rows:
            new = crypto.rewrap(keys, table.name, r.id, WrappedKey(r.wrapped_key, r.master))
            conn.execute(
                update(table)
                .where(table.c.id == r.id)
                .values({"wrapped_key": new.wrapped, column: new.key_id})
            )
            done += 1
            if progress is not None:
                progress(table.name, done)
    return done
