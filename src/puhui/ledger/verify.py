"""``puhui ledger verify``: prove the books from the journal alone.

Checks, in the manner of Beancount's plugins, each a small function returning problems:
every account chain (sequence, links, hashes), every transfer against its two entries,
balances against the sum of entries, debits = credits per book and currency, and the seals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from puhui.ledger import hashing
from puhui.ledger.codes import TransferFlags
from puhui.ledger.models import GENESIS_HASH, accounts, entries, seal_heads, seals, transfers


@dataclass(frozen=True)
class Problem:
    check: str
    message: str
    account_id: int | None = None
    #: An entry is named by its account and its ``seq`` in that account's chain.
    seq: int | None = None
    transfer_id: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("account", self.account_id),
                ("seq", self.seq),
                ("transfer", self.transfer_id),
            )
            if v is not None
        )
        return f"[{self.check}] {self.message}" + (f" ({where})" if where else "")


def verify(conn: Connection, *, progress: Callable[[int], None] | None = None) -> list[Problem]:
    """Run every check; an empty list means the ledger is intact."""
    problems: list[Problem] = []
    problems += check_chains(conn, progress=progress)
    problems += check_transfer_entries(conn)
    problems += check_books_balance(conn)
    problems += check_seals(conn)
    return problems


def _expected_deltas(t: Any, pending_amount: int | None, debit_side: bool) -> tuple[int, ...]:
    flags = t.flags
    amt = t.amount
    if flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING):
        whole = pending_amount if pending_amount is not None else -1
        posted = amt if flags & TransferFlags.POST_PENDING else 0
        return (-whole, posted, 0, 0) if debit_side else (0, 0, -whole, posted)
    if flags & TransferFlags.PENDING:
        return (amt, 0, 0, 0) if debit_side else (0, 0, amt, 0)
    return (0, amt, 0, 0) if debit_side else (0, 0, 0, amt)


def check_chains(
    conn: Connection, *, progress: Callable[[int], None] | None = None
) -> list[Problem]:
    """Walk every account's entries in sequence, recomputing each hash and the balances."""
    problems: list[Problem] = []
    t = transfers
    p = transfers.alias("p")
    e = entries
    q = (
        select(
            e.c.account_id,
            e.c.seq,
            e.c.prev_hash,
            e.c.hash,
            e.c.debits_pending,
            e.c.debits_posted,
            e.c.credits_pending,
            e.c.credits_posted,
            *[t.c[f].label(f"t_{f}") for f in hashing.TRANSFER_FIELDS],
            p.c.amount.label("pending_amount"),
        )
        .join(t, t.c.id == e.c.transfer_id)
        .outerjoin(p, p.c.id == t.c.pending_id)
        .order_by(e.c.account_id, e.c.seq)
    )
    account_rows = {r.id: r for r in conn.execute(select(accounts))}
    seen: dict[int, tuple[int, str, list[int]]] = {}
    for count, row in enumerate(_stream(conn, q), start=1):
        if progress and count % 10_000 == 0:
            progress(count)
        seq0, prev0, sums = seen.get(row.account_id, (0, GENESIS_HASH, [0, 0, 0, 0]))
        deltas = (row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted)
        tr = {f: getattr(row, f"t_{f}") for f in hashing.TRANSFER_FIELDS}
        if row.seq != seq0 + 1:
            problems.append(
                Problem(
                    "chain",
                    f"entry seq {row.seq} follows {seq0}: an entry is missing or out of order",
                    row.account_id,
                    row.seq,
                    tr["id"],
                )
            )
        if row.prev_hash != prev0:
            problems.append(
                Problem(
                    "chain",
                    "entry does not link to the previous entry's hash",
                    row.account_id,
                    row.seq,
                    tr["id"],
                )
            )
        recomputed = hashing.entry_hash(
            prev_hash=row.prev_hash,
            account_id=row.account_id,
            seq=row.seq,
            transfer_digest=hashing.transfer_digest(tr),
            deltas=deltas,
        )
        if recomputed != row.hash:
            problems.append(
                Problem(
                    "hash",
                    "entry hash does not match its contents or its transfer",
                    row.account_id,
                    row.seq,
                    tr["id"],
                )
            )
        if row.account_id not in (tr["debit_account_id"], tr["credit_account_id"]):
            problems.append(
                Problem(
                    "entry",
                    "entry's account is not on its transfer",
                    row.account_id,
                    row.seq,
                    tr["id"],
                )
            )
        else:
            expected = _expected_deltas(
                _Row(tr["flags"], tr["amount"]),
                row.pending_amount,
                row.account_id == tr["debit_account_id"],
            )
            if expected != deltas:
                problems.append(
                    Problem(
                        "entry",
                        f"entry amounts {deltas} differ from the transfer's {expected}",
                        row.account_id,
                        row.seq,
                        tr["id"],
                    )
                )
        for k in range(4):
            sums[k] += deltas[k]
        seen[row.account_id] = (row.seq, row.hash, sums)
    for aid, acc in account_rows.items():
        seq, head, sums = seen.get(aid, (0, GENESIS_HASH, [0, 0, 0, 0]))
        balances = [acc.debits_pending, acc.debits_posted, acc.credits_pending, acc.credits_posted]
        if balances != sums:
            problems.append(
                Problem(
                    "balance",
                    f"account balances {balances} differ from the sum of its entries {sums}",
                    aid,
                )
            )
        if acc.entry_seq != seq or acc.head_hash != head:
            problems.append(Problem("head", "account chain head differs from its last entry", aid))
    return problems


@dataclass(frozen=True)
class _Row:
    flags: int
    amount: int


def check_transfer_entries(conn: Connection) -> list[Problem]:
    """Every transfer has exactly its two entries (none deleted, none added)."""
    counts = (
        select(entries.c.transfer_id, func.count().label("n"))
        .group_by(entries.c.transfer_id)
        .subquery()
    )
    q = (
        select(transfers.c.id, func.coalesce(counts.c.n, 0).label("n"))
        .outerjoin(counts, counts.c.transfer_id == transfers.c.id)
        .where(func.coalesce(counts.c.n, 0) != 2)
        .order_by(transfers.c.ts_us)
    )
    return [
        Problem("transfer", f"transfer has {r.n} journal entries instead of 2", transfer_id=r.id)
        for r in conn.execute(q)
    ]


def check_books_balance(conn: Connection) -> list[Problem]:
    """Σ debits = Σ credits per book and currency, posted and pending, on accounts and entries."""
    problems = []
    a = accounts
    q = select(
        a.c.book,
        a.c.currency,
        func.sum(a.c.debits_posted),
        func.sum(a.c.credits_posted),
        func.sum(a.c.debits_pending),
        func.sum(a.c.credits_pending),
    ).group_by(a.c.book, a.c.currency)
    for book, cur, dpo, cpo, dp, cp in conn.execute(q):
        if dpo != cpo or dp != cp:
            problems.append(
                Problem(
                    "books",
                    f"book {book} {cur}: posted debits {dpo} vs credits "
                    f"{cpo}, pending debits {dp} vs credits {cp}",
                )
            )
    e = entries
    q2 = select(
        func.coalesce(func.sum(e.c.debits_posted - e.c.credits_posted), 0),
        func.coalesce(func.sum(e.c.debits_pending - e.c.credits_pending), 0),
    )
    posted, pending = conn.execute(q2).one()
    if posted or pending:
        problems.append(
            Problem("journal", f"journal debits minus credits: posted {posted}, pending {pending}")
        )
    return problems


def check_seals(conn: Connection) -> list[Problem]:
    """Each seal chains to the previous one and its heads still match the journal."""
    problems = []
    prev = GENESIS_HASH
    for s in conn.execute(select(seals).order_by(seals.c.id)):
        heads = conn.execute(
            select(seal_heads.c.account_id, seal_heads.c.seq, seal_heads.c.head_hash)
            .where(seal_heads.c.seal_id == s.id)
            .order_by(seal_heads.c.account_id)
        ).all()
        if s.prev_hash != prev:
            problems.append(
                Problem("seal", f"seal of {s.business_date} does not chain to the previous seal")
            )
        if (
            hashing.seal_hash(s.prev_hash, s.business_date.isoformat(), [tuple(h) for h in heads])
            != s.hash
        ):
            problems.append(Problem("seal", f"seal of {s.business_date} does not match its heads"))
        for account_id, seq, head in heads:
            h = conn.execute(
                select(entries.c.hash).where(
                    entries.c.account_id == account_id, entries.c.seq == seq
                )
            ).scalar()
            if h != head:
                problems.append(
                    Problem(
                        "seal",
                        f"sealed head of {s.business_date} no longer matches the journal",
                        account_id,
                    )
                )
        prev = s.hash
    return problems


def _stream(conn: Connection, q: Any) -> Iterator[Any]:
    # Per statement: Connection.execution_options() would change the caller's connection for
    # good (SQLAlchemy 2), leaving every later statement on it a server-side cursor.
    yield from conn.execute(q, execution_options={"stream_results": True, "yield_per": 5000})
