"""lending: applications, loans, installments, loan transactions, the business calendar

Revision ID: 0007
Revises: 0003
"""

from alembic import op

from puhui.lending import models

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = (
    models.calendar,
    models.applications,
    models.application_events,
    models.loans,
    models.installments,
    models.loan_transactions,
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
