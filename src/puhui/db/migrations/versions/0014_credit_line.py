"""credit line: lines, their entries, statements and instalment plans

Revision ID: 0014
Revises: 0001

A branch of its own off the foundation ("credit_line"). Customer ids carry no foreign key:
customers live on another branch. Frozen once merged: written out in full.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0001"
branch_labels = ("credit_line",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fen(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "credit_lines",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        _fen("temp_limit_fen"),
        sa.Column("temp_limit_until", sa.Date()),
        sa.Column("annual_rate", sa.String(40), nullable=False),
        sa.Column("rate_ppb", sa.BigInteger(), nullable=False),
        sa.Column("penalty_rate_ppb", sa.BigInteger(), nullable=False),
        sa.Column("min_payment_ppb", sa.BigInteger(), nullable=False),
        sa.Column("instalment_fee_ppb", sa.BigInteger(), nullable=False),
        sa.Column("statement_day", sa.Integer(), nullable=False),
        sa.Column("due_day", sa.Integer(), nullable=False),
        sa.Column("auto_debit", sa.Integer(), server_default="1", nullable=False),
        sa.Column("suspend_dpd", sa.Integer(), nullable=False),
        sa.Column("close_dpd", sa.Integer(), nullable=False),
        sa.Column("cash_draw_allowed", sa.Integer(), server_default="0", nullable=False),
        _fen("unbilled_fen"),
        _fen("billed_fen"),
        _fen("instalment_fen"),
        _fen("fees_fen"),
        _fen("interest_fen"),
        _fen("penalty_fen"),
        _fen("cycle_interest_fen"),
        _fen("cycle_penalty_fen"),
        _fen("stmt_remaining_fen"),
        _fen("min_remaining_fen"),
        sa.Column("revolving", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_statement_date", sa.Date()),
        sa.Column("next_statement_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date()),
        sa.Column("overdue_since", sa.Date()),
        sa.Column("dpd", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bucket", sa.String(4), server_default="M0", nullable=False),
        sa.Column("opened_date", sa.Date(), nullable=False),
        sa.Column("closed_date", sa.Date()),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_lines"),
        sa.UniqueConstraint("customer_id", name="uq_credit_lines_customer_id"),
    )
    op.create_index("ix_credit_lines_next_statement_date", "credit_lines", ["next_statement_date"])
    op.create_index("ix_credit_lines_due_date", "credit_lines", ["due_date"])
    op.create_table(
        "credit_line_entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_id", sa.BigInteger()),
        sa.Column("merchant", sa.String(64)),
        sa.Column("reference", sa.String(64)),
        sa.Column("purchase_id", sa.BigInteger()),
        sa.Column("plan_id", sa.BigInteger()),
        _fen("refunded_fen"),
        _fen("to_fees_fen"),
        _fen("to_interest_fen"),
        _fen("to_principal_fen"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_line_entries"),
        sa.UniqueConstraint(
            "line_id", "kind", "reference", name="uq_credit_line_entries_line_id_kind_reference"
        ),
    )
    op.create_index(
        "ix_credit_line_entries_line_id_statement_id",
        "credit_line_entries",
        ["line_id", "statement_id"],
    )
    op.create_table(
        "credit_line_statements",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("opening_fen", sa.BigInteger(), nullable=False),
        sa.Column("purchases_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunds_fen", sa.BigInteger(), nullable=False),
        sa.Column("payments_fen", sa.BigInteger(), nullable=False),
        sa.Column("fees_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("instalments_fen", sa.BigInteger(), nullable=False),
        sa.Column("closing_fen", sa.BigInteger(), nullable=False),
        sa.Column("minimum_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_line_statements"),
        sa.UniqueConstraint(
            "line_id", "statement_date", name="uq_credit_line_statements_line_id_statement_date"
        ),
    )
    op.create_table(
        "credit_line_plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("fee_ppb", sa.BigInteger(), nullable=False),
        sa.Column("fee_per_period_fen", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate_irr", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("periods_billed", sa.Integer(), server_default="0", nullable=False),
        _fen("principal_billed_fen"),
        sa.Column("created_date", sa.Date(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_line_plans"),
        sa.UniqueConstraint("source", "source_id", name="uq_credit_line_plans_source_source_id"),
    )
    op.create_index("ix_credit_line_plans_line_id", "credit_line_plans", ["line_id"])


def downgrade() -> None:
    op.drop_index("ix_credit_line_plans_line_id", table_name="credit_line_plans")
    op.drop_table("credit_line_plans")
    op.drop_table("credit_line_statements")
    op.drop_index("ix_credit_line_entries_line_id_statement_id", table_name="credit_line_entries")
    op.drop_table("credit_line_entries")
    op.drop_index("ix_credit_lines_due_date", table_name="credit_lines")
    op.drop_index("ix_credit_lines_next_statement_date", table_name="credit_lines")
    op.drop_table("credit_lines")
