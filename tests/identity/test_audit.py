"""The audit log: chained, sealed daily with RFC 6962 roots, tamper found, fail closed."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from typer.testing import CliRunner

from puhui.cli import app as cli
from puhui.core.clock import FixedClock
from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import audit, merkle
from puhui.identity.audit import AuditUnavailable
from puhui.identity.models import audit_log, audit_seals

from .conftest import ACTOR


def write(
    engine: Engine, clock: FixedClock, n: int, *, every: timedelta = timedelta(hours=5)
) -> None:
    for i in range(n):
        run_in_transaction(
            engine,
            lambda c, i=i: audit.record(
                c,
                actor=ACTOR,
                event="test.event",
                object_type="thing",
                object_id=i,
                before={"n": i},
                after={"n": i + 1},
                clock=clock,
            ),
        )
        clock.advance(every)


@contextlib.contextmanager
def tamper(engine: Engine):
    """A connection that bypasses the append-only triggers, as someone with DDL rights could."""
    with engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for name in ("identity_audit_log_no_update", "identity_audit_log_retention"):
                c.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        yield c


def kinds(engine: Engine) -> set[tuple[int | None, str]]:
    with engine.connect() as c:
        return {(p.seq, p.kind) for p in audit.verify(c)}


def test_entries_carry_every_field_and_chain(engine, clock):
    write(engine, clock, 3)
    with engine.connect() as c:
        rows = c.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
        assert audit.verify(c) == []
    assert [r["seq"] for r in rows] == [1, 2, 3]
    first = rows[0]
    assert first["occurred_at"] == "2026-11-02T10:00:00.000000+08:00"  # time with its zone
    assert (first["actor"], first["actor_role"], first["source_ip"], first["request_id"]) == (
        "system",
        "test",
        "127.0.0.1",
        "req_test",
    )
    assert first["prev_hash"] == audit.GENESIS and rows[1]["prev_hash"] == first["hash"]
    for col in ("occurred_at", "actor", "event_type", "success", "object_id", "before_digest"):
        assert all(r[col] is not None for r in rows)  # SEC-AUD-01
    assert first["before_digest"] == audit.state_digest({"n": 0})


def test_edit_is_found(engine, clock):
    write(engine, clock, 4)
    with tamper(engine) as c:
        c.execute(update(audit_log).where(audit_log.c.seq == 2).values(success=False))
    assert kinds(engine) == {(2, "edited")}


def test_edit_with_recomputed_hash_breaks_the_next_link(engine, clock):
    write(engine, clock, 4)
    with tamper(engine) as c:
        row = dict(c.execute(select(audit_log).where(audit_log.c.seq == 2)).mappings().one())
        row["actor"] = "staff:999"
        c.execute(
            update(audit_log)
            .where(audit_log.c.seq == 2)
            .values(actor="staff:999", hash=audit.entry_hash(row))
        )
    assert kinds(engine) == {(3, "reordered")}


def test_delete_is_found(engine, clock):
    write(engine, clock, 4)
    with tamper(engine) as c:
        c.execute(audit_log.delete().where(audit_log.c.seq == 3))
    assert kinds(engine) == {(3, "missing"), (4, "reordered")}


def test_reorder_is_found(engine, clock):
    write(engine, clock, 4)
    with tamper(engine) as c:
        rows = {r["seq"]: dict(r) for r in c.execute(select(audit_log)).mappings()}
        for seq, source in ((2, 3), (3, 2)):
            values = {k: v for k, v in rows[source].items() if k != "seq"}
            c.execute(update(audit_log).where(audit_log.c.seq == seq).values(**values))
    found = kinds(engine)
    assert (2, "reordered") in found and (3, "reordered") in found


def test_seals_prove_inclusion_and_catch_a_rewritten_day(engine, clock):
    write(engine, clock, 13)  # 13 entries over three business days
    days = sorted({r for r in _dates(engine)})
    seals = [
        run_in_transaction(engine, lambda c, d=d: audit.seal_day(c, business_date=d, clock=clock))
        for d in days
    ]
    assert sum(s.size for s in seals) == 13 and all(s.created for s in seals)
    again = run_in_transaction(
        engine, lambda c: audit.seal_day(c, business_date=days[0], clock=clock)
    )
    assert not again.created and again.hash == seals[0].hash
    with engine.connect() as c:
        for seq in range(1, 14):
            proof = audit.inclusion_proof(c, seq=seq)
            assert proof.verify(), seq
            forged = type(proof)(**{**proof.__dict__, "entry_hash": "ab" * 32})
            assert not forged.verify()
        assert audit.verify(c) == []
    # Rewrite a whole sealed day consistently (every hash recomputed): only the seal shows it.
    with tamper(engine) as c:
        prev = audit.GENESIS
        for row in c.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all():
            new = dict(row, prev_hash=prev, detail='{"rewritten": true}')
            new["hash"] = audit.entry_hash(new)
            c.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(prev_hash=prev, detail=new["detail"], hash=new["hash"])
            )
            prev = new["hash"]
    assert {k for _, k in kinds(engine)} == {"seal_mismatch"}


def _dates(engine: Engine) -> list[date]:
    with engine.connect() as c:
        return list(c.execute(select(audit_log.c.business_date)).scalars())


def test_rfc6962_shapes():
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(7)]
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.root(leaves[:1]) == leaves[0]
    assert merkle.root(leaves[:3]) == merkle.node_hash(
        merkle.node_hash(leaves[0], leaves[1]), leaves[2]
    )
    for n in range(1, 8):
        for i in range(n):
            proof = merkle.inclusion_proof(leaves[:n], i)
            assert merkle.verify_inclusion(leaves[i], i, n, proof, merkle.root(leaves[:n]))
            other = merkle.root([*leaves[: n - 1], merkle.leaf_hash(b"x")])
            assert not merkle.verify_inclusion(leaves[i], i, n, proof, other)


def test_the_database_refuses_changes_and_early_deletes(engine, clock):
    write(engine, clock, 2)
    for stmt in (update(audit_log).values(success=False), audit_log.delete()):
        with pytest.raises(DBAPIError, match=r"append-only|kept at least"), engine.begin() as c:
            c.execute(stmt)
    assert kinds(engine) == set()


def test_retention_floor_on_purge(engine):
    old = FixedClock(datetime(2020, 1, 1, 2, tzinfo=UTC))
    write(engine, old, 4, every=timedelta(days=1))
    day = date(2020, 1, 2)
    run_in_transaction(engine, lambda c: audit.seal_day(c, business_date=day, clock=old))
    now = FixedClock(datetime(2020, 5, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="kept 183 days"), engine.begin() as c:
        audit.purge_before(c, before=date(2020, 1, 3), clock=now)
    later = FixedClock(datetime(2021, 1, 1, tzinfo=UTC))
    gone = run_in_transaction(
        engine, lambda c: audit.purge_before(c, before=date(2020, 1, 3), clock=later)
    )
    assert gone == 2 and kinds(engine) == set()  # the remaining chain starts at the seal


class Boom(OperationalError):
    def __init__(self) -> None:
        super().__init__("INSERT INTO identity_audit_log", {}, Exception("disk full"))


def test_fail_closed_money_operation_refused_when_audit_cannot_be_written(
    engine, clock, monkeypatch
):
    from puhui.ledger.service import Transfer, create_account, create_transfers

    def accounts(c: Connection) -> tuple[int, int]:
        a = create_account(c, book="custody", code=100, owner="u1", clock=clock)
        b = create_account(c, book="custody", code=100, owner="u2", clock=clock)
        return a, b

    a, b = run_in_transaction(engine, accounts)

    def move(c: Connection) -> object:
        return audit.audited(
            c,
            lambda: create_transfers(
                c,
                [Transfer(id="t1", debit_account_id=a, credit_account_id=b, amount=100, code=1)],
                clock=clock,
            ),
            actor=ACTOR,
            event="money.transfer",
            object_type="transfer",
            object_id="t1",
            clock=clock,
        )

    real = audit._append

    def broken(conn, **e):  # the audit store refuses the write
        raise Boom()

    monkeypatch.setattr(audit, "_append", broken)
    with pytest.raises(AuditUnavailable, match="refused"):
        run_in_transaction(engine, move)
    from puhui.ledger.models import transfers

    with engine.connect() as c:
        assert c.execute(select(transfers)).first() is None
    monkeypatch.setattr(audit, "_append", real)
    run_in_transaction(engine, move)
    with engine.connect() as c:
        assert c.execute(select(transfers.c.id)).scalars().all() == ["t1"]
        assert audit.list_entries(c)[-1].event_type == "money.transfer"


def test_cli_seal_and_verify(engine, clock, database_url_for_test):
    write(engine, clock, 3)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["audit", "seal", "--date", "2026-11-03", "--database", database_url_for_test]
    )
    assert out.exit_code == 0 and "entries 1..3 (3)" in out.output, out.output
    ok = runner.invoke(cli, ["audit", "verify", "--database", database_url_for_test])
    assert ok.exit_code == 0 and "OK" in ok.output
    with tamper(engine) as c:
        c.execute(update(audit_log).where(audit_log.c.seq == 1).values(object_id="forged"))
    bad = runner.invoke(cli, ["audit", "verify", "--database", database_url_for_test])
    assert bad.exit_code == 1 and "edited at 1" in bad.output


def test_seal_rows_are_append_only(engine, clock):
    write(engine, clock, 1)
    run_in_transaction(
        engine, lambda c: audit.seal_day(c, business_date=date(2026, 11, 2), clock=clock)
    )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(update(audit_seals).values(merkle_root="00" * 32))
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(
            insert(audit_seals).values(
                **{k: 1 for k in ("first_seq", "last_seq", "size", "created_us")},
                business_date=date(2026, 11, 2),
                merkle_root="",
                last_hash="",
                prev_seal_hash="",
                hash="",
            )
        )
