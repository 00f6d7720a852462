"""Outbox tables.

``events_outbox`` holds every event, numbered per key (``seq``) so that consumers can keep the
order of one loan's events without ordering everything globally. ``events_key_heads`` holds the
last number handed out per key: allocating the next number updates that row, which on
PostgreSQL locks it until the emitting transaction ends, so two transactions emitting for one
loan get consecutive numbers in commit order.
"""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from puhui.db.metadata import BigIntId, metadata

outbox = Table(
    "events_outbox",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    #: What the event is about, e.g. ``loan:42`` or ``application:7``; order holds per key.
    Column("key", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    #: Set once every subscriber has taken the event; NULL means still to dispatch.
    Column("dispatched_us", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_us", BigInteger, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("key", "seq"),
    Index("ix_events_outbox_pending", "dispatched_us", "id"),
)

key_heads = Table(
    "events_key_heads",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)
