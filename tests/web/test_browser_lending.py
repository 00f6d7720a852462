"""A borrower on a 375 × 812 phone in Debian's Chromium: applies, sees the offer with the IRR
annual rate set larger than any other rate, signs, and — after a clerk pays the loan out
(through the domain functions here) — sees the repayment calendar and repays one installment
after its quote, with no page wider than the screen."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import select

from puhui.db.engine import run_in_transaction
from puhui.lending import calendar, debit_channel
from puhui.lending.models import loans

from .conftest import ALICE, PASSWORD, Site
from .test_browser import live, no_horizontal_scroll, shots, signed_in_on_phone
from .test_lending_pages import IRR_LABEL, borrower, paid_out

__all__ = ["live", "shots"]  # the fixtures this test borrows from test_browser


def test_a_borrower_applies_signs_and_repays_on_a_phone(browser, live, shots):
    site = live.site
    with TestClient(site.app, follow_redirects=False) as client:  # a second device
        cid = borrower(Site(site.app, client, site.engine, site.clock))
    page = signed_in_on_phone(browser, live, ALICE.phone, PASSWORD)

    page.goto("/m/borrow")
    no_horizontal_scroll(page)
    page.fill("#f-amount", "12000")
    page.select_option("#f-term", "12")
    page.select_option("#f-purpose", "consumer_goods")
    page.click("form[action='/m/borrow'] button[type=submit]")
    expect(page.get_by_test_id("application-state")).to_have_text("已发出要约")
    expect(page.get_by_test_id("rates").first).to_contain_text(IRR_LABEL)
    irr = page.locator("[data-rate=irr]").first
    expect(irr).to_have_text(re.compile(r"^18\.\d\d%$"))
    sizes = page.eval_on_selector_all(
        "[data-rate]",
        "els => els.map(e => [e.dataset.rate, parseFloat(getComputedStyle(e).fontSize)])",
    )
    lead = max(size for kind, size in sizes if kind == "irr")
    assert all(size <= lead for _kind, size in sizes), sizes  # RATE-APR-02/03
    assert sum(1 for kind, _ in sizes if kind != "irr") >= 3
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "borrower-offer.png", full_page=True)

    page.check("input[name=agree]")
    page.get_by_test_id("sign").click()
    expect(page.get_by_test_id("application-state")).to_have_text("已签约")
    expect(page.get_by_test_id("contract-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    with site.engine.connect() as c:
        loan_id = c.execute(select(loans.c.id)).scalar_one()

    # the finance clerk pays the loan out; a month later the first installment falls due
    paid_out(site, loan_id)
    run_in_transaction(
        site.engine,
        lambda c: calendar.set_date(c, business_date_=date(2026, 12, 2), clock=site.clock),
    )
    run_in_transaction(
        site.engine, lambda c: debit_channel.fund(c, balances={cid: 500_000}, clock=site.clock)
    )

    page.goto(f"/m/loans/{loan_id}")
    expect(page.locator("[data-testid=schedule] tbody tr")).to_have_count(12)
    expect(page.locator("tr[data-seq='1'] td").nth(3)).to_have_text("¥1,100.16")
    expect(page.get_by_test_id("next-installment")).to_contain_text("¥1,100.16")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "borrower-schedule.png", full_page=True)
    expect(page.locator("#f-amount")).to_have_value("1100.16")
    page.get_by_test_id("quote").click()
    expect(page.get_by_test_id("confirm-amount")).to_have_text("¥1,100.16")
    no_horizontal_scroll(page)
    page.get_by_test_id("confirm-pay").click()
    expect(page.get_by_test_id("paid")).to_be_visible()
    expect(page.locator("tr[data-seq='1']")).to_have_class("status-paid")
    expect(page.locator("tr[data-seq='1'] td").nth(3)).to_have_text("¥0.00")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "borrower-repaid.png", full_page=True)
    page.context.close()
