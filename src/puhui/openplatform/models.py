"""Open-platform tables (prefix ``op_``).

A partner's API secret is needed to check its signatures, so it cannot be hashed: it is sealed
with the identity crypto envelope (a per-row AES-256-GCM data key, wrapped by the master key),
like personal data. Lists (scopes, IP ranges, product codes, webhook topics) are JSON text, read
whole with the row. Times are integer microseconds since the epoch, UTC.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from puhui.db.metadata import BigIntId, metadata

partners = Table(
    "op_partners",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(48), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(12), nullable=False),  # active | disabled
    Column("mode", String(8), nullable=False),  # sandbox | live
    Column("scopes_json", Text, nullable=False),
    Column("ip_allowlist_json", Text, nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=False),
    #: Lending product codes the partner may sell.
    Column("product_codes_json", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

partner_keys = Table(
    "op_partner_keys",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("partner_id", BigInteger, ForeignKey("op_partners.id"), nullable=False),
    Column("key_id", String(64), nullable=False, unique=True),
    Column("secret_ct", Text, nullable=False),
    Column("wrapped_key", Text, nullable=False),
    Column("master_key_id", String(32), nullable=False),
    Column("status", String(12), nullable=False),  # active | retired
    Column("created_us", BigInteger, nullable=False),
    #: When a rotated-out key stops being accepted (NULL: while active, no end).
    Column("expires_us", BigInteger, nullable=True),
    Index("ix_op_partner_keys_partner_id", "partner_id"),
)

nonces = Table(
    "op_nonces",
    metadata,
    Column("partner_id", BigInteger, primary_key=True, autoincrement=False),
    Column("nonce", String(64), primary_key=True),
    Column("expires_us", BigInteger, nullable=False),
    Index("ix_op_nonces_expires_us", "expires_us"),
)

partner_applications = Table(
    "op_partner_applications",
    metadata,
    Column("application_id", BigInteger, primary_key=True, autoincrement=False),
    Column("partner_id", BigInteger, ForeignKey("op_partners.id"), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    #: The partner's own reference for the application, unique per partner.
    Column("external_ref", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("partner_id", "external_ref"),
)

webhook_subscriptions = Table(
    "op_webhook_subscriptions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("partner_id", BigInteger, ForeignKey("op_partners.id"), nullable=False),
    Column("url", String(500), nullable=False),
    Column("topics_json", Text, nullable=False),
    Column("status", String(12), nullable=False),  # active | disabled
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_op_webhook_subscriptions_partner_id", "partner_id"),
)

webhook_deliveries = Table(
    "op_webhook_deliveries",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        BigInteger,
        ForeignKey("op_webhook_subscriptions.id", name="fk_op_webhook_deliveries_subscription"),
        nullable=False,
    ),
    Column("partner_id", BigInteger, nullable=False),
    Column("event_id", BigInteger, nullable=False),
    Column("topic", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("body_json", Text, nullable=False),
    #: pending | delivering | succeeded | failed (attempts exhausted; waits for a redelivery)
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_us", BigInteger, nullable=False),
    Column("locked_until_us", BigInteger, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("delivered_us", BigInteger, nullable=True),
    UniqueConstraint("subscription_id", "event_id"),
    Index("ix_op_webhook_deliveries_due", "status", "next_attempt_us"),
    Index("ix_op_webhook_deliveries_chain", "subscription_id", "key", "seq"),
)

webhook_attempts = Table(
    "op_webhook_attempts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, ForeignKey("op_webhook_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("trigger", String(12), nullable=False),  # scheduled | manual
    Column("started_us", BigInteger, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("outcome", String(12), nullable=False),  # succeeded | failed
    Index("ix_op_webhook_attempts_delivery_id", "delivery_id"),
)
