"""The ledger's hot path in plain SQL, one dialect at a time.

``service.create_transfers`` decides; this module only reads and writes, in as few round
trips and as little client CPU as the database allows. Building SQLAlchemy statements per call
cost more than the database work itself (a profile showed ~70% of the time in statement
construction and cache keys), so the SQL here is fixed text, built once from the table
definitions so that it cannot drift from the schema.

PostgreSQL: the statements are server-side prepared once per connection (``PREPARE``, so the
server does not parse them again; a transaction the link opens also asks for generic plans, so
it does not plan them again either) and sent as *simple-protocol* flights of several
statements, with the arguments inlined as quoted literals. One flight locks the accounts
(``FOR NO KEY UPDATE``, id order) and reads the transfers already stored under the batch's
ids; one writes every transfer, entry and balance from array literals, a column each. A flight
may open the transaction (``BEGIN``) and the last one may close it (``COMMIT``), which is how
``create_transfers_committed`` gets a transaction down to two round trips. Measured against
psycopg's pipeline mode with bound array parameters, this halved the client's CPU per
transaction (the pipeline machinery and the array dumpers were most of it) and cut the
server's by a fifth. The idempotency read may use a snapshot older than the lock wait; the
primary key and the unique ``pending_id`` then refuse the write, and the caller's retry reads
the winner's row.

SQLite: writers already hold the database lock (``BEGIN IMMEDIATE``), so plain reads and
``executemany`` on the driver cursor are exact and fast.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from psycopg import ClientCursor
from psycopg.pq import ExecStatus
from psycopg.sql import Literal
from sqlalchemy import Connection

from puhui.ledger.models import accounts, entries, transfers

ACCOUNT_COLUMNS = [c.name for c in accounts.columns]
TRANSFER_COLUMNS = [c.name for c in transfers.columns]
ENTRY_COLUMNS = [c.name for c in entries.columns]
BALANCE_UPDATE = (
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
    "entry_seq",
    "head_hash",
)

#: What a transfer reads of an account it locks: not its names nor its creation time (fewer
#: columns to send and to turn into Python objects; ``accounts.c`` refuses a name that drifts).
LOCK_COLUMNS = [accounts.c[k].name for k in ("id", "book", "currency", "flags", "parent_id")]
LOCK_COLUMNS += [accounts.c[k].name for k in BALANCE_UPDATE]

_BALANCE_KEYS = ("id", *BALANCE_UPDATE)
_ACC = ", ".join(LOCK_COLUMNS)
_TR = ", ".join(TRANSFER_COLUMNS)
_EN = ", ".join(ENTRY_COLUMNS)
_BUSINESS_DATE = TRANSFER_COLUMNS.index("business_date")
TUPLES_OK = ExecStatus.TUPLES_OK


def _pg_array_type(column: Any) -> str:
    """The array type a column travels in: ``text[]`` for strings, so that the insert's
    assignment to ``varchar(n)`` still refuses a value that is too long (a cast would cut it)."""
    name = type(column.type).__name__
    return {"String": "text", "Integer": "integer", "Date": "date"}.get(name, "bigint") + "[]"


_TR_TYPES = [_pg_array_type(c) for c in transfers.columns]
_EN_TYPES = [_pg_array_type(c) for c in entries.columns]
_BAL_TYPES = [_pg_array_type(accounts.c[k]) for k in _BALANCE_KEYS]
# Parameters in the order they appear in the text (an inlined statement fills them in that
# order): each group's arrays, then its row count.
_EN_FIRST = 1 + len(_TR_TYPES) + 1
_BAL_FIRST = _EN_FIRST + len(_EN_TYPES) + 1
_IDS = _BAL_FIRST + len(_BAL_TYPES) + 1  # the balances' ids once more, for ``ANY``


def _rows(first: int, columns: Sequence[str]) -> str:
    """The rows whose columns are the arrays ``$first``…; the next parameter counts them."""
    values = ", ".join(f"${first + k}[i] AS {c}" for k, c in enumerate(columns))
    return f"SELECT {values} FROM generate_series(1, ${first + len(columns)}) AS i"


# Prepared once per connection; the names carry a version so that a changed text never meets
# a connection that prepared the old one.
# NO KEY UPDATE: rows elsewhere that reference an account take KEY SHARE locks on it, which
# must not deadlock with a transfer that locks the same account.
PG_STATEMENTS = {
    "puhui_ledger_lock_v3": (
        "bigint[]",
        f"SELECT {_ACC} FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    ),
    "puhui_ledger_read_v3": (
        "bigint[]",
        f"SELECT {_ACC} FROM ledger_accounts WHERE id = ANY($1)",
    ),
    "puhui_ledger_transfers_v2": (
        "text[]",
        f"SELECT {_TR} FROM ledger_transfers WHERE id = ANY($1)",
    ),
    "puhui_ledger_resolutions_v2": (
        "text[]",
        "SELECT pending_id, flags FROM ledger_transfers WHERE pending_id = ANY($1)",
    ),
    "puhui_ledger_write_v3": (
        ", ".join([*_TR_TYPES, "int", *_EN_TYPES, "int", *_BAL_TYPES, "int", "bigint[]"]),
        f"WITH t AS (INSERT INTO ledger_transfers ({_TR}) {_rows(1, TRANSFER_COLUMNS)}), "
        f"e AS (INSERT INTO ledger_entries ({_EN}) {_rows(_EN_FIRST, ENTRY_COLUMNS)}) "
        "UPDATE ledger_accounts a SET "
        + ", ".join(f"{c} = v.{c}" for c in BALANCE_UPDATE)
        + f" FROM ({_rows(_BAL_FIRST, _BALANCE_KEYS)}) AS v "
        f"WHERE a.id = v.id AND a.id = ANY(${_IDS})",
    ),
}
"""Rows travel column by column, as array literals: the client joins each column in C
(``",".join``) instead of encoding a JSON object per row, which halves the bytes sent, and the
server reads each value once instead of looking every field of every object up by name. Rows
are rebuilt by subscript (``$k[i]``), not by ``unnest`` of many arrays, which materialises each
array apart and cost twice JSON's server time for a single transfer. Every argument appears
once, so a statement that is inlined rather than prepared takes them in order. The ids, again
as ``ANY``, give the planner an index condition instead of a join over every account."""
_LOCK, _READ, _TRANSFERS, _RESOLUTIONS, _WRITE = PG_STATEMENTS


def _inline(types: str, sql: str) -> str:
    """The statement with ``%s`` (typed) for ``$n``, for a connection that did not prepare it
    (``flight`` puts the quoted arguments in with ``%``)."""
    for k, t in reversed(list(enumerate(types.split(", "), start=1))):
        sql = sql.replace(f"${k}", f"(%s::{t})")
    return sql


PG_INLINE = {name: _inline(types, sql) for name, (types, sql) in PG_STATEMENTS.items()}

#: Accounts seen to be contended (a lost optimistic race) or known to be (shards of a split
#: account): an optimistic transaction locks these and reads only the others without a
#: lock. A hint, not state: losing it costs one retry.
contended: set[int] = set()
MAX_CONTENDED = 100_000
ENTRY_KEY = "pk_ledger_entries"


def note_contended(account_ids: Iterable[int]) -> None:
    if len(contended) > MAX_CONTENDED:
        contended.clear()
    contended.update(account_ids)


#: psycopg connections that hold the prepared statements (they die with the connection).
_prepared: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

SQLITE_LOCK = (
    f"SELECT {_ACC} FROM ledger_accounts WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
)
SQLITE_TRANSFERS = (
    f"SELECT {_TR} FROM ledger_transfers WHERE id IN (SELECT value FROM json_each(?))"
)
SQLITE_RESOLUTIONS = (
    "SELECT pending_id, flags FROM ledger_transfers "
    "WHERE pending_id IN (SELECT value FROM json_each(?))"
)
SQLITE_INSERT_TRANSFER = (
    f"INSERT INTO ledger_transfers ({_TR}) VALUES ({', '.join('?' * len(TRANSFER_COLUMNS))})"
)
SQLITE_INSERT_ENTRY = (
    f"INSERT INTO ledger_entries ({_EN}) VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"
)
SQLITE_UPDATE_ACCOUNT = (  # numbered: a ``balances`` row, ``(id, *BALANCE_UPDATE)``, as it is
    "UPDATE ledger_accounts SET "
    + ", ".join(f"{c} = ?{k}" for k, c in enumerate(BALANCE_UPDATE, start=2))
    + " WHERE id = ?1"
)


def _int_array(ids: Iterable[int]) -> str:
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def _quote(v: object) -> str:
    """One array element, double-quoted, so commas, braces, blanks and ``NULL`` are data."""
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal; every element quoted, so commas and braces are safe."""
    return "{" + ",".join(map(_quote, values)) + "}"


def _texts(col: Sequence[Any]) -> str:
    """A column of strings (``None`` as ``NULL``) as an array literal.

    Ids and hashes need no escaping, so the column is usually joined whole in C; only a
    column that holds a quote, a backslash or a ``None`` is quoted element by element.
    """
    if None not in col:
        try:
            joined = '","'.join(col)
        except TypeError:  # a value that is not a string: quoted one by one, as its text
            joined = '"'
        # Only the separators' quotes: no value holds a quote of its own.
        if joined.count('"') == 2 * (len(col) - 1) and "\\" not in joined:
            return '{"' + joined + '"}'
    return "{" + ",".join("NULL" if v is None else _quote(v) for v in col) + "}"


def _ints(col: Sequence[Any]) -> str:
    """A column of integers (``None`` as ``NULL``), or of dates (``str`` is ISO 8601)."""
    if None not in col:
        return "{" + ",".join(map(str, col)) + "}"
    return "{" + ",".join("NULL" if v is None else str(v) for v in col) + "}"


def _encoders(types: Sequence[str]) -> list[Any]:
    return [_texts if t == "text[]" else _ints for t in types]


_TR_ENCODERS = _encoders(_TR_TYPES)
_EN_ENCODERS = _encoders(_EN_TYPES)
_BAL_ENCODERS = _encoders(_BAL_TYPES)


def forget_prepared(raw: Any) -> None:
    """The server dropped our prepared statements on this connection (``DEALLOCATE ALL``)."""
    _prepared.pop(raw, None)


def _prepare(cur: Any) -> None:
    """Prepare the hot path's statements on this connection unless it already has them.

    Asking the server first (once per connection) keeps a connection whose bookkeeping was
    lost from failing on a duplicate ``PREPARE``; prepared statements outlive transactions,
    so doing this inside a caller's transaction is harmless.
    """
    cur.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'puhui_ledger_%%'")
    have = {r[0] for r in cur.fetchall()}
    missing = [
        f"PREPARE {name}({types}) AS {sql}"
        for name, (types, sql) in PG_STATEMENTS.items()
        if name not in have
    ]
    if missing:
        cur.execute("; ".join(missing))


def _account_row(r: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(LOCK_COLUMNS, r, strict=True))
    row["_seq0"], row["_head0"] = row["entry_seq"], row["head_hash"]
    return row


class Link:
    """The hot path's handle on one driver connection during one transaction."""

    pg: bool = False
    #: Whether small batches may read accounts without locking them (the link's owner
    #: retries a lost race: a duplicate ``(account_id, seq)`` entry key).
    optimistic: bool = False

    def load_transfers(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def lock_and_load(
        self,
        account_ids: Iterable[int],
        transfer_ids: Iterable[str],
        pending_ids: Iterable[str],
        *,
        optimistic: bool = False,
    ) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
        """Lock the accounts in id order, then read the batch's stored transfers and the
        pending transfers already resolved. ``optimistic``: read the accounts without a lock
        (PostgreSQL only; see ``service.create_transfers_committed``)."""
        raise NotImplementedError

    def write(
        self,
        transfer_rows: Sequence[dict[str, Any]],
        entry_rows: Sequence[tuple[Any, ...]],
        balances: Sequence[tuple[Any, ...]],
    ) -> None:
        """Insert transfers and entries and store balances; ``balances`` rows are
        ``(id, *BALANCE_UPDATE)`` and ``entry_rows`` follow ``ENTRY_COLUMNS``."""
        raise NotImplementedError

    def lock(self, account_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Lock accounts read optimistically and read them again (optimistic links only)."""
        raise NotImplementedError


#: How a link that owns its transaction opens it. The prepared statements would otherwise be
#: planned again at every execution (a custom plan, since the array arguments change the row
#: estimates): for a single transfer, planning the write took half of its server time.
#: ``SET LOCAL`` ends with the transaction, so a pooled connection's other users keep theirs.
_BEGIN_GENERIC = ["BEGIN", "SET LOCAL plan_cache_mode = force_generic_plan"]


class PgLink(Link):
    """Simple-protocol flights of several statements on one psycopg connection.

    ``begin``: the connection is in autocommit mode and the first flight opens the transaction
    itself. ``commit``: the write flight closes it (``COMMIT``), so the caller must not.
    ``prepared``: run the statements prepared on the server (``EXECUTE``). psycopg sends
    ``DEALLOCATE ALL`` after a rollback whenever it holds prepared statements of its own, so a
    prepared statement can vanish under us; only a link whose owner retries may use them (a
    missing one fails its own transaction, ``forget_prepared`` and a retry repair that).
    """

    pg = True

    def __init__(
        self,
        raw: Any,
        *,
        begin: bool = False,
        commit: bool = False,
        optimistic: bool = False,
        prepared: bool = False,
    ) -> None:
        self.raw = raw
        self.prepared = prepared
        self.cur = ClientCursor(raw)
        self.begin = begin
        self.commit = commit
        self.optimistic = optimistic
        self.open = not begin  # whether a transaction is known to be open on the server
        self.utf8 = raw.info.encoding == "utf-8"

    def flight(
        self, statements: Sequence[tuple[str, Sequence[str]]], *, commit: bool = False
    ) -> list[list[tuple[Any, ...]]]:
        """Send the statements (name, arguments) in one round trip; return each one's rows."""
        if self.prepared and self.raw not in _prepared:
            _prepare(self.cur)
            _prepared[self.raw] = True
        opening = (_BEGIN_GENERIC if self.prepared else ["BEGIN"]) if self.begin else []
        parts = list(opening)
        literal = self.literal
        for name, args in statements:
            values = [literal(a) for a in args]
            if self.prepared:
                parts.append(f"EXECUTE {name}({', '.join(values)})")
            else:
                parts.append(PG_INLINE[name] % tuple(values))
        if commit:
            parts.append("COMMIT")
        cur = self.cur
        cur.execute("; ".join(parts))  # no parameters: psycopg sends the text as it is
        if self.begin:
            self.begin, self.open = False, True
            for _ in opening:
                cur.nextset()
        out = []
        last = len(statements) - 1
        for k in range(len(statements)):
            res = cur.pgresult
            out.append(cur.fetchall() if res is not None and res.status == TUPLES_OK else [])
            if k < last or commit:
                cur.nextset()
        if commit:
            self.open = False
        return out

    def literal(self, value: str) -> str:
        """``value`` as an SQL string literal, as libpq's ``PQescapeLiteral`` would write it.

        For a UTF-8 string without backslashes or NULs that is the value in quotes with each
        quote doubled (valid under either ``standard_conforming_strings``); quoting it here
        skips psycopg's dumping of every argument, which cost more than the write statement's
        encoding for small batches. Anything else goes through psycopg.
        """
        if self.utf8 and "\\" not in value and "\x00" not in value:
            return "'" + value.replace("'", "''") + "'"
        return Literal(value).as_string(self.raw)

    def finish(self) -> None:
        """Close a transaction this link opened and did not commit (nothing was written)."""
        if self.open and self.commit:
            self.cur.execute("ROLLBACK")
            self.open = False

    def load_transfers(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(ids)
        if not ids:
            return {}
        (rows,) = self.flight([(_TRANSFERS, (_text_array(ids),))])
        return {r[0]: dict(zip(TRANSFER_COLUMNS, r, strict=True)) for r in rows}

    def lock_and_load(
        self,
        account_ids: Iterable[int],
        transfer_ids: Iterable[str],
        pending_ids: Iterable[str],
        *,
        optimistic: bool = False,
    ) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
        acc_ids, t_ids, p_ids = sorted(account_ids), sorted(transfer_ids), sorted(pending_ids)
        # Optimistic: contended accounts (shards) are still locked; only the rest is read
        # without a lock. The lock comes first, so the unlocked read is at least as fresh.
        lock_ids = [a for a in acc_ids if a in contended] if optimistic else acc_ids
        read_ids = [a for a in acc_ids if a not in contended] if optimistic else []
        stmts = []
        if lock_ids:
            stmts.append((_LOCK, (_int_array(lock_ids),)))
        if read_ids:
            stmts.append((_READ, (_int_array(read_ids),)))
        if t_ids:
            stmts.append((_TRANSFERS, (_text_array(t_ids),)))
        if p_ids:
            stmts.append((_RESOLUTIONS, (_text_array(p_ids),)))
        if not stmts:
            return {}, {}, {}
        results = iter(self.flight(stmts))
        locked = {r[0]: _account_row(r) for r in next(results)} if lock_ids else {}
        if read_ids:
            locked.update((r[0], _account_row(r)) for r in next(results))
        existing = (
            {r[0]: dict(zip(TRANSFER_COLUMNS, r, strict=True)) for r in next(results)}
            if t_ids
            else {}
        )
        resolved = {pid: flags for pid, flags in next(results)} if p_ids else {}
        return locked, existing, resolved

    def lock(self, account_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Lock accounts read optimistically and read them again, now current."""
        (rows,) = self.flight([(_LOCK, (_int_array(sorted(account_ids)),))])
        return {r[0]: _account_row(r) for r in rows}

    def write(
        self,
        transfer_rows: Sequence[dict[str, Any]],
        entry_rows: Sequence[tuple[Any, ...]],
        balances: Sequence[tuple[Any, ...]],
    ) -> None:
        tcols = zip(*(r.values() for r in transfer_rows), strict=True)
        ecols = zip(*entry_rows, strict=True)
        bcols = list(zip(*balances, strict=True))
        args = [
            *(enc(col) for enc, col in zip(_TR_ENCODERS, tcols, strict=True)),
            str(len(transfer_rows)),
            *(enc(col) for enc, col in zip(_EN_ENCODERS, ecols, strict=True)),
            str(len(entry_rows)),
            *(enc(col) for enc, col in zip(_BAL_ENCODERS, bcols, strict=True)),
            str(len(balances)),
            _ints(bcols[0]),
        ]
        self.flight([(_WRITE, args)], commit=self.commit)


class SqliteLink(Link):
    """Plain statements on the sqlite3 connection, which already holds the database lock."""

    optimistic = False

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def _all(self, sql: str, arg: str) -> list[tuple[Any, ...]]:
        cur = self.raw.cursor()
        cur.execute(sql, (arg,))
        rows = cur.fetchall()
        cur.close()
        return rows

    def load_transfers(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = sorted(ids)
        if not ids:
            return {}
        rows = {
            r[0]: dict(zip(TRANSFER_COLUMNS, r, strict=True))
            for r in self._all(SQLITE_TRANSFERS, json.dumps(ids))
        }
        for r in rows.values():
            if isinstance(r["business_date"], str):
                r["business_date"] = date.fromisoformat(r["business_date"])
        return rows

    def lock_and_load(
        self,
        account_ids: Iterable[int],
        transfer_ids: Iterable[str],
        pending_ids: Iterable[str],
        *,
        optimistic: bool = False,
    ) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
        acc_ids, p_ids = sorted(account_ids), sorted(pending_ids)
        locked = (
            {r[0]: _account_row(r) for r in self._all(SQLITE_LOCK, json.dumps(acc_ids))}
            if acc_ids
            else {}
        )
        resolved = (
            {pid: flags for pid, flags in self._all(SQLITE_RESOLUTIONS, json.dumps(p_ids))}
            if p_ids
            else {}
        )
        return locked, self.load_transfers(transfer_ids), resolved

    def write(
        self,
        transfer_rows: Sequence[dict[str, Any]],
        entry_rows: Sequence[tuple[Any, ...]],
        balances: Sequence[tuple[Any, ...]],
    ) -> None:
        cur = self.raw.cursor()
        rows = []
        for r in transfer_rows:
            values = list(r.values())
            values[_BUSINESS_DATE] = values[_BUSINESS_DATE].isoformat()
            rows.append(values)
        cur.executemany(SQLITE_INSERT_TRANSFER, rows)
        cur.executemany(SQLITE_INSERT_ENTRY, entry_rows)
        cur.executemany(SQLITE_UPDATE_ACCOUNT, balances)
        cur.close()


def link_for(conn: Connection) -> Link:
    """A link for the caller's transaction on ``conn`` (the caller commits)."""
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        return PgLink(raw)
    return SqliteLink(raw)


def load_resolutions(conn: Connection, pending_ids: Iterable[str]) -> dict[str, int]:
    """For each pending id already posted or voided, the flags of the transfer that did it."""
    return link_for(conn).lock_and_load((), (), pending_ids)[2]
