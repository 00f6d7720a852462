"""Performance review (绩效考核) per person, team and month, in set-based SQL.

For a month and a grouping (``advisor_id`` or ``team_id`` of the investment, i.e. whoever
served the customer when they invested):

* new investors — customers whose first investment ever falls in the month;
* first-investment amount — the sum of those first investments;
* invested — every investment made in the month;
* annualised (年化业绩) — Σ amount × term months ÷ 12, rounded half up once per group;
* AUM (管理资产) — investments held at month end (invested on or before it, maturing after);
* retention — of the customers holding investments at the previous month end, how many still
  hold one at this month end (customers counted under the group of their holding);
* commission — by a configurable plan: the rate of the highest tier the annualised amount
  reaches, on the whole annualised amount, plus a bonus per new investor.

Conversion by channel counts the month's leads per channel and how many of them reached each
later stage. Targets are compared with actuals; rankings order people and teams by the
annualised amount. The only Python loop is over the result rows (one per person or team).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.core.money import check_fen, round_fen
from puhui.identity.times import now_us
from puhui.ops.models import channels, commission_plans, investments, leads, targets
from puhui.ops.scope import Viewer

METRICS = ("new_investors", "first_investment_fen", "invested_fen", "annualised_fen", "aum_fen")
GROUPS = ("advisor", "team")


def month_bounds(month: str) -> tuple[date, date]:
    """ "2026-11" → (2026-11-01, 2026-11-30)."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        raise ValidationError("month_invalid", "month is YYYY-MM", field="month") from None
    nxt = date(year + mon // 12, mon % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


@dataclass(frozen=True)
class Row:
    """One person's or team's month."""

    subject_id: int
    new_investors: int
    first_investment_fen: int
    invested_fen: int
    annualised_fen: int
    aum_fen: int
    retained: int
    retention_base: int
    commission_fen: int
    rank: int

    @property
    def retention(self) -> Decimal | None:
        if not self.retention_base:
            return None
        return (Decimal(self.retained) / Decimal(self.retention_base)).quantize(Decimal("0.0001"))


def _key(group: str) -> Any:
    if group not in GROUPS:
        raise ValidationError("group_invalid", "group is advisor or team", field="group")
    return investments.c.advisor_id if group == "advisor" else investments.c.team_id


def _held_at(day: date) -> Any:
    i = investments.c
    return and_(i.invested_on <= day, i.matures_on > day)


def monthly(
    conn: Connection, *, month: str, group: str, viewer: Viewer, plan_code: str | None = None
) -> list[Row]:
    """The month's figures for every person (or team) in the viewer's scope, ranked by the
    annualised amount (ties share a rank)."""
    first, last = month_bounds(month)
    key = _key(group)
    i = investments.c
    scope = viewer.owns(i.advisor_id, i.team_id)
    in_month = i.invested_on.between(first, last)
    order = func.row_number().over(partition_by=i.customer_id, order_by=(i.invested_on, i.id))
    ranked = select(i.id, order.label("n")).subquery()
    is_first = and_(ranked.c.n == 1, in_month)
    flows = (
        select(
            key.label("k"),
            func.count(func.distinct(case((is_first, i.customer_id)))).label("new_investors"),
            func.sum(case((is_first, i.amount_fen), else_=0)).label("first_fen"),
            func.sum(case((in_month, i.amount_fen), else_=0)).label("invested_fen"),
            func.sum(case((in_month, i.amount_fen * i.term_months), else_=0)).label(
                "amount_months"
            ),
            func.sum(case((_held_at(last), i.amount_fen), else_=0)).label("aum_fen"),
        )
        .join(ranked, ranked.c.id == i.id)
        .where(scope, key.is_not(None))
        .group_by(key)
    )
    before = first - timedelta(days=1)
    holders = (
        select(key.label("k"), i.customer_id.label("cid"))
        .where(scope, key.is_not(None), _held_at(before))
        .distinct()
        .subquery()
    )
    still = select(investments.c.customer_id).where(_held_at(last)).distinct().subquery()
    retention = (
        select(
            holders.c.k,
            func.count().label("base"),
            func.count(still.c.customer_id).label("retained"),
        )
        .select_from(holders.outerjoin(still, still.c.customer_id == holders.c.cid))
        .group_by(holders.c.k)
    )
    plan = get_plan(conn, code=plan_code) if plan_code else None
    figures: dict[int, dict[str, int]] = {}
    for r in conn.execute(flows):
        figures[int(r.k)] = {
            "new_investors": int(r.new_investors),
            "first_investment_fen": int(r.first_fen or 0),
            "invested_fen": int(r.invested_fen or 0),
            "annualised_fen": round_fen(Decimal(int(r.amount_months or 0)) / 12),
            "aum_fen": int(r.aum_fen or 0),
            "retained": 0,
            "retention_base": 0,
        }
    for r in conn.execute(retention):
        f = figures.setdefault(int(r.k), dict.fromkeys((*METRICS, "retained", "retention_base"), 0))
        f["retained"], f["retention_base"] = int(r.retained), int(r.base)
    ordered = sorted(figures.items(), key=lambda kv: (-kv[1]["annualised_fen"], kv[0]))
    out: list[Row] = []
    rank, prev = 0, None
    for pos, (subject, f) in enumerate(ordered, start=1):
        if f["annualised_fen"] != prev:
            rank, prev = pos, f["annualised_fen"]
        commission = plan.commission(f["annualised_fen"], f["new_investors"]) if plan else 0
        out.append(Row(subject, **f, commission_fen=commission, rank=rank))
    return out


# ------------------------------------------------------------------------ commission plans


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    tiers: tuple[tuple[int, Decimal], ...]
    new_investor_bonus_fen: int

    def commission(self, annualised_fen: int, new_investors: int) -> int:
        """The highest tier reached sets the rate on the whole annualised amount."""
        rate = Decimal(0)
        for threshold, tier_rate in self.tiers:
            if annualised_fen >= threshold:
                rate = tier_rate
        return (
            round_fen(Decimal(annualised_fen) * rate) + new_investors * self.new_investor_bonus_fen
        )


def save_plan(
    conn: Connection,
    *,
    code: str,
    name: str,
    tiers: list[tuple[int, Decimal]],
    new_investor_bonus_fen: int,
    clock: Clock,
) -> Plan:
    """Create or replace a commission plan (提成方案)."""
    if not tiers or [t for t, _ in tiers] != sorted({t for t, _ in tiers}) or tiers[0][0] != 0:
        raise ValidationError(
            "tiers_invalid", "tiers start at 0 and rise strictly by threshold", field="tiers"
        )
    for threshold, rate in tiers:
        check_fen(threshold, field="tiers")
        if not Decimal(0) <= Decimal(rate) <= Decimal("0.2"):
            raise ValidationError("rate_invalid", "a tier rate is between 0 and 0.2", field="tiers")
    check_fen(new_investor_bonus_fen, field="new_investor_bonus_fen")
    body = json.dumps([[t, str(Decimal(r))] for t, r in tiers])
    exists = conn.execute(
        select(commission_plans.c.code).where(commission_plans.c.code == code)
    ).first()
    values = {"name": name, "tiers_json": body, "new_investor_bonus_fen": new_investor_bonus_fen}
    if exists:
        conn.execute(
            update(commission_plans).where(commission_plans.c.code == code).values(**values)
        )
    else:
        conn.execute(insert(commission_plans).values(code=code, created_us=now_us(clock), **values))
    return get_plan(conn, code=code)


def get_plan(conn: Connection, *, code: str) -> Plan:
    row = conn.execute(select(commission_plans).where(commission_plans.c.code == code)).first()
    if row is None:
        raise NotFound("plan_not_found", "no such commission plan", field="plan")
    tiers = tuple((int(t), Decimal(r)) for t, r in json.loads(row.tiers_json))
    return Plan(row.code, row.name, tiers, row.new_investor_bonus_fen)


def list_plans(conn: Connection) -> list[Plan]:
    codes = conn.execute(
        select(commission_plans.c.code).order_by(commission_plans.c.code)
    ).scalars()
    return [get_plan(conn, code=c) for c in codes]


# ------------------------------------------------------------------------------- targets


def set_target(
    conn: Connection, *, month: str, scope: str, subject_id: int, metric: str, target: int
) -> None:
    month_bounds(month)
    if scope not in ("staff", "team"):
        raise ValidationError("scope_invalid", "scope is staff or team", field="scope")
    if metric not in METRICS:
        raise ValidationError(
            "metric_invalid", f"metric is one of {', '.join(METRICS)}", field="metric"
        )
    check_fen(target, field="target")
    key = and_(
        targets.c.month == month,
        targets.c.scope == scope,
        targets.c.subject_id == subject_id,
        targets.c.metric == metric,
    )
    if conn.execute(update(targets).where(key).values(target=target)).rowcount == 0:
        conn.execute(
            insert(targets).values(
                month=month, scope=scope, subject_id=subject_id, metric=metric, target=target
            )
        )


@dataclass(frozen=True)
class Attainment:
    subject_id: int
    metric: str
    target: int
    actual: int

    @property
    def ratio(self) -> Decimal | None:
        if not self.target:
            return None
        return (Decimal(self.actual) / Decimal(self.target)).quantize(Decimal("0.0001"))


def attainment(conn: Connection, *, month: str, group: str, viewer: Viewer) -> list[Attainment]:
    """Every target of the month for the group beside its actual figure."""
    rows = {r.subject_id: r for r in monthly(conn, month=month, group=group, viewer=viewer)}
    scope = "staff" if group == "advisor" else "team"
    q = (
        select(targets)
        .where(targets.c.month == month, targets.c.scope == scope)
        .order_by(targets.c.subject_id, targets.c.metric)
    )
    out = []
    for t in conn.execute(q):
        if (
            viewer.level != "all"
            and t.subject_id not in rows
            and not _own(viewer, group, t.subject_id)
        ):
            continue
        row = rows.get(t.subject_id)
        actual = getattr(row, t.metric) if row else 0
        out.append(Attainment(t.subject_id, t.metric, t.target, int(actual)))
    return out


def _own(viewer: Viewer, group: str, subject_id: int) -> bool:
    if group == "advisor":
        return viewer.level == "own" and subject_id == viewer.staff_id
    return subject_id in viewer.unit_ids


# ---------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class Conversion:
    channel_id: int
    channel_code: str
    kind: str
    leads: int
    registered: int
    verified: int
    invested: int

    @property
    def rate(self) -> Decimal | None:
        if not self.leads:
            return None
        return (Decimal(self.invested) / Decimal(self.leads)).quantize(Decimal("0.0001"))


def conversion(conn: Connection, *, month: str, viewer: Viewer) -> list[Conversion]:
    """Leads created in the month per channel, and how many reached each stage since."""
    first, last = month_bounds(month)
    lc = leads.c

    def reached(*stages: str) -> Any:
        return func.sum(case((lc.stage.in_(stages), 1), else_=0))

    q = (
        select(
            channels.c.id,
            channels.c.code,
            channels.c.kind,
            func.count(lc.id).label("leads"),
            reached("registered", "verified", "first_investment", "repeat").label("registered"),
            reached("verified", "first_investment", "repeat").label("verified"),
            reached("first_investment", "repeat").label("invested"),
        )
        .join(channels, channels.c.id == lc.channel_id)
        .where(lc.created_on.between(first, last), viewer.owns(lc.advisor_id, lc.team_id))
        .group_by(channels.c.id, channels.c.code, channels.c.kind)
        .order_by(channels.c.id)
    )
    return [
        Conversion(
            r.id, r.code, r.kind, int(r.leads), int(r.registered), int(r.verified), int(r.invested)
        )
        for r in conn.execute(q)
    ]
