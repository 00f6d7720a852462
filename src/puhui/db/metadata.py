"""The one ``MetaData`` every domain's ``models.py`` registers its tables on.

A naming convention keeps constraint names identical on SQLite and PostgreSQL, so migrations
written once apply to both.
"""

from sqlalchemy import BigInteger, Integer, MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: BIGINT on PostgreSQL, INTEGER on SQLite so that an integer primary key is the rowid alias.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
