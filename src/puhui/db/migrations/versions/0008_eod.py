"""lending: end-of-day runs and steps, daily snapshots, the sandbox auto-debit channel

Revision ID: 0008
Revises: 0007

Frozen: written out in full, so a later change to the models needs a revision of its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lending_eod_runs",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("min_loan_id", sa.BigInteger(), nullable=False),
        sa.Column("max_loan_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("report_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("finished_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("business_date", name=op.f("pk_lending_eod_runs")),
    )
    op.create_table(
        "lending_eod_steps",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("loans", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("detail_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("finished_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", "part", "step", name=op.f("pk_lending_eod_steps")),
    )
    op.create_table(
        "lending_eod_snapshots",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("product_version_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bucket", sa.String(length=4), nullable=False),
        sa.Column("classification", sa.String(length=20), nullable=False),
        sa.Column("loans", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("provision_fen", sa.BigInteger(), nullable=False),
        sa.Column("credit_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "business_date",
            "part",
            "product_version_id",
            "bucket",
            "classification",
            name=op.f("pk_lending_eod_snapshots"),
        ),
    )
    op.create_table(
        "lending_eod_gl_snapshots",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("business_date", "code", name=op.f("pk_lending_eod_gl_snapshots")),
    )
    op.create_table(
        "lending_debit_sandbox_accounts",
        sa.Column("customer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_lending_debit_sandbox_accounts")),
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table("lending_debit_sandbox_accounts")
    op.drop_table("lending_eod_gl_snapshots")
    op.drop_table("lending_eod_snapshots")
    op.drop_table("lending_eod_steps")
    op.drop_table("lending_eod_runs")
    # ### end Alembic commands ###
