"""compliance: related parties, published disclosure reports, major events, compliance alerts,
AML large-value reports, suspicious cases, the watch list and blocks

Revision ID: 0015
Revises: 0001

A branch of its own off the foundation ("compliance"), so other domains add theirs in parallel.
Columns that point at other domains' rows (customers, loans) carry no foreign key, since those
tables live on other branches.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0001"
branch_labels = ("compliance",)
depends_on = None

#: Published reports are immutable in the database itself (DIS-GEN-02): a correction is a new row.
SQLITE_TRIGGERS = (
    """CREATE TRIGGER compliance_reports_no_update BEFORE UPDATE ON compliance_reports
    BEGIN SELECT RAISE(ABORT, 'compliance_reports is append-only'); END""",
    """CREATE TRIGGER compliance_reports_no_delete BEFORE DELETE ON compliance_reports
    BEGIN SELECT RAISE(ABORT, 'compliance_reports is append-only'); END""",
)
PG_TRIGGERS = (
    """CREATE FUNCTION compliance_reports_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
    END $$""",
    """CREATE TRIGGER compliance_reports_guard BEFORE UPDATE OR DELETE ON compliance_reports
    FOR EACH ROW EXECUTE FUNCTION compliance_reports_guard()""",
)

TABLES = (
    "aml_blocks",
    "aml_watch_list",
    "aml_cases",
    "aml_large_value_reports",
    "compliance_alerts",
    "compliance_events",
    "compliance_reports",
    "related_parties",
)


def upgrade() -> None:
    op.create_table(
        "related_parties",
        sa.Column("customer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("relation", sa.String(length=64), nullable=False),
        sa.Column("disclosed", sa.Boolean(), nullable=False),
        sa.Column("flagged_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_related_parties")),
    )
    op.create_table(
        "compliance_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.String(length=32), nullable=False),
        sa.Column("figures_json", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("supersedes_id", sa.BigInteger(), nullable=True),
        sa.Column("correction_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("published_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_reports")),
        sa.UniqueConstraint("period", "version", name=op.f("uq_compliance_reports_period_version")),
    )
    op.create_table(
        "compliance_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("current_status", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("occurred_us", sa.BigInteger(), nullable=False),
        sa.Column("due_us", sa.BigInteger(), nullable=False),
        sa.Column("published_us", sa.BigInteger(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_events")),
    )
    op.create_table(
        "compliance_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("opened_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("resolved_us", sa.BigInteger(), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_alerts")),
    )
    op.create_table(
        "aml_large_value_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_kind", sa.String(length=8), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("txn_count", sa.Integer(), nullable=False),
        sa.Column("threshold_fen", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("filed_us", sa.BigInteger(), nullable=True),
        sa.Column("filed_by", sa.String(length=64), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aml_large_value_reports")),
        sa.UniqueConstraint(
            "customer_id",
            "business_date",
            "direction",
            "category",
            name=op.f("uq_aml_large_value_reports_customer_id_business_date_direction_category"),
        ),
    )
    op.create_table(
        "aml_cases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("customer_ids", sa.Text(), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reasoning", sa.Text(), server_default="", nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_us", sa.BigInteger(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("filed_by", sa.String(length=64), nullable=True),
        sa.Column("filed_us", sa.BigInteger(), nullable=True),
        sa.Column("opened_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aml_cases")),
        sa.UniqueConstraint("rule", "subject", name=op.f("uq_aml_cases_rule_subject")),
    )
    op.create_table(
        "aml_watch_list",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("id_number_bidx", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aml_watch_list")),
        sa.UniqueConstraint(
            "list_name", "id_number_bidx", name=op.f("uq_aml_watch_list_list_name_id_number_bidx")
        ),
    )
    op.create_table(
        "aml_blocks",
        sa.Column("customer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("watch_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("frozen_fen", sa.BigInteger(), nullable=False),
        sa.Column("freeze_transfer_ids", sa.Text(), nullable=False),
        sa.Column("blocked_us", sa.BigInteger(), nullable=False),
        sa.Column("released_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_aml_blocks")),
    )
    op.create_index(
        "ix_compliance_alerts_rule_subject",
        "compliance_alerts",
        ["rule_id", "subject", "status"],
        unique=False,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER compliance_reports_guard ON compliance_reports")
        op.execute("DROP FUNCTION compliance_reports_guard()")
    op.drop_index("ix_compliance_alerts_rule_subject", table_name="compliance_alerts")
    for name in TABLES:
        op.drop_table(name)
