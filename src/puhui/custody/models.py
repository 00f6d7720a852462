"""Platform-side custody tables (prefix ``custody_``).

``custody_instructions`` is the detailed record of every fund movement (CUS-REC-02): who, which
accounts, how much, the instruction id, the ledger transfers and the bank serial, with times.
Reconciliation keeps each run, the bank's statement lines it read, the breaks it found and the
maker-checker proposals that close them.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from puhui.db.metadata import BigIntId, metadata

custody_accounts = Table(
    "custody_accounts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: The user (or ``platform`` for the master and suspense accounts) and their role.
    Column("user_ref", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column(
        "ledger_account_id",
        BigInteger,
        ForeignKey("ledger_accounts.id"),
        nullable=False,
        unique=True,
    ),
    #: The bank's number for it; empty for ledger-only accounts such as suspense.
    Column("bank_account_no", String(32), unique=True),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("user_ref", "role"),
)

instructions = Table(
    "custody_instructions",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("kind", String(16), nullable=False),
    #: Who authorised it: the holder of the paying account (the receiving one for a deposit).
    Column("user_ref", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("debit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("bank_from", String(32)),
    Column("bank_to", String(32)),
    Column("amount", BigInteger, nullable=False),
    Column("code", Integer, nullable=False),  # the ledger TransferCode it books under
    Column("request_hash", String(64), nullable=False),
    Column("ledger_pending_id", String(64)),  # the freeze, for money leaving a sub-account
    Column("ledger_transfer_id", String(64)),  # the post or the deposit, once it succeeded
    #: created | processing | unknown (timed out) | succeeded | failed
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("bank_serial", String(32)),
    Column("failure_reason", String(64)),
    Column("created_us", BigInteger, nullable=False),
    Column("sent_us", BigInteger),
    Column("completed_us", BigInteger),
    Column("updated_us", BigInteger, nullable=False),
    #: For an instruction queued by a domain transaction (status ``queued``): the order the
    #: ledger booked it in, which the sender keeps, so the bank applies a credit to an account
    #: before a later debit that spends it.
    Column("queue_seq", BigInteger),
    Index("ix_custody_instructions_status", "status"),
    Index("ix_custody_instructions_queue_seq", "queue_seq"),
)

authorisations = Table(
    "custody_authorisations",
    metadata,
    #: The bank's id for the grant; what the platform sends in place of a password.
    Column("id", String(48), primary_key=True),
    Column("user_ref", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("bank_account_no", String(32), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # active | revoked
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
    Index("ix_custody_authorisations_account", "bank_account_no", "status"),
)

recon_runs = Table(
    "custody_recon_runs",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("statement_sha256", String(64), nullable=False),
    Column("statement_path", String(512), nullable=False),
    Column("bank_account", String(32), nullable=False),
    Column("opening", BigInteger, nullable=False),
    Column("closing", BigInteger, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("business_date", "statement_sha256"),
)

statement_lines = Table(
    "custody_statement_lines",
    metadata,
    Column("serial", String(32), primary_key=True),
    Column("run_id", BigInteger, ForeignKey("custody_recon_runs.id"), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("instruction_id", String(64)),
    Column("sub_account", String(32), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Index("ix_custody_statement_lines_instruction_id", "instruction_id"),
    Index("ix_custody_statement_lines_business_date", "business_date"),
)

breaks = Table(
    "custody_recon_breaks",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("custody_recon_runs.id"), nullable=False),
    Column("business_date", Date, nullable=False),  # the day it was found: its age counts from it
    Column("kind", String(24), nullable=False),
    Column("match_key", String(80), nullable=False),
    Column("sub_account", String(40), nullable=False),
    Column("ledger_account_id", BigInteger, ForeignKey("ledger_accounts.id")),
    Column("bank_amount", BigInteger, nullable=False),  # signed: + money into the sub-account
    Column("ledger_amount", BigInteger, nullable=False),
    Column("delta", BigInteger, nullable=False),  # bank − ledger: what the ledger lacks
    Column("status", String(16), nullable=False),  # open | resolved
    Column("resolution", String(16)),  # adjustment | late_match
    #: First business date on which the ledger includes the correction.
    Column("resolved_on", Date),
    Column("resolved_by_transfer", String(64)),
    Column("resolved_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("match_key", "sub_account"),
    Index("ix_custody_recon_breaks_status", "status"),
    Index("ix_custody_recon_breaks_business_date", "business_date"),
)

break_proposals = Table(
    "custody_break_proposals",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("break_id", BigInteger, ForeignKey("custody_recon_breaks.id"), nullable=False),
    Column("status", String(16), nullable=False),  # proposed | approved | rejected
    Column("debit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(256), nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_us", BigInteger, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_us", BigInteger),
    Column("ledger_transfer_id", String(64)),
    Index("ix_custody_break_proposals_break_id", "break_id"),
)
