"""Credit tables (prefix ``credit_``).

``credit_decisions`` is append-only: one row per automated decision with what PI-ADM-01 asks
for, the model version, the digest of the input snapshot, the rules that fired and the reasons.
The snapshot kept beside it holds the scored attributes and amounts, never an identifier:
ID number, phone, card, device and IP are kept only as keyed fingerprints
(``credit_fingerprints``), enough to count the same device across applications (fraud
velocity) and to match a blacklist, not to read them back.
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


def pi(cls: str, purpose: str) -> dict[str, str]:
    """Column info for personal information (PFI-CLS-01)."""
    return {"pfi": cls, "purpose": purpose}


decisions = Table(
    "credit_decisions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("applicant_ref", String(64), nullable=False),
    Column("applicant_digest", String(64), nullable=False, info=pi("C2", "credit decision")),
    Column("product_code", String(64), nullable=False),
    Column("requested_fen", BigInteger, nullable=False),
    Column("term_months", Integer, nullable=False),
    #: approve | reject | review
    Column("outcome", String(8), nullable=False),
    Column("score", Integer, info=pi("C2", "credit decision")),
    Column("probability_of_default", String(16)),
    Column("grade", String(1)),
    Column("limit_fen", BigInteger, nullable=False),
    Column("approved_fen", BigInteger, nullable=False),
    Column("annual_rate", String(16)),
    Column("model_version", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("input_digest", String(64), nullable=False),
    Column("rules_json", Text, nullable=False),
    Column("reasons_json", Text, nullable=False),
    Column("snapshot_json", Text, nullable=False, info=pi("C2", "credit decision")),
    Column("business_date", Date, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_credit_decisions_applicant_ref", "applicant_ref"),
    Index("ix_credit_decisions_business_date", "business_date"),
)

reviews = Table(
    "credit_reviews",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column(
        "decision_id", BigInteger, ForeignKey("credit_decisions.id"), nullable=False, unique=True
    ),
    Column("applicant_ref", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    #: open | upheld | overturned
    Column("status", String(12), nullable=False),
    Column("reviewer", String(64)),
    Column("note", Text),
    Column("requested_us", BigInteger, nullable=False),
    Column("resolved_us", BigInteger),
)

fingerprints = Table(
    "credit_fingerprints",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: device | ip | phone | card
    Column("kind", String(8), nullable=False),
    Column("digest", String(64), nullable=False, info=pi("C2", "fraud velocity")),
    Column("applicant_digest", String(64), nullable=False, info=pi("C2", "fraud velocity")),
    Column("decision_id", BigInteger, ForeignKey("credit_decisions.id"), nullable=False),
    Column("seen_us", BigInteger, nullable=False),
    Index("ix_credit_fingerprints_kind_digest_seen_us", "kind", "digest", "seen_us"),
)

blacklist = Table(
    "credit_blacklist",
    metadata,
    #: id_number | phone | card | device | ip
    Column("kind", String(12), primary_key=True),
    Column("digest", String(64), primary_key=True, info=pi("C2", "blacklist")),
    Column("reason", String(200), nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("added_us", BigInteger, nullable=False),
)

preauthorisations = Table(
    "credit_preauthorisations",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_ref", String(64), nullable=False),
    Column("limit_fen", BigInteger, nullable=False),
    Column("grade", String(1), nullable=False),
    Column("score", Integer, nullable=False, info=pi("C2", "pre-authorised limit")),
    Column("basis_json", Text, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_credit_preauthorisations_customer_ref", "customer_ref"),
)

outcomes = Table(
    "credit_outcomes",
    metadata,
    Column("decision_id", BigInteger, ForeignKey("credit_decisions.id"), primary_key=True),
    #: True once the loan went bad (90+ days overdue or written off), False while good.
    Column("bad", Boolean, nullable=False),
    Column("observed_on", Date, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
)
