"""Compliance tables: related parties, published disclosures, major events, alerts and AML.

Times are integer microseconds since the epoch, UTC (``*_us``); business dates are dates.
Columns that point at other domains' rows (customers, loans) carry no foreign key, since those
tables live on other migration branches (see migration 0015).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from puhui.db.metadata import BigIntId, metadata

#: The platform's related parties (关联方, 十三不得 item 1, DIS-OPS item 12), one row a customer.
related_parties = Table(
    "related_parties",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("relation", String(64), nullable=False),
    Column("disclosed", Boolean, nullable=False),
    Column("flagged_us", BigInteger, nullable=False),
)

#: Published monthly reports (月度运营信息). Never updated: a correction is a new version that
#: points at the one it replaces (DIS-GEN-02).
reports = Table(
    "compliance_reports",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("version", Integer, nullable=False),
    Column("as_of", String(32), nullable=False),  # "2026-10-31T23:59:59+08:00"
    Column("figures_json", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("deadline", Date, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("supersedes_id", BigInteger),
    Column("correction_reason", Text, nullable=False, server_default=""),
    Column("published_by", String(64), nullable=False),
    Column("published_us", BigInteger, nullable=False),
    UniqueConstraint("period", "version"),
)

#: Major events (重大事项, DIS-EVT-01): published within 48 hours of occurring.
events = Table(
    "compliance_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("kind", String(48), nullable=False),
    Column("title", String(200), nullable=False),
    Column("cause", Text, nullable=False),
    Column("current_status", Text, nullable=False),
    Column("impact", Text, nullable=False),
    Column("measures", Text, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("due_us", BigInteger, nullable=False),
    Column("published_us", BigInteger),
    Column("recorded_by", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

#: Rule breaches for compliance staff; one open alert per rule and subject.
alerts = Table(
    "compliance_alerts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("rule_id", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", Text, nullable=False),
    Column("status", String(12), nullable=False),  # open | acknowledged | resolved
    Column("opened_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("resolved_us", BigInteger),
    Column("resolved_by", String(64)),
    Column("resolution", Text),
    Index("ix_compliance_alerts_rule_subject", "rule_id", "subject", "status"),
)

#: Large-value transaction reports (大额交易报告, AML-LVT-01..03), one per customer, day,
#: direction and category.
large_value_reports = Table(
    "aml_large_value_reports",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("customer_kind", String(8), nullable=False),  # person | entity
    Column("business_date", Date, nullable=False),
    Column("direction", String(4), nullable=False),  # in | out
    Column("category", String(24), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("txn_count", Integer, nullable=False),
    Column("threshold_fen", BigInteger, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(12), nullable=False),  # pending | filed
    Column("filed_us", BigInteger),
    Column("filed_by", String(64)),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("customer_id", "business_date", "direction", "category"),
)

#: Suspicious-transaction cases (可疑交易, AML-STR-01/02).
cases = Table(
    "aml_cases",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("rule", String(32), nullable=False),
    Column("subject", String(128), nullable=False),  # what the hit is about, for idempotence
    Column("customer_ids", Text, nullable=False),  # JSON list
    Column("detail_json", Text, nullable=False),
    Column("status", String(12), nullable=False),  # open|reviewing|confirmed|dismissed|filed
    Column("reasoning", Text, nullable=False, server_default=""),
    Column("decision_reason", Text),
    Column("decided_by", String(64)),
    Column("decided_us", BigInteger),
    Column("due_date", Date),  # filing deadline once confirmed
    Column("filed_by", String(64)),
    Column("filed_us", BigInteger),
    Column("opened_us", BigInteger, nullable=False),
    UniqueConstraint("rule", "subject"),
)

#: Sanctions and terror lists (名单), matched on the identity blind index of an ID number.
watch_list = Table(
    "aml_watch_list",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("list_name", String(64), nullable=False),
    Column("id_number_bidx", String(64), nullable=False),
    Column("note", String(200), nullable=False, server_default=""),
    Column("added_by", String(64), nullable=False),
    Column("added_us", BigInteger, nullable=False),
    UniqueConstraint("list_name", "id_number_bidx"),
)

#: Customers blocked by a watch-list match: no transaction may start for them (AML-STR-02).
blocks = Table(
    "aml_blocks",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("watch_id", BigInteger, nullable=False),
    Column("case_id", BigInteger, nullable=False),
    Column("frozen_fen", BigInteger, nullable=False),
    Column("freeze_transfer_ids", Text, nullable=False),  # JSON list of ledger pending ids
    Column("blocked_us", BigInteger, nullable=False),
    Column("released_us", BigInteger),
)
