"""PFI-CLS-01 / SEC-PI-01: every personal-data column is tagged with its class and purpose;
the migration creates exactly the tables the models declare."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from puhui.db.metadata import metadata
from puhui.identity import models

PERSONAL = re.compile(
    r"phone|name|id_number|card|address|income|loans|password_hash|totp_secret|answers|birth|"
    r"dimensions|score|level$|ip$|user_agent|digest|bidx|_ct$|token|csrf|code_hash|subject|wrapped_key"
)
NOT_PERSONAL = {
    ("identity_entities", "name"),  # a company's registered name is public
    ("identity_org_units", "name"),
    ("identity_roles", "name"),
    ("identity_positions", "name"),
    ("identity_questionnaires", "digest"),
    ("identity_consents", "document_digest"),
    ("identity_audit_log", "before_digest"),
    ("identity_audit_log", "after_digest"),
    ("identity_risk_limits", "level"),
}


def identity_tables():
    return [t for t in metadata.sorted_tables if t.name.startswith("identity_")]


def test_every_personal_column_carries_a_class_and_a_purpose():
    untagged = [
        f"{t.name}.{c.name}"
        for t in identity_tables()
        for c in t.columns
        if PERSONAL.search(c.name) and (t.name, c.name) not in NOT_PERSONAL and "pfi" not in c.info
    ]
    assert untagged == []
    for t in identity_tables():
        for c in t.columns:
            if "pfi" in c.info:
                assert c.info["pfi"] in {"C1", "C2", "C3"}, f"{t.name}.{c.name}"
                assert c.info["purpose"], f"{t.name}.{c.name} has no purpose"


def test_c2_identifiers_are_sealed_and_c3_never_plain():
    for t in identity_tables():
        for c in t.columns:
            cls = c.info.get("pfi")
            if cls == "C3":
                assert c.name.endswith(("_hash", "_ct", "wrapped_key")), f"{t.name}.{c.name}"
    cust = models.customers.c
    for name in ("phone_ct", "name_ct", "id_number_ct", "address_ct", "income_ct"):
        assert cust[name].info["pfi"] == "C2"


def test_migration_matches_the_models(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "identity_" in repr(d)] == []
