"""Migration 0014 creates exactly the credit-line tables of ``credit_line/models.py``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from puhui.db.metadata import metadata
from puhui.lending.credit_line import models


def test_migration_0014_matches_the_models(engine):
    names = {t.name for t in models.TABLES}
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if any(n in repr(d) for n in names)] == []
