from sqlalchemy import select
from typer.testing import CliRunner

from puhui.cli import app
from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import AccountCode, Book, Result, TransferCode
from puhui.ledger.jobs import seal_day
from puhui.ledger.models import seal_heads
from puhui.ledger.service import Transfer, create_split_account, shard_for, split_balance
from puhui.ledger.verify import verify

from .conftest import apply


def test_split_account_sums_its_shards(engine, clock, books):
    parent, shards = run_in_transaction(
        engine,
        lambda c: create_split_account(
            c, shards=4, book=Book.CUSTODY, code=AccountCode.PLATFORM_FEE, owner="platform"
        ),
    )
    fees = [
        Transfer(f"fee-{i}", books.alice, shard_for(shards, f"fee-{i}"), 100 + i, TransferCode.FEE)
        for i in range(20)
    ]
    assert all(r.result == Result.OK for r in apply(engine, clock, *fees))
    assert shard_for(shards, "fee-3") == shard_for(shards, "fee-3")
    with engine.connect() as c:
        total = split_balance(c, parent)
        assert total.credit_balance == sum(100 + i for i in range(20))
        assert len({t.credit_account_id for t in fees}) > 1
        assert verify(c) == []


def test_seal_covers_moved_chains_once_and_is_idempotent(engine, clock, books):
    day = clock.now().date()
    first = run_in_transaction(engine, lambda c: seal_day(c, business_date=day, clock=clock))
    assert first.created and first.account_count == 3  # master, alice, bob moved
    again = run_in_transaction(engine, lambda c: seal_day(c, business_date=day, clock=clock))
    assert not again.created and again.hash == first.hash
    apply(engine, clock, Transfer("s1", books.alice, books.fee, 5, TransferCode.FEE))
    nxt = run_in_transaction(
        engine, lambda c: seal_day(c, business_date=day.replace(day=day.day + 1), clock=clock)
    )
    assert nxt.account_count == 2
    with engine.connect() as c:
        assert len(c.execute(select(seal_heads)).all()) == 5
        assert verify(c) == []


def test_cli_seal_and_expire(engine, books, database_url_for_test):
    runner = CliRunner()
    r = runner.invoke(
        app, ["ledger", "seal", "--date", "2026-11-02", "--database", database_url_for_test]
    )
    assert r.exit_code == 0 and "sealed 2026-11-02: 3 chain(s)" in r.output
    r = runner.invoke(app, ["ledger", "expire", "--database", database_url_for_test])
    assert r.exit_code == 0 and "expired 0 pending" in r.output
