"""Operations tables (运营): ownership history, channels, events, leads, tasks, referrals,
coupons, investments as operations sees them, commission plans and targets.

The org chart itself lives in identity (``identity_org_units``, ``identity_positions``,
``identity_staff``); operations only adds the duties text of each position. Which advisor owns
a customer is ``identity_customers.advisor_id``/``team_id``; this package keeps the history of
every change to it. Columns that point at other domains' rows carry no foreign key (those
tables live on other migration branches), as in openplatform.

Personal values of a lead (name, phone) are sealed and found through a keyed blind index,
like a customer's (PFI-C2-01); times are integer microseconds UTC (``*_us``), business days
are dates.
"""

from __future__ import annotations

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
from puhui.identity.models import pi

position_duties = Table(
    "ops_position_duties",
    metadata,
    #: ``identity_positions.code``: the duties text of a position (岗位职责).
    Column("position_code", String(48), primary_key=True),
    Column("duties", Text, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("updated_by", String(64), nullable=False),
)

ownership_history = Table(
    "ops_ownership_history",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("customer_id", BigInteger, nullable=False),
    Column("from_staff_id", BigInteger),
    Column("to_staff_id", BigInteger),
    Column("from_team_id", BigInteger),
    Column("to_team_id", BigInteger),
    Column("reason", String(200), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_ops_ownership_history_customer_id", "customer_id"),
)

channels = Table(
    "ops_channels",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: The unique channel code printed on a flyer's QR link or carried by a landing link.
    Column("code", String(32), nullable=False, unique=True),
    #: flyer | survey | event | campaign | referral | organic
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("source", String(64)),  # utm_source
    Column("medium", String(64)),  # utm_medium
    Column("campaign", String(64)),  # utm_campaign
    Column("landing_text", Text, nullable=False),
    Column("quantity", Integer, nullable=False),  # flyers printed in the batch; 0 otherwise
    Column("budget_fen", BigInteger, nullable=False),
    Column("starts_on", Date),
    Column("ends_on", Date),
    Column("team_id", BigInteger),
    Column("owner_staff_id", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Column("created_by", String(64), nullable=False),
)

events = Table(
    "ops_events",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("title", String(100), nullable=False),
    Column("kind", String(16), nullable=False),  # seminar | salon | meeting
    Column("held_on", Date, nullable=False),
    Column("location", String(200), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("channel_id", BigInteger, ForeignKey("ops_channels.id"), nullable=False),
    Column("team_id", BigInteger),
    Column("owner_staff_id", BigInteger),
    Column("created_us", BigInteger, nullable=False),
)

leads = Table(
    "ops_leads",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name_ct", Text, info=pi("C2", "contacting a prospective investor")),
    Column("phone_ct", Text, info=pi("C2", "contacting a prospective investor")),
    Column("phone_bidx", String(64), nullable=False, info=pi("C2", "one lead per phone")),
    Column("wrapped_key", Text, nullable=False, info=pi("C3", "data key, wrapped")),
    Column("key_id", String(32), nullable=False),
    Column("channel_id", BigInteger, ForeignKey("ops_channels.id"), nullable=False),
    #: new | contacted | registered | verified | first_investment | repeat | lost
    Column("stage", String(20), nullable=False),
    Column("customer_id", BigInteger, unique=True),
    Column("advisor_id", BigInteger),
    Column("team_id", BigInteger),
    Column("referral_code", String(16)),
    Column("note", String(500), nullable=False),
    Column("created_on", Date, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    UniqueConstraint("phone_bidx"),
    Index("ix_ops_leads_advisor_id", "advisor_id"),
    Index("ix_ops_leads_team_id", "team_id"),
    Index("ix_ops_leads_channel_id", "channel_id"),
)

lead_stages = Table(
    "ops_lead_stages",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("lead_id", BigInteger, ForeignKey("ops_leads.id"), nullable=False),
    Column("from_stage", String(20)),
    Column("to_stage", String(20), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_ops_lead_stages_lead_id", "lead_id"),
)

tasks = Table(
    "ops_tasks",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("lead_id", BigInteger, ForeignKey("ops_leads.id"), nullable=False),
    Column("staff_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # call | visit | follow_up
    Column("due_on", Date, nullable=False),
    Column("note", String(500), nullable=False),
    Column("status", String(8), nullable=False),  # open | done
    Column("outcome", String(500)),
    Column("created_us", BigInteger, nullable=False),
    Column("done_us", BigInteger),
    Index("ix_ops_tasks_staff_id_status_due_on", "staff_id", "status", "due_on"),
)

attendees = Table(
    "ops_event_attendees",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("event_id", BigInteger, ForeignKey("ops_events.id"), nullable=False),
    Column("lead_id", BigInteger, ForeignKey("ops_leads.id"), nullable=False),
    Column("registered_us", BigInteger, nullable=False),
    Column("signed_in_us", BigInteger),
    Column("followed_up_us", BigInteger),
    UniqueConstraint("event_id", "lead_id"),
)

referral_codes = Table(
    "ops_referral_codes",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("customer_id", BigInteger, nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
)

referrals = Table(
    "ops_referrals",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(16), ForeignKey("ops_referral_codes.code"), nullable=False),
    Column("referrer_id", BigInteger, nullable=False),
    #: A customer is invited once: the first code they registered with wins.
    Column("invitee_id", BigInteger, nullable=False, unique=True),
    Column("reward_coupon_id", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_ops_referrals_referrer_id", "referrer_id"),
)

coupon_rules = Table(
    "ops_coupon_rules",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(8), nullable=False),  # cash (红包) | boost (加息券)
    Column("amount_fen", BigInteger, nullable=False),  # the cash coupon's value; 0 for boost
    Column("boost_rate", String(16), nullable=False),  # annual rate added; "0" for cash
    Column("min_amount_fen", BigInteger, nullable=False),
    Column("min_term_months", Integer, nullable=False),
    Column("max_term_months", Integer, nullable=False),
    Column("products", String(500), nullable=False),  # comma-separated codes; "" = any
    Column("valid_days", Integer, nullable=False),
    Column("budget_fen", BigInteger, nullable=False),  # 0 = no cap beyond the marketing account
    Column("channel_id", BigInteger, ForeignKey("ops_channels.id")),
    Column("created_us", BigInteger, nullable=False),
    Column("created_by", String(64), nullable=False),
)

coupons = Table(
    "ops_coupons",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("rule_id", BigInteger, ForeignKey("ops_coupon_rules.id"), nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    #: Keyed digest of the real identity the reward is for: one reward per identity per rule.
    Column("guard_key", String(80), nullable=False, info=pi("C2", "one reward per identity")),
    Column("status", String(10), nullable=False),  # issued | redeemed | void
    Column("reason", String(64), nullable=False),
    Column("issued_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    #: One coupon per investment: the investment it was used on.
    Column("investment_ref", String(64), unique=True),
    Column("invested_fen", BigInteger),
    Column("term_months", Integer),
    Column("redeemed_us", BigInteger),
    UniqueConstraint("rule_id", "guard_key"),
    Index("ix_ops_coupons_customer_id", "customer_id"),
)

coupon_payouts = Table(
    "ops_coupon_payouts",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("coupon_id", BigInteger, ForeignKey("ops_coupons.id"), nullable=False),
    #: The investment (cash) or the distribution (boost) the payout belongs to.
    Column("ref", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("transfer_id", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    UniqueConstraint("coupon_id", "ref"),
)

investments = Table(
    "ops_investments",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    #: The marketplace's reference of the bid or holding (出借).
    Column("investment_ref", String(64), nullable=False, unique=True),
    Column("customer_id", BigInteger, nullable=False),
    #: The advisor, team and channel when the investment was made (performance is credited
    #: to whoever owned the customer then, not to a later owner).
    Column("advisor_id", BigInteger),
    Column("team_id", BigInteger),
    Column("channel_id", BigInteger),
    Column("product_code", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("invested_on", Date, nullable=False),
    Column("matures_on", Date, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_ops_investments_customer_id", "customer_id"),
    Index("ix_ops_investments_invested_on", "invested_on"),
)

commission_plans = Table(
    "ops_commission_plans",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    #: JSON [[threshold_fen, "rate"], ...]: the rate of the highest threshold reached applies
    #: to the whole annualised amount.
    Column("tiers_json", Text, nullable=False),
    Column("new_investor_bonus_fen", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

targets = Table(
    "ops_targets",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("month", String(7), nullable=False),  # "2026-11"
    Column("scope", String(8), nullable=False),  # staff | team
    Column("subject_id", BigInteger, nullable=False),
    Column("metric", String(32), nullable=False),
    Column("target", BigInteger, nullable=False),
    UniqueConstraint("month", "scope", "subject_id", "metric"),
)
