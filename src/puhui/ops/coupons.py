"""Coupons: cash coupons (红包) and interest-boost coupons (加息券).

A rule says what a coupon is worth and where it may be used: the minimum investment, the range
of terms in months, the products, how many days it stays valid, and a budget. A coupon is one
rule issued to one customer, at most once per real identity (the guard key is the customer's
ID-number blind index, so a second account of the same person cannot collect it again).

Redeeming binds the coupon to one investment (one coupon per investment, one investment per
coupon) with a single conditional UPDATE, so two simultaneous redemptions of one coupon pay
exactly once: the second finds it no longer ``issued``. A cash coupon is paid at once from the
platform's marketing account (``marketing.pay``); an interest-boost coupon pays, at each
distribution of the investment, the extra interest ``interest × boost rate ÷ base rate``
(the distribution's interest scaled to the boost), once per distribution.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.money import check_fen, round_fen
from puhui.identity.audit import Actor
from puhui.identity.models import customers
from puhui.identity.times import now_us
from puhui.ops import marketing
from puhui.ops.channels import check_text
from puhui.ops.models import coupon_payouts, coupon_rules, coupons

KINDS = ("cash", "boost")
MAX_BOOST = Decimal("0.05")


@dataclass(frozen=True)
class Rule:
    id: int
    code: str
    name: str
    kind: str
    amount_fen: int
    boost_rate: Decimal
    min_amount_fen: int
    min_term_months: int
    max_term_months: int
    products: tuple[str, ...]
    valid_days: int
    budget_fen: int
    channel_id: int | None


@dataclass(frozen=True)
class Coupon:
    id: int
    rule_id: int
    rule_code: str
    kind: str
    customer_id: int
    status: str
    reason: str
    issued_us: int
    expires_us: int
    investment_ref: str | None
    paid_fen: int


@dataclass(frozen=True)
class Redemption:
    coupon_id: int
    investment_ref: str
    kind: str
    paid_fen: int


def _rule(r: Any) -> Rule:
    return Rule(
        r.id,
        r.code,
        r.name,
        r.kind,
        r.amount_fen,
        Decimal(r.boost_rate),
        r.min_amount_fen,
        r.min_term_months,
        r.max_term_months,
        tuple(p for p in r.products.split(",") if p),
        r.valid_days,
        r.budget_fen,
        r.channel_id,
    )


def create_rule(
    conn: Connection,
    *,
    code: str,
    name: str,
    kind: str,
    actor: Actor,
    clock: Clock,
    amount_fen: int = 0,
    boost_rate: Decimal = Decimal(0),
    min_amount_fen: int = 0,
    min_term_months: int = 1,
    max_term_months: int = 120,
    products: tuple[str, ...] = (),
    valid_days: int = 30,
    budget_fen: int = 0,
    channel_id: int | None = None,
) -> Rule:
    if kind not in KINDS:
        raise ValidationError("kind_invalid", "kind is cash or boost", field="kind")
    if not code or len(code) > 32 or not code.replace("_", "").replace("-", "").isalnum():
        raise ValidationError(
            "code_invalid", "code is 1-32 letters, digits, '-' or '_'", field="code"
        )
    if not 1 <= len(name.strip()) <= 100:
        raise ValidationError("name_invalid", "name is 1 to 100 characters", field="name")
    check_text(name, field="name")
    check_fen(amount_fen, field="amount_fen")
    check_fen(min_amount_fen, field="min_amount_fen")
    check_fen(budget_fen, field="budget_fen")
    try:
        boost = Decimal(boost_rate)
    except InvalidOperation:
        raise ValidationError(
            "boost_rate_invalid", "boost rate is a decimal", field="boost_rate"
        ) from None
    if kind == "cash" and (amount_fen <= 0 or boost != 0):
        raise ValidationError(
            "amount_invalid", "a cash coupon has a positive amount and no boost", field="amount_fen"
        )
    if kind == "boost" and (amount_fen != 0 or not Decimal(0) < boost <= MAX_BOOST):
        raise ValidationError(
            "boost_rate_invalid",
            f"a boost coupon adds a rate in (0, {MAX_BOOST}]",
            field="boost_rate",
        )
    if not 1 <= min_term_months <= max_term_months <= 600:
        raise ValidationError(
            "terms_invalid", "1 ≤ min term ≤ max term ≤ 600 months", field="min_term_months"
        )
    if not 1 <= valid_days <= 3660:
        raise ValidationError("valid_days_invalid", "valid for 1 to 3660 days", field="valid_days")
    if conn.execute(select(coupon_rules.c.id).where(coupon_rules.c.code == code)).first():
        raise Conflict("rule_exists", f"coupon rule {code!r} exists", field="code")
    rule_id = conn.execute(
        insert(coupon_rules).values(
            code=code,
            name=name.strip(),
            kind=kind,
            amount_fen=amount_fen,
            boost_rate=str(boost),
            min_amount_fen=min_amount_fen,
            min_term_months=min_term_months,
            max_term_months=max_term_months,
            products=",".join(products),
            valid_days=valid_days,
            budget_fen=budget_fen,
            channel_id=channel_id,
            created_us=now_us(clock),
            created_by=actor.principal,
        )
    ).inserted_primary_key[0]
    return get_rule(conn, rule_id=rule_id)


def get_rule(conn: Connection, *, rule_id: int | None = None, code: str | None = None) -> Rule:
    q = select(coupon_rules)
    q = (
        q.where(coupon_rules.c.id == rule_id)
        if rule_id is not None
        else q.where(coupon_rules.c.code == code)
    )
    row = conn.execute(q).first()
    if row is None:
        raise NotFound("rule_not_found", "no such coupon rule", field="rule")
    return _rule(row)


def list_rules(conn: Connection) -> list[Rule]:
    return [_rule(r) for r in conn.execute(select(coupon_rules).order_by(coupon_rules.c.id))]


def identity_key(conn: Connection, customer_id: int) -> str:
    """The guard key of a customer's real identity (verified customers only)."""
    row = conn.execute(
        select(customers.c.id_number_bidx, customers.c.kyc_status).where(
            customers.c.id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound("customer_not_found", "no such customer", field="customer_id")
    if row.kyc_status != "verified" or not row.id_number_bidx:
        raise Conflict(
            "customer_not_verified",
            "rewards go to customers who passed real-name verification",
            field="customer_id",
        )
    return f"id:{row.id_number_bidx}"


def issue(
    conn: Connection,
    *,
    rule_code: str,
    customer_id: int,
    reason: str,
    clock: Clock,
    guard_key: str | None = None,
) -> Coupon:
    """Give a customer a coupon of a rule, once per real identity (or per ``guard_key``: a
    referral reward is guarded by the invitee's identity, so each real invitee pays once)."""
    rule = get_rule(conn, code=rule_code)
    own_key = identity_key(conn, customer_id)
    key = guard_key or own_key
    dup = select(coupons.c.id).where(coupons.c.rule_id == rule.id, coupons.c.guard_key == key)
    if conn.execute(dup).first() is not None:
        raise Conflict(
            "reward_already_given",
            "this reward was already given for this identity",
            field="customer_id",
        )
    now = now_us(clock)
    values = {
        "rule_id": rule.id,
        "customer_id": customer_id,
        "guard_key": key,
        "status": "issued",
        "reason": reason[:64],
        "issued_us": now,
        "expires_us": now + int(timedelta(days=rule.valid_days).total_seconds()) * 1_000_000,
    }
    try:
        with conn.begin_nested():
            coupon_id = conn.execute(insert(coupons).values(**values)).inserted_primary_key[0]
    except IntegrityError:  # a concurrent twin was inserted first
        raise Conflict(
            "reward_already_given",
            "this reward was already given for this identity",
            field="customer_id",
        ) from None
    return get(conn, coupon_id=coupon_id)


def _query() -> Any:
    paid = (
        select(coupon_payouts.c.coupon_id, func.sum(coupon_payouts.c.amount_fen).label("paid"))
        .group_by(coupon_payouts.c.coupon_id)
        .subquery()
    )
    return select(
        coupons,
        coupon_rules.c.code.label("rule_code"),
        coupon_rules.c.kind,
        func.coalesce(paid.c.paid, 0).label("paid_fen"),
    ).select_from(
        coupons.join(coupon_rules, coupon_rules.c.id == coupons.c.rule_id).outerjoin(
            paid, paid.c.coupon_id == coupons.c.id
        )
    )


def _coupon(r: Any) -> Coupon:
    values = {k: getattr(r, k) for k in Coupon.__dataclass_fields__}
    return Coupon(**{**values, "paid_fen": int(values["paid_fen"])})  # SUM is NUMERIC on PostgreSQL


def get(conn: Connection, *, coupon_id: int) -> Coupon:
    row = conn.execute(_query().where(coupons.c.id == coupon_id)).first()
    if row is None:
        raise NotFound("coupon_not_found", "no such coupon", field="coupon_id")
    return _coupon(row)


def list_coupons(
    conn: Connection, *, customer_id: int | None = None, status: str | None = None, limit: int = 100
) -> list[Coupon]:
    q = _query()
    if customer_id is not None:
        q = q.where(coupons.c.customer_id == customer_id)
    if status:
        q = q.where(coupons.c.status == status)
    return [_coupon(r) for r in conn.execute(q.order_by(coupons.c.id).limit(limit))]


def coupon_for_investment(conn: Connection, *, investment_ref: str) -> int | None:
    """The coupon redeemed on an investment, if any (what a distribution asks for)."""
    found = conn.execute(
        select(coupons.c.id).where(coupons.c.investment_ref == investment_ref)
    ).scalar()
    return None if found is None else int(found)


def _check_use(rule: Rule, amount_fen: int, term_months: int, product_code: str) -> None:
    if amount_fen < rule.min_amount_fen:
        raise ValidationError(
            "amount_below_minimum",
            f"the coupon needs an investment of at least {rule.min_amount_fen} fen",
            field="amount_fen",
        )
    if not rule.min_term_months <= term_months <= rule.max_term_months:
        raise ValidationError(
            "term_not_allowed",
            f"the coupon is for terms of {rule.min_term_months} to {rule.max_term_months} months",
            field="term_months",
        )
    if rule.products and product_code not in rule.products:
        raise ValidationError(
            "product_not_allowed", "the coupon cannot be used on this product", field="product_code"
        )


def _lock_budget(conn: Connection, rule: Rule, amount: int) -> None:
    """A rule with a budget never pays beyond it (the rule row serialises its payouts)."""
    if rule.budget_fen <= 0:
        return
    conn.execute(
        select(coupon_rules.c.id).where(coupon_rules.c.id == rule.id).with_for_update()
    ).one()
    spent = conn.execute(
        select(func.coalesce(func.sum(coupon_payouts.c.amount_fen), 0))
        .select_from(coupon_payouts.join(coupons, coupons.c.id == coupon_payouts.c.coupon_id))
        .where(coupons.c.rule_id == rule.id)
    ).scalar()
    if int(spent) + amount > rule.budget_fen:
        raise Conflict(
            "rule_budget_exhausted", "the campaign's coupon budget is spent", field="coupon_id"
        )


def redeem_coupon(
    conn: Connection,
    *,
    coupon_id: int,
    customer_id: int,
    investment_ref: str,
    amount_fen: int,
    term_months: int,
    product_code: str,
    clock: Clock,
) -> Redemption:
    """Use a coupon on an investment: validate the rules, bind it, and pay a cash coupon.

    Call it in the same transaction as the bid. A retry with the same investment returns the
    first redemption and pays nothing more; a second investment is refused (409).
    """
    check_fen(amount_fen, field="amount_fen", allow_zero=False)
    if not investment_ref or len(investment_ref) > 64:
        raise ValidationError(
            "investment_ref_invalid", "investment_ref is 1-64 characters", field="investment_ref"
        )
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise ValidationError(
            "term_invalid", "term is a whole number of months", field="term_months"
        )
    coupon = get(conn, coupon_id=coupon_id)
    if coupon.customer_id != customer_id:
        raise NotFound("coupon_not_found", "no such coupon", field="coupon_id")
    if coupon.status == "redeemed" and coupon.investment_ref == investment_ref:
        return Redemption(coupon.id, investment_ref, coupon.kind, coupon.paid_fen)
    if coupon.status != "issued":
        raise Conflict("coupon_not_usable", f"the coupon is {coupon.status}", field="coupon_id")
    now = now_us(clock)
    if coupon.expires_us <= now:
        raise Conflict("coupon_expired", "the coupon has expired", field="coupon_id")
    rule = get_rule(conn, rule_id=coupon.rule_id)
    _check_use(rule, amount_fen, term_months, product_code)
    try:
        with conn.begin_nested():
            won = conn.execute(
                update(coupons)
                .where(coupons.c.id == coupon_id, coupons.c.status == "issued")
                .values(
                    status="redeemed",
                    investment_ref=investment_ref,
                    invested_fen=amount_fen,
                    term_months=term_months,
                    redeemed_us=now,
                )
            ).rowcount
    except IntegrityError:
        raise Conflict(
            "investment_has_coupon", "this investment already used a coupon", field="investment_ref"
        ) from None
    if won != 1:
        again = get(conn, coupon_id=coupon_id)
        if again.investment_ref == investment_ref:
            return Redemption(again.id, investment_ref, again.kind, again.paid_fen)
        raise Conflict(
            "coupon_not_usable", "the coupon was used on another investment", field="coupon_id"
        )
    paid = 0
    if rule.kind == "cash":
        _lock_budget(conn, rule, rule.amount_fen)
        _payout(conn, coupon_id, customer_id, investment_ref, rule.amount_fen, clock)
        paid = rule.amount_fen
    return Redemption(coupon_id, investment_ref, rule.kind, paid)


def _payout(
    conn: Connection, coupon_id: int, customer_id: int, ref: str, amount: int, clock: Clock
) -> str:
    transfer_id = f"cpn-{coupon_id}-" + hashlib.sha256(ref.encode()).hexdigest()[:32]
    conn.execute(
        insert(coupon_payouts).values(
            coupon_id=coupon_id,
            ref=ref,
            amount_fen=amount,
            transfer_id=transfer_id,
            created_us=now_us(clock),
        )
    )
    marketing.pay(
        conn,
        customer_id=customer_id,
        amount_fen=amount,
        transfer_id=transfer_id,
        reference=f"coupon:{coupon_id}",
        clock=clock,
    )
    return transfer_id


def boost_amount(interest_fen: int, boost_rate: Decimal, base_rate: Decimal) -> int:
    """The extra interest of a boost: the distribution's interest scaled from the base rate
    to the boost rate, rounded half up to the fen."""
    return round_fen(Decimal(interest_fen) * boost_rate / base_rate)


def boost_payout(
    conn: Connection,
    *,
    coupon_id: int,
    interest_fen: int,
    base_rate: Decimal,
    distribution_ref: str,
    clock: Clock,
) -> int:
    """Pay an interest-boost coupon's extra interest for one distribution (回款) of the
    investment it was redeemed on; the same distribution pays once. Returns the fen paid."""
    check_fen(interest_fen, field="interest_fen")
    if not isinstance(base_rate, Decimal) or base_rate <= 0:
        raise ValidationError(
            "base_rate_invalid", "the base rate is a positive Decimal", field="base_rate"
        )
    if not distribution_ref or len(distribution_ref) > 64:
        raise ValidationError(
            "distribution_ref_invalid",
            "distribution_ref is 1-64 characters",
            field="distribution_ref",
        )
    coupon = get(conn, coupon_id=coupon_id)
    if coupon.kind != "boost" or coupon.status != "redeemed":
        raise Conflict(
            "coupon_not_boosting", "the coupon is not a redeemed interest boost", field="coupon_id"
        )
    rule = get_rule(conn, rule_id=coupon.rule_id)
    done = conn.execute(
        select(coupon_payouts.c.amount_fen).where(
            coupon_payouts.c.coupon_id == coupon_id, coupon_payouts.c.ref == distribution_ref
        )
    ).scalar()
    if done is not None:
        return int(done)
    extra = boost_amount(interest_fen, rule.boost_rate, base_rate)
    if extra == 0:
        return 0
    _lock_budget(conn, rule, extra)
    try:
        with conn.begin_nested():
            _payout(conn, coupon_id, coupon.customer_id, distribution_ref, extra, clock)
    except IntegrityError:  # a concurrent payout of the same distribution won
        return int(
            conn.execute(
                select(coupon_payouts.c.amount_fen).where(
                    coupon_payouts.c.coupon_id == coupon_id,
                    coupon_payouts.c.ref == distribution_ref,
                )
            ).scalar_one()
        )
    return extra


def expire(conn: Connection, *, clock: Clock) -> int:
    """End-of-day: issued coupons past their expiry become ``expired`` (one UPDATE)."""
    return conn.execute(
        update(coupons)
        .where(coupons.c.status == "issued", coupons.c.expires_us <= now_us(clock))
        .values(status="expired")
    ).rowcount
