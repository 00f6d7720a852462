"""Identity tables.

Every column that holds personal information carries ``info={"pfi": C1|C2|C3, "purpose": …}``
(JR/T 0171 classes, PFI-CLS-01; the purpose makes the columns a data inventory, SEC-PI-01) and a
lint test fails on an untagged one. C2 values (names, ID, phone, card, address, income) are
stored sealed (``*_ct``, see ``crypto``) and found through keyed blind indexes (``*_bidx``); C3
values (passwords, second-factor secrets, codes, tokens) are only ever hashes or sealed.

Times are integer microseconds since the epoch, UTC (``*_us``), as in the ledger; the audit log
also keeps the instant with its zone as text (SEC-AUD-01). ``identity_audit_log`` is
append-only: database triggers refuse UPDATE, and DELETE of anything younger than the retention
floor (migration 0005).
"""

from __future__ import annotations

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
    UniqueConstraint,
)

from puhui.db.metadata import BigIntId, metadata


def pi(pfi: str, purpose: str) -> dict[str, str]:
    """Column info for a personal-data column: its JR/T 0171 class and why it is collected."""
    return {"pfi": pfi, "purpose": purpose}


def _key_columns() -> list[Column]:
    """The wrapped per-record data key of a table with sealed columns."""
    return [
        Column("wrapped_key", Text, nullable=False, info=pi("C3", "data key, wrapped")),
        Column("key_id", String(32), nullable=False),
    ]


def _lockout_columns() -> list[Column]:
    return [
        Column("password_hash", String(255), nullable=False, info=pi("C3", "login")),
        Column("password_changed_us", BigInteger, nullable=False),
        Column("totp_secret_ct", Text, info=pi("C3", "second factor")),
        Column("totp_confirmed_us", BigInteger),
        #: The last TOTP time step accepted, so a code is never accepted twice.
        Column("totp_last_step", BigInteger),
        Column("failed_logins", Integer, nullable=False, default=0),
        Column("locked_until_us", BigInteger),
    ]


org_units = Table(
    "identity_org_units",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(48), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),  # center | department | team
    Column("parent_id", BigInteger, ForeignKey("identity_org_units.id")),
)

customers = Table(
    "identity_customers",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # person | entity
    #: active | restricted (deletion requested, kept only where the law requires) | closed
    Column("status", String(16), nullable=False),
    Column("phone_ct", Text, info=pi("C2", "login, one-time codes, notices")),
    Column("phone_bidx", String(64), nullable=False, unique=True, info=pi("C2", "login lookup")),
    Column("name_ct", Text, info=pi("C2", "real-name verification, contracts")),
    Column("id_number_ct", Text, info=pi("C2", "real-name verification, contracts, AML")),
    Column("id_number_bidx", String(64), unique=True, info=pi("C2", "one identity, one customer")),
    Column("birth_year", Integer, info=pi("C2", "age checks")),
    Column("address_ct", Text, info=pi("C2", "contracts, collection notices")),
    Column("occupation", String(64), info=pi("C1", "credit assessment")),
    Column("income_ct", Text, info=pi("C2", "credit assessment, suitability")),
    Column("other_loans_ct", Text, info=pi("C2", "borrowing caps across platforms")),
    #: unverified | verified | failed (P2P-OBL-03: no investing or borrowing until verified)
    Column("kyc_status", String(16), nullable=False),
    Column("kyc_verified_us", BigInteger),
    *_lockout_columns(),
    #: The team (org unit) of the customer's advisor: staff with team scope see their team's.
    Column("team_id", BigInteger, ForeignKey("identity_org_units.id")),
    Column("advisor_id", BigInteger),
    *_key_columns(),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_identity_customers_team_id", "team_id"),
)

entities = Table(
    "identity_entities",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("uscc", String(18), nullable=False, unique=True),
    Column("legal_rep_name_ct", Text, nullable=False, info=pi("C2", "entity KYC")),
    Column("legal_rep_id_ct", Text, nullable=False, info=pi("C2", "entity KYC")),
    Column("registered_capital_fen", BigInteger, nullable=False),
    *_key_columns(),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("customer_id"),
)

bank_cards = Table(
    "identity_bank_cards",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column("card_ct", Text, nullable=False, info=pi("C2", "deposits and withdrawals")),
    Column("card_bidx", String(64), nullable=False, info=pi("C2", "duplicate card check")),
    Column("status", String(16), nullable=False),  # active | unbound
    Column("bound_us", BigInteger, nullable=False),
    Column("unbound_us", BigInteger),
    *_key_columns(),
    Index("ix_identity_bank_cards_customer_id", "customer_id"),
    Index("ix_identity_bank_cards_card_bidx", "card_bidx"),
)

kyc_results = Table(
    "identity_kyc_results",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column("verifier", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),  # passed | failed
    Column("reason", String(64), nullable=False),
    #: Keyed digest of the four elements checked, to prove later what was verified.
    Column("elements_digest", String(64), nullable=False, info=pi("C2", "KYC evidence")),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_identity_kyc_results_customer_id", "customer_id"),
)

questionnaires = Table(
    "identity_questionnaires",
    metadata,
    Column("version", String(16), primary_key=True),
    Column("definition", Text, nullable=False),  # JSON: questions, options, scores, bands
    Column("digest", String(64), nullable=False),
    Column("published_us", BigInteger, nullable=False),
)

risk_assessments = Table(
    "identity_risk_assessments",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column(
        "questionnaire_version",
        String(16),
        ForeignKey("identity_questionnaires.version"),
        nullable=False,
    ),
    Column("answers", Text, nullable=False, info=pi("C2", "suitability (P2P-LND-02)")),
    #: JSON: score per dimension (age, finances, experience, preference, tolerance).
    Column("dimensions", Text, nullable=False, info=pi("C2", "suitability (P2P-LND-02)")),
    Column("score", Integer, nullable=False, info=pi("C2", "suitability")),
    Column("level", String(2), nullable=False, info=pi("C2", "suitability")),
    Column("assessed_us", BigInteger, nullable=False),
    Column("valid_until_us", BigInteger, nullable=False),
    Index("ix_identity_risk_assessments_customer_id", "customer_id"),
)

risk_limits = Table(
    "identity_risk_limits",
    metadata,
    #: Run-time overrides of the per-level limits (P2P-LND-03 "可动态调整").
    Column("level", String(2), primary_key=True),
    Column("max_single_fen", BigInteger, nullable=False),
    Column("max_total_fen", BigInteger, nullable=False),
    Column("allowed_grades", String(32), nullable=False),  # "R1,R2,R3"
    Column("updated_us", BigInteger, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

consents = Table(
    "identity_consents",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # general | separate
    Column("document_version", String(16), nullable=False),
    Column("document_digest", String(64), nullable=False),
    Column("granted_us", BigInteger, nullable=False),
    Column("withdrawn_us", BigInteger),
    Column("source_ip", String(64), info=pi("C2", "evidence of consent")),
    Index("ix_identity_consents_customer_id_purpose", "customer_id", "purpose"),
)

data_requests = Table(
    "identity_data_requests",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, ForeignKey("identity_customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # delete | correct
    Column("status", String(16), nullable=False),  # open | deferred | done
    Column("fields", String(200), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("retain_until", Date),
    Column("created_us", BigInteger, nullable=False),
    Column("closed_us", BigInteger),
    Index("ix_identity_data_requests_customer_id", "customer_id"),
)

permissions = Table(
    "identity_permissions",
    metadata,
    Column("code", String(48), primary_key=True),
    Column("description", String(200), nullable=False),
)

roles = Table(
    "identity_roles",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(48), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("scope", String(8), nullable=False),  # team | all: which customers the role sees
    Column("built_in", Boolean, nullable=False),
)

role_permissions = Table(
    "identity_role_permissions",
    metadata,
    Column("role_id", BigInteger, ForeignKey("identity_roles.id"), primary_key=True),
    Column("permission", String(48), ForeignKey("identity_permissions.code"), primary_key=True),
)

positions = Table(
    "identity_positions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(48), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("org_unit_id", BigInteger, ForeignKey("identity_org_units.id"), nullable=False),
    Column("role_id", BigInteger, ForeignKey("identity_roles.id"), nullable=False),
)

staff = Table(
    "identity_staff",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True, info=pi("C1", "staff login")),
    Column("display_name", String(100), nullable=False, info=pi("C1", "staff directory")),
    Column("status", String(16), nullable=False),  # active | disabled
    Column("org_unit_id", BigInteger, ForeignKey("identity_org_units.id"), nullable=False),
    Column("position_id", BigInteger, ForeignKey("identity_positions.id")),
    *_lockout_columns(),
    *_key_columns(),
    Column("created_us", BigInteger, nullable=False),
    Column("created_by", String(64), nullable=False),
)

staff_roles = Table(
    "identity_staff_roles",
    metadata,
    Column("staff_id", BigInteger, ForeignKey("identity_staff.id"), primary_key=True),
    Column("role_id", BigInteger, ForeignKey("identity_roles.id"), primary_key=True),
)

password_history = Table(
    "identity_password_history",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("principal", String(40), nullable=False),  # "customer:12" | "staff:3"
    Column("password_hash", String(255), nullable=False, info=pi("C3", "password reuse check")),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_identity_password_history_principal", "principal"),
)

sessions = Table(
    "identity_sessions",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: SHA-256 of the bearer token: the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True, info=pi("C3", "session")),
    Column("csrf_hash", String(64), nullable=False, info=pi("C3", "form protection")),
    Column("principal", String(40), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
    Column("revoked_reason", String(32)),
    Column("ip", String(64), info=pi("C2", "security monitoring")),
    Column("user_agent", String(200), info=pi("C1", "security monitoring")),
    Index("ix_identity_sessions_principal", "principal"),
)

login_history = Table(
    "identity_login_history",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: The principal when the account exists; NULL for an unknown login name.
    Column("principal", String(40)),
    Column("success", Boolean, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("ip", String(64), info=pi("C2", "security monitoring")),
    Column("user_agent", String(200), info=pi("C1", "security monitoring")),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_identity_login_history_principal", "principal"),
)

otp_codes = Table(
    "identity_otp_codes",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("phone_bidx", String(64), nullable=False, info=pi("C2", "one-time code delivery")),
    Column("purpose", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False, info=pi("C3", "one-time code")),
    Column("attempts", Integer, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("used_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_identity_otp_codes_phone_bidx_purpose", "phone_bidx", "purpose"),
)

rate_limits = Table(
    "identity_rate_limits",
    metadata,
    Column("bucket", String(48), primary_key=True),
    #: Keyed digest of the subject (an IP, a phone): the limiter stores no raw identifier.
    Column("subject", String(64), primary_key=True, info=pi("C2", "abuse prevention")),
    Column("window_us", BigInteger, primary_key=True),
    Column("hits", Integer, nullable=False),
)

audit_log = Table(
    "identity_audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("occurred_at", String(40), nullable=False),  # ISO 8601 with its UTC offset
    Column("ts_us", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("actor", String(64), nullable=False),  # "staff:3", "customer:12", "system", "cli"
    Column("actor_role", String(200), nullable=False),
    Column("source_ip", String(64), nullable=False, info=pi("C2", "audit (SEC-AUD-01)")),
    Column("request_id", String(128), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("before_digest", String(64), nullable=False),
    Column("after_digest", String(64), nullable=False),
    #: JSON of non-personal details (field names, reasons, codes) — never a personal value.
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_identity_audit_log_business_date", "business_date"),
    Index("ix_identity_audit_log_object_type_object_id", "object_type", "object_id"),
)

audit_seals = Table(
    "identity_audit_seals",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False, unique=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("merkle_root", String(64), nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("prev_seal_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

#: Tables whose rows hold sealed columns under a per-record data key (see ``crypto``).
SEALED_TABLES = (customers, entities, bank_cards, staff)
