"""credit: decisions with their reasons, human reviews, fingerprints, blacklist, pre-authorised
limits and observed outcomes

Revision ID: 0006
Revises: 0001

A branch of its own off the foundation ("credit"), so other domains add theirs in parallel.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = ("credit",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{ref_table}")


def upgrade() -> None:
    op.create_table(
        "credit_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("applicant_ref", sa.String(64), nullable=False),
        sa.Column("applicant_digest", sa.String(64), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("requested_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("score", sa.Integer()),
        sa.Column("probability_of_default", sa.String(16)),
        sa.Column("grade", sa.String(1)),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("approved_fen", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(16)),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("input_digest", sa.String(64), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("snapshot_json", sa.Text(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_decisions"),
    )
    op.create_index("ix_credit_decisions_applicant_ref", "credit_decisions", ["applicant_ref"])
    op.create_index("ix_credit_decisions_business_date", "credit_decisions", ["business_date"])
    op.create_table(
        "credit_reviews",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.Column("applicant_ref", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reviewer", sa.String(64)),
        sa.Column("note", sa.Text()),
        sa.Column("requested_us", sa.BigInteger(), nullable=False),
        sa.Column("resolved_us", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_credit_reviews"),
        sa.UniqueConstraint("decision_id", name="uq_credit_reviews_decision_id"),
        _fk("credit_reviews", "decision_id", "credit_decisions.id"),
    )
    op.create_table(
        "credit_fingerprints",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("applicant_digest", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_fingerprints"),
        _fk("credit_fingerprints", "decision_id", "credit_decisions.id"),
    )
    op.create_index(
        "ix_credit_fingerprints_kind_digest_seen_us",
        "credit_fingerprints",
        ["kind", "digest", "seen_us"],
    )
    op.create_table(
        "credit_blacklist",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "digest", name="pk_credit_blacklist"),
    )
    op.create_table(
        "credit_preauthorisations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("customer_ref", sa.String(64), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("basis_json", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_preauthorisations"),
    )
    op.create_index(
        "ix_credit_preauthorisations_customer_ref", "credit_preauthorisations", ["customer_ref"]
    )
    op.create_table(
        "credit_outcomes",
        sa.Column("decision_id", sa.BigInteger(), nullable=False),
        sa.Column("bad", sa.Boolean(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_credit_outcomes"),
        _fk("credit_outcomes", "decision_id", "credit_decisions.id"),
    )


def downgrade() -> None:
    for table in (
        "credit_outcomes",
        "credit_preauthorisations",
        "credit_blacklist",
        "credit_fingerprints",
        "credit_reviews",
        "credit_decisions",
    ):
        op.drop_table(table)
