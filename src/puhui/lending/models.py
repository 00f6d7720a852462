"""Lending tables.

A product is a code and a name; what it offers lives in its versions, which are append-only: a
change of terms is a new version, and a loan keeps the id of the version it was made under, so
its terms can always be read back exactly as they were. ``terms_json`` is the whole of the
terms (rates as decimal strings, amounts in fen); the other columns repeat what lists and
checks query, and the rate assessment made when the version was created.
"""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql.elements import ColumnElement

from puhui.db.metadata import BigIntId, metadata

products = Table(
    "lending_products",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

product_versions = Table(
    "lending_product_versions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("product_id", BigInteger, ForeignKey("lending_products.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("method", String(32), nullable=False),
    Column("term_unit", String(8), nullable=False),
    Column("regulatory_profile", String(32), nullable=False),
    Column("min_amount_fen", BigInteger, nullable=False),
    Column("max_amount_fen", BigInteger, nullable=False),
    #: Rates as decimal strings: exact on SQLite as on PostgreSQL.
    Column("max_annual_rate", String(40), nullable=False),
    Column("highest_annual_rate", String(40), nullable=False),
    Column("highest_effective_rate", String(40), nullable=False),
    Column("cap_rate", String(40), nullable=False),
    Column("cap_basis", String(200), nullable=False),
    Column("cap_config_version", String(64), nullable=False),
    Column("terms_json", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("product_id", "version"),
    Index("ix_lending_product_versions_product_id", "product_id"),
)

# --- loan lifecycle (issue 4): see docs/lending.md for every column's meaning ---------------

#: The logical business date loans run on (one row, id 1), apart from the wall clock: the
#: end-of-day batch advances it, and backdated transactions are dated against it.
calendar = Table(
    "lending_calendar",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("business_date", Date, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

applications = Table(
    "lending_applications",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("product_version_id", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("term", Integer, nullable=False),
    Column("annual_rate", String(40), nullable=True),  # set by the decision / offer
    Column("purpose", String(32), nullable=False),
    Column("purpose_detail", String(500), nullable=False, server_default=""),
    Column("state", String(20), nullable=False),
    Column("channel", String(64), nullable=False, server_default="web"),
    Column("decision_id", BigInteger, nullable=True),  # credit.decisions.id
    Column("decision_outcome", String(20), nullable=True),
    Column("reasons_json", Text, nullable=False, server_default="[]"),
    Column("recommended_by", BigInteger, nullable=True),  # staff id (maker)
    Column("recommendation", String(20), nullable=True),  # approve | reject
    Column("approved_by", BigInteger, nullable=True),  # staff id (checker)
    Column("approved_fen", BigInteger, nullable=True),
    Column("offer_json", Text, nullable=True),  # schedule, rates, fees as offered
    Column("offer_expires_us", BigInteger, nullable=True),
    Column("loan_id", BigInteger, nullable=True),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_lending_applications_customer_id", "customer_id"),
    Index("ix_lending_applications_state", "state"),
)

application_events = Table(
    "lending_application_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("application_id", BigInteger, ForeignKey("lending_applications.id"), nullable=False),
    Column("from_state", String(20), nullable=True),
    Column("to_state", String(20), nullable=False),
    Column("actor", String(64), nullable=False),  # customer:7 | staff:3 | system | partner:2
    Column("reason", Text, nullable=False, server_default=""),
    Column("at_us", BigInteger, nullable=False),
    Index("ix_lending_application_events_application_id", "application_id"),
)

loans = Table(
    "lending_loans",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("application_id", BigInteger, nullable=False, unique=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("product_version_id", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),
    # contract -----------------------------------------------------------------------------
    Column("principal_fen", BigInteger, nullable=False),
    Column("annual_rate", String(40), nullable=False),
    Column("penalty_rate", String(40), nullable=False),
    #: Rates as integer parts per 10^9 of a year, for set-based SQL (exact for rates with ≤ 9
    #: decimals, which product validation guarantees).
    Column("rate_ppb", BigInteger, nullable=False),
    Column("penalty_rate_ppb", BigInteger, nullable=False),
    Column("year_days", Integer, nullable=False),  # 360 (ACT/360) or 365 (ACT/365)
    Column("method", String(32), nullable=False),
    Column("term_unit", String(8), nullable=False),
    Column("term", Integer, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("maturity_date", Date, nullable=False),
    Column("grace_days", Integer, nullable=False, server_default="0"),
    Column("upfront_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("irr_annual_rate", String(40), nullable=False),  # RATE-APR-01
    Column("contract_text", Text, nullable=False),
    Column("contract_sha256", String(64), nullable=False),
    Column("signed_us", BigInteger, nullable=False),
    Column("cooling_off_until_us", BigInteger, nullable=False),
    Column("disbursed_us", BigInteger, nullable=True),
    Column("rollovers", Integer, nullable=False, server_default="0"),  # RATE-ROLL-01: ≤ 2
    # sub-ledger state (the engine and the end-of-day batch keep these) ---------------------
    Column("principal_outstanding_fen", BigInteger, nullable=False, server_default="0"),
    Column("interest_accrued_fen", BigInteger, nullable=False, server_default="0"),
    Column("credit_balance_fen", BigInteger, nullable=False, server_default="0"),
    Column("accrued_through", Date, nullable=True),  # last business date accrued
    Column("dpd", Integer, nullable=False, server_default="0"),
    Column("bucket", String(4), nullable=False, server_default="M0"),
    Column("classification", String(20), nullable=False, server_default="normal"),
    Column("provision_fen", BigInteger, nullable=False, server_default="0"),
    Column("written_off_fen", BigInteger, nullable=False, server_default="0"),
    Column("recovered_fen", BigInteger, nullable=False, server_default="0"),
    Column("closed_date", Date, nullable=True),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_lending_loans_customer_id", "customer_id"),
    Index("ix_lending_loans_state", "state"),
)

installments = Table(
    "lending_installments",
    metadata,
    Column("loan_id", BigInteger, ForeignKey("lending_loans.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("period_start", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("late_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("penalty_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_principal_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_late_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_penalty_fen", BigInteger, nullable=False, server_default="0"),
    Column("waived_fen", BigInteger, nullable=False, server_default="0"),
    Column("paid_date", Date, nullable=True),  # the date it was paid in full
    Index("ix_lending_installments_due_date", "due_date"),
)


def installment_unpaid_fen() -> ColumnElement[Any]:
    """What is still owed on an installment row: every component due less what was paid or
    waived. One expression, so the collections queue and the simulation's borrowers agree
    on what "overdue" means."""
    i = installments.c
    due = i.principal_fen + i.interest_fen + i.fee_fen + i.late_fee_fen + i.penalty_fen
    paid = (
        i.paid_principal_fen
        + i.paid_interest_fen
        + i.paid_fee_fen
        + i.paid_late_fee_fen
        + i.paid_penalty_fen
        + i.waived_fen
    )
    return due - paid


loan_transactions = Table(
    "lending_loan_transactions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("loan_id", BigInteger, ForeignKey("lending_loans.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value_date", Date, nullable=False),
    Column("booked_date", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False, server_default="0"),
    Column("interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("late_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("penalty_fen", BigInteger, nullable=False, server_default="0"),
    Column("overpayment_fen", BigInteger, nullable=False, server_default="0"),
    Column("external_ref", String(64), nullable=True),
    Column("reverses_id", BigInteger, nullable=True),
    Column("reversed_by_id", BigInteger, nullable=True),
    Column("actor", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("loan_id", "external_ref"),
    Index("ix_lending_loan_transactions_loan_id", "loan_id", "value_date"),
)
