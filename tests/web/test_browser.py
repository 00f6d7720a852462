"""The pages in a real browser: Debian's Chromium driven by Playwright against a uvicorn server
on a free port of 127.0.0.1, on SQLite and (when configured) PostgreSQL.

Kept to a handful: a launch smoke test (a Playwright/Chromium drift fails here, loudly), a new
customer's first deposit on a 375 × 812 phone screen without horizontal scrolling, a checker
approving a reconciliation break after signing in with TOTP, and the language switch. A missing
Chromium fails the tests; nothing is skipped. Screenshots go to ``PUHUI_SCREENSHOT_DIR`` when
it is set (CI keeps that folder), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from puhui.core.clock import FixedClock
from puhui.custody import breaks, flows
from puhui.db.engine import run_in_transaction
from puhui.identity import audit, otp

from .conftest import ALICE, BANK_PASSWORD, CHROMIUM, PASSWORD, Site, build_app, make_break

PHONE = {"width": 375, "height": 812}


@dataclass
class Live:
    site: Site
    url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(engine: Engine, clock: FixedClock) -> Iterator[Live]:
    """The app under a real uvicorn server in a thread of this process, so the test can read
    the sandbox SMS box and settle the sandbox bank."""
    app: FastAPI = build_app(engine, clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Live(Site(app, TestClient(app), engine, clock), f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PUHUI_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a 375px screen"


def phone_page(browser: Browser, live: Live) -> Page:
    context = browser.new_context(viewport=PHONE, base_url=live.url, locale="zh-CN")
    return context.new_page()


def signed_in_on_phone(browser: Browser, live: Live, phone: str, password: str) -> Page:
    """A phone page signed in as a customer by SMS code and password, on the account page."""
    page = phone_page(browser, live)
    page.goto("/m/login")
    page.fill("#f-phone", phone)
    page.click("button[value=login]")
    expect(page.locator("#code-status-login")).to_contain_text("验证码")
    page.fill("#f-code", live.site.sms.last_code(phone) or "")
    page.fill("#f-password", password)
    page.click("form[action='/m/login'] button[type=submit]:not([value])")
    expect(page.locator("h1")).to_have_text("我的账户")
    return page


def test_debian_chromium_launches(browser):
    """Playwright speaks to this Chromium: a version drift that breaks the protocol fails here."""
    installed = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = re.search(r"(\d+)\.", installed).group(1)
    assert browser.version.split(".")[0] == major
    page = browser.new_page()
    page.set_content("<p>普惠</p>")
    assert page.inner_text("p") == "普惠"
    page.close()


def test_a_new_customer_deposits_on_a_phone(browser, live, shots):
    site, page = live.site, phone_page(browser, live)
    page.goto("/m/register")
    no_horizontal_scroll(page)
    page.fill("#f-phone", ALICE.phone)
    page.click("button[value=register]")
    expect(page.locator("#code-status-register")).to_contain_text("验证码")
    page.fill("#f-code", site.sms.last_code(ALICE.phone) or "")
    page.fill("#f-password", PASSWORD)
    page.check("input[name=agree]")
    page.screenshot(path=shots / "customer-register.png", full_page=True)
    page.click("form[action='/m/register'] button[type=submit]:not([value])")
    expect(page).to_have_url(re.compile(r"/m/login\?registered=1"))
    page.fill("#f-phone", ALICE.phone)
    page.click("button[value=login]")
    expect(page.locator("#code-status-login")).to_contain_text("验证码")
    page.fill("#f-code", site.sms.last_code(ALICE.phone) or "")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/m/login'] button[type=submit]:not([value])")
    expect(page.locator("h1")).to_have_text("我的账户")
    no_horizontal_scroll(page)

    site.verifier.register(ALICE.elements)
    page.goto("/m/verify")
    page.fill("#f-name", ALICE.name)
    page.fill("#f-id_number", ALICE.id_number)
    page.fill("#f-card_number", ALICE.card)
    page.check("input[name=consent_bank_card]")
    page.click("form[action='/m/verify'] button[type=submit]")
    expect(page.get_by_test_id("kyc-status")).to_be_visible()
    no_horizontal_scroll(page)

    page.goto("/m/risk")
    for fieldset in page.locator("form.questionnaire fieldset").all():
        fieldset.locator("input[type=radio]").nth(1).check()
    page.screenshot(path=shots / "customer-questionnaire.png", full_page=True)
    page.click("form.questionnaire button[type=submit]")
    expect(page.get_by_test_id("risk-level")).to_have_text(re.compile(r"C[1-5]"))
    no_horizontal_scroll(page)
    page.goto("/m/risk/notice")
    page.check("input[name=confirm]")
    page.click("form[action='/m/risk/notice'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的账户")

    page.goto("/m/security")
    page.fill("#f-password", PASSWORD)
    page.click("button[value=step_up]")
    expect(page.locator("#code-status-step_up")).to_contain_text("验证码")
    page.fill("#f-second_factor", site.sms.last_code(ALICE.phone) or "")
    page.click("form[action='/m/security/totp'] button[type=submit]:not([value])")
    secret = page.get_by_test_id("totp-secret").inner_text()
    no_horizontal_scroll(page)
    page.fill("#f-code", otp.totp_now(secret, site.clock))
    page.click("form[action='/m/security/totp/confirm'] button[type=submit]")
    expect(page.get_by_test_id("totp-confirmed")).to_be_visible()

    page.goto("/m/money")
    page.click("form[action='/m/money/accounts'] button >> nth=0")
    page.goto("/m/bank-sandbox")
    page.fill("#f-bank_password", BANK_PASSWORD)
    page.click("form[action='/m/bank-sandbox'] button[type=submit]")
    expect(page.locator("h1")).to_have_text("充值提现")

    site.clock.advance(timedelta(seconds=30))
    page.goto("/m/deposit")
    page.fill("#f-amount", "1000.00")
    page.fill("#f-bank_password", BANK_PASSWORD)
    page.fill("#f-totp", otp.totp_now(secret, site.clock))
    page.screenshot(path=shots / "customer-deposit.png", full_page=True)
    no_horizontal_scroll(page)
    page.click("form[action='/m/deposit'] button[type=submit]")
    expect(page.get_by_test_id("instruction-status")).to_be_visible()
    site.bank.settle()  # the bank confirms; the platform polls a little later
    site.clock.advance(timedelta(minutes=2))
    flows.settle(site.engine, site.bank, clock=site.clock)
    expect(page.get_by_test_id("instruction-status")).to_have_text("成功", timeout=10_000)
    page.goto("/m/")
    expect(page.get_by_test_id("available-lender")).to_have_text("¥1,000.00")
    expect(page.get_by_test_id("frozen-lender")).to_have_text("¥0.00")
    no_horizontal_scroll(page)
    page.screenshot(path=shots / "customer-account.png", full_page=True)
    page.context.close()


def test_a_checker_approves_a_break_after_totp_sign_in(browser, live, shots, tmp_path):
    site = live.site
    break_id = make_break(site, tmp_path / "statements")
    maker = site.new_staff("maker", position="finance_specialist")
    checker = site.new_staff("checker", position="finance_specialist")
    proposal = run_in_transaction(
        site.engine,
        lambda c: breaks.propose(
            c,
            break_id=break_id,
            proposed_by=f"staff:{maker.member.id}",
            reason="the bank booked a recharge",
            clock=site.clock,
        ),
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url)
    page = context.new_page()
    page.goto("/admin/breaks")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/breaks"))
    site.clock.advance(timedelta(seconds=30))
    page.fill("#f-username", "checker")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-totp", otp.totp_now(checker.totp_secret, site.clock))
    page.click("form[action='/admin/login'] button[type=submit]")
    expect(page.locator(f"[data-proposal='{proposal.id}']")).to_be_visible()
    page.screenshot(path=shots / "admin-breaks.png", full_page=True)
    page.click(f"form[action='/admin/proposals/{proposal.id}/approve'] button")
    expect(page.locator("p.notice")).to_have_text("没有未关闭的差异。")
    page.goto("/admin/")
    expect(page.get_by_test_id("kpi-breaks")).to_have_text("0")
    page.screenshot(path=shots / "admin-dashboard.png", full_page=True)
    with site.engine.connect() as c:
        (entry,) = [e for e in audit.list_entries(c, limit=500) if e.event_type == "break.approve"]
    assert entry.actor == f"staff:{checker.member.id}" and entry.success
    context.close()


def test_the_language_switch(browser, live):
    page = phone_page(browser, live)
    page.goto("/m/login")
    expect(page.locator("h1")).to_have_text("登录")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.click("nav.lang a[lang=en]")
    expect(page.locator("h1")).to_have_text("Sign in")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.goto("/m/register")
    expect(page.locator("h1")).to_have_text("Open an account")
    no_horizontal_scroll(page)
    page.click("nav.lang a[lang=zh-CN]")
    expect(page.locator("h1")).to_have_text("注册开户")
    page.context.close()
