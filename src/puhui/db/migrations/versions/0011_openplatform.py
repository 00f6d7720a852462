"""openplatform: partners, their sealed API keys, nonces, pushed applications, webhook
subscriptions, deliveries and the delivery log

Revision ID: 0011
Revises: 0001

A branch of its own off the foundation ("openplatform"), so other domains add theirs in
parallel. Columns that point at other domains' rows (applications, customers, events) carry no
foreign key, since those tables live on other branches.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = ("openplatform",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    # PostgreSQL cuts identifiers at 63 characters: keep the name within it, the same on both.
    name = f"fk_{table}_{column}_{ref_table}"[:63]
    return sa.ForeignKeyConstraint([column], [target], name=name)


def upgrade() -> None:
    op.create_table(
        "op_partners",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("scopes_json", sa.Text(), nullable=False),
        sa.Column("ip_allowlist_json", sa.Text(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("product_codes_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_op_partners"),
        sa.UniqueConstraint("code", name="uq_op_partners_code"),
    )
    op.create_table(
        "op_partner_keys",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("secret_ct", sa.Text(), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_op_partner_keys"),
        sa.UniqueConstraint("key_id", name="uq_op_partner_keys_key_id"),
        _fk("op_partner_keys", "partner_id", "op_partners.id"),
    )
    op.create_index("ix_op_partner_keys_partner_id", "op_partner_keys", ["partner_id"])
    op.create_table(
        "op_nonces",
        sa.Column("partner_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "nonce", name="pk_op_nonces"),
    )
    op.create_index("ix_op_nonces_expires_us", "op_nonces", ["expires_us"])
    op.create_table(
        "op_partner_applications",
        sa.Column("application_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("external_ref", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", name="pk_op_partner_applications"),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name="uq_op_partner_applications_partner_id_external_ref"
        ),
        _fk("op_partner_applications", "partner_id", "op_partners.id"),
    )
    op.create_table(
        "op_webhook_subscriptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("topics_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_op_webhook_subscriptions"),
        _fk("op_webhook_subscriptions", "partner_id", "op_partners.id"),
    )
    op.create_index(
        "ix_op_webhook_subscriptions_partner_id", "op_webhook_subscriptions", ["partner_id"]
    )
    op.create_table(
        "op_webhook_deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("partner_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("body_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_us", sa.BigInteger(), nullable=False),
        sa.Column("locked_until_us", sa.BigInteger()),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("delivered_us", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_op_webhook_deliveries"),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name="uq_op_webhook_deliveries_subscription_id_event_id"
        ),
        # the conventional name would exceed PostgreSQL's 63 characters
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["op_webhook_subscriptions.id"],
            name="fk_op_webhook_deliveries_subscription",
        ),
    )
    op.create_index(
        "ix_op_webhook_deliveries_due", "op_webhook_deliveries", ["status", "next_attempt_us"]
    )
    op.create_index(
        "ix_op_webhook_deliveries_chain",
        "op_webhook_deliveries",
        ["subscription_id", "key", "seq"],
    )
    op.create_table(
        "op_webhook_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(12), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_op_webhook_attempts"),
        _fk("op_webhook_attempts", "delivery_id", "op_webhook_deliveries.id"),
    )
    op.create_index("ix_op_webhook_attempts_delivery_id", "op_webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in (
        "op_webhook_attempts",
        "op_webhook_deliveries",
        "op_webhook_subscriptions",
        "op_partner_applications",
        "op_nonces",
        "op_partner_keys",
        "op_partners",
    ):
        op.drop_table(table)
