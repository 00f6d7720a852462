"""lending: end-of-day runs and steps, daily snapshots, the sandbox auto-debit channel

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from puhui.lending import eod_models as models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in models.TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(models.TABLES):
        table.drop(bind)
