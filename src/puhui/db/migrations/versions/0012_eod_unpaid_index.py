"""lending: the end-of-day batch's indexes on installments (unpaid by due date; accrual)

Revision ID: 0012
Revises: 0008

The batch looks for installments due by the business date and not yet paid (auto-debit,
aging, penalty). Without the partial index that is a range over every installment ever due,
which at a million loans is most of the table; with it, only the open ones. The accrual reads
the current installments by a range of due dates; its covering index keeps that off the heap.
"""

from alembic import op

from puhui.lending import eod_models

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(eod_models.UNPAID_INDEX)
    op.execute(eod_models.ACCRUAL_INDEX)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_lending_installments_accrual")
    op.execute("DROP INDEX IF EXISTS ix_lending_installments_unpaid")
