"""The sandbox bank's own tables (prefix ``sandbox_bank_``).

They stand for the bank's systems, not the platform's: the platform never reads them, so
reconciliation compares two independent records as it would with a real bank.
"""

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, String, Table, UniqueConstraint

from puhui.db.metadata import BigIntId, metadata

bank_accounts = Table(
    "sandbox_bank_accounts",
    metadata,
    Column("number", String(32), primary_key=True),
    Column("kind", String(8), nullable=False),  # master | sub
    Column("user_ref", String(64)),
    Column("role", String(32)),
    Column("balance", BigInteger, nullable=False),
    #: argon2id hash of the user's transaction password (交易密码); never the password itself.
    Column("password_hash", String(255)),
    #: The bank's serial counter, kept on the master row that every booking locks anyway.
    Column("last_serial", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("user_ref", "role"),
)

bank_otps = Table(
    "sandbox_bank_otps",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "account_number", String(32), ForeignKey("sandbox_bank_accounts.number"), nullable=False
    ),
    Column("code_hash", String(255), nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("used_us", BigInteger),
    Index("ix_sandbox_bank_otps_account_number", "account_number"),
)

bank_instructions = Table(
    "sandbox_bank_instructions",
    metadata,
    Column("instruction_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("from_account", String(32)),
    Column("to_account", String(32)),
    Column("amount", BigInteger, nullable=False),
    #: processing | succeeded | failed | not_found (a tombstone: queried before it arrived)
    Column("status", String(16), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("fault", String(16)),  # an injected failure to apply when it settles
    #: For an ``authorise`` row (a standing authorisation, 业务授权): what it covers.
    Column("scope", String(32)),
    Column("reason", String(64)),
    Column("serial", String(32)),
    Column("received_us", BigInteger, nullable=False),
    Column("completed_us", BigInteger),
    Index("ix_sandbox_bank_instructions_status", "status"),
    Index("ix_sandbox_bank_instructions_received_us", "received_us"),
)

bank_journal = Table(
    "sandbox_bank_journal",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("serial", String(32), nullable=False, unique=True),
    Column("instruction_id", String(64)),
    Column(
        "account_number", String(32), ForeignKey("sandbox_bank_accounts.number"), nullable=False
    ),
    Column("direction", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("master_balance_after", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Index("ix_sandbox_bank_journal_business_date", "business_date"),
)
