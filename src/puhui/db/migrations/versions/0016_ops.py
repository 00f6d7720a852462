"""ops: position duties, ownership history, channels, events and attendees, leads and their
stages, follow-up tasks, referral codes, coupon rules, coupons and payouts, investments as
operations sees them, commission plans and targets

Revision ID: 0016
Revises: 0005

A branch of its own ("ops") off identity (0005), because operations builds on the org chart
and the customers; its columns that point at other domains' rows (staff,
customers, org units) carry no foreign key, as in openplatform.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0005"
branch_labels = ("ops",)
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ops_channels",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("medium", sa.String(length=64), nullable=True),
        sa.Column("campaign", sa.String(length=64), nullable=True),
        sa.Column("landing_text", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_channels")),
        sa.UniqueConstraint("code", name=op.f("uq_ops_channels_code")),
    )
    op.create_table(
        "ops_commission_plans",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("tiers_json", sa.Text(), nullable=False),
        sa.Column("new_investor_bonus_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ops_commission_plans")),
    )
    op.create_table(
        "ops_investments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("investment_ref", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("advisor_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("invested_on", sa.Date(), nullable=False),
        sa.Column("matures_on", sa.Date(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_investments")),
        sa.UniqueConstraint("investment_ref", name=op.f("uq_ops_investments_investment_ref")),
    )
    op.create_index(
        "ix_ops_investments_customer_id", "ops_investments", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_ops_investments_invested_on", "ops_investments", ["invested_on"], unique=False
    )
    op.create_table(
        "ops_ownership_history",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("from_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("to_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("from_team_id", sa.BigInteger(), nullable=True),
        sa.Column("to_team_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_ownership_history")),
    )
    op.create_index(
        "ix_ops_ownership_history_customer_id",
        "ops_ownership_history",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "ops_position_duties",
        sa.Column("position_code", sa.String(length=48), nullable=False),
        sa.Column("duties", sa.Text(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("position_code", name=op.f("pk_ops_position_duties")),
    )
    op.create_table(
        "ops_referral_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ops_referral_codes")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_ops_referral_codes_customer_id")),
    )
    op.create_table(
        "ops_targets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_targets")),
        sa.UniqueConstraint(
            "month",
            "scope",
            "subject_id",
            "metric",
            name=op.f("uq_ops_targets_month_scope_subject_id_metric"),
        ),
    )
    op.create_table(
        "ops_coupon_rules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("boost_rate", sa.String(length=16), nullable=False),
        sa.Column("min_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("min_term_months", sa.Integer(), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("products", sa.String(length=500), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["ops_channels.id"],
            name=op.f("fk_ops_coupon_rules_channel_id_ops_channels"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_coupon_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_ops_coupon_rules_code")),
    )
    op.create_table(
        "ops_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["ops_channels.id"], name=op.f("fk_ops_events_channel_id_ops_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_events")),
    )
    op.create_table(
        "ops_leads",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name_ct", sa.Text(), nullable=True),
        sa.Column("phone_ct", sa.Text(), nullable=True),
        sa.Column("phone_bidx", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("advisor_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("referral_code", sa.String(length=16), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("updated_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["ops_channels.id"], name=op.f("fk_ops_leads_channel_id_ops_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_leads")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_ops_leads_customer_id")),
        sa.UniqueConstraint("phone_bidx", name=op.f("uq_ops_leads_phone_bidx")),
    )
    op.create_index("ix_ops_leads_advisor_id", "ops_leads", ["advisor_id"], unique=False)
    op.create_index("ix_ops_leads_channel_id", "ops_leads", ["channel_id"], unique=False)
    op.create_index("ix_ops_leads_team_id", "ops_leads", ["team_id"], unique=False)
    op.create_table(
        "ops_referrals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("referrer_id", sa.BigInteger(), nullable=False),
        sa.Column("invitee_id", sa.BigInteger(), nullable=False),
        sa.Column("reward_coupon_id", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["ops_referral_codes.code"],
            name=op.f("fk_ops_referrals_code_ops_referral_codes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_referrals")),
        sa.UniqueConstraint("invitee_id", name=op.f("uq_ops_referrals_invitee_id")),
    )
    op.create_index("ix_ops_referrals_referrer_id", "ops_referrals", ["referrer_id"], unique=False)
    op.create_table(
        "ops_coupons",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("guard_key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("issued_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_us", sa.BigInteger(), nullable=False),
        sa.Column("investment_ref", sa.String(length=64), nullable=True),
        sa.Column("invested_fen", sa.BigInteger(), nullable=True),
        sa.Column("term_months", sa.Integer(), nullable=True),
        sa.Column("redeemed_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["ops_coupon_rules.id"],
            name=op.f("fk_ops_coupons_rule_id_ops_coupon_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_coupons")),
        sa.UniqueConstraint("investment_ref", name=op.f("uq_ops_coupons_investment_ref")),
        sa.UniqueConstraint("rule_id", "guard_key", name=op.f("uq_ops_coupons_rule_id_guard_key")),
    )
    op.create_index("ix_ops_coupons_customer_id", "ops_coupons", ["customer_id"], unique=False)
    op.create_table(
        "ops_event_attendees",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("registered_us", sa.BigInteger(), nullable=False),
        sa.Column("signed_in_us", sa.BigInteger(), nullable=True),
        sa.Column("followed_up_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ops_events.id"], name=op.f("fk_ops_event_attendees_event_id_ops_events")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["ops_leads.id"], name=op.f("fk_ops_event_attendees_lead_id_ops_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_event_attendees")),
        sa.UniqueConstraint(
            "event_id", "lead_id", name=op.f("uq_ops_event_attendees_event_id_lead_id")
        ),
    )
    op.create_table(
        "ops_lead_stages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["ops_leads.id"], name=op.f("fk_ops_lead_stages_lead_id_ops_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_lead_stages")),
    )
    op.create_index("ix_ops_lead_stages_lead_id", "ops_lead_stages", ["lead_id"], unique=False)
    op.create_table(
        "ops_tasks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("done_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["ops_leads.id"], name=op.f("fk_ops_tasks_lead_id_ops_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_tasks")),
    )
    op.create_index(
        "ix_ops_tasks_staff_id_status_due_on",
        "ops_tasks",
        ["staff_id", "status", "due_on"],
        unique=False,
    )
    op.create_table(
        "ops_coupon_payouts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("coupon_id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["ops_coupons.id"],
            name=op.f("fk_ops_coupon_payouts_coupon_id_ops_coupons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_coupon_payouts")),
        sa.UniqueConstraint("coupon_id", "ref", name=op.f("uq_ops_coupon_payouts_coupon_id_ref")),
    )


def downgrade() -> None:
    op.drop_table("ops_coupon_payouts")
    op.drop_index("ix_ops_tasks_staff_id_status_due_on", table_name="ops_tasks")
    op.drop_table("ops_tasks")
    op.drop_index("ix_ops_lead_stages_lead_id", table_name="ops_lead_stages")
    op.drop_table("ops_lead_stages")
    op.drop_table("ops_event_attendees")
    op.drop_index("ix_ops_coupons_customer_id", table_name="ops_coupons")
    op.drop_table("ops_coupons")
    op.drop_index("ix_ops_referrals_referrer_id", table_name="ops_referrals")
    op.drop_table("ops_referrals")
    op.drop_index("ix_ops_leads_team_id", table_name="ops_leads")
    op.drop_index("ix_ops_leads_channel_id", table_name="ops_leads")
    op.drop_index("ix_ops_leads_advisor_id", table_name="ops_leads")
    op.drop_table("ops_leads")
    op.drop_table("ops_events")
    op.drop_table("ops_coupon_rules")
    op.drop_table("ops_targets")
    op.drop_table("ops_referral_codes")
    op.drop_table("ops_position_duties")
    op.drop_index("ix_ops_ownership_history_customer_id", table_name="ops_ownership_history")
    op.drop_table("ops_ownership_history")
    op.drop_index("ix_ops_investments_invested_on", table_name="ops_investments")
    op.drop_index("ix_ops_investments_customer_id", table_name="ops_investments")
    op.drop_table("ops_investments")
    op.drop_table("ops_commission_plans")
    op.drop_table("ops_channels")
