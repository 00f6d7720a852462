"""Lending tables.

A product is a code and a name; what it offers lives in its versions, which are append-only: a
change of terms is a new version, and a loan keeps the id of the version it was made under, so
its terms can always be read back exactly as they were. ``terms_json`` is the whole of the
terms (rates as decimal strings, amounts in fen); the other columns repeat what lists and
checks query, and the rate assessment made when the version was created.
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
    Text,
    UniqueConstraint,
)

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
