"""custody: sandbox bank, custody sub-accounts and instructions, reconciliation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The ``sandbox_bank_*`` tables stand for the bank's own systems; the ``custody_*`` tables are
the platform's side. A branch of its own off the foundation ("custody"), so other domains can
add theirs in parallel.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = ("custody",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{ref_table}")


def upgrade() -> None:
    op.create_table(
        "sandbox_bank_accounts",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("user_ref", sa.String(64)),
        sa.Column("role", sa.String(32)),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("last_serial", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_sandbox_bank_accounts"),
        sa.UniqueConstraint("user_ref", "role", name="uq_sandbox_bank_accounts_user_ref_role"),
    )
    op.create_table(
        "sandbox_bank_otps",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_number", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(255), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("used_us", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_bank_otps"),
        _fk("sandbox_bank_otps", "account_number", "sandbox_bank_accounts.number"),
    )
    op.create_index("ix_sandbox_bank_otps_account_number", "sandbox_bank_otps", ["account_number"])
    op.create_table(
        "sandbox_bank_instructions",
        sa.Column("instruction_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_account", sa.String(32)),
        sa.Column("to_account", sa.String(32)),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("fault", sa.String(16)),
        sa.Column("reason", sa.String(64)),
        sa.Column("serial", sa.String(32)),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("completed_us", sa.BigInteger()),
        sa.PrimaryKeyConstraint("instruction_id", name="pk_sandbox_bank_instructions"),
    )
    op.create_index("ix_sandbox_bank_instructions_status", "sandbox_bank_instructions", ["status"])
    op.create_table(
        "sandbox_bank_journal",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("instruction_id", sa.String(64)),
        sa.Column("account_number", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("master_balance_after", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_bank_journal"),
        sa.UniqueConstraint("serial", name="uq_sandbox_bank_journal_serial"),
        _fk("sandbox_bank_journal", "account_number", "sandbox_bank_accounts.number"),
    )
    op.create_index(
        "ix_sandbox_bank_journal_business_date", "sandbox_bank_journal", ["business_date"]
    )

    op.create_table(
        "custody_accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("ledger_account_id", sa.BigInteger(), nullable=False),
        sa.Column("bank_account_no", sa.String(32)),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custody_accounts"),
        sa.UniqueConstraint("user_ref", "role", name="uq_custody_accounts_user_ref_role"),
        sa.UniqueConstraint("ledger_account_id", name="uq_custody_accounts_ledger_account_id"),
        sa.UniqueConstraint("bank_account_no", name="uq_custody_accounts_bank_account_no"),
        _fk("custody_accounts", "ledger_account_id", "ledger_accounts.id"),
    )
    op.create_table(
        "custody_instructions",
        sa.Column("id", sa.String(48), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("bank_from", sa.String(32)),
        sa.Column("bank_to", sa.String(32)),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("ledger_pending_id", sa.String(64)),
        sa.Column("ledger_transfer_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("bank_serial", sa.String(32)),
        sa.Column("failure_reason", sa.String(64)),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("sent_us", sa.BigInteger()),
        sa.Column("completed_us", sa.BigInteger()),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custody_instructions"),
        _fk("custody_instructions", "debit_account_id", "ledger_accounts.id"),
        _fk("custody_instructions", "credit_account_id", "ledger_accounts.id"),
    )
    op.create_index("ix_custody_instructions_status", "custody_instructions", ["status"])
    op.create_table(
        "custody_recon_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_sha256", sa.String(64), nullable=False),
        sa.Column("statement_path", sa.String(512), nullable=False),
        sa.Column("bank_account", sa.String(32), nullable=False),
        sa.Column("opening", sa.BigInteger(), nullable=False),
        sa.Column("closing", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custody_recon_runs"),
        sa.UniqueConstraint(
            "business_date",
            "statement_sha256",
            name="uq_custody_recon_runs_business_date_statement_sha256",
        ),
    )
    op.create_table(
        "custody_statement_lines",
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("instruction_id", sa.String(64)),
        sa.Column("sub_account", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("serial", name="pk_custody_statement_lines"),
        _fk("custody_statement_lines", "run_id", "custody_recon_runs.id"),
    )
    op.create_index(
        "ix_custody_statement_lines_instruction_id", "custody_statement_lines", ["instruction_id"]
    )
    op.create_index(
        "ix_custody_statement_lines_business_date", "custody_statement_lines", ["business_date"]
    )
    op.create_table(
        "custody_recon_breaks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("match_key", sa.String(80), nullable=False),
        sa.Column("sub_account", sa.String(40), nullable=False),
        sa.Column("ledger_account_id", sa.BigInteger()),
        sa.Column("bank_amount", sa.BigInteger(), nullable=False),
        sa.Column("ledger_amount", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(16)),
        sa.Column("resolved_on", sa.Date()),
        sa.Column("resolved_by_transfer", sa.String(64)),
        sa.Column("resolved_us", sa.BigInteger()),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custody_recon_breaks"),
        sa.UniqueConstraint(
            "match_key", "sub_account", name="uq_custody_recon_breaks_match_key_sub_account"
        ),
        _fk("custody_recon_breaks", "run_id", "custody_recon_runs.id"),
        _fk("custody_recon_breaks", "ledger_account_id", "ledger_accounts.id"),
    )
    op.create_index("ix_custody_recon_breaks_status", "custody_recon_breaks", ["status"])
    op.create_index(
        "ix_custody_recon_breaks_business_date", "custody_recon_breaks", ["business_date"]
    )
    op.create_table(
        "custody_break_proposals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("break_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("debit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("credit_account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("proposed_by", sa.String(64), nullable=False),
        sa.Column("proposed_us", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_us", sa.BigInteger()),
        sa.Column("ledger_transfer_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_custody_break_proposals"),
        _fk("custody_break_proposals", "break_id", "custody_recon_breaks.id"),
        _fk("custody_break_proposals", "debit_account_id", "ledger_accounts.id"),
        _fk("custody_break_proposals", "credit_account_id", "ledger_accounts.id"),
    )
    op.create_index("ix_custody_break_proposals_break_id", "custody_break_proposals", ["break_id"])


def downgrade() -> None:
    for table in (
        "custody_break_proposals",
        "custody_recon_breaks",
        "custody_statement_lines",
        "custody_recon_runs",
        "custody_instructions",
        "custody_accounts",
        "sandbox_bank_journal",
        "sandbox_bank_instructions",
        "sandbox_bank_otps",
        "sandbox_bank_accounts",
    ):
        op.drop_table(table)
