"""Ledger tables.

``ledger_transfers`` and ``ledger_entries`` are append-only (P2P-OBL-01): a pending transfer's
outcome is the later post or void that names it, and the unique ``pending_id`` makes a second
outcome impossible at the database level. Only account balances and chain heads are updated,
under a row lock. The journal tables have no foreign keys on purpose: only the ledger service
writes them, holding the locks of the accounts it names, and ``ledger verify`` proves every
reference; per-row foreign-key checks were most of the database time of a batch.
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
    text,
)

from puhui.db.metadata import BigIntId, metadata

GENESIS_HASH = "0" * 64

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("book", String(16), nullable=False),
    Column("code", Integer, nullable=False),
    Column("owner", String(64)),
    Column("name", String(128)),
    Column("currency", String(3), nullable=False),
    Column("flags", Integer, nullable=False),
    #: A shard of a split (hot) account: the parent's balance is the sum of its shards.
    Column("parent_id", BigInteger, ForeignKey("ledger_accounts.id")),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("entry_seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_ledger_accounts_book_code_owner", "book", "code", "owner"),
    Index("ix_ledger_accounts_parent_id", "parent_id"),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("debit_account_id", BigInteger, nullable=False),
    Column("credit_account_id", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("pending_id", String(64)),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("expires_us", BigInteger),
    Column("reference", String(128)),
    Column("book", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    #: SHA-256 of the fields the client sent, to tell a retry from a conflicting reuse of an id.
    Column("request_hash", String(64), nullable=False),
    Index(
        "ix_ledger_transfers_expires_us",
        "expires_us",
        postgresql_where=text("expires_us IS NOT NULL"),
        sqlite_where=text("expires_us IS NOT NULL"),
    ),
    Index(
        "uq_ledger_transfers_pending_id",
        "pending_id",
        unique=True,
        postgresql_where=text("pending_id IS NOT NULL"),
        sqlite_where=text("pending_id IS NOT NULL"),
    ),
    Index("ix_ledger_transfers_business_date", "business_date"),
    Index(
        "ix_ledger_transfers_reference",
        "reference",
        postgresql_where=text("reference IS NOT NULL"),
        sqlite_where=text("reference IS NOT NULL"),
    ),
    # SQLite: the primary key is the table, so an insert updates one b-tree fewer.
    sqlite_with_rowid=False,
)

#: An entry is named by its account and its place in that account's chain: ``(account_id,
#: seq)`` is the primary key, so a surrogate id (one more index and sequence per row) is not
#: needed, and two writers that both read an account at the same ``seq`` cannot both append.
#: On SQLite the rows are kept in the order they are written (a rowid table, migration 0020)
#: and the key is an index beside them: a batch over random accounts then appends its rows to
#: a few pages instead of splitting a page of the key's tree for almost every entry.
entries = Table(
    "ledger_entries",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("transfer_id", String(64), nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_ledger_entries_transfer_id", "transfer_id"),
)

seals = Table(
    "ledger_seals",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False, unique=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("account_count", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

seal_heads = Table(
    "ledger_seal_heads",
    metadata,
    Column("seal_id", BigInteger, ForeignKey("ledger_seals.id"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("ledger_accounts.id"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)
