"""ledger: journal entries stored in the order they are written (SQLite)

Revision ID: 0020
Revises: 0001

On SQLite ``ledger_entries`` was a ``WITHOUT ROWID`` table, so each row lived in the
``(account_id, seq)`` b-tree itself: a batch of 100 transfers over random accounts inserted
about 200 rows of ~180 bytes into the middle of that tree, splitting pages, and dirtied about
370 pages that the commit wrote to the WAL (two ``pwrite`` calls a page). As an ordinary rowid
table the rows are appended (a handful of pages a batch) and ``(account_id, seq)`` is a narrow
unique index beside them; the same batches on the benchmark's ledger ran 20-40 % faster
(bench/results/ledger.md, round 4). The key, its name and every query are unchanged.
PostgreSQL stores every table this way already: nothing to do there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0001"
branch_labels = ("ledger",)
depends_on = None


def _rebuild(*, with_rowid: bool) -> None:
    """Copy the journal into a table of the other kind under the same name, key and index."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "ledger_entries_rebuilt",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "seq", name="pk_ledger_entries"),
        sqlite_with_rowid=with_rowid,
    )
    columns = (
        "account_id, seq, transfer_id, debits_pending, debits_posted, credits_pending, "
        "credits_posted, prev_hash, hash"
    )
    # Oldest first, so that the rowid order of the copied rows is the order they were written.
    op.execute(
        f"INSERT INTO ledger_entries_rebuilt ({columns}) SELECT {columns} FROM ledger_entries "
        "ORDER BY (SELECT ts_us FROM ledger_transfers t WHERE t.id = transfer_id), account_id, seq"
    )
    op.drop_index("ix_ledger_entries_transfer_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.rename_table("ledger_entries_rebuilt", "ledger_entries")
    op.create_index("ix_ledger_entries_transfer_id", "ledger_entries", ["transfer_id"])


def upgrade() -> None:
    _rebuild(with_rowid=True)


def downgrade() -> None:
    _rebuild(with_rowid=False)
