"""The migration creates exactly the credit tables the models declare, and personal columns
carry their class and purpose (PFI-CLS-01)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from puhui.credit import models
from puhui.db.metadata import metadata


def test_migration_matches_the_models(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "credit_" in repr(d)] == []


def test_personal_columns_are_tagged():
    tagged = {
        (t.name, c.name)
        for t in models.metadata.sorted_tables
        if t.name.startswith("credit_")
        for c in t.columns
        if "pfi" in c.info
    }
    assert {
        ("credit_decisions", "applicant_digest"),
        ("credit_decisions", "score"),
        ("credit_decisions", "snapshot_json"),
        ("credit_fingerprints", "digest"),
        ("credit_blacklist", "digest"),
    } <= tagged
