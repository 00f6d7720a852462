"""Migration 0020 turns SQLite's journal entries into a rowid table without losing a row.

A real book written under the old layout (``0001``: ``WITHOUT ROWID``) is migrated both ways;
every entry, every hash chain and the seals must survive, and the ledger must go on appending.
PostgreSQL stores every table as a heap already, so there the revision changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import FixedClock, business_date
from puhui.db.engine import make_engine, run_in_transaction
from puhui.db.migrate import alembic_config
from puhui.ledger.codes import AccountCode, AccountFlags, Book, TransferCode, TransferFlags
from puhui.ledger.jobs import seal_day
from puhui.ledger.models import entries
from puhui.ledger.service import Transfer, create_account, create_transfers
from puhui.ledger.verify import verify


def _layout(engine: Engine) -> str:
    with engine.connect() as c:
        return c.execute(
            text("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'ledger_entries'")
        ).scalar_one()


def _journal(engine: Engine) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(select(entries).order_by(entries.c.account_id, "seq"))]


def _problems(engine: Engine) -> list:
    with engine.connect() as c:
        return verify(c)


def test_entries_survive_the_migration_both_ways(tmp_path: Path, clock: FixedClock) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(engine)
    command.upgrade(cfg, "0001")
    assert "WITHOUT ROWID" in _layout(engine)

    def book(c):
        master = create_account(
            c,
            book=Book.CUSTODY,
            code=AccountCode.CUSTODY_MASTER,
            flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            clock=clock,
        )
        users = [
            create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.LENDER,
                owner=f"u{k}",
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                clock=clock,
            )
            for k in range(5)
        ]
        batch = [
            Transfer(f"d{k}", master, u, 10_000, TransferCode.DEPOSIT) for k, u in enumerate(users)
        ]
        batch += [
            Transfer(f"t{k}", users[k % 5], users[(k + 1) % 5], 100 + k, TransferCode.INVESTMENT)
            for k in range(40)
        ]
        batch.append(
            Transfer("p1", users[0], master, 500, TransferCode.WITHDRAWAL, TransferFlags.PENDING)
        )
        assert all(r.ok for r in create_transfers(c, batch, clock=clock))
        return users

    users = run_in_transaction(engine, book)
    run_in_transaction(
        engine, lambda c: seal_day(c, business_date=business_date(clock.now()), clock=clock)
    )
    before = _journal(engine)
    assert len(before) == 2 * 46 and _problems(engine) == []

    command.upgrade(cfg, "0020")
    assert "WITHOUT ROWID" not in _layout(engine)
    assert _journal(engine) == before
    assert _problems(engine) == []
    with engine.connect() as c:  # the key is still unique: a second entry (account, seq) fails
        indexes = {r[1]: r[2] for r in c.execute(text("PRAGMA index_list('ledger_entries')"))}
    assert 1 in indexes.values() and "ix_ledger_entries_transfer_id" in indexes

    # The ledger appends to the migrated table, and the pending withdrawal posts across it.
    later = [
        Transfer("p1-post", flags=TransferFlags.POST_PENDING, pending_id="p1"),
        Transfer("t-after", users[1], users[2], 77, TransferCode.INVESTMENT),
    ]
    res = run_in_transaction(engine, lambda c: create_transfers(c, later, clock=clock))
    assert [r.result.value for r in res] == ["ok", "ok"]
    assert len(_journal(engine)) == 2 * 48 and _problems(engine) == []

    after = _journal(engine)
    command.downgrade(cfg, "0001")
    assert "WITHOUT ROWID" in _layout(engine)
    assert _journal(engine) == after and _problems(engine) == []
    engine.dispose()


def test_the_entry_key_holds_after_the_migration(engine: Engine) -> None:
    """On either database the migrated schema's key refuses a second entry at one place."""
    with engine.begin() as c:
        row = {
            "account_id": 1,
            "seq": 1,
            "transfer_id": "x",
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "prev_hash": "0" * 64,
            "hash": "1" * 64,
        }
        c.execute(entries.insert().values(row))
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(entries.insert().values({**row, "transfer_id": "y"}))
    with engine.connect() as c:
        assert c.execute(select(entries.c.transfer_id)).scalars().all() == ["x"]
