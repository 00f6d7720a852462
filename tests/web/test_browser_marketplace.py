"""A lender on a 375 × 812 phone in Debian's Chromium: with money deposited in the lender
sub-account, opens a listing from the list, reads the disclosure, confirms the risk notice,
invests what remains (which funds the listing) and sees the note in the portfolio, with no
page wider than the screen."""

from __future__ import annotations

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from .conftest import ALICE, PASSWORD, Site
from .test_browser import live, no_horizontal_scroll, shots, signed_in_on_phone
from .test_marketplace_pages import lender, listed

__all__ = ["live", "shots"]  # the fixtures this test borrows from test_browser


def test_a_lender_invests_on_a_phone(browser, live, shots):
    site = live.site
    with TestClient(site.app, follow_redirects=False) as client:  # a second device
        lender(Site(site.app, client, site.engine, site.clock), money=1_500_000)
    x = listed(site, amount_fen=800_000, min_bid_fen=10_000, step_fen=10_000)
    page = signed_in_on_phone(browser, live, ALICE.phone, PASSWORD)

    page.goto("/m/market")
    no_horizontal_scroll(page)
    page.click(f"li[data-listing='{x.id}'] h2 a")
    expect(page.get_by_test_id("disclosure")).to_contain_text("工资收入 salary")
    expect(page.get_by_test_id("remaining").first).to_have_text("¥8,000.00")
    expect(page.get_by_test_id("available")).to_have_text("¥15,000.00")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "lender-listing.png", full_page=True)

    page.fill("#f-amount", "8000")
    page.get_by_test_id("invest").click()  # the risk notice is not confirmed yet
    expect(page.locator("#agree-error")).to_have_text("请先阅读项目信息披露并确认风险提示。")
    page.check("input[name=agree]")
    page.get_by_test_id("invest").click()
    expect(page.get_by_test_id("bid-done")).to_be_visible()
    expect(page.get_by_test_id("listing-status")).to_have_text("已满标")
    no_horizontal_scroll(page)

    page.goto("/m/market/portfolio")
    expect(page.get_by_test_id("outstanding")).to_have_text("¥8,000.00")
    expect(page.get_by_test_id("available")).to_have_text("¥7,000.00")
    expect(page.locator("[data-testid=notes] tbody tr[data-note]")).to_have_count(1)
    expect(page.locator("[data-testid=notes] tbody tr[data-note] td").nth(2)).to_have_text(
        "¥8,000.00"
    )
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "lender-portfolio.png", full_page=True)
    page.goto("/m/market/calendar")
    expect(page.locator("[data-testid=calendar] tbody tr[data-date]")).to_have_count(6)
    no_horizontal_scroll(page)
    page.context.close()
