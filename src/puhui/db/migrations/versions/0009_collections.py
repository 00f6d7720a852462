"""lending: collection assignments and the collection contact log

Revision ID: 0009
Revises: 0007
"""

from alembic import op

from puhui.lending import collection_models as models

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLES = (models.assignments, models.contacts)


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
