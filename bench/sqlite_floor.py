"""The SQLite storage floor: our ledger's statements with every row computed in advance.

A baseline for ``bench/ledger.py``'s SQLite batches, in the same run: for the same batches
of transfers on an identically set-up ledger file, it sends exactly the statements
``store.SqliteLink`` sends for a batch (``BEGIN IMMEDIATE``; read the accounts and the
batch's stored transfers; ``executemany`` the transfers, the entries and the balances;
``COMMIT``), but every row, hash and balance is computed before the clock starts. What is
left is what SQLite itself costs for a batch on this machine; no ledger, in any language,
that stores the same rows under the same keys and durability settings can beat it. Our rate
divided by this one is what the ledger's Python adds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from puhui.core.clock import business_date
from puhui.db.engine import make_engine
from puhui.ledger import store
from puhui.ledger.models import accounts
from puhui.ledger.service import Transfer

Rows = tuple[str, str, list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _hex(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def prepare(url: str, batches: Sequence[Sequence[Transfer]]) -> list[Rows]:
    """Each batch's statement arguments, as the ledger would write them after ``ok``.

    Every transfer is assumed to succeed (the benchmark funds each user far beyond what a run
    moves), so the rows are those of a batch of plain posted transfers.
    """
    engine = make_engine(url, pool_size=1)
    with engine.connect() as c:
        state = {
            r.id: [
                r.debits_pending,
                r.debits_posted,
                r.credits_pending,
                r.credits_posted,
                r.entry_seq,
                r.head_hash,
                r.book,
                r.currency,
            ]
            for r in c.execute(select(accounts))
        }
    engine.dispose()
    now = datetime.now(UTC)
    ts_us, day = int(now.timestamp() * 1e6), business_date(now).isoformat()
    out: list[Rows] = []
    for batch in batches:
        tr, en, touched = [], [], {}
        for t in batch:
            ts_us += 1
            dr, cr = state[t.debit_account_id], state[t.credit_account_id]
            tr.append(
                (
                    t.id,
                    t.debit_account_id,
                    t.credit_account_id,
                    t.amount,
                    None,  # pending_id
                    t.code,
                    0,  # flags
                    0,  # timeout
                    None,  # expires_us
                    t.reference,
                    dr[6],
                    dr[7],
                    ts_us,
                    day,
                    _hex("request", t.id),
                )
            )
            for acc_id, acc, side in ((t.debit_account_id, dr, 1), (t.credit_account_id, cr, 3)):
                acc[side] += t.amount
                acc[4] += 1
                prev, acc[5] = acc[5], _hex(acc_id, acc[4], acc[5])
                en.append((acc_id, acc[4], t.id, *acc[:4], prev, acc[5]))
                touched[acc_id] = acc
        balances = [(a, *acc[:6]) for a, acc in sorted(touched.items())]
        ids = json.dumps(sorted(touched))
        out.append((ids, json.dumps(sorted(t.id for t in batch)), tr, en, balances))
    return out


def run(url: str, work: Sequence[Rows], duration: float) -> tuple[int, float]:
    """Send the prepared batches until they or ``duration`` run out: (transfers, seconds)."""
    engine = make_engine(url, pool_size=1)
    fairy = engine.raw_connection()
    raw: Any = fairy.driver_connection
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + duration
    try:
        for account_ids, transfer_ids, tr, en, balances in work:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(store.SQLITE_LOCK, (account_ids,)).fetchall()
            raw.execute(store.SQLITE_TRANSFERS, (transfer_ids,)).fetchall()
            raw.executemany(store.SQLITE_INSERT_TRANSFER, tr)
            raw.executemany(store.SQLITE_INSERT_ENTRY, en)
            raw.executemany(store.SQLITE_UPDATE_ACCOUNT, balances)
            raw.execute("COMMIT")
            done += len(tr)
            if time.perf_counter() > deadline:
                break
        return done, time.perf_counter() - t0
    finally:
        fairy.close()
        engine.dispose()
