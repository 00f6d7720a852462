"""events: the transactional outbox and the per-key sequence heads

Revision ID: 0010
Revises: 0001

A branch of its own off the foundation ("events"), so other domains add theirs in parallel.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = ("events",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events_outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("dispatched_us", sa.BigInteger()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_us", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_events_outbox"),
        sa.UniqueConstraint("key", "seq", name="uq_events_outbox_key_seq"),
    )
    op.create_index("ix_events_outbox_pending", "events_outbox", ["dispatched_us", "id"])
    op.create_table(
        "events_key_heads",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_events_key_heads"),
    )


def downgrade() -> None:
    op.drop_table("events_key_heads")
    op.drop_index("ix_events_outbox_pending", table_name="events_outbox")
    op.drop_table("events_outbox")
