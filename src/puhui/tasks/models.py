"""Tables of the task queue's own work: the monthly disclosure's partition results.

A partition task of the disclosure (tasks/disclosure.py) commits its figures here in one
transaction; the row's key is what makes a redelivered message a no-op, and the dispatcher
merges the rows once every partition has one.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from puhui.db.metadata import metadata

#: One partition's additive figures of one month (compliance.disclosure.partial_figures), as
#: JSON: integers in fen and counts, and the partition's largest borrowers.
disclosure_partials = Table(
    "task_disclosure_partials",
    metadata,
    Column("period", String(7), primary_key=True),  # YYYY-MM
    Column("partitions", Integer, primary_key=True, autoincrement=False),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("figures_json", Text, nullable=False),
    Column("computed_us", BigInteger, nullable=False),
)
