"""The operations pages of the back office render, through the TestClient, with the figures
of the viewer's scope, charts and exports; a staff member without ``ops.read`` is refused."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from identity import conftest as identity_fixtures
from identity.conftest import ACTOR, PASSWORD
from puhui.db.engine import run_in_transaction
from puhui.identity import otp
from puhui.ops import channels, events, investments, leads
from web.conftest import csrf_of

platform = identity_fixtures.platform


def page_login(platform, new) -> None:
    platform.clock.advance(timedelta(seconds=30))
    c = platform.client
    c.cookies.clear()
    token = csrf_of(c.get("/admin/login").text)
    r = c.post(
        "/admin/login",
        data={
            "csrf_token": token,
            "username": new.member.username,
            "password": PASSWORD,
            "totp": otp.totp_now(new.totp_secret, platform.clock),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


@pytest.fixture
def filled(platform, org, keys, clock):
    e = platform.engine
    flyer = run_in_transaction(
        e,
        lambda c: channels.flyer_batch(
            c,
            name="世纪公园传单",
            quantity=50,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    lead_id, _ = run_in_transaction(
        e,
        lambda c: leads.capture(
            c, keys=keys, channel_code=flyer.code, name="赵六", phone="13911110000", clock=clock
        ),
    )
    run_in_transaction(
        e,
        lambda c: events.create(
            c,
            title="理财沙龙",
            kind="salon",
            held_on=date(2026, 11, 20),
            location="浦东图书馆",
            capacity=30,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    run_in_transaction(
        e,
        lambda c: investments.record_investment(
            c,
            investment_ref="inv-page-1",
            customer_id=org.c1,
            amount_fen=2_400_000,
            term_months=3,
            product_code="P3",
            invested_on=date(2026, 11, 2),
            clock=clock,
        ),
    )
    return flyer, lead_id


def test_the_ops_pages_render_for_an_advisor_with_their_own_figures(platform, org, filled):
    flyer, lead_id = filled
    page_login(platform, org.staff["fa1"])
    c = platform.client
    home = c.get("/admin/ops")
    assert home.status_code == 200, home.text
    assert 'data-testid="ops-funnel-chart"' in home.text and "<svg" in home.text
    assert "/admin/ops/leads" in home.text  # the navigation entry
    got = c.get("/admin/ops/leads")
    assert got.status_code == 200 and f'data-lead="{lead_id}"' in got.text
    assert "139****0000" in got.text and "13911110000" not in got.text
    perf = c.get("/admin/ops/performance?month=2026-11")
    assert perf.status_code == 200
    assert f'data-subject="{org.fa1}"' in perf.text and 'data-annualised="600000"' in perf.text
    assert f'data-channel="{flyer.code}"' in perf.text
    assert c.get("/admin/ops/events").text.count("理财沙龙") == 2  # the event and the calendar
    camp = c.get("/admin/ops/campaigns")
    assert camp.status_code == 200 and flyer.code in camp.text and "ops-rules" not in camp.text
    xlsx = c.get("/admin/ops/performance/export?month=2026-11&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [cell.value for cell in sheet[2]][:6] == [org.fa1, 1, 1, 2_400_000, 2_400_000, 600_000]


def test_another_advisor_sees_none_of_it_and_operations_sees_the_books(platform, org, filled):
    page_login(platform, org.staff["fa3"])
    c = platform.client
    assert 'data-lead="' not in c.get("/admin/ops/leads").text
    assert "data-subject=" not in c.get("/admin/ops/performance?month=2026-11").text
    page_login(platform, org.staff["ops"])
    camp = c.get("/admin/ops/campaigns")
    assert 'data-testid="ops-marketing-books"' in camp.text and "¥50,000.00" in camp.text


def test_a_role_without_ops_read_is_refused(platform, org):
    new = identity_fixtures.new_staff(
        platform.engine, platform.keys, platform.clock, "risk.one", position="risk_officer"
    )
    page_login(platform, new)
    assert platform.client.get("/admin/ops", follow_redirects=False).status_code == 403
