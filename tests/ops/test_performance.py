"""绩效考核 on a constructed month: every KPI, commission, ranking, target and conversion figure
exactly, worked out by hand below and cross-checked with independently written SQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text

from identity.conftest import ACTOR
from puhui.db.engine import run_in_transaction
from puhui.ops import channels, investments, leads, performance

from .conftest import new_investor, person, viewer

#: (customer key, invested on, amount fen, term months)
BOOK = [
    ("c1", date(2026, 10, 10), 300_000, 3),  # fa1, held over October's end and November's
    ("c1", date(2026, 11, 5), 500_000, 12),  # fa1
    ("c2", date(2026, 9, 15), 200_000, 1),  # fa2, matured 10-15
    ("c2", date(2026, 11, 20), 1_000_000, 6),  # fa2, not a new investor (first was September)
    ("c3", date(2026, 11, 3), 400_001, 9),  # fa3, new: 400,001 × 9 ÷ 12 = 300,000.75 → 300,001
    ("c4", date(2026, 11, 28), 250_000, 3),  # fa1, new
    ("c4", date(2026, 11, 29), 100_000, 12),  # fa1, repeat
    ("c5", date(2026, 8, 1), 600_000, 3),  # fa2, matures 11-01: held at October's end only
]


@pytest.fixture
def month(engine, keys, org, clock):
    flyer = run_in_transaction(
        engine,
        lambda c: channels.flyer_batch(
            c,
            name="世纪公园",
            quantity=200,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    survey = run_in_transaction(
        engine,
        lambda c: channels.create(
            c,
            kind="survey",
            name="社区调研",
            team_id=org.team_a,
            owner_staff_id=org.fa2,
            actor=ACTOR,
            clock=clock,
        ),
    )
    for n, ch in ((4, flyer), (60, flyer), (5, survey)):
        run_in_transaction(
            engine,
            lambda c, n=n, ch=ch: leads.capture(
                c, keys=keys, channel_code=ch.code, name="客户", phone=person(n).phone, clock=clock
            ),
        )
    ids = {"c1": org.c1, "c2": org.c2, "c3": org.c3}
    ids["c4"] = new_investor(engine, keys, clock, 4, org.fa1, org.team_a)
    ids["c5"] = new_investor(engine, keys, clock, 5, org.fa2, org.team_a)
    for k, (who, day, amount, term) in enumerate(BOOK):
        run_in_transaction(
            engine,
            lambda c, k=k, who=who, day=day, amount=amount, term=term: (
                investments.record_investment(
                    c,
                    investment_ref=f"inv-{k}",
                    customer_id=ids[who],
                    amount_fen=amount,
                    term_months=term,
                    product_code="P",
                    invested_on=day,
                    clock=clock,
                )
            ),
        )
    run_in_transaction(engine, lambda c: leads.sync(c, clock=clock))
    run_in_transaction(
        engine,
        lambda c: performance.save_plan(
            c,
            code="std",
            name="标准提成",
            tiers=[
                (0, Decimal("0.002")),
                (500_000, Decimal("0.005")),
                (1_000_000, Decimal("0.008")),
            ],
            new_investor_bonus_fen=10_000,
            clock=clock,
        ),
    )
    return flyer, survey


def test_the_month_per_advisor_exactly(engine, org, month):
    director = viewer(engine, org.director)
    with engine.connect() as c:
        rows = performance.monthly(
            c, month="2026-11", group="advisor", viewer=director, plan_code="std"
        )
    got = {r.subject_id: r for r in rows}
    fa1, fa2, fa3 = got[org.fa1], got[org.fa2], got[org.fa3]
    # fa1: c1 500,000×12 + c4 250,000×3 + c4 100,000×12 = 7,950,000 fen·months ÷ 12 = 662,500
    assert (fa1.new_investors, fa1.first_investment_fen, fa1.invested_fen) == (1, 250_000, 850_000)
    assert (fa1.annualised_fen, fa1.aum_fen) == (662_500, 1_150_000)
    assert (fa1.retained, fa1.retention_base, fa1.retention) == (1, 1, Decimal("1.0000"))
    assert fa1.commission_fen == 3_313 + 10_000  # 662,500 × 0.5% = 3,312.5 → 3,313, + one new
    assert (fa2.new_investors, fa2.first_investment_fen, fa2.invested_fen) == (0, 0, 1_000_000)
    assert (fa2.annualised_fen, fa2.aum_fen) == (500_000, 1_000_000)
    assert (fa2.retained, fa2.retention_base, fa2.retention) == (0, 1, Decimal("0.0000"))
    assert fa2.commission_fen == 2_500  # the 500,000 tier reached exactly
    assert (fa3.new_investors, fa3.first_investment_fen, fa3.annualised_fen) == (
        1,
        400_001,
        300_001,
    )
    assert (fa3.aum_fen, fa3.retention_base, fa3.retention) == (400_001, 0, None)
    assert fa3.commission_fen == 600 + 10_000  # 300,001 × 0.2% = 600.002 → 600
    assert [(r.subject_id, r.rank) for r in rows] == [(org.fa1, 1), (org.fa2, 2), (org.fa3, 3)]


def test_the_month_per_team_and_the_hierarchy_of_who_sees_it(engine, org, month):
    with engine.connect() as c:
        director = viewer(engine, org.director)
    with engine.connect() as c:
        teams = {
            r.subject_id: r
            for r in performance.monthly(c, month="2026-11", group="team", viewer=director)
        }
    a = teams[org.team_a]
    assert (a.new_investors, a.first_investment_fen, a.invested_fen) == (1, 250_000, 1_850_000)
    assert (a.annualised_fen, a.aum_fen, a.retained, a.retention_base) == (
        1_162_500,
        2_150_000,
        1,
        2,
    )
    assert (a.rank, teams[org.team_b].rank, a.commission_fen) == (1, 2, 0)
    fa1, manager = viewer(engine, org.fa1), viewer(engine, org.manager_a)
    with engine.connect() as c:
        own = performance.monthly(c, month="2026-11", group="advisor", viewer=fa1)
        team = performance.monthly(c, month="2026-11", group="advisor", viewer=manager)
    assert [r.subject_id for r in own] == [org.fa1]
    assert [r.subject_id for r in team] == [org.fa1, org.fa2]


def test_the_figures_agree_with_independent_sql(engine, org, month):
    director = viewer(engine, org.director)
    sql = text(
        "SELECT advisor_id, SUM(amount_fen * term_months), SUM(amount_fen) FROM ops_investments "
        "WHERE invested_on >= :a AND invested_on <= :b GROUP BY advisor_id"
    )
    with engine.connect() as c:
        raw = {
            r[0]: (int(r[1]), int(r[2]))
            for r in c.execute(sql, {"a": date(2026, 11, 1), "b": date(2026, 11, 30)})
        }
        rows = performance.monthly(c, month="2026-11", group="advisor", viewer=director)
    for r in rows:
        months, invested = raw[r.subject_id]
        assert r.invested_fen == invested
        assert r.annualised_fen == int(
            (Decimal(months) / 12).to_integral_value(rounding="ROUND_HALF_UP")
        )


def test_targets_against_actuals_and_conversion_by_channel(engine, org, month):
    flyer, survey = month
    run_in_transaction(
        engine,
        lambda c: performance.set_target(
            c,
            month="2026-11",
            scope="staff",
            subject_id=org.fa1,
            metric="annualised_fen",
            target=1_000_000,
        ),
    )
    run_in_transaction(
        engine,
        lambda c: performance.set_target(
            c, month="2026-11", scope="staff", subject_id=org.fa3, metric="new_investors", target=2
        ),
    )
    fa1, director = viewer(engine, org.fa1), viewer(engine, org.director)
    with engine.connect() as c:
        mine = performance.attainment(c, month="2026-11", group="advisor", viewer=fa1)
        every = performance.attainment(c, month="2026-11", group="advisor", viewer=director)
        conv = performance.conversion(c, month="2026-11", viewer=director)
        fa1_conv = performance.conversion(c, month="2026-11", viewer=fa1)
    assert [(t.subject_id, t.target, t.actual, t.ratio) for t in mine] == [
        (org.fa1, 1_000_000, 662_500, Decimal("0.6625"))
    ]
    assert [(t.subject_id, t.metric, t.actual) for t in every] == [
        (org.fa1, "annualised_fen", 662_500),
        (org.fa3, "new_investors", 1),
    ]
    # the flyer found c4 (now a repeat investor) and one person who never registered;
    # the survey found c5, whose only investment makes them a first-time investor
    assert [
        (x.channel_code, x.leads, x.registered, x.verified, x.invested, x.rate) for x in conv
    ] == [
        (flyer.code, 2, 1, 1, 1, Decimal("0.5000")),
        (survey.code, 1, 1, 1, 1, Decimal("1.0000")),
    ]
    assert [x.channel_code for x in fa1_conv] == [flyer.code]


def test_a_plan_must_start_at_zero_and_rise(engine, clock):
    from puhui.core.errors import ValidationError

    for tiers in (
        [(100, Decimal("0.01"))],
        [(0, Decimal("0.01")), (0, Decimal("0.02"))],
        [(0, Decimal("0.5"))],
    ):
        with pytest.raises(ValidationError):
            run_in_transaction(
                engine,
                lambda c, tiers=tiers: performance.save_plan(
                    c, code="bad", name="x", tiers=tiers, new_investor_bonus_fen=0, clock=clock
                ),
            )
