"""lending: collection assignments and the collection contact log

Revision ID: 0009
Revises: 0007

Frozen: written out in full, so a later change to the models needs a revision of its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lending_collection_assignments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.BigInteger(), nullable=False),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("assigned_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_collection_assignments")),
    )
    op.create_index(
        "ix_lending_collection_assignments_collector_id",
        "lending_collection_assignments",
        ["collector_id", "ended_us"],
        unique=False,
    )
    op.create_index(
        "ix_lending_collection_assignments_loan_id",
        "lending_collection_assignments",
        ["loan_id", "ended_us"],
        unique=False,
    )
    op.create_table(
        "lending_collection_contacts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("collector_id", sa.BigInteger(), nullable=False),
        sa.Column("contacted_us", sa.BigInteger(), nullable=False),
        sa.Column("contact_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("promise_date", sa.Date(), nullable=True),
        sa.Column("promise_fen", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_collection_contacts")),
    )
    op.create_index(
        "ix_lending_collection_contacts_loan_id",
        "lending_collection_contacts",
        ["loan_id", "contact_date"],
        unique=False,
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_index(
        "ix_lending_collection_contacts_loan_id", table_name="lending_collection_contacts"
    )
    op.drop_table("lending_collection_contacts")
    op.drop_index(
        "ix_lending_collection_assignments_collector_id",
        table_name="lending_collection_assignments",
    )
    op.drop_index(
        "ix_lending_collection_assignments_loan_id", table_name="lending_collection_assignments"
    )
    op.drop_table("lending_collection_assignments")
    # ### end Alembic commands ###
