"""Online marketing (线上营销): campaigns with source/medium/campaign attribution, referral
codes with invite rewards, and the marketing calendar.

A campaign is a channel whose landing link carries ``utm_source``/``utm_medium``/
``utm_campaign``; its landing text is checked for banned promise phrases. A referral code
belongs to one customer; an invitee names it once, before investing, and the referrer earns the
invite reward (a coupon of rule ``REFERRAL_RULE``) when the invitee first invests — once per
real invitee identity, so one person opening several accounts earns the referrer nothing more.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity.audit import Actor
from puhui.identity.times import now_us
from puhui.ops import channels, coupons
from puhui.ops.models import channels as channel_table
from puhui.ops.models import coupon_rules, events, investments, referral_codes, referrals

#: The coupon rule whose coupon rewards a referrer (no reward while it does not exist).
REFERRAL_RULE = "referral_invite"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def create_campaign(
    conn: Connection,
    *,
    name: str,
    source: str,
    medium: str,
    campaign: str,
    landing_text: str,
    starts_on: date,
    ends_on: date,
    budget_fen: int,
    actor: Actor,
    clock: Clock,
    team_id: int | None = None,
    owner_staff_id: int | None = None,
) -> channels.Channel:
    """A campaign channel with its attribution parameters and dates on the calendar."""
    return channels.create(
        conn,
        kind="campaign",
        name=name,
        source=source,
        medium=medium,
        campaign=campaign,
        landing_text=landing_text,
        starts_on=starts_on,
        ends_on=ends_on,
        budget_fen=budget_fen,
        team_id=team_id,
        owner_staff_id=owner_staff_id,
        actor=actor,
        clock=clock,
    )


def referral_code(conn: Connection, *, customer_id: int, clock: Clock) -> str:
    """The customer's own referral code (made on first ask)."""
    found = conn.execute(
        select(referral_codes.c.code).where(referral_codes.c.customer_id == customer_id)
    ).scalar()
    if found:
        return str(found)
    code = "R" + "".join(secrets.choice(_ALPHABET) for _ in range(7))
    try:
        with conn.begin_nested():
            conn.execute(
                insert(referral_codes).values(
                    code=code, customer_id=customer_id, created_us=now_us(clock)
                )
            )
    except IntegrityError:  # a concurrent first ask made it
        return str(
            conn.execute(
                select(referral_codes.c.code).where(referral_codes.c.customer_id == customer_id)
            ).scalar_one()
        )
    return code


def accept_referral(conn: Connection, *, invitee_id: int, code: str, clock: Clock) -> int:
    """An invitee names who invited them: once, not themselves, and before investing."""
    row = conn.execute(
        select(referral_codes).where(referral_codes.c.code == code.strip().upper())
    ).first()
    if row is None:
        raise NotFound("referral_code_not_found", "no such referral code", field="code")
    if row.customer_id == invitee_id:
        raise ValidationError("self_referral", "a customer cannot invite themselves", field="code")
    if conn.execute(
        select(investments.c.id).where(investments.c.customer_id == invitee_id)
    ).first():
        raise Conflict(
            "already_investing", "a referral is named before the first investment", field="code"
        )
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(referrals).values(
                        code=row.code,
                        referrer_id=row.customer_id,
                        invitee_id=invitee_id,
                        created_us=now_us(clock),
                    )
                ).inserted_primary_key[0]
            )
    except IntegrityError:
        raise Conflict("referral_exists", "a referrer was already named", field="code") from None


def reward_referrer(conn: Connection, *, invitee_id: int, clock: Clock) -> int | None:
    """The invite reward for the invitee's referrer, once per real invitee; the coupon id,
    or None when there is no referral, no reward rule, or the reward was already given."""
    ref = conn.execute(
        select(referrals).where(
            referrals.c.invitee_id == invitee_id, referrals.c.reward_coupon_id.is_(None)
        )
    ).first()
    if ref is None:
        return None
    if (
        conn.execute(select(coupon_rules.c.id).where(coupon_rules.c.code == REFERRAL_RULE)).first()
        is None
    ):
        return None
    try:
        guard = "invitee:" + coupons.identity_key(conn, invitee_id)
        coupon = coupons.issue(
            conn,
            rule_code=REFERRAL_RULE,
            customer_id=ref.referrer_id,
            reason=f"referral:{invitee_id}",
            guard_key=guard,
            clock=clock,
        )
    except Conflict:  # the invitee is unverified, or this identity already earned a reward
        return None
    conn.execute(
        update(referrals).where(referrals.c.id == ref.id).values(reward_coupon_id=coupon.id)
    )
    return coupon.id


@dataclass(frozen=True)
class Referral:
    invitee_id: int
    created_us: int
    reward_coupon_id: int | None


def referrals_of(conn: Connection, *, referrer_id: int) -> list[Referral]:
    q = select(referrals).where(referrals.c.referrer_id == referrer_id).order_by(referrals.c.id)
    return [Referral(r.invitee_id, r.created_us, r.reward_coupon_id) for r in conn.execute(q)]


@dataclass(frozen=True)
class CalendarEntry:
    """One line of the marketing calendar (营销日历)."""

    starts_on: date
    ends_on: date
    kind: str
    title: str
    channel_code: str


def calendar(conn: Connection, *, start: date, end: date) -> list[CalendarEntry]:
    """Campaigns running and events held between ``start`` and ``end``, by start date."""
    c = channel_table.c
    camp = conn.execute(
        select(c.starts_on, c.ends_on, c.kind, c.name, c.code).where(
            c.kind.in_(("campaign", "flyer", "survey")),
            c.starts_on.is_not(None),
            c.starts_on <= end,
            or_(c.ends_on.is_(None), c.ends_on >= start),
        )
    )
    out = [
        CalendarEntry(r.starts_on, r.ends_on or r.starts_on, r.kind, r.name, r.code) for r in camp
    ]
    ev = conn.execute(
        select(events.c.held_on, events.c.kind, events.c.title, c.code)
        .join(channel_table, c.id == events.c.channel_id)
        .where(events.c.held_on >= start, events.c.held_on <= end)
    )
    out += [CalendarEntry(r.held_on, r.held_on, f"event:{r.kind}", r.title, r.code) for r in ev]
    return sorted(out, key=lambda e: (e.starts_on, e.title))
