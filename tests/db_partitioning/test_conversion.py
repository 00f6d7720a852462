"""``partition_journal`` and ``ensure_partitions``: what the conversion leaves behind."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import IntegrityError, ProgrammingError
from typer.testing import CliRunner

from puhui.cli import app
from puhui.core.errors import ValidationError
from puhui.db.partitioning import ensure_partitions, partition_journal, partitions
from puhui.ledger.models import transfers
from puhui.lending.eod_models import snapshots

from .conftest import TODAY

pytestmark = pytest.mark.postgresql_only
runner = CliRunner()


def _transfer(i: str, day: date, pending_id: str | None = None) -> dict[str, object]:
    return {
        "id": i,
        "debit_account_id": 1,
        "credit_account_id": 2,
        "amount": 100,
        "pending_id": pending_id,
        "code": 1,
        "flags": 0,
        "timeout": 0,
        "expires_us": None,
        "reference": None,
        "book": "custody",
        "currency": "CNY",
        "ts_us": 1,
        "business_date": day,
        "request_hash": "h" * 64,
    }


def _snapshot(day: date) -> dict[str, object]:
    return {
        "business_date": day,
        "part": 0,
        "product_version_id": 1,
        "bucket": "C",
        "classification": "normal",
        "loans": 3,
        "principal_fen": 300_000,
        "interest_fen": 0,
        "fee_fen": 0,
        "penalty_fen": 0,
        "provision_fen": 3_000,
        "credit_fen": 0,
    }


def _where(conn: Connection, table: str) -> dict[str, str]:
    """Each row's key → the partition that holds it."""
    key = "id" if table == "ledger_transfers" else "business_date::text"
    rows = conn.exec_driver_sql(f"SELECT {key}, tableoid::regclass::text FROM {table}")
    return dict(rows.all())


def _indexes(conn: Connection, table: str) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %(t)s::regclass "
        "ORDER BY 1",
        {"t": table},
    )
    return [r[0] for r in rows]


def test_rows_are_copied_into_their_months_and_keys_keep_their_names(
    pg_engine: Engine,
) -> None:
    with pg_engine.begin() as c:
        c.execute(
            insert(transfers),
            [
                _transfer("a", date(2026, 10, 31)),
                _transfer("b", date(2026, 11, 2), pending_id="p1"),
                _transfer("c", date(2027, 6, 1)),  # past the months created: the default
            ],
        )
        c.execute(insert(snapshots), [_snapshot(date(2026, 10, 31)), _snapshot(TODAY)])

    report = partition_journal(pg_engine, months_ahead=2, today=TODAY)

    assert report.converted == ["ledger_transfers", "lending_eod_snapshots"]
    assert report.rows_copied == {"ledger_transfers": 3, "lending_eod_snapshots": 2}
    months = ["202610", "202611", "202612", "202701"]
    assert report.created == [f"{t}_{m}" for t in report.converted for m in months]
    with pg_engine.connect() as c:
        assert partitions(c, "ledger_transfers") == [
            *(f"ledger_transfers_{m}" for m in months),
            "ledger_transfers_default",
        ]
        assert _where(c, "ledger_transfers") == {
            "a": "ledger_transfers_202610",
            "b": "ledger_transfers_202611",
            "c": "ledger_transfers_default",
        }
        assert _where(c, "lending_eod_snapshots") == {
            "2026-10-31": "lending_eod_snapshots_202610",
            "2026-11-02": "lending_eod_snapshots_202611",
        }
        # The names the ledger's race handling matches now belong to the id registry.
        assert _indexes(c, "ledger_transfer_ids") == [
            "pk_ledger_transfers",
            "uq_ledger_transfers_pending_id",
        ]
        assert _indexes(c, "ledger_transfers") == [
            "ix_ledger_transfers_business_date",
            "ix_ledger_transfers_expires_us",
            "ix_ledger_transfers_pending_id",
            "ix_ledger_transfers_reference",
            "pk_ledger_transfers_by_date",
        ]
        assert _indexes(c, "lending_eod_snapshots") == ["pk_lending_eod_snapshots"]
        registry = c.exec_driver_sql(
            "SELECT id, pending_id, business_date FROM ledger_transfer_ids ORDER BY id"
        ).all()
        assert registry == [
            ("a", None, date(2026, 10, 31)),
            ("b", "p1", date(2026, 11, 2)),
            ("c", None, date(2027, 6, 1)),
        ]
        # Nothing references the journal by foreign key, so nothing had to move.
        assert (
            c.exec_driver_sql(
                "SELECT count(*) FROM pg_constraint WHERE confrelid IN "
                "('ledger_transfers'::regclass, 'ledger_transfer_ids'::regclass)"
            ).scalar_one()
            == 0
        )
        assert (
            c.exec_driver_sql("SELECT to_regclass('ledger_transfers_unpartitioned')").scalar()
            is None
        )


def test_a_second_run_changes_nothing(pg_engine: Engine) -> None:
    partition_journal(pg_engine, months_ahead=1, today=TODAY)
    with pg_engine.connect() as c:
        before = partitions(c, "ledger_transfers"), partitions(c, "lending_eod_snapshots")

    again = partition_journal(pg_engine, months_ahead=1, today=TODAY)

    assert (again.converted, again.created, again.rows_copied) == ([], [], {})
    with pg_engine.connect() as c:
        assert (partitions(c, "ledger_transfers"), partitions(c, "lending_eod_snapshots")) == before
    assert ensure_partitions(pg_engine, date(2026, 12, 31)) == []


def test_ensure_creates_months_ahead_and_moves_the_defaults_rows(pg_engine: Engine) -> None:
    partition_journal(pg_engine, months_ahead=0, today=TODAY)
    with pg_engine.begin() as c:
        c.execute(insert(transfers), [_transfer("feb", date(2027, 2, 10))])
        c.execute(insert(snapshots), [_snapshot(date(2027, 1, 5))])
        assert _where(c, "ledger_transfers") == {"feb": "ledger_transfers_default"}

    created = ensure_partitions(pg_engine, date(2027, 2, 1))

    assert created == [
        "ledger_transfers_202612",
        "ledger_transfers_202701",
        "ledger_transfers_202702",
        "lending_eod_snapshots_202612",
        "lending_eod_snapshots_202701",
        "lending_eod_snapshots_202702",
    ]
    with pg_engine.connect() as c:
        assert _where(c, "ledger_transfers") == {"feb": "ledger_transfers_202702"}
        assert _where(c, "lending_eod_snapshots") == {"2027-01-05": "lending_eod_snapshots_202701"}
        # Moved partition to partition: the registry still holds the id once.
        assert c.exec_driver_sql("SELECT count(*) FROM ledger_transfer_ids").scalar_one() == 1
    assert ensure_partitions(pg_engine, date(2027, 2, 28)) == []


def test_a_failed_conversion_leaves_the_table_as_it_was(pg_engine: Engine) -> None:
    """One transaction: a clash half-way (a table in the way) rolls everything back."""
    with pg_engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE ledger_transfer_ids (x int)")
    with pytest.raises(ProgrammingError, match='relation "ledger_transfer_ids" already exists'):
        partition_journal(pg_engine, today=TODAY)
    with pg_engine.connect() as c:
        kinds = c.exec_driver_sql(
            "SELECT relname, relkind FROM pg_class WHERE relname IN "
            "('ledger_transfers', 'lending_eod_snapshots') ORDER BY 1"
        ).all()
        assert kinds == [("ledger_transfers", "r"), ("lending_eod_snapshots", "r")]
        assert _indexes(c, "ledger_transfers")[-2:] == [
            "pk_ledger_transfers",
            "uq_ledger_transfers_pending_id",
        ]


def test_ensure_refuses_an_unpartitioned_database(pg_engine: Engine) -> None:
    with pytest.raises(ValidationError, match="run `puhui db partition`"):
        ensure_partitions(pg_engine, TODAY)


def test_cli_partitions_then_ensures(pg_engine: Engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    first = runner.invoke(app, ["db", "partition", "--database", url, "--months-ahead", "0"])
    assert first.exit_code == 0, first.output
    assert "ledger_transfers: partitioned by month, 0 rows copied" in first.output
    again = runner.invoke(app, ["db", "partition", "--database", url])
    assert again.exit_code == 0, again.output
    assert "already partitioned" in again.output
    ensure = runner.invoke(
        app, ["db", "partition", "--database", url, "--ensure", "--through", "2027-01-15"]
    )
    assert ensure.exit_code == 0, ensure.output
    with pg_engine.connect() as c:
        assert "ledger_transfers_202701" in partitions(c, "ledger_transfers")


def test_the_registry_follows_deletes_and_truncates_and_keys_never_change(
    pg_engine: Engine,
) -> None:
    partition_journal(pg_engine, months_ahead=0, today=TODAY)
    with pg_engine.begin() as c:
        c.execute(insert(transfers), [_transfer("x", TODAY), _transfer("y", TODAY, "x")])
        # Any other column may change (ledger verify is what catches a tampered amount).
        c.exec_driver_sql("UPDATE ledger_transfers SET amount = 1 WHERE id = 'x'")
    for change in ("id = 'z'", "pending_id = NULL", "business_date = '2026-11-03'"):
        fixed = "id, pending_id and business_date are fixed"
        with pytest.raises(IntegrityError, match=fixed), pg_engine.begin() as c:
            c.exec_driver_sql(f"UPDATE ledger_transfers SET {change} WHERE id = 'y'")
    registry = "SELECT id FROM ledger_transfer_ids ORDER BY id"
    with pg_engine.begin() as c:
        c.exec_driver_sql("DELETE FROM ledger_transfers WHERE id = 'x'")
        assert c.exec_driver_sql(registry).scalars().all() == ["y"]
        c.exec_driver_sql("TRUNCATE ledger_transfers")
        assert c.exec_driver_sql(registry).scalars().all() == []
