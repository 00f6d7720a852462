"""Credit-line tables (消费信贷, in the manner of 花呗 and 白条).

The line row is the sub-ledger: what the customer owes, split by what the general ledger
keeps apart (principal not yet billed, billed, still in instalment plans; fees, interest,
penalty), plus the current statement's amounts still to pay. Every purchase, refund, payment,
fee and charge is an entry; a statement claims the entries of its cycle. Daily interest and
penalty are summed on the line (``cycle_*``) and become one entry per statement, never a row
per line per day. Customer ids carry no foreign key: identity lives on another branch.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from puhui.db.metadata import BigIntId, metadata

lines = Table(
    "credit_lines",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False, unique=True),
    #: active | frozen | suspended | closed
    Column("state", String(12), nullable=False),
    Column("limit_fen", BigInteger, nullable=False),
    #: A temporary raise on top of the limit, valid through ``temp_limit_until``.
    Column("temp_limit_fen", BigInteger, nullable=False, server_default="0"),
    Column("temp_limit_until", Date),
    #: Annual rates as decimal strings, and in parts per billion for the batch.
    Column("annual_rate", String(40), nullable=False),
    Column("rate_ppb", BigInteger, nullable=False),
    Column("penalty_rate_ppb", BigInteger, nullable=False),
    Column("min_payment_ppb", BigInteger, nullable=False),
    Column("instalment_fee_ppb", BigInteger, nullable=False),
    Column("statement_day", Integer, nullable=False),
    Column("due_day", Integer, nullable=False),
    Column("auto_debit", Integer, nullable=False, server_default="1"),
    Column("suspend_dpd", Integer, nullable=False),
    Column("close_dpd", Integer, nullable=False),
    Column("cash_draw_allowed", Integer, nullable=False, server_default="0"),
    # what is owed (the sub-ledger of the GL's credit-line receivables)
    Column("unbilled_fen", BigInteger, nullable=False, server_default="0"),
    Column("billed_fen", BigInteger, nullable=False, server_default="0"),
    Column("instalment_fen", BigInteger, nullable=False, server_default="0"),
    Column("fees_fen", BigInteger, nullable=False, server_default="0"),
    Column("interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("penalty_fen", BigInteger, nullable=False, server_default="0"),
    # charged since the last statement, listed on the next one
    Column("cycle_interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("cycle_penalty_fen", BigInteger, nullable=False, server_default="0"),
    # the current statement
    Column("stmt_remaining_fen", BigInteger, nullable=False, server_default="0"),
    Column("min_remaining_fen", BigInteger, nullable=False, server_default="0"),
    Column("revolving", Integer, nullable=False, server_default="0"),
    Column("last_statement_date", Date),
    Column("next_statement_date", Date, nullable=False),
    Column("due_date", Date),
    # overdue aging
    Column("overdue_since", Date),
    Column("dpd", Integer, nullable=False, server_default="0"),
    Column("bucket", String(4), nullable=False, server_default="M0"),
    Column("opened_date", Date, nullable=False),
    Column("closed_date", Date),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_credit_lines_next_statement_date", "next_statement_date"),
    Index("ix_credit_lines_due_date", "due_date"),
)

entries = Table(
    "credit_line_entries",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("line_id", BigInteger, nullable=False),
    #: purchase | cash_draw | refund | payment | fee | interest | penalty | instalment
    Column("kind", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("statement_id", BigInteger),
    Column("merchant", String(64)),
    #: The caller's reference: a purchase, refund or payment happens once per reference.
    Column("reference", String(64)),
    #: A refund's purchase; an instalment conversion's plan.
    Column("purchase_id", BigInteger),
    Column("plan_id", BigInteger),
    #: A purchase: refunded so far. A payment: how it was allocated.
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("to_fees_fen", BigInteger, nullable=False, server_default="0"),
    Column("to_interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("to_principal_fen", BigInteger, nullable=False, server_default="0"),
    Column("actor", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("line_id", "kind", "reference"),
    Index("ix_credit_line_entries_line_id_statement_id", "line_id", "statement_id"),
)

statements = Table(
    "credit_line_statements",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("line_id", BigInteger, nullable=False),
    Column("statement_date", Date, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("opening_fen", BigInteger, nullable=False),
    Column("purchases_fen", BigInteger, nullable=False),
    Column("refunds_fen", BigInteger, nullable=False),
    Column("payments_fen", BigInteger, nullable=False),
    Column("fees_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("penalty_fen", BigInteger, nullable=False),
    Column("instalments_fen", BigInteger, nullable=False),
    #: The balance to pay in full by the due date (本期应还) and the minimum (最低还款).
    Column("closing_fen", BigInteger, nullable=False),
    Column("minimum_fen", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("line_id", "statement_date"),
)

plans = Table(
    "credit_line_plans",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("line_id", BigInteger, nullable=False),
    #: purchase | statement
    Column("source", String(12), nullable=False),
    Column("source_id", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("fee_ppb", BigInteger, nullable=False),
    Column("fee_per_period_fen", BigInteger, nullable=False),
    Column("annual_rate_irr", String(40), nullable=False),
    #: active | settled | early_settled
    Column("state", String(16), nullable=False),
    Column("periods_billed", Integer, nullable=False, server_default="0"),
    Column("principal_billed_fen", BigInteger, nullable=False, server_default="0"),
    Column("created_date", Date, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("source", "source_id"),
    Index("ix_credit_line_plans_line_id", "line_id"),
)

TABLES = (lines, entries, statements, plans)
