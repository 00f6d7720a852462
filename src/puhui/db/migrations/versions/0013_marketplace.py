"""marketplace: listings, frozen bids, notes, distributions, compensations (代偿), the loans
they fund, auto-invest authorisations, and claim transfer offers

Revision ID: 0013
Revises: 0001

A branch of its own off the foundation ("marketplace"). Columns that point at other domains'
rows (applications, loans, customers, ledger transfers) carry no foreign key, since those tables
live on other branches. Frozen: written out in full.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = ("marketplace",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    name = f"fk_{table}_{column}_{ref_table}"[:63]
    return sa.ForeignKeyConstraint([column], [target], name=name)


def upgrade() -> None:
    op.create_table(
        "mkt_listings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("borrower_id", sa.BigInteger(), nullable=False),
        sa.Column("product_code", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(40), nullable=False),
        sa.Column("term_count", sa.Integer(), nullable=False),
        sa.Column("term_unit", sa.String(8), nullable=False, server_default="month"),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("risk_grade", sa.String(2), nullable=False),
        sa.Column("min_bid_fen", sa.BigInteger(), nullable=False),
        sa.Column("step_fen", sa.BigInteger(), nullable=False),
        sa.Column("funded_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("opens_at", sa.BigInteger(), nullable=True),
        sa.Column("closes_at", sa.BigInteger(), nullable=True),
        sa.Column("related_party", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("disclosure_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("disclosure_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("auto_invest_done", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(64), nullable=False, server_default="system"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_listings"),
        sa.UniqueConstraint("application_id", name="uq_mkt_listings_application_id"),
    )
    op.create_index("ix_mkt_listings_status", "mkt_listings", ["status", "closes_at"])
    op.create_index("ix_mkt_listings_borrower_id", "mkt_listings", ["borrower_id"])
    op.create_table(
        "mkt_bids",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("lender_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.Column("disclosure_version", sa.Integer(), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_bids"),
        _fk("mkt_bids", "listing_id", "mkt_listings.id"),
        sa.UniqueConstraint("transfer_id", name="uq_mkt_bids_transfer_id"),
    )
    op.create_index("ix_mkt_bids_listing_id", "mkt_bids", ["listing_id", "status"])
    op.create_index("ix_mkt_bids_lender_id", "mkt_bids", ["lender_id"])
    op.create_table(
        "mkt_notes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("lender_id", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("parent_note_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_notes"),
        _fk("mkt_notes", "listing_id", "mkt_listings.id"),
    )
    op.create_index("ix_mkt_notes_loan_id", "mkt_notes", ["loan_id", "status"])
    op.create_index("ix_mkt_notes_lender_id", "mkt_notes", ["lender_id", "status"])
    op.create_table(
        "mkt_distributions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("lender_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_distributions"),
        _fk("mkt_distributions", "note_id", "mkt_notes.id"),
    )
    op.create_index("ix_mkt_distributions_loan_id", "mkt_distributions", ["loan_id"])
    op.create_index("ix_mkt_distributions_note_id", "mkt_distributions", ["note_id"])
    op.create_index(
        "ix_mkt_distributions_lender_id", "mkt_distributions", ["lender_id", "business_date"]
    )
    op.create_table(
        "mkt_compensations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("lender_id", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_compensations"),
        _fk("mkt_compensations", "note_id", "mkt_notes.id"),
    )
    op.create_index("ix_mkt_compensations_loan_id", "mkt_compensations", ["loan_id"])
    op.create_table(
        "mkt_loan_funding",
        sa.Column("loan_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("funding", sa.String(12), nullable=False, server_default="marketplace"),
        sa.Column("borrower_account_id", sa.BigInteger(), nullable=False),
        sa.Column("distributed_principal_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("distributed_interest_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("distributed_penalty_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("distributed_fee_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", name="pk_mkt_loan_funding"),
        sa.UniqueConstraint("listing_id", name="uq_mkt_loan_funding_listing_id"),
        _fk("mkt_loan_funding", "listing_id", "mkt_listings.id"),
    )
    op.create_table(
        "mkt_auto_invest",
        sa.Column("lender_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("amount_per_listing_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_rate", sa.String(40), nullable=False),
        sa.Column("min_term", sa.Integer(), nullable=False),
        sa.Column("max_term", sa.Integer(), nullable=False),
        sa.Column("max_grade", sa.String(2), nullable=False),
        sa.Column("keep_balance_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("queue_at", sa.BigInteger(), nullable=False),
        sa.Column("enrolled_at", sa.BigInteger(), nullable=False),
        sa.Column("authorisation_text_sha256", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lender_id", name="pk_mkt_auto_invest"),
    )
    op.create_index("ix_mkt_auto_invest_queue", "mkt_auto_invest", ["status", "queue_at"])
    op.create_table(
        "mkt_claim_offers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("note_id", sa.BigInteger(), nullable=False),
        sa.Column("seller_id", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("buyer_id", sa.BigInteger(), nullable=True),
        sa.Column("new_note_id", sa.BigInteger(), nullable=True),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("sold_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mkt_claim_offers"),
        _fk("mkt_claim_offers", "note_id", "mkt_notes.id"),
    )
    op.create_index("ix_mkt_claim_offers_note_id", "mkt_claim_offers", ["note_id"])
    op.create_index("ix_mkt_claim_offers_status", "mkt_claim_offers", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("mkt_claim_offers")
    op.drop_table("mkt_auto_invest")
    op.drop_table("mkt_loan_funding")
    op.drop_table("mkt_compensations")
    op.drop_table("mkt_distributions")
    op.drop_table("mkt_notes")
    op.drop_table("mkt_bids")
    op.drop_table("mkt_listings")
