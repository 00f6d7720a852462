"""identity: customers, KYC, staff and roles, sessions, consents, the audit log and its seals

The audit tables are append-only in the database itself (SEC-AUD-02): triggers refuse every
UPDATE, and a DELETE of an audit entry younger than the retention floor of 183 days (SEC-AUD-03);
seals are never deleted. A deployment also grants the application role no UPDATE or DELETE on
them.

Revision ID: 0005
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = ("identity",)
depends_on = None

RETENTION_DAYS = 183

SQLITE_TRIGGERS = (
    """CREATE TRIGGER identity_audit_log_no_update BEFORE UPDATE ON identity_audit_log
    BEGIN SELECT RAISE(ABORT, 'identity_audit_log is append-only'); END""",
    f"""CREATE TRIGGER identity_audit_log_retention BEFORE DELETE ON identity_audit_log
    WHEN OLD.ts_us > (CAST(strftime('%s', 'now') AS INTEGER) - {RETENTION_DAYS} * 86400) * 1000000
    BEGIN SELECT RAISE(ABORT, 'audit records are kept at least {RETENTION_DAYS} days'); END""",
    """CREATE TRIGGER identity_audit_seals_no_update BEFORE UPDATE ON identity_audit_seals
    BEGIN SELECT RAISE(ABORT, 'identity_audit_seals is append-only'); END""",
    """CREATE TRIGGER identity_audit_seals_no_delete BEFORE DELETE ON identity_audit_seals
    BEGIN SELECT RAISE(ABORT, 'identity_audit_seals is append-only'); END""",
)

PG_TRIGGERS = (
    f"""CREATE FUNCTION identity_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'identity_audit_log' THEN
            IF OLD.ts_us <= (extract(epoch FROM now()) - {RETENTION_DAYS} * 86400) * 1000000 THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit records are kept at least {RETENTION_DAYS} days';
        END IF;
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
    END $$""",
    """CREATE TRIGGER identity_audit_log_guard BEFORE UPDATE OR DELETE ON identity_audit_log
    FOR EACH ROW EXECUTE FUNCTION identity_audit_guard()""",
    """CREATE TRIGGER identity_audit_seals_guard BEFORE UPDATE OR DELETE ON identity_audit_seals
    FOR EACH ROW EXECUTE FUNCTION identity_audit_guard()""",
)


def upgrade() -> None:
    op.create_table(
        "identity_audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.String(length=40), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=200), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("before_digest", sa.String(length=64), nullable=False),
        sa.Column("after_digest", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_identity_audit_log")),
    )
    op.create_index(
        "ix_identity_audit_log_business_date", "identity_audit_log", ["business_date"], unique=False
    )
    op.create_index(
        "ix_identity_audit_log_object_type_object_id",
        "identity_audit_log",
        ["object_type", "object_id"],
        unique=False,
    )
    op.create_table(
        "identity_audit_seals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("merkle_root", sa.String(length=64), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("prev_seal_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_audit_seals")),
        sa.UniqueConstraint("business_date", name=op.f("uq_identity_audit_seals_business_date")),
    )
    op.create_table(
        "identity_login_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("principal", sa.String(length=40), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_login_history")),
    )
    op.create_index(
        "ix_identity_login_history_principal", "identity_login_history", ["principal"], unique=False
    )
    op.create_table(
        "identity_org_units",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["identity_org_units.id"],
            name=op.f("fk_identity_org_units_parent_id_identity_org_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_org_units")),
        sa.UniqueConstraint("code", name=op.f("uq_identity_org_units_code")),
    )
    op.create_table(
        "identity_otp_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("used_us", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_otp_codes")),
    )
    op.create_index(
        "ix_identity_otp_codes_phone_bidx_purpose",
        "identity_otp_codes",
        ["phone_bidx", "purpose"],
        unique=False,
    )
    op.create_table(
        "identity_password_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_password_history")),
    )
    op.create_index(
        "ix_identity_password_history_principal",
        "identity_password_history",
        ["principal"],
        unique=False,
    )
    op.create_table(
        "identity_permissions",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_identity_permissions")),
    )
    op.create_table(
        "identity_questionnaires",
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("published_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_identity_questionnaires")),
    )
    op.create_table(
        "identity_rate_limits",
        sa.Column("bucket", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("window_us", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket", "subject", "window_us", name=op.f("pk_identity_rate_limits")
        ),
    )
    op.create_table(
        "identity_risk_limits",
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("max_single_fen", sa.BigInteger(), nullable=False),
        sa.Column("max_total_fen", sa.BigInteger(), nullable=False),
        sa.Column("allowed_grades", sa.String(length=32), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", name=op.f("pk_identity_risk_limits")),
    )
    op.create_table(
        "identity_roles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("built_in", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_roles")),
        sa.UniqueConstraint("code", name=op.f("uq_identity_roles_code")),
    )
    op.create_table(
        "identity_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_hash", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_sessions_token_hash")),
    )
    op.create_index(
        "ix_identity_sessions_principal", "identity_sessions", ["principal"], unique=False
    )
    op.create_table(
        "identity_customers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phone_ct", sa.Text(), nullable=True),
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("name_ct", sa.Text(), nullable=True),
        sa.Column("id_number_ct", sa.Text(), nullable=True),
        sa.Column("id_number_bidx", sa.String(length=64), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("address_ct", sa.Text(), nullable=True),
        sa.Column("occupation", sa.String(length=64), nullable=True),
        sa.Column("income_ct", sa.Text(), nullable=True),
        sa.Column("other_loans_ct", sa.Text(), nullable=True),
        sa.Column("kyc_status", sa.String(length=16), nullable=False),
        sa.Column("kyc_verified_us", sa.BigInteger(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("password_changed_us", sa.BigInteger(), nullable=False),
        sa.Column("totp_secret_ct", sa.Text(), nullable=True),
        sa.Column("totp_confirmed_us", sa.BigInteger(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until_us", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("advisor_id", sa.BigInteger(), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["identity_org_units.id"],
            name=op.f("fk_identity_customers_team_id_identity_org_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_customers")),
        sa.UniqueConstraint("id_number_bidx", name=op.f("uq_identity_customers_id_number_bidx")),
        sa.UniqueConstraint("phone_bidx", name=op.f("uq_identity_customers_phone_bidx")),
    )
    op.create_index(
        "ix_identity_customers_team_id", "identity_customers", ["team_id"], unique=False
    )
    op.create_table(
        "identity_positions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["identity_org_units.id"],
            name=op.f("fk_identity_positions_org_unit_id_identity_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["identity_roles.id"],
            name=op.f("fk_identity_positions_role_id_identity_roles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_positions")),
        sa.UniqueConstraint("code", name=op.f("uq_identity_positions_code")),
    )
    op.create_table(
        "identity_role_permissions",
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.Column("permission", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["permission"],
            ["identity_permissions.code"],
            name=op.f("fk_identity_role_permissions_permission_identity_permissions"),
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["identity_roles.id"],
            name=op.f("fk_identity_role_permissions_role_id_identity_roles"),
        ),
        sa.PrimaryKeyConstraint("role_id", "permission", name=op.f("pk_identity_role_permissions")),
    )
    op.create_table(
        "identity_bank_cards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("card_ct", sa.Text(), nullable=False),
        sa.Column("card_bidx", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bound_us", sa.BigInteger(), nullable=False),
        sa.Column("unbound_us", sa.BigInteger(), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_bank_cards_customer_id_identity_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_bank_cards")),
    )
    op.create_index(
        "ix_identity_bank_cards_card_bidx", "identity_bank_cards", ["card_bidx"], unique=False
    )
    op.create_index(
        "ix_identity_bank_cards_customer_id", "identity_bank_cards", ["customer_id"], unique=False
    )
    op.create_table(
        "identity_consents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document_version", sa.String(length=16), nullable=False),
        sa.Column("document_digest", sa.String(length=64), nullable=False),
        sa.Column("granted_us", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_us", sa.BigInteger(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_consents_customer_id_identity_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_consents")),
    )
    op.create_index(
        "ix_identity_consents_customer_id_purpose",
        "identity_consents",
        ["customer_id", "purpose"],
        unique=False,
    )
    op.create_table(
        "identity_data_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fields", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("closed_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_data_requests_customer_id_identity_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_data_requests")),
    )
    op.create_index(
        "ix_identity_data_requests_customer_id",
        "identity_data_requests",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "identity_entities",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("legal_rep_name_ct", sa.Text(), nullable=False),
        sa.Column("legal_rep_id_ct", sa.Text(), nullable=False),
        sa.Column("registered_capital_fen", sa.BigInteger(), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_entities_customer_id_identity_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_entities")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_identity_entities_customer_id")),
        sa.UniqueConstraint("uscc", name=op.f("uq_identity_entities_uscc")),
    )
    op.create_table(
        "identity_kyc_results",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("verifier", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("elements_digest", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_kyc_results_customer_id_identity_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_kyc_results")),
    )
    op.create_index(
        "ix_identity_kyc_results_customer_id", "identity_kyc_results", ["customer_id"], unique=False
    )
    op.create_table(
        "identity_risk_assessments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("questionnaire_version", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("dimensions", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("assessed_us", sa.BigInteger(), nullable=False),
        sa.Column("valid_until_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["identity_customers.id"],
            name=op.f("fk_identity_risk_assessments_customer_id_identity_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_version"],
            ["identity_questionnaires.version"],
            name=op.f("fk_identity_risk_assessments_questionnaire_version_identity_questionnaires"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_risk_assessments")),
    )
    op.create_index(
        "ix_identity_risk_assessments_customer_id",
        "identity_risk_assessments",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "identity_staff",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("org_unit_id", sa.BigInteger(), nullable=False),
        sa.Column("position_id", sa.BigInteger(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("password_changed_us", sa.BigInteger(), nullable=False),
        sa.Column("totp_secret_ct", sa.Text(), nullable=True),
        sa.Column("totp_confirmed_us", sa.BigInteger(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until_us", sa.BigInteger(), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["identity_org_units.id"],
            name=op.f("fk_identity_staff_org_unit_id_identity_org_units"),
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["identity_positions.id"],
            name=op.f("fk_identity_staff_position_id_identity_positions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_identity_staff_username")),
    )
    op.create_table(
        "identity_staff_roles",
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["identity_roles.id"],
            name=op.f("fk_identity_staff_roles_role_id_identity_roles"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["identity_staff.id"],
            name=op.f("fk_identity_staff_roles_staff_id_identity_staff"),
        ),
        sa.PrimaryKeyConstraint("staff_id", "role_id", name=op.f("pk_identity_staff_roles")),
    )

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER identity_audit_log_guard ON identity_audit_log")
        op.execute("DROP TRIGGER identity_audit_seals_guard ON identity_audit_seals")
        op.execute("DROP FUNCTION identity_audit_guard()")
    op.drop_table("identity_staff_roles")
    op.drop_table("identity_staff")
    op.drop_index(
        "ix_identity_risk_assessments_customer_id", table_name="identity_risk_assessments"
    )
    op.drop_table("identity_risk_assessments")
    op.drop_index("ix_identity_kyc_results_customer_id", table_name="identity_kyc_results")
    op.drop_table("identity_kyc_results")
    op.drop_table("identity_entities")
    op.drop_index("ix_identity_data_requests_customer_id", table_name="identity_data_requests")
    op.drop_table("identity_data_requests")
    op.drop_index("ix_identity_consents_customer_id_purpose", table_name="identity_consents")
    op.drop_table("identity_consents")
    op.drop_index("ix_identity_bank_cards_customer_id", table_name="identity_bank_cards")
    op.drop_index("ix_identity_bank_cards_card_bidx", table_name="identity_bank_cards")
    op.drop_table("identity_bank_cards")
    op.drop_table("identity_role_permissions")
    op.drop_table("identity_positions")
    op.drop_index("ix_identity_customers_team_id", table_name="identity_customers")
    op.drop_table("identity_customers")
    op.drop_index("ix_identity_sessions_principal", table_name="identity_sessions")
    op.drop_table("identity_sessions")
    op.drop_table("identity_roles")
    op.drop_table("identity_risk_limits")
    op.drop_table("identity_rate_limits")
    op.drop_table("identity_questionnaires")
    op.drop_table("identity_permissions")
    op.drop_index("ix_identity_password_history_principal", table_name="identity_password_history")
    op.drop_table("identity_password_history")
    op.drop_index("ix_identity_otp_codes_phone_bidx_purpose", table_name="identity_otp_codes")
    op.drop_table("identity_otp_codes")
    op.drop_table("identity_org_units")
    op.drop_index("ix_identity_login_history_principal", table_name="identity_login_history")
    op.drop_table("identity_login_history")
    op.drop_table("identity_audit_seals")
    op.drop_index("ix_identity_audit_log_object_type_object_id", table_name="identity_audit_log")
    op.drop_index("ix_identity_audit_log_business_date", table_name="identity_audit_log")
    op.drop_table("identity_audit_log")
