"""tasks: the monthly disclosure's partition results

Revision ID: 0019
Revises: 0015

``puhui disclose --distributed`` hands one message per partition to the task workers; each
commits its partial figures here, keyed by (period, partitions, part), so a redelivered
message finds its row and does nothing, and the dispatcher merges the rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_disclosure_partials",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("partitions", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("part", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("figures_json", sa.Text, nullable=False),
        sa.Column("computed_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("period", "partitions", "part", name="pk_task_disclosure_partials"),
    )


def downgrade() -> None:
    op.drop_table("task_disclosure_partials")
