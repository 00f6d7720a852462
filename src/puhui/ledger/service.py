"""Ledger operations: open accounts, create transfers, read balances.

The caller owns the transaction (see ``puhui.db.engine.run_in_transaction``): nothing here
commits, so a bid that freezes money and records a note is one atomic unit. Within a call the
accounts are locked in id order before anything is read that decides the outcome, which is what
makes concurrent retries of one id, and concurrent debits of one balance, safe.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import DBAPIError

from puhui.core.clock import SYSTEM_CLOCK, Clock, business_date
from puhui.core.errors import NotFound, ValidationError
from puhui.db.engine import is_retryable, run_in_transaction
from puhui.ledger import hashing, store
from puhui.ledger.codes import MESSAGES, AccountFlags, Book, Result, TransferFlags
from puhui.ledger.models import GENESIS_HASH, accounts, transfers

MAX_ID_LENGTH = 64
#: A committed transaction on PostgreSQL that touches at most this many accounts reads those
#: not known to be contended without a row lock: the lock is a tuple write (and WAL) per
#: account, a tenth of a single transfer's server time. A lost race is retried with locks.
#: Batches lock: 200 random accounts would lose races all the time.
OPTIMISTIC_MAX_ACCOUNTS = 2
MAX_BALANCE = 2**63 - 1
# Flags as plain ints on the hot path: IntFlag arithmetic cost more than the hashing.
_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_BAL_DEBIT = int(TransferFlags.BALANCING_DEBIT)
_BAL_CREDIT = int(TransferFlags.BALANCING_CREDIT)
_PHASE_FLAGS = _PENDING | _POST | _VOID
_BALANCING = _BAL_DEBIT | _BAL_CREDIT
_KNOWN_FLAGS = _LINKED | _PHASE_FLAGS | _BALANCING
_LIMIT_DEBITS = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_LIMIT_CREDITS = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_INVALID_FLAGS = -1
_BALANCE_COLUMNS = hashing.ENTRY_DELTAS
_OK = Result.OK
_OK_MESSAGE = MESSAGES[Result.OK]


@dataclass(frozen=True)
class Transfer:
    """A request to move ``amount`` fen from ``debit_account_id`` to ``credit_account_id``.

    For a post or void, the accounts may be left 0 and are taken from the pending transfer;
    ``amount=None`` on a post means the whole pending amount.
    """

    id: str
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int | None = None
    code: int = 0
    flags: TransferFlags = TransferFlags.NONE
    pending_id: str | None = None
    timeout: int = 0
    reference: str | None = None


@dataclass(frozen=True)
class TransferResult:
    id: str
    result: Result
    amount: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.result in (Result.OK, Result.EXISTS)


@dataclass(frozen=True)
class Account:
    id: int
    book: str
    code: int
    owner: str | None
    name: str | None
    currency: str
    flags: AccountFlags
    parent_id: int | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    entry_seq: int
    head_hash: str

    @property
    def credit_balance(self) -> int:
        """Posted balance of a credit-normal account (a user's money)."""
        return self.credits_posted - self.debits_posted

    @property
    def debit_balance(self) -> int:
        return self.debits_posted - self.credits_posted

    @property
    def available(self) -> int:
        """What can still be debited (credit-normal) or credited (debit-normal) right now."""
        if self.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return self.credits_posted - self.debits_posted - self.debits_pending


# --------------------------------------------------------------------------------------
# accounts


def create_account(
    conn: Connection,
    *,
    book: Book | str,
    code: int,
    owner: str | None = None,
    name: str | None = None,
    flags: AccountFlags = AccountFlags.NONE,
    currency: str = "CNY",
    parent_id: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Open an account and return its id."""
    book = Book(book)
    if code <= 0:
        raise ValidationError(
            "code_must_be_positive", "account code must be positive", field="code"
        )
    if len(currency) != 3 or not currency.isupper():
        raise ValidationError(
            "invalid_currency", "currency is a 3-letter ISO code", field="currency"
        )
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    if flags & both == both:
        raise ValidationError(
            "flags_are_mutually_exclusive", "an account limits one side only", field="flags"
        )
    ts = _now_us(clock)
    result = conn.execute(
        insert(accounts).values(
            book=book.value,
            code=int(code),
            owner=owner,
            name=name,
            currency=currency,
            flags=int(flags),
            parent_id=parent_id,
            debits_pending=0,
            debits_posted=0,
            credits_pending=0,
            credits_posted=0,
            entry_seq=0,
            head_hash=GENESIS_HASH,
            created_us=ts,
        )
    )
    return int(result.inserted_primary_key[0])


def create_split_account(conn: Connection, *, shards: int, **spec: Any) -> tuple[int, list[int]]:
    """Open an account split into ``shards`` sub-accounts whose sum is the account.

    An account that every transfer touches (fees, settlement, risk reserve) serialises all
    writers on one row lock; writing to one of N shards instead divides that contention by N.
    The parent row itself never carries entries.
    """
    if shards < 1:
        raise ValidationError(
            "shards_must_be_positive", "a split account needs shards", field="shards"
        )
    parent = create_account(conn, **spec)
    children = [create_account(conn, parent_id=parent, **spec) for _ in range(shards)]
    return parent, children


def shard_for(shard_ids: Sequence[int], key: str) -> int:
    """Pick a shard deterministically from a key (a transfer id), so retries land alike."""
    import zlib

    return shard_ids[zlib.crc32(key.encode()) % len(shard_ids)]


def get_account(conn: Connection, account_id: int) -> Account:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).mappings().first()
    if row is None:
        raise NotFound("account_not_found", f"account {account_id} not found", field="account_id")
    return _account(row)


def get_accounts(conn: Connection, ids: Iterable[int]) -> dict[int, Account]:
    rows = conn.execute(select(accounts).where(accounts.c.id.in_(list(ids)))).mappings()
    return {r["id"]: _account(r) for r in rows}


def find_accounts(
    conn: Connection, *, book: Book | str, code: int | None = None, owner: str | None = None
) -> list[Account]:
    q = select(accounts).where(accounts.c.book == Book(book).value)
    if code is not None:
        q = q.where(accounts.c.code == int(code))
    if owner is not None:
        q = q.where(accounts.c.owner == owner)
    return [_account(r) for r in conn.execute(q.order_by(accounts.c.id)).mappings()]


def split_balance(conn: Connection, parent_id: int) -> Account:
    """The parent of a split account with its shards' balances summed into it."""
    parent = get_account(conn, parent_id)
    rows = conn.execute(select(accounts).where(accounts.c.parent_id == parent_id)).mappings()
    totals = dict.fromkeys(_BALANCE_COLUMNS, 0)
    for r in rows:
        for c in _BALANCE_COLUMNS:
            totals[c] += r[c]
    return Account(**{**parent.__dict__, **totals})


def _account(row: Any) -> Account:
    return Account(
        id=row["id"],
        book=row["book"],
        code=row["code"],
        owner=row["owner"],
        name=row["name"],
        currency=row["currency"],
        flags=AccountFlags(row["flags"]),
        parent_id=row["parent_id"],
        debits_pending=row["debits_pending"],
        debits_posted=row["debits_posted"],
        credits_pending=row["credits_pending"],
        credits_posted=row["credits_posted"],
        entry_seq=row["entry_seq"],
        head_hash=row["head_hash"],
    )


# --------------------------------------------------------------------------------------
# transfers


def create_transfer(
    conn: Connection, transfer: Transfer, *, clock: Clock = SYSTEM_CLOCK
) -> TransferResult:
    return create_transfers(conn, [transfer], clock=clock)[0]


@dataclass
class _State:
    """Working copy of one account's balances and chain head during a batch."""

    row: dict[str, Any]


@dataclass
class _Applied:
    row: dict[str, Any]  # the transfers row to insert
    deltas: dict[int, tuple[int, int, int, int]]  # account id → balance deltas


@dataclass
class _Batch:
    accounts: dict[int, dict[str, Any]]
    existing: dict[str, dict[str, Any]]
    pendings: dict[str, dict[str, Any]]
    resolved: dict[str, int]  # pending id → flags of the transfer that resolved it
    dates: _BusinessDates
    created: dict[str, dict[str, Any]] = field(default_factory=dict)


class _BusinessDates:
    """The business date of each timestamp in a batch's range, computed once, not per row.

    A batch's timestamps are consecutive microseconds, so they share one date unless the
    range crosses midnight in Shanghai; only then is each one converted.
    """

    def __init__(self, first_us: int, last_us: int) -> None:
        first = business_date(_from_us(first_us))
        self.single = first if first == business_date(_from_us(last_us)) else None

    def __call__(self, ts_us: int) -> date:
        return self.single or business_date(_from_us(ts_us))


def create_transfers(
    conn: Connection, batch: Sequence[Transfer], *, clock: Clock = SYSTEM_CLOCK
) -> list[TransferResult]:
    """Apply a batch of transfers in order; return one result per transfer.

    A failed transfer changes nothing; a failed member of a linked chain undoes the chain. The
    same id with the same fields answers ``exists`` and applies nothing again. The caller owns
    the transaction (and its retries: see ``run_in_transaction``).
    """
    if not batch:
        return []
    if not conn.in_transaction():
        conn.begin()  # the raw cursor below must run inside the caller's transaction
    return _create(store.link_for(conn), batch, clock)


def create_transfers_committed(
    engine: Engine,
    batch: Sequence[Transfer],
    *,
    clock: Clock = SYSTEM_CLOCK,
    attempts: int = 8,
    on_attempt: Callable[[], None] | None = None,
) -> list[TransferResult]:
    """``create_transfers`` in a transaction of its own, committed, with retries.

    For callers that have nothing else to do in the transaction (TigerBeetle's
    ``create_transfers`` is such a call). On PostgreSQL it owns the whole transaction, so
    ``BEGIN`` rides with the lock and ``COMMIT`` with the write: two round trips instead of
    four. A transfer that touches at most ``OPTIMISTIC_MAX_ACCOUNTS`` accounts reads those not
    known to be contended (shards, losers of a race) without row locks on its first attempt;
    the entries' primary key refuses a write based on a stale read, and the retry locks. A
    deadlock, a lost race on a client-chosen id or a dropped connection is retried whole, like
    ``run_in_transaction`` does; ``on_attempt`` is called before every attempt. On SQLite
    this is ``run_in_transaction`` around ``create_transfers``.
    """
    if not batch:
        return []
    if engine.dialect.name != "postgresql":

        def work(conn: Connection) -> list[TransferResult]:
            if on_attempt is not None:
                on_attempt()
            return create_transfers(conn, batch, clock=clock)

        return run_in_transaction(engine, work, attempts=attempts)
    for attempt in range(1, attempts + 1):
        if on_attempt is not None:
            on_attempt()
        fairy = engine.raw_connection()
        raw: Any = fairy.driver_connection
        try:
            raw.autocommit = True  # BEGIN and COMMIT are sent by the link, inside its flights
            link = store.PgLink(
                raw, begin=True, commit=True, optimistic=attempt == 1, prepared=True
            )
            results = _create(link, batch, clock)
            link.finish()
            return results
        except (psycopg.Error, DBAPIError) as exc:
            broken = raw.closed or raw.broken
            if not broken and raw.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    raw.rollback()
            if broken:
                fairy.invalidate(exc)
            lost = _lost_entry_race(exc)
            if lost is not None:
                store.note_contended(lost)
            unprepared = getattr(exc, "sqlstate", None) == "26000"  # invalid statement name
            if unprepared:
                store.forget_prepared(raw)
            if attempt == attempts or not (
                broken or unprepared or lost is not None or is_retryable(exc)
            ):
                raise
            time.sleep(min(0.002 * 2**attempt, 0.2))
        finally:
            if not (raw.closed or raw.broken):
                if raw.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    raw.rollback()  # an error that is not the driver's left a transaction open
                raw.autocommit = False
            fairy.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _lost_entry_race(exc: BaseException) -> list[int] | None:
    """The account of an optimistic write that lost its race, if ``exc`` is that.

    Two transactions that read an account at the same ``seq`` both append entry ``seq + 1``;
    the entries' primary key refuses the second, whose statement (and balance update) is
    undone whole. PostgreSQL names the key: ``Key (account_id, seq)=(12, 34) already exists``.
    """
    orig = getattr(exc, "orig", None) or exc
    diag = getattr(orig, "diag", None)
    if getattr(orig, "sqlstate", None) != "23505" or diag is None:
        return None
    if diag.constraint_name != store.ENTRY_KEY:
        return None
    m = re.search(r"=\((\d+),", diag.message_detail or "")
    return [int(m.group(1))] if m else []


def _create(link: store.Link, batch: Sequence[Transfer], clock: Clock) -> list[TransferResult]:
    ts0 = _now_us(clock)
    pending_ids = {t.pending_id for t in batch if isinstance(t.pending_id, str) and t.pending_id}
    pendings = link.load_transfers(pending_ids)
    account_ids: set[int] = set()
    for t in batch:
        for a in (t.debit_account_id, t.credit_account_id):
            if type(a) is int and a > 0:
                account_ids.add(a)
    for p in pendings.values():
        account_ids.update((p["debit_account_id"], p["credit_account_id"]))
    ids = {t.id for t in batch if isinstance(t.id, str)}
    optimistic = link.optimistic and len(account_ids) <= OPTIMISTIC_MAX_ACCOUNTS
    locked, existing, resolved = link.lock_and_load(
        account_ids, ids, pending_ids, optimistic=optimistic
    )
    if optimistic:
        shards = [a for a, row in locked.items() if row["parent_id"] is not None]
        if any(a not in store.contended for a in shards):
            # A shard of a split account is contended by design: lock it, now and from now on.
            store.note_contended(shards)
            locked.update(link.lock(shards))
    state = _Batch(
        accounts=locked,
        existing=existing,
        pendings=pendings,
        resolved=resolved,
        dates=_BusinessDates(ts0, ts0 + len(batch)),
    )

    results: list[TransferResult] = []
    committed: list[_Applied] = []
    chain: list[_Applied] = []
    chain_start = 0
    failed_at: int | None = None
    snapshot: dict[int, dict[str, Any]] | None = None
    last = len(batch) - 1
    for i, t in enumerate(batch):
        f = _flags(t)
        linked = f != _INVALID_FLAGS and bool(f & _LINKED)
        if snapshot is None and linked:
            snapshot = {k: dict(v) for k, v in state.accounts.items()}
            chain_start, failed_at = i, None
        in_chain = snapshot is not None
        if in_chain and failed_at is not None:
            results.append(_fail(t, Result.LINKED_EVENT_FAILED))
        else:
            outcome = _apply_one(t, state, ts0 + i, f)
            if type(outcome) is TransferResult:
                results.append(outcome)
                if in_chain and outcome.result != Result.EXISTS:
                    failed_at = i
            else:
                results.append(TransferResult(t.id, _OK, outcome.row["amount"], _OK_MESSAGE))
                (chain if in_chain else committed).append(outcome)
        if not in_chain or (linked and i < last):
            continue
        # The chain ends here: apply it whole, or undo it whole.
        members = results[chain_start : i + 1]
        if failed_at is None and linked:
            failed_at = i
            results[i] = _fail(t, Result.LINKED_EVENT_CHAIN_OPEN)
        elif failed_at is None and chain and any(r.result == Result.EXISTS for r in members):
            # Part of the chain was applied before: applying the rest would split it.
            failed_at = next(
                chain_start + k for k, r in enumerate(members) if r.result == Result.EXISTS
            )
        if failed_at is None:
            committed.extend(chain)
        else:
            for j in range(chain_start, i + 1):
                if j != failed_at:
                    results[j] = _fail(batch[j], Result.LINKED_EVENT_FAILED)
            state.accounts = snapshot  # type: ignore[assignment]
            for a in chain:
                state.created.pop(a.row["id"], None)
                if a.row["pending_id"]:
                    state.resolved.pop(a.row["pending_id"], None)
        chain, snapshot = [], None

    if committed:
        _write(link, committed, state.accounts)
    return results


def _apply_one(t: Transfer, s: _Batch, ts_us: int, flags: int) -> TransferResult | _Applied:
    """Validate one transfer against the batch's working state and apply it there.

    ``flags`` is ``_flags(t)``. This runs once per transfer, so it reads each field once and
    spells the common case out (no helper calls for deltas); the order of the checks is the
    order of the result codes' precedence and must not change.
    """
    tid = t.id
    if not isinstance(tid, str) or not tid:
        return _fail(t, Result.ID_MUST_NOT_BE_EMPTY)
    if len(tid) > MAX_ID_LENGTH:
        return _fail(t, Result.ID_TOO_LONG)
    phase = flags & _PHASE_FLAGS
    amount = t.amount
    if (
        type(amount) is not int
        and amount is not None
        and (isinstance(amount, bool) or not isinstance(amount, int))
    ):
        return _fail(t, Result.AMOUNT_MUST_BE_INTEGER)
    debit_id, credit_id, code, timeout = t.debit_account_id, t.credit_account_id, t.code, t.timeout
    req = hashing.request_hash8(
        debit_id, credit_id, amount, code, flags, t.pending_id, timeout, t.reference
    )
    prior = s.existing.get(tid) or s.created.get(tid)
    if prior is not None:
        if prior["request_hash"] == req:
            return TransferResult(t.id, Result.EXISTS, prior["amount"], MESSAGES[Result.EXISTS])
        return _fail(t, Result.EXISTS_WITH_DIFFERENT_FIELDS)
    if (
        flags == _INVALID_FLAGS
        or phase not in (0, _PENDING, _POST, _VOID)
        or (phase and flags & _BALANCING and phase != _PENDING)
    ):
        return _fail(t, Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE)
    if not isinstance(timeout, int) or timeout < 0:
        return _fail(t, Result.TIMEOUT_MUST_NOT_BE_NEGATIVE)
    if timeout and phase != _PENDING:
        return _fail(t, Result.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER)
    if phase in (_POST, _VOID):
        return _apply_resolution(t, s, ts_us, flags, req)
    if t.pending_id:
        return _fail(t, Result.PENDING_ID_MUST_BE_EMPTY)
    if not isinstance(code, int) or code <= 0:
        return _fail(t, Result.CODE_MUST_NOT_BE_ZERO)
    if amount is None or (amount <= 0 and not flags & _BALANCING):
        return _fail(t, Result.AMOUNT_MUST_BE_POSITIVE)
    if debit_id == credit_id:
        return _fail(t, Result.ACCOUNTS_MUST_BE_DIFFERENT)
    dr = s.accounts.get(debit_id)
    cr = s.accounts.get(credit_id)
    if dr is None or cr is None:
        side = "debit" if dr is None else "credit"
        return _fail(t, Result.ACCOUNT_NOT_FOUND, f"{side} account not found")
    if dr["book"] != cr["book"]:
        return _fail(t, Result.BOOKS_DIFFER)
    if dr["currency"] != cr["currency"]:
        return _fail(t, Result.CURRENCIES_DIFFER)
    if flags & _BAL_DEBIT:
        room = dr["credits_posted"] - dr["debits_posted"] - dr["debits_pending"]
        amount = min(amount, room) if amount > 0 else room
        if amount <= 0:
            return _fail(t, Result.EXCEEDS_CREDITS)
    if flags & _BAL_CREDIT:
        room = cr["debits_posted"] - cr["credits_posted"] - cr["credits_pending"]
        amount = min(amount, room) if amount > 0 else room
        if amount <= 0:
            return _fail(t, Result.EXCEEDS_DEBITS)
    if phase == _PENDING:
        dr_delta, cr_delta = (amount, 0, 0, 0), (0, 0, amount, 0)
    else:
        dr_delta, cr_delta = (0, amount, 0, 0), (0, 0, 0, amount)
    failure = _check_limits(t, dr, dr_delta) or _check_limits(t, cr, cr_delta)
    if failure:
        return failure
    row = _transfer_row(t, dr, cr, amount, flags, ts_us, req, s.dates(ts_us))
    return _commit_in_memory(s, row, {dr["id"]: dr_delta, cr["id"]: cr_delta})


def _apply_resolution(
    t: Transfer, s: _Batch, ts_us: int, flags: int, req: str
) -> TransferResult | _Applied:
    """Post (in full or in part) or void a pending transfer."""
    if not t.pending_id:
        return _fail(t, Result.PENDING_ID_REQUIRED)
    if t.pending_id == t.id:
        return _fail(t, Result.PENDING_ID_MUST_BE_DIFFERENT)
    p = s.pendings.get(t.pending_id) or s.created.get(t.pending_id)
    if p is None:
        return _fail(t, Result.PENDING_TRANSFER_NOT_FOUND)
    if not p["flags"] & _PENDING:
        return _fail(t, Result.PENDING_TRANSFER_NOT_PENDING)
    if (t.debit_account_id and t.debit_account_id != p["debit_account_id"]) or (
        t.credit_account_id and t.credit_account_id != p["credit_account_id"]
    ):
        return _fail(t, Result.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS)
    post = bool(flags & _POST)
    amount = p["amount"] if t.amount is None else t.amount
    if amount <= 0:
        return _fail(t, Result.AMOUNT_MUST_BE_POSITIVE)
    if amount > p["amount"]:
        return _fail(t, Result.EXCEEDS_PENDING_TRANSFER_AMOUNT)
    if not post and amount != p["amount"]:
        return _fail(t, Result.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT)
    done = s.resolved.get(t.pending_id)
    if done is not None:
        if done & _POST:
            return _fail(t, Result.PENDING_TRANSFER_ALREADY_POSTED)
        return _fail(t, Result.PENDING_TRANSFER_ALREADY_VOIDED)
    if post and p["expires_us"] is not None and ts_us >= p["expires_us"]:
        # A void after the timeout only does early what the expiry sweep would do.
        return _fail(t, Result.PENDING_TRANSFER_EXPIRED)
    code = t.code or p["code"]
    dr = s.accounts[p["debit_account_id"]]
    cr = s.accounts[p["credit_account_id"]]
    whole = p["amount"]
    posted = amount if post else 0
    dr_delta = (-whole, posted, 0, 0)
    cr_delta = (0, 0, -whole, posted)
    failure = _check_limits(t, dr, dr_delta) or _check_limits(t, cr, cr_delta)
    if failure:
        return failure
    row = _transfer_row(t, dr, cr, amount, flags, ts_us, req, s.dates(ts_us), code=code)
    applied = _commit_in_memory(s, row, {dr["id"]: dr_delta, cr["id"]: cr_delta})
    s.resolved[t.pending_id] = int(flags)
    return applied


def _check_limits(
    t: Transfer, acc: dict[str, Any], delta: tuple[int, int, int, int]
) -> TransferResult | None:
    dp = acc["debits_pending"] + delta[0]
    dpo = acc["debits_posted"] + delta[1]
    cp = acc["credits_pending"] + delta[2]
    cpo = acc["credits_posted"] + delta[3]
    if dp + dpo > MAX_BALANCE:
        return _fail(t, Result.OVERFLOWS_DEBITS)
    if cp + cpo > MAX_BALANCE:
        return _fail(t, Result.OVERFLOWS_CREDITS)
    flags = acc["flags"]
    # Only a movement that adds to the limited side can breach the limit; releasing a pending
    # amount never does, even on an account that is already at its edge.
    adds_debit = delta[0] > 0 or delta[1] > 0
    adds_credit = delta[2] > 0 or delta[3] > 0
    if flags & _LIMIT_DEBITS and adds_debit and dp + dpo > cpo:
        return _fail(t, Result.EXCEEDS_CREDITS)
    if flags & _LIMIT_CREDITS and adds_credit and cp + cpo > dpo:
        return _fail(t, Result.EXCEEDS_DEBITS)
    return None


def _transfer_row(
    t: Transfer,
    dr: dict[str, Any],
    cr: dict[str, Any],
    amount: int,
    flags: int,
    ts_us: int,
    req: str,
    day: date,
    *,
    code: int | None = None,
) -> dict[str, Any]:
    """The stored row, keys in ``TRANSFER_COLUMNS`` order (SQLite writes the values as is)."""
    timeout = t.timeout if flags & _PENDING else 0
    return {
        "id": t.id,
        "debit_account_id": dr["id"],
        "credit_account_id": cr["id"],
        "amount": amount,
        "pending_id": t.pending_id or None,
        "code": int(code if code is not None else t.code),
        "flags": int(flags),
        "timeout": timeout,
        "expires_us": ts_us + timeout * 1_000_000 if timeout else None,
        "reference": t.reference,
        "book": dr["book"],
        "currency": dr["currency"],
        "ts_us": ts_us,
        "business_date": day,
        "request_hash": req,
    }


def _commit_in_memory(
    s: _Batch, row: dict[str, Any], deltas: dict[int, tuple[int, int, int, int]]
) -> _Applied:
    accounts = s.accounts
    for account_id, (dp, dpo, cp, cpo) in deltas.items():
        acc = accounts[account_id]
        if dp:
            acc["debits_pending"] += dp
        if dpo:
            acc["debits_posted"] += dpo
        if cp:
            acc["credits_pending"] += cp
        if cpo:
            acc["credits_posted"] += cpo
    s.created[row["id"]] = row
    return _Applied(row=row, deltas=deltas)


def _write(link: store.Link, applied: list[_Applied], state: dict[int, dict[str, Any]]) -> None:
    """Chain each entry to its account's previous one, then store everything at once."""
    heads: dict[int, tuple[int, str]] = {}
    entry_rows: list[tuple[Any, ...]] = []
    append = entry_rows.append
    transfer_digest, entry_hash = hashing.transfer_digest, hashing.entry_hash_fast
    for a in applied:
        row = a.row
        digest = transfer_digest(row)
        tid = row["id"]
        for account_id, delta in a.deltas.items():
            prev = heads.get(account_id)
            if prev is None:
                acc = state[account_id]
                seq, head = acc["_seq0"] + 1, acc["_head0"]
            else:
                seq, head = prev[0] + 1, prev[1]
            h = entry_hash(head, account_id, seq, digest, delta)
            append((account_id, seq, tid, delta[0], delta[1], delta[2], delta[3], head, h))
            heads[account_id] = (seq, h)
    balances = []
    for i in sorted(heads):
        seq, h = heads[i]
        acc = state[i]
        balances.append(
            (
                i,
                acc["debits_pending"],
                acc["debits_posted"],
                acc["credits_pending"],
                acc["credits_posted"],
                seq,
                h,
            )
        )
    link.write([a.row for a in applied], entry_rows, balances)


def get_transfer(conn: Connection, transfer_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(transfers).where(transfers.c.id == transfer_id)).mappings().first()
    return dict(row) if row else None


def pending_status(conn: Connection, pending_id: str) -> str:
    """``pending``, ``posted``, ``voided`` (expiry is a void), or raises NotFound."""
    p = get_transfer(conn, pending_id)
    if p is None or not p["flags"] & _PENDING:
        raise NotFound("pending_transfer_not_found", f"no pending transfer {pending_id}")
    res = store.load_resolutions(conn, {pending_id})
    if pending_id not in res:
        return "pending"
    return "posted" if res[pending_id] & _POST else "voided"


def _flags(t: Transfer) -> int:
    """The transfer's flags as an int; unknown bits or a non-integer are ``_INVALID_FLAGS``."""
    f = t.flags
    if type(f) is not int:
        if isinstance(f, bool) or not isinstance(f, int):
            return _INVALID_FLAGS
        f = int(f)
    return _INVALID_FLAGS if f & ~_KNOWN_FLAGS or f < 0 else f


def _fail(t: Transfer, result: Result, message: str | None = None) -> TransferResult:
    tid = t.id if isinstance(t.id, str) else ""
    return TransferResult(tid, result, 0, message or MESSAGES[result])


def _now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def _from_us(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC)
