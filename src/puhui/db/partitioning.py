"""The journal and the daily snapshots partitioned by month on PostgreSQL (opt-in, issue 14).

``partition_journal`` converts ``ledger_transfers`` (and ``lending_eod_snapshots``) of a
migrated database into tables partitioned by ``RANGE (business_date)``: one partition a month
from the oldest row's month through ``months_ahead`` months from now, and a ``DEFAULT``
partition for anything outside, rows copied, all in one transaction under an exclusive lock.
``ensure_partitions`` is the monthly maintenance step that creates the months ahead.

Why a registry: a partitioned table's unique keys must contain the partition key, but the
ledger relies on a transfer's ``id`` (a retried ``create_transfers``) and ``pending_id`` (one
outcome per pending transfer) being unique on their own. So ``ledger_transfer_ids`` (unpartitioned)
holds every transfer's ``id``, ``pending_id`` and date, filled by a statement-level trigger in
the inserting statement itself, and its unique keys carry the names the ledger's race handling
knows (``pk_ledger_transfers``, ``uq_ledger_transfers_pending_id``; ``db/engine._RACES``): two
writers racing on one id still get the same 23505 on the same constraint, and the loser's
retry reads the winner's row. The partitioned table's own key is ``(id, business_date)``
under another name. Nothing references ``ledger_transfers`` by foreign key (the journal has
none on purpose; checked against ``pg_constraint``), so no key had to move to the registry.

Not partitioned: ``ledger_entries`` (no date; its key ``(account_id, seq)`` refuses a stale
concurrent append, see docs/scale.md). The default schema, on SQLite and PostgreSQL, stays as
the migrations make it: this runs only when an operator asks (``puhui db partition``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine

from puhui.core.clock import business_date
from puhui.core.errors import ValidationError

JOURNAL = "ledger_transfers"
SNAPSHOTS = "lending_eod_snapshots"
REGISTRY = "ledger_transfer_ids"
#: Serialises two conversions or maintenance runs (any constant unique to this module).
_LOCK_KEY = 1_404_202_611

_JOURNAL_INDEXES = (
    # Chosen from the measured plans (bench/results/partitions.md): every date and month query
    # is a range on business_date; reconciliation looks transfers up by bank reference; the
    # expiry sweep reads only pending transfers; the ledger reads outcomes by pending_id.
    "CREATE INDEX ix_ledger_transfers_business_date ON ledger_transfers (business_date)",
    "CREATE INDEX ix_ledger_transfers_reference ON ledger_transfers (reference) "
    "WHERE reference IS NOT NULL",
    "CREATE INDEX ix_ledger_transfers_expires_us ON ledger_transfers (expires_us) "
    "WHERE expires_us IS NOT NULL",
    "CREATE INDEX ix_ledger_transfers_pending_id ON ledger_transfers (pending_id) "
    "WHERE pending_id IS NOT NULL",
)

_REGISTRY_DDL = (
    f"CREATE TABLE {REGISTRY} (id varchar(64) NOT NULL, pending_id varchar(64), "
    "business_date date NOT NULL, CONSTRAINT pk_ledger_transfers PRIMARY KEY (id))",
    f"CREATE UNIQUE INDEX uq_ledger_transfers_pending_id ON {REGISTRY} (pending_id) "
    "WHERE pending_id IS NOT NULL",
    # One INSERT … SELECT per inserting statement (a batch of transfers is one statement), not
    # one function call per row; it runs inside that statement's transaction.
    f"""CREATE FUNCTION ledger_transfer_ids_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {REGISTRY} (id, pending_id, business_date)
        SELECT id, pending_id, business_date FROM new_rows;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION ledger_transfer_ids_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {REGISTRY} r USING old_rows o WHERE r.id = o.id;
        RETURN NULL;
    END $$""",
    # The registry is keyed by what it copies: those three never change after the insert.
    """CREATE FUNCTION ledger_transfers_keys_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id IS DISTINCT FROM OLD.id OR NEW.pending_id IS DISTINCT FROM OLD.pending_id
           OR NEW.business_date IS DISTINCT FROM OLD.business_date THEN
            RAISE EXCEPTION 'ledger_transfers: id, pending_id and business_date are fixed'
                USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER ledger_transfer_ids_insert AFTER INSERT ON ledger_transfers "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION ledger_transfer_ids_insert()",
    "CREATE TRIGGER ledger_transfer_ids_delete AFTER DELETE ON ledger_transfers "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION ledger_transfer_ids_delete()",
    "CREATE TRIGGER ledger_transfers_keys_fixed BEFORE UPDATE ON ledger_transfers "
    "FOR EACH ROW EXECUTE FUNCTION ledger_transfers_keys_fixed()",
    f"""CREATE FUNCTION ledger_transfer_ids_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE {REGISTRY};
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER ledger_transfer_ids_truncate AFTER TRUNCATE ON ledger_transfers "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_transfer_ids_truncate()",
)


@dataclass
class PartitionReport:
    """What a run did: the tables it converted and the partitions it created (empty twice)."""

    converted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    rows_copied: dict[str, int] = field(default_factory=dict)


def partition_journal(
    engine: Engine, *, months_ahead: int = 3, snapshots: bool = True, today: date | None = None
) -> PartitionReport:
    """Convert the journal (and the daily snapshots) to monthly partitions; idempotent.

    One transaction: the tables are locked against writers for the copy, and a failure leaves
    the database as it was. A table already partitioned is left alone, so a second run only
    creates months that have come into range.
    """
    _require_postgresql(engine)
    if months_ahead < 0:
        raise ValidationError(
            "invalid_months_ahead", "months ahead must be ≥ 0", field="months_ahead"
        )
    day = today or business_date(datetime.now(UTC))
    through = _add_months(_month(day), months_ahead)
    report = PartitionReport()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        tables = [JOURNAL] + ([SNAPSHOTS] if snapshots and _exists(conn, SNAPSHOTS) else [])
        for table in tables:
            conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            if _is_partitioned(conn, table):
                continue
            first = conn.exec_driver_sql(f"SELECT min(business_date) FROM {table}").scalar()
            months = _months(_month(first or day), through)
            report.rows_copied[table] = _convert(conn, table, months)
            report.converted.append(table)
            report.created += [f"{table}_{m:%Y%m}" for m in months]
        report.created += _ensure(conn, through, tables)
    return report


def ensure_partitions(
    engine: Engine, through: date | None = None, *, months_ahead: int = 3
) -> list[str]:
    """Create every missing monthly partition up to the month of ``through``; idempotent.

    Without ``through``: ``months_ahead`` months after today's business date (Shanghai).
    The monthly maintenance step (``puhui db partition --ensure``): run it ahead of the month
    so new transfers land in their month, not the default partition. Rows already in the
    default partition for a month being created are moved into it in the same transaction.
    """
    _require_postgresql(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        tables = [t for t in (JOURNAL, SNAPSHOTS) if _exists(conn, t) and _is_partitioned(conn, t)]
        if not tables:
            raise ValidationError(
                "not_partitioned", "the journal is not partitioned: run `puhui db partition`"
            )
        end = through or _add_months(_month(business_date(datetime.now(UTC))), months_ahead)
        return _ensure(conn, _month(end), tables)


def partitions(conn: Connection, table: str) -> list[str]:
    """The partitions of ``table``, by name."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %(t)s::regclass ORDER BY c.relname",
        {"t": table},
    )
    return [r[0] for r in rows]


def _convert(conn: Connection, table: str, months: list[date]) -> int:
    """Swap ``table`` for a partitioned copy (those months and a default); the rows copied.

    The partitions exist before the copy, so each row is written once, into its month; rows
    dated after the last month go to the default until ``ensure_partitions`` moves them."""
    old = f"{table}_unpartitioned"
    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {old}")
    for (index,) in conn.exec_driver_sql(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %(t)s::regclass",
        {"t": old},
    ).all():
        # Free the names for the new table (the primary key's constraint follows its index).
        conn.exec_driver_sql(f"ALTER INDEX {index} RENAME TO {index}_unpartitioned")
    conn.exec_driver_sql(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (business_date)"
    )
    if table == JOURNAL:
        conn.exec_driver_sql(
            "ALTER TABLE ledger_transfers ADD CONSTRAINT pk_ledger_transfers_by_date "
            "PRIMARY KEY (id, business_date)"
        )
        for ddl in _JOURNAL_INDEXES:
            conn.exec_driver_sql(ddl)
    else:
        conn.exec_driver_sql(
            f"ALTER TABLE {SNAPSHOTS} ADD CONSTRAINT pk_lending_eod_snapshots PRIMARY KEY "
            "(business_date, part, product_version_id, bucket, classification)"
        )
    conn.exec_driver_sql(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    for m in months:
        conn.exec_driver_sql(
            f"CREATE TABLE {table}_{m:%Y%m} PARTITION OF {table} "
            f"FOR VALUES FROM ('{m}') TO ('{_add_months(m, 1)}')"
        )
    copied = conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {old}").rowcount
    if table == JOURNAL:
        # Filled from the old table before the triggers exist; from then on they keep it.
        for ddl in _REGISTRY_DDL[:2]:
            conn.exec_driver_sql(ddl)
        conn.exec_driver_sql(
            f"INSERT INTO {REGISTRY} (id, pending_id, business_date) "
            f"SELECT id, pending_id, business_date FROM {old}"
        )
        for ddl in _REGISTRY_DDL[2:]:
            conn.exec_driver_sql(ddl)
    conn.exec_driver_sql(f"DROP TABLE {old}")
    return copied


def _ensure(conn: Connection, through: date, tables: list[str]) -> list[str]:
    """Every month from the oldest monthly partition (or the default's oldest row) to
    ``through``, for each table: the months created, by partition name."""
    created: list[str] = []
    for table in tables:
        have = set(partitions(conn, table))
        months = sorted(
            date(int(m[1][:4]), int(m[1][4:]), 1)
            for p in have
            if (m := re.fullmatch(rf"{table}_(\d{{6}})", p))
        )
        oldest = conn.exec_driver_sql(f"SELECT min(business_date) FROM {table}_default").scalar()
        start = min([*months[:1], *([_month(oldest)] if oldest else []), through])
        for m in _months(start, through):
            if f"{table}_{m:%Y%m}" not in have:
                created.append(_create_month(conn, table, m))
    return created


def _create_month(conn: Connection, table: str, month: date) -> str:
    """Partition ``table_YYYYMM``, with the default partition's rows of that month moved in.

    Built apart and attached: attaching checks the default holds no row of the month, and a
    plain ``PARTITION OF`` would fail instead of moving them. The moves go partition to
    partition, below the parent's statement triggers, so the id registry is untouched."""
    name = f"{table}_{month:%Y%m}"
    end = _add_months(month, 1)
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {table}_default WHERE business_date >= '{month}' "
        f"AND business_date < '{end}' RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{month}') TO ('{end}')"
    )
    return name


def _require_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise ValidationError(
            "partitioning_needs_postgresql",
            f"partitioning needs PostgreSQL; this database is {engine.dialect.name}, whose "
            "journal stays one table",
        )


def _exists(conn: Connection, table: str) -> bool:
    return conn.exec_driver_sql("SELECT to_regclass(%(t)s)", {"t": table}).scalar() is not None


def _is_partitioned(conn: Connection, table: str) -> bool:
    kind = conn.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = %(t)s::regclass", {"t": table}
    ).scalar()
    return kind == "p"


def _month(d: date) -> date:
    return date(d.year, d.month, 1)


def _months(first: date, last: date) -> list[date]:
    """First days of the months from ``first``'s through ``last``'s."""
    out = [_month(first)]
    while out[-1] < _month(last):
        out.append(_add_months(out[-1], 1))
    return out


def _add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)
