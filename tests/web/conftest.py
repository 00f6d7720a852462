"""Web fixtures: the whole app on the test database (SQLite, and PostgreSQL when configured),
with the sandbox SMS sender, KYC verifier and custody bank, cheap Argon2 parameters, and
helpers that drive the pages the way a browser does (forms with their CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine

from puhui.api.app import create_app
from puhui.api.identity import DEFAULT_LIMITS
from puhui.core.clock import FixedClock
from puhui.custody.sandbox import SandboxBank
from puhui.db.engine import run_in_transaction
from puhui.identity import otp, passwords, roles, staff
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, new_key_text
from puhui.identity.identifiers import id_check_char, luhn_ok
from puhui.identity.kyc import FourElements, SandboxVerifier
from puhui.identity.ratelimit import Limit

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "Correct-Horse-9"
BANK_PASSWORD = "135790"
ACTOR = Actor("system", ("test",), "127.0.0.1", "req_test")
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def _luhn(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


@dataclass(frozen=True)
class Person:
    phone: str
    name: str
    id_number: str
    card: str

    @property
    def elements(self) -> FourElements:
        return FourElements(self.name, self.id_number, self.card, self.phone)


ALICE = Person(
    "13912345678",
    "欧阳娜娜",
    "11010519850612771" + id_check_char("11010519850612771"),
    _luhn("622202123456789012"),
)
BOB = Person(
    "15887654321",
    "张伟",
    "44030819900101153" + id_check_char("44030819900101153"),
    _luhn("621700987654321098"),
)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, with test-sized cost."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    )
    monkeypatch.setattr(passwords, "_dummy", [])


def build_app(engine: Engine, clock: FixedClock) -> FastAPI:
    """The app as ``puhui serve`` builds it, with sandboxes a test can reach into."""
    app = create_app(engine=engine, clock=clock)
    app.state.keyring = Keyring.parse(f"k1:{new_key_text()}", new_key_text())
    app.state.sms = otp.SandboxSms()
    app.state.verifier = SandboxVerifier()
    app.state.rate_limits = {
        name: Limit(name, 10_000, lim.window) for name, lim in DEFAULT_LIMITS.items()
    }
    app.state.custody_bank = SandboxBank(
        engine, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    )
    run_in_transaction(engine, roles.ensure_catalog)
    return app


class Site:
    """A browser-like client of the pages: it keeps cookies and fills in CSRF tokens."""

    def __init__(self, app: FastAPI, client: TestClient, engine: Engine, clock: FixedClock):
        self.app, self.client, self.engine, self.clock = app, client, engine, clock
        self.sms: otp.SandboxSms = app.state.sms
        self.verifier: SandboxVerifier = app.state.verifier
        self.bank: SandboxBank = app.state.custody_bank
        self.keys: Keyring = app.state.keyring

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def submit(self, page: str, action: str, data: dict[str, Any], **kw: Any) -> httpx.Response:
        """Open ``page``, then post ``data`` to ``action`` with the page's CSRF token."""
        token = csrf_of(self.get(page).text)
        return self.client.post(action, data={"csrf_token": token, **data}, **kw)

    def code(self, page: str, phone: str, purpose: str) -> str:
        r = self.submit(page, "/m/codes", {"phone": phone, "purpose": purpose})
        assert r.status_code in (200, 303), r.text
        code = self.sms.last_code(phone)
        assert code, "no code was sent"
        return code

    def register(self, person: Person) -> None:
        code = self.code("/m/register", person.phone, "register")
        r = self.submit(
            "/m/register",
            "/m/register",
            {"phone": person.phone, "password": PASSWORD, "code": code, "agree": "1"},
        )
        assert r.status_code == 303, r.text

    def login(self, person: Person) -> None:
        code = self.code("/m/login", person.phone, "login")
        r = self.submit(
            "/m/login", "/m/login", {"phone": person.phone, "password": PASSWORD, "code": code}
        )
        assert r.status_code == 303, r.text

    def onboard(self, person: Person) -> None:
        """Register, sign in and pass real-name verification through the pages."""
        self.register(person)
        self.login(person)
        self.verifier.register(person.elements)
        r = self.submit(
            "/m/verify",
            "/m/verify",
            {
                "name": person.name,
                "id_number": person.id_number,
                "card_number": person.card,
                "consent_bank_card": "1",
            },
        )
        assert r.status_code == 200 and "kyc-status" in r.text, r.text

    def new_staff(self, username: str, **kw: Any) -> staff.NewStaff:
        return run_in_transaction(
            self.engine,
            lambda c: staff.create(
                c,
                keys=self.keys,
                username=username,
                display_name=username,
                password=PASSWORD,
                actor=ACTOR,
                clock=self.clock,
                **kw,
            ),
        )

    def staff_login(self, new: staff.NewStaff) -> httpx.Response:
        self.clock.advance(timedelta(seconds=30))  # a fresh TOTP step for every login
        return self.submit(
            "/admin/login",
            "/admin/login",
            {
                "username": new.member.username,
                "password": PASSWORD,
                "totp": otp.totp_now(new.totp_secret, self.clock),
            },
        )


@pytest.fixture
def site(engine: Engine, clock: FixedClock) -> Iterator[Site]:
    app = build_app(engine, clock)
    with TestClient(app, follow_redirects=False) as client:
        yield Site(app, client, engine, clock)


def make_break(site: Site, directory: Any) -> int:
    """A recharge the bank booked but the platform never heard of, reconciled: one open break."""
    from puhui.core.clock import business_date
    from puhui.custody import flows, jobs
    from puhui.custody.bank import AuthMethod, Authorisation, Instruction, InstructionKind

    acc = flows.open_account(
        site.engine, site.bank, user_ref="carol", role="lender", clock=site.clock
    )
    assert acc.bank_account_no
    site.bank.set_transaction_password(acc.bank_account_no, BANK_PASSWORD)
    ins = Instruction(
        "DP-unbooked",
        InstructionKind.DEPOSIT,
        5_000,
        to_account=acc.bank_account_no,
        authorisation=Authorisation(AuthMethod.PASSWORD, BANK_PASSWORD),
    )
    site.bank.deposit(ins)
    site.bank.settle()
    result = jobs.reconcile_day(
        site.engine,
        site.bank,
        business_date=business_date(site.clock.now()),
        directory=directory,
        clock=site.clock,
    )
    (found,) = result.open_breaks
    return found.id


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, launched once per test process and shared by every browser test
    module (one Playwright driver per thread: a second would find the first one's loop)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()
