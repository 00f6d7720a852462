"""Marketplace tables (prefix ``mkt_``): the lending information intermediary (网络借贷信息中介).

A listing (融资项目) is made from an approved application of a marketplace product; lenders bid
on it with frozen custody funds (``mkt_bids``); on full funding each lender holds a note
(``mkt_notes``, their claim on the loan) and every repayment is split across the notes
(``mkt_distributions``). Compensation from the risk reserve (代偿) is kept apart
(``mkt_compensations``) for disclosure.

Times named ``*_at`` are UTC microseconds since the epoch (BIGINT), like the ``*_us`` columns of
the other domains; business dates are ``Date``. Amounts are fen, rates decimal strings. Columns
pointing at other domains' rows (applications, loans, customers, ledger transfers) carry no
foreign key, since those tables live on other migration branches.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from puhui.db.metadata import BigIntId, metadata

listings = Table(
    "mkt_listings",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("application_id", BigInteger, nullable=False, unique=True),
    Column("loan_id", BigInteger, nullable=True),  # set on full funding
    Column("borrower_id", BigInteger, nullable=False),  # identity customers.id
    Column("product_code", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),  # checked for banned phrases
    Column("purpose", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("annual_rate", String(40), nullable=False),
    Column("term_count", Integer, nullable=False),
    Column("term_unit", String(8), nullable=False, server_default="month"),
    Column("method", String(32), nullable=False),
    Column("risk_grade", String(2), nullable=False),  # R1..R5
    Column("min_bid_fen", BigInteger, nullable=False),
    Column("step_fen", BigInteger, nullable=False),
    Column("funded_fen", BigInteger, nullable=False, server_default="0"),
    #: draft | open | funded | failed (流标) | closed (withdrawn by staff before funding)
    Column("status", String(12), nullable=False),
    Column("opens_at", BigInteger, nullable=True),
    Column("closes_at", BigInteger, nullable=True),
    Column("related_party", Boolean, nullable=False, server_default="0"),
    #: What DIS-PRJ-01 shows, masked (DIS-PRJ-03), as JSON; its version bumps on every change.
    Column("disclosure_json", Text, nullable=False, server_default="{}"),
    Column("disclosure_version", Integer, nullable=False, server_default="1"),
    Column("auto_invest_done", Boolean, nullable=False, server_default="0"),
    Column("created_by", String(64), nullable=False, server_default="system"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_mkt_listings_status", "status", "closes_at"),
    Index("ix_mkt_listings_borrower_id", "borrower_id"),
)

bids = Table(
    "mkt_bids",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("listing_id", BigInteger, ForeignKey("mkt_listings.id"), nullable=False),
    Column("lender_id", BigInteger, nullable=False),  # identity customers.id
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # frozen | posted | voided | cancelled
    Column("transfer_id", String(64), nullable=False, unique=True),  # the pending transfer
    Column("disclosure_version", Integer, nullable=False),
    Column("auto", Boolean, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_mkt_bids_listing_id", "listing_id", "status"),
    Index("ix_mkt_bids_lender_id", "lender_id"),
)

notes = Table(
    "mkt_notes",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("listing_id", BigInteger, ForeignKey("mkt_listings.id"), nullable=False),
    Column("loan_id", BigInteger, nullable=False),
    Column("lender_id", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("outstanding_principal_fen", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),  # active | repaid | transferred | defaulted
    Column("acquired_at", BigInteger, nullable=False),
    Column("source", String(16), nullable=False),  # bid | claim_transfer
    Column("parent_note_id", BigInteger, nullable=True),
    Index("ix_mkt_notes_loan_id", "loan_id", "status"),
    Index("ix_mkt_notes_lender_id", "lender_id", "status"),
    Index("ix_mkt_notes_parent_note_id", "parent_note_id"),  # migration 0017
)

distributions = Table(
    "mkt_distributions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("note_id", BigInteger, ForeignKey("mkt_notes.id"), nullable=False),
    Column("loan_id", BigInteger, nullable=False),
    Column("lender_id", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("penalty_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),  # service fee withheld from this note's share
    Column("transfer_id", String(64), nullable=False),
    Index("ix_mkt_distributions_note_id", "note_id"),
    Index("ix_mkt_distributions_lender_id", "lender_id", "business_date"),
    Index("ix_mkt_distributions_loan_id", "loan_id"),
)

compensations = Table(
    "mkt_compensations",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("loan_id", BigInteger, nullable=False),
    Column("note_id", BigInteger, ForeignKey("mkt_notes.id"), nullable=False),
    Column("lender_id", BigInteger, nullable=False),
    Column("payer", String(16), nullable=False),  # risk_reserve | third_party | guarantor
    Column("amount_fen", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("transfer_id", String(64), nullable=True),
    Index("ix_mkt_compensations_loan_id", "loan_id"),
)

#: Marks a loan as marketplace-funded: its money lives in the custody book, not the company's.
loan_funding = Table(
    "mkt_loan_funding",
    metadata,
    Column("loan_id", BigInteger, primary_key=True, autoincrement=False),
    Column("listing_id", BigInteger, ForeignKey("mkt_listings.id"), nullable=False, unique=True),
    Column("funding", String(12), nullable=False, server_default="marketplace"),
    Column("borrower_account_id", BigInteger, nullable=False),  # borrower custody sub-account
    #: Amounts the borrower has repaid and the platform has already split across the notes.
    Column("distributed_principal_fen", BigInteger, nullable=False, server_default="0"),
    Column("distributed_interest_fen", BigInteger, nullable=False, server_default="0"),
    Column("distributed_penalty_fen", BigInteger, nullable=False, server_default="0"),
    Column("distributed_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
)

#: A lender's explicit, revocable authorisation to bid automatically (自动投标, P2P-LND-05).
auto_invest = Table(
    "mkt_auto_invest",
    metadata,
    Column("lender_id", BigInteger, primary_key=True, autoincrement=False),
    Column("status", String(12), nullable=False),  # active | revoked
    Column("amount_per_listing_fen", BigInteger, nullable=False),
    Column("min_rate", String(40), nullable=False),
    Column("min_term", Integer, nullable=False),
    Column("max_term", Integer, nullable=False),
    Column("max_grade", String(2), nullable=False),
    Column("keep_balance_fen", BigInteger, nullable=False, server_default="0"),
    #: The fair queue orders by this; a fill moves the lender to the back.
    Column("queue_at", BigInteger, nullable=False),
    Column("enrolled_at", BigInteger, nullable=False),
    Column("authorisation_text_sha256", String(64), nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_mkt_auto_invest_queue", "status", "queue_at"),
)

#: A claim transfer offer (债权转让): one identified note, never a pool.
claim_offers = Table(
    "mkt_claim_offers",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("note_id", BigInteger, ForeignKey("mkt_notes.id"), nullable=False),
    Column("seller_id", BigInteger, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),  # the part of the note offered
    Column("price_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),  # seller fee, taken on sale
    Column("status", String(12), nullable=False),  # open | sold | cancelled | expired
    Column("buyer_id", BigInteger, nullable=True),
    Column("new_note_id", BigInteger, nullable=True),
    Column("transfer_id", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("sold_at", BigInteger, nullable=True),
    Index("ix_mkt_claim_offers_status", "status", "expires_at"),
    Index("ix_mkt_claim_offers_note_id", "note_id"),
)
