"""Tampering with the journal in the database is caught by ``ledger verify``, which names it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from puhui.cli import app
from puhui.db.engine import run_in_transaction
from puhui.ledger import hashing
from puhui.ledger.codes import TransferCode, TransferFlags
from puhui.ledger.jobs import seal_day
from puhui.ledger.models import accounts, entries, transfers
from puhui.ledger.service import Transfer
from puhui.ledger.verify import verify

from .conftest import apply


@pytest.fixture
def journal(engine, clock, books):
    b = books
    res = apply(
        engine,
        clock,
        Transfer("j1", b.alice, b.bob, 1_000, TransferCode.INVESTMENT),
        Transfer("j2", b.alice, b.bob, 2_000, TransferCode.INVESTMENT),
        Transfer("j3", b.bob, b.fee, 300, TransferCode.FEE),
        Transfer("j4", b.alice, b.master, 5_000, TransferCode.WITHDRAWAL, TransferFlags.PENDING),
        Transfer("j5", flags=TransferFlags.POST_PENDING, pending_id="j4"),
    )
    assert all(r.ok for r in res)
    with engine.connect() as c:
        assert verify(c) == []
    return b


def entry_seq(engine, transfer_id: str, account_id: int) -> int:
    """An entry is named by (account, seq); this finds the seq of a transfer's entry."""
    with engine.connect() as c:
        return c.execute(
            select(entries.c.seq).where(
                entries.c.transfer_id == transfer_id, entries.c.account_id == account_id
            )
        ).scalar()


def problems(engine):
    with engine.connect() as c:
        return verify(c)


def test_changed_entry_amount_is_named(engine, journal):
    seq = entry_seq(engine, "j2", journal.bob)
    with engine.begin() as c:
        c.execute(
            update(entries)
            .where(entries.c.account_id == journal.bob, entries.c.seq == seq)
            .values(credits_posted=entries.c.credits_posted + 100)
        )
    found = problems(engine)
    assert found[0].check == "hash" and found[0].transfer_id == "j2"
    assert (found[0].account_id, found[0].seq) == (journal.bob, seq)
    assert any(p.check == "balance" and p.account_id == journal.bob for p in found)


def test_changed_transfer_amount_is_named(engine, journal):
    with engine.begin() as c:
        c.execute(update(transfers).where(transfers.c.id == "j1").values(amount=1))
    found = problems(engine)
    assert {p.transfer_id for p in found if p.check in ("hash", "entry")} == {"j1"}


def test_changed_account_is_named(engine, journal):
    seq = entry_seq(engine, "j3", journal.fee)
    with engine.begin() as c:
        c.execute(
            update(entries)
            .where(entries.c.account_id == journal.fee, entries.c.seq == seq)
            .values(account_id=journal.alice, seq=999)
        )
    found = problems(engine)
    assert any((p.account_id, p.seq) == (journal.alice, 999) for p in found)


def test_deleted_entry_is_named(engine, journal):
    seq = entry_seq(engine, "j2", journal.alice)
    with engine.begin() as c:
        c.execute(
            text("DELETE FROM ledger_entries WHERE account_id = :a AND seq = :s"),
            {"a": journal.alice, "s": seq},
        )
    found = problems(engine)
    assert found[0].check == "chain" and found[0].account_id == journal.alice
    assert found[0].transfer_id == "j3" or found[0].transfer_id == "j4"
    assert any(p.check == "transfer" and p.transfer_id == "j2" for p in found)


def test_reordered_entries_are_named(engine, journal):
    seq_a, seq_b = entry_seq(engine, "j1", journal.alice), entry_seq(engine, "j2", journal.alice)
    alice = entries.c.account_id == journal.alice
    with engine.begin() as c:
        c.execute(update(entries).where(alice, entries.c.seq == seq_a).values(seq=-1))
        c.execute(update(entries).where(alice, entries.c.seq == seq_b).values(seq=seq_a))
        c.execute(update(entries).where(alice, entries.c.seq == -1).values(seq=seq_b))
    found = problems(engine)
    assert found[0].check == "chain" and found[0].account_id == journal.alice
    assert found[0].seq in (seq_a, seq_b)


def test_changed_balance_is_named(engine, journal):
    with engine.begin() as c:
        c.execute(
            update(accounts)
            .where(accounts.c.id == journal.bob)
            .values(credits_posted=accounts.c.credits_posted + 1)
        )
    found = problems(engine)
    assert any(p.check == "balance" and p.account_id == journal.bob for p in found)
    assert any(p.check == "books" for p in found)


def test_consistently_rewritten_history_is_caught_by_the_seal(engine, clock, journal):
    run_in_transaction(engine, lambda c: seal_day(c, business_date=clock.now().date(), clock=clock))
    seq = entry_seq(engine, "j1", journal.bob)
    with engine.begin() as c:  # rewrite bob's chain with every hash recomputed
        c.execute(
            update(entries)
            .where(entries.c.account_id == journal.bob, entries.c.seq == seq)
            .values(credits_posted=900)
        )
        c.execute(update(transfers).where(transfers.c.id == "j1").values(amount=900))
        c.execute(
            update(entries)
            .where(entries.c.transfer_id == "j1", entries.c.account_id == journal.alice)
            .values(debits_posted=900)
        )
        _rehash(c)
        c.execute(
            update(accounts)
            .where(accounts.c.id == journal.bob)
            .values(credits_posted=accounts.c.credits_posted - 100)
        )
        c.execute(
            update(accounts)
            .where(accounts.c.id == journal.alice)
            .values(debits_posted=accounts.c.debits_posted - 100)
        )
    found = problems(engine)
    assert [p.check for p in found] and all(p.check == "seal" for p in found)


def _rehash(c) -> None:
    """What a careful forger would do: recompute every chain from the start."""
    rows = c.execute(select(entries).order_by(entries.c.account_id, entries.c.seq)).mappings().all()
    trs = {r["id"]: dict(r) for r in c.execute(select(transfers)).mappings()}
    heads: dict[int, tuple[int, str]] = {}
    for r in rows:
        prev = heads.get(r["account_id"], (0, "0" * 64))[1]
        h = hashing.entry_hash(
            prev_hash=prev,
            account_id=r["account_id"],
            seq=r["seq"],
            transfer_digest=hashing.transfer_digest(trs[r["transfer_id"]]),
            deltas=[r[k] for k in hashing.ENTRY_DELTAS],
        )
        c.execute(
            update(entries)
            .where(entries.c.account_id == r["account_id"], entries.c.seq == r["seq"])
            .values(prev_hash=prev, hash=h)
        )
        heads[r["account_id"]] = (r["seq"], h)
    for aid, (seq, h) in heads.items():
        c.execute(update(accounts).where(accounts.c.id == aid).values(entry_seq=seq, head_hash=h))


def test_cli_verify_exits_nonzero_naming_the_entry(engine, journal, database_url_for_test):
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "verify", "--database", database_url_for_test])
    assert ok.exit_code == 0, ok.output
    seq = entry_seq(engine, "j3", journal.fee)
    with engine.begin() as c:
        c.execute(
            update(entries)
            .where(entries.c.account_id == journal.fee, entries.c.seq == seq)
            .values(credits_posted=1)
        )
    bad = runner.invoke(app, ["ledger", "verify", "--database", database_url_for_test])
    assert bad.exit_code == 1
    assert f"account={journal.fee}, seq={seq}" in bad.output and "transfer=j3" in bad.output
