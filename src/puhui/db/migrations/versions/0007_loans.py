"""lending: applications, loans, installments, loan transactions, the business calendar

Revision ID: 0007
Revises: 0003

Frozen: written out in full (not created from the models), so a later change to the models
needs a revision of its own and this one always builds the same schema.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lending_calendar",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_calendar")),
    )
    op.create_table(
        "lending_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("product_version_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("annual_rate", sa.String(length=40), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("purpose_detail", sa.String(length=500), server_default="", nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=64), server_default="web", nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=True),
        sa.Column("decision_outcome", sa.String(length=20), nullable=True),
        sa.Column("reasons_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("recommended_by", sa.BigInteger(), nullable=True),
        sa.Column("recommendation", sa.String(length=20), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_fen", sa.BigInteger(), nullable=True),
        sa.Column("offer_json", sa.Text(), nullable=True),
        sa.Column("offer_expires_us", sa.BigInteger(), nullable=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_applications")),
    )
    op.create_index(
        "ix_lending_applications_customer_id", "lending_applications", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_lending_applications_state", "lending_applications", ["state"], unique=False
    )
    op.create_table(
        "lending_application_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["lending_applications.id"],
            name=op.f("fk_lending_application_events_application_id_lending_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_application_events")),
    )
    op.create_index(
        "ix_lending_application_events_application_id",
        "lending_application_events",
        ["application_id"],
        unique=False,
    )
    op.create_table(
        "lending_loans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("product_version_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(length=40), nullable=False),
        sa.Column("penalty_rate", sa.String(length=40), nullable=False),
        sa.Column("rate_ppb", sa.BigInteger(), nullable=False),
        sa.Column("penalty_rate_ppb", sa.BigInteger(), nullable=False),
        sa.Column("year_days", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("term_unit", sa.String(length=8), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("maturity_date", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("upfront_fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("irr_annual_rate", sa.String(length=40), nullable=False),
        sa.Column("contract_text", sa.Text(), nullable=False),
        sa.Column("contract_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_us", sa.BigInteger(), nullable=False),
        sa.Column("cooling_off_until_us", sa.BigInteger(), nullable=False),
        sa.Column("disbursed_us", sa.BigInteger(), nullable=True),
        sa.Column("rollovers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("principal_outstanding_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("interest_accrued_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credit_balance_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("accrued_through", sa.Date(), nullable=True),
        sa.Column("dpd", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bucket", sa.String(length=4), server_default="M0", nullable=False),
        sa.Column("classification", sa.String(length=20), server_default="normal", nullable=False),
        sa.Column("provision_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("written_off_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("recovered_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("closed_date", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_loans")),
        sa.UniqueConstraint("application_id", name=op.f("uq_lending_loans_application_id")),
    )
    op.create_index("ix_lending_loans_customer_id", "lending_loans", ["customer_id"], unique=False)
    op.create_index("ix_lending_loans_state", "lending_loans", ["state"], unique=False)
    op.create_table(
        "lending_installments",
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("late_fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_principal_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_interest_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_late_fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_penalty_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("waived_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["lending_loans.id"],
            name=op.f("fk_lending_installments_loan_id_lending_loans"),
        ),
        sa.PrimaryKeyConstraint("loan_id", "seq", name=op.f("pk_lending_installments")),
    )
    op.create_index(
        "ix_lending_installments_due_date", "lending_installments", ["due_date"], unique=False
    )
    op.create_table(
        "lending_loan_transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("booked_date", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("late_fee_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("overpayment_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("external_ref", sa.String(length=64), nullable=True),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("reversed_by_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["lending_loans.id"],
            name=op.f("fk_lending_loan_transactions_loan_id_lending_loans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_loan_transactions")),
        sa.UniqueConstraint(
            "loan_id",
            "external_ref",
            name=op.f("uq_lending_loan_transactions_loan_id_external_ref"),
        ),
    )
    op.create_index(
        "ix_lending_loan_transactions_loan_id",
        "lending_loan_transactions",
        ["loan_id", "value_date"],
        unique=False,
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_index("ix_lending_loan_transactions_loan_id", table_name="lending_loan_transactions")
    op.drop_table("lending_loan_transactions")
    op.drop_index("ix_lending_installments_due_date", table_name="lending_installments")
    op.drop_table("lending_installments")
    op.drop_index("ix_lending_loans_customer_id", table_name="lending_loans")
    op.drop_index("ix_lending_loans_state", table_name="lending_loans")
    op.drop_table("lending_loans")
    op.drop_index(
        "ix_lending_application_events_application_id", table_name="lending_application_events"
    )
    op.drop_table("lending_application_events")
    op.drop_index("ix_lending_applications_customer_id", table_name="lending_applications")
    op.drop_index("ix_lending_applications_state", table_name="lending_applications")
    op.drop_table("lending_applications")
    op.drop_table("lending_calendar")
    # ### end Alembic commands ###
