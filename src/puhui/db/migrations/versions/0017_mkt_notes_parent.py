"""marketplace: index the note a claim transfer was cut from

Revision ID: 0017
Revises: 0013

The monthly disclosure counts current lenders by notes "not sold on" (a correlated NOT EXISTS
on ``parent_note_id``). Without an index SQLite scans every note for each note: 260 s for the
report at 100,000 loans (bench/disclosure.py), 1.5 s for that part with it.
"""

from alembic import op

revision = "0017"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mkt_notes_parent_note_id", "mkt_notes", ["parent_note_id"])


def downgrade() -> None:
    op.drop_index("ix_mkt_notes_parent_note_id", table_name="mkt_notes")
