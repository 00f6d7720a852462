"""A customer with a credit line on a 375 × 812 phone in Debian's Chromium: buys, turns the
purchase into 3 instalments after seeing the IRR annual rate set larger than any other rate,
and repays after a quote, with no page wider than the screen."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from playwright.sync_api import expect

from puhui.db.engine import run_in_transaction
from puhui.lending import debit_channel

from .conftest import ALICE, PASSWORD, Site
from .test_browser import live, no_horizontal_scroll, shots, signed_in_on_phone
from .test_credit_line_pages import customer, granted
from .test_lending_pages import IRR_LABEL

__all__ = ["live", "shots"]  # the fixtures this test borrows from test_browser


def test_a_customer_buys_converts_and_repays_on_a_phone(browser, live, shots):
    site = live.site
    with TestClient(site.app, follow_redirects=False) as client:  # a second device
        cid = customer(Site(site.app, client, site.engine, site.clock))
    granted(site, cid)
    run_in_transaction(
        site.engine, lambda c: debit_channel.fund(c, balances={cid: 500_000}, clock=site.clock)
    )
    page = signed_in_on_phone(browser, live, ALICE.phone, PASSWORD)

    page.goto("/m/credit-line")
    expect(page.get_by_test_id("available")).to_have_text("¥10,000.00")
    no_horizontal_scroll(page)
    page.fill("#f-spend", "1200")
    page.get_by_test_id("buy").click()
    expect(page.get_by_test_id("bought")).to_be_visible()
    expect(page.get_by_test_id("available")).to_have_text("¥8,800.00")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "credit-line.png", full_page=True)

    page.locator("[data-testid^=instalments-]").first.click()
    page.check("input[name=periods][value='3']")
    page.get_by_test_id("show-quote").click()
    expect(page.get_by_test_id("rates").first).to_contain_text(IRR_LABEL)
    expect(page.locator("[data-rate=irr]").first).to_have_text(re.compile(r"^10\.7\d%$"))
    sizes = page.eval_on_selector_all(
        "[data-rate]",
        "els => els.map(e => [e.dataset.rate, parseFloat(getComputedStyle(e).fontSize)])",
    )
    lead = max(size for kind, size in sizes if kind == "irr")
    assert all(size <= lead for _kind, size in sizes), sizes  # RATE-APR-02/03
    assert any(kind != "irr" for kind, _ in sizes)
    expect(page.locator("[data-testid=payments] tbody tr")).to_have_count(3)
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "credit-line-instalments.png", full_page=True)
    page.get_by_test_id("convert").click()
    expect(page.get_by_test_id("converted")).to_be_visible()
    expect(page.get_by_test_id("in-instalments")).to_have_text("¥1,200.00")

    page.fill("#f-spend", "300")
    page.get_by_test_id("buy").click()
    expect(page.get_by_test_id("payable")).to_have_text("¥300.00")
    page.fill("#f-amount", "300")
    page.get_by_test_id("quote").click()
    expect(page.get_by_test_id("confirm-amount")).to_have_text("¥300.00")
    no_horizontal_scroll(page)
    page.get_by_test_id("confirm-pay").click()
    expect(page.get_by_test_id("paid")).to_be_visible()
    expect(page.get_by_test_id("available")).to_have_text("¥8,800.00")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "credit-line-repaid.png", full_page=True)
    page.context.close()
