"""Collections tables (催收): who works an overdue loan, and every contact made about it.

An assignment row is never edited except to close it: reassigning a loan closes the current
row and opens a new one, so the rows of a loan are its reassignment history. A contact row is
append-only; whether a promise to pay was kept is not stored but derived from the repayments,
so a backdated or reversed payment changes the answer without touching the log.
"""

from sqlalchemy import BigInteger, Column, Date, Index, String, Table, Text

from puhui.db.metadata import BigIntId, metadata

assignments = Table(
    "lending_collection_assignments",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("loan_id", BigInteger, nullable=False),
    Column("collector_id", BigInteger, nullable=False),  # identity_staff.id
    Column("assigned_by", String(64), nullable=False),  # the actor's principal, staff:3
    Column("reason", String(500), nullable=False, server_default=""),
    Column("assigned_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=True),  # null while current
    Column("ended_by", String(64), nullable=True),
    Index("ix_lending_collection_assignments_loan_id", "loan_id", "ended_us"),
    Index("ix_lending_collection_assignments_collector_id", "collector_id", "ended_us"),
)

contacts = Table(
    "lending_collection_contacts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("loan_id", BigInteger, nullable=False),
    Column("collector_id", BigInteger, nullable=False),
    Column("contacted_us", BigInteger, nullable=False),
    #: The Asia/Shanghai date of the contact: the day the per-day limit counts against.
    Column("contact_date", Date, nullable=False),
    Column("channel", String(16), nullable=False),  # phone | sms | app | visit | letter
    Column("party", String(32), nullable=False),  # always "borrower" (141号)
    Column("result", String(32), nullable=False),
    Column("promise_date", Date, nullable=True),
    Column("promise_fen", BigInteger, nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    Index("ix_lending_collection_contacts_loan_id", "loan_id", "contact_date"),
)
