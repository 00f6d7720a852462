"""lending: loan products and their versions

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("lending",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lending_products",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_products")),
        sa.UniqueConstraint("code", name=op.f("uq_lending_products_code")),
    )
    op.create_table(
        "lending_product_versions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("term_unit", sa.String(length=8), nullable=False),
        sa.Column("regulatory_profile", sa.String(length=32), nullable=False),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_annual_rate", sa.String(length=40), nullable=False),
        sa.Column("highest_annual_rate", sa.String(length=40), nullable=False),
        sa.Column("highest_effective_rate", sa.String(length=40), nullable=False),
        sa.Column("cap_rate", sa.String(length=40), nullable=False),
        sa.Column("cap_basis", sa.String(length=200), nullable=False),
        sa.Column("cap_config_version", sa.String(length=64), nullable=False),
        sa.Column("terms_json", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["lending_products.id"],
            name=op.f("fk_lending_product_versions_product_id_lending_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_product_versions")),
        sa.UniqueConstraint(
            "product_id", "version", name=op.f("uq_lending_product_versions_product_id_version")
        ),
    )
    op.create_index(
        "ix_lending_product_versions_product_id", "lending_product_versions", ["product_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_lending_product_versions_product_id", table_name="lending_product_versions")
    op.drop_table("lending_product_versions")
    op.drop_table("lending_products")
