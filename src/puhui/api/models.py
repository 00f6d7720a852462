"""Tables of the HTTP layer.

``api_idempotency_keys`` remembers every money-moving POST by its ``Idempotency-Key``: the
request's fingerprint, and once it has finished the status and body it was answered with. A row
whose ``status_code`` is NULL is in progress; ``lock_token`` names the request running it and
``locked_us`` when it started, so a request whose process died can be taken over later.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from puhui.db.metadata import BigIntId, metadata

idempotency_keys = Table(
    "api_idempotency_keys",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: Method and route template ("POST /api/v1/withdrawals"): a key is unique per route.
    Column("scope", String(200), nullable=False),
    Column("key", String(255), nullable=False),
    #: SHA-256 of method, path, query and the canonical JSON body.
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("lock_token", String(32)),
    Column("locked_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    UniqueConstraint("scope", "key"),
    Index("ix_api_idempotency_keys_expires_us", "expires_us"),
)
