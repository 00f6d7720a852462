"""A bank workload in the manner of Jepsen's: many clients move money between a few accounts
at once, retrying ids at random; money is conserved, never negative, each id applied once."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from puhui.db.engine import run_in_transaction
from puhui.ledger import store
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode
from puhui.ledger.models import transfers
from puhui.ledger.service import (
    Transfer,
    create_account,
    create_transfers,
    create_transfers_committed,
    get_accounts,
)
from puhui.ledger.verify import verify

THREADS = 8
ACCOUNTS = 20
TRANSFERS = 4_000
START = 10_000


@pytest.mark.parametrize("api", ["caller", "committed"])
def test_concurrent_bank_workload(engine, clock, api):
    """``committed`` on PostgreSQL reads single transfers without locks and retries lost
    races; the contention hints are cleared so that the optimistic path really runs."""
    store.contended.clear()

    def submit(t: Transfer):
        if api == "committed":
            return create_transfers_committed(engine, [t])
        return run_in_transaction(engine, lambda c: create_transfers(c, [t]))

    def setup(c):
        master = create_account(
            c,
            book=Book.CUSTODY,
            code=AccountCode.CUSTODY_MASTER,
            flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        )
        ids = [
            create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.LENDER,
                owner=f"u{i}",
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            )
            for i in range(ACCOUNTS)
        ]
        res = create_transfers(
            c,
            [
                Transfer(f"seed{i}", master, a, START, TransferCode.DEPOSIT)
                for i, a in enumerate(ids)
            ],
        )
        assert all(r.result == Result.OK for r in res)
        return ids

    users = run_in_transaction(engine, setup)
    rng = random.Random(20261129)
    specs = []
    for i in range(TRANSFERS):
        src, dst = rng.sample(users, 2)
        specs.append(
            Transfer(f"bank-{i}", src, dst, rng.randint(1, 3_000), TransferCode.INVESTMENT)
        )
    outcomes: list[tuple[str, Result]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(n: int) -> None:
        local = random.Random(n)
        mine = specs[n::THREADS]
        try:
            for spec in mine:
                batch = [spec]
                # a random retry of the same id: by this client, or of an id another client
                # may be submitting right now
                if local.random() < 0.25:
                    batch = [local.choice(specs)]
                for t in [spec, *batch] if batch[0] is not spec else batch:
                    [r] = submit(t)
                    with lock:
                        outcomes.append((t.id, r.result))
                    if local.random() < 0.2:  # client timed out: send the very same again
                        [r] = submit(t)
                        with lock:
                            outcomes.append((t.id, r.result))
        except BaseException as exc:  # surfaced below: a worker must not die silently
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []

    ok = Counter(tid for tid, res in outcomes if res == Result.OK)
    assert all(n == 1 for n in ok.values()), "an id was applied twice"
    assert {res for _, res in outcomes} <= {Result.OK, Result.EXISTS, Result.EXCEEDS_CREDITS}
    with engine.connect() as c:
        stored = set(
            c.execute(select(transfers.c.id).where(transfers.c.id.like("bank-%"))).scalars()
        )
        assert stored == set(ok)
        # every id answered exists after it was applied, never ok again
        assert c.execute(select(func.count()).select_from(transfers)).scalar() == (
            len(ok) + ACCOUNTS
        )
        accs = get_accounts(c, users)
        assert sum(a.credit_balance for a in accs.values()) == START * ACCOUNTS
        assert all(a.credit_balance >= 0 and a.available >= 0 for a in accs.values())
        assert verify(c) == []
    assert len(ok) > TRANSFERS // 2  # the workload really moved money


@pytest.mark.postgresql_only  # the optimistic path is PostgreSQL's
def test_lost_optimistic_race_is_retried_with_locks(engine, clock, books, monkeypatch):
    """Another writer appends to an account between the unlocked read and the write: the
    entries' key refuses the stale write whole, and the retry (locking) applies it once."""
    store.contended.clear()
    real_write = store.PgLink.write
    raced: list[bool] = []

    def write(self, *args, **kwargs):
        if not raced:
            raced.append(True)
            [r] = run_in_transaction(
                engine,
                lambda c: create_transfers(
                    c, [Transfer("rival", books.alice, books.bob, 100, TransferCode.INVESTMENT)]
                ),
            )
            assert r.result == Result.OK
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(store.PgLink, "write", write)
    [r] = create_transfers_committed(
        engine, [Transfer("mine", books.alice, books.bob, 250, TransferCode.INVESTMENT)]
    )
    assert r.result == Result.OK and raced
    assert books.alice in store.contended  # the next transfer on alice locks at once
    with engine.connect() as c:
        accs = get_accounts(c, [books.alice, books.bob])
        assert accs[books.alice].credit_balance == 100_000 - 350
        assert accs[books.bob].credit_balance == 20_000 + 350
        assert verify(c) == []
