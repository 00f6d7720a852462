"""custody: standing authorisations (业务授权) and the instruction outbox order

Revision ID: 0018
Revises: 0002

Domain operations that move custody money on the platform's initiative (funding a listing,
distributing a repayment, a claim sale, a compensation) book the ledger in their own
transaction and queue one bank instruction per transfer in it; a sender passes them to the
bank later under the payer's standing authorisation. ``queue_seq`` is the order the ledger
booked them in, which the bank must follow (a lender's distribution before the bid it pays).
The sandbox bank records a grant as an ``authorise`` instruction with its ``scope``, and
indexes ``received_us``, its arrival order.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_authorisations",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("user_ref", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("bank_account_no", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger),
    )
    op.create_index(
        "ix_custody_authorisations_account", "custody_authorisations", ["bank_account_no", "status"]
    )
    with op.batch_alter_table("custody_instructions") as t:
        t.add_column(sa.Column("queue_seq", sa.BigInteger))
    op.create_index("ix_custody_instructions_queue_seq", "custody_instructions", ["queue_seq"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE custody_outbox_seq")
    with op.batch_alter_table("sandbox_bank_instructions") as t:
        t.add_column(sa.Column("scope", sa.String(32)))
    op.create_index(
        "ix_sandbox_bank_instructions_received_us", "sandbox_bank_instructions", ["received_us"]
    )


def downgrade() -> None:
    op.drop_index("ix_sandbox_bank_instructions_received_us", "sandbox_bank_instructions")
    with op.batch_alter_table("sandbox_bank_instructions") as t:
        t.drop_column("scope")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE custody_outbox_seq")
    op.drop_index("ix_custody_instructions_queue_seq", "custody_instructions")
    with op.batch_alter_table("custody_instructions") as t:
        t.drop_column("queue_seq")
    op.drop_index("ix_custody_authorisations_account", "custody_authorisations")
    op.drop_table("custody_authorisations")
