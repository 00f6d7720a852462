"""Identity fixtures: a fixed keyring, cheap Argon2 parameters, seeded people, and an app with the
sandbox SMS sender and KYC verifier whose customers and staff can sign in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from puhui.api.app import create_app
from puhui.api.identity import DEFAULT_LIMITS
from puhui.api.observability import JsonFormatter
from puhui.core.clock import FixedClock
from puhui.db.engine import run_in_transaction
from puhui.identity import consents, customers, otp, passwords, roles, staff
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, new_key_text
from puhui.identity.identifiers import id_check_char, luhn_ok
from puhui.identity.kyc import FourElements, SandboxVerifier
from puhui.identity.ratelimit import Limit

ACTOR = Actor("system", ("test",), "127.0.0.1", "req_test")
PASSWORD = "Correct-Horse-9"


def luhn_complete(prefix: str) -> str:
    """``prefix`` plus the Luhn check digit."""
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


def resident_id(first17: str) -> str:
    return first17 + id_check_char(first17)


@dataclass(frozen=True)
class Person:
    """Personal values a test seeds; none of them may show up in logs, URLs or errors."""

    phone: str
    name: str
    id_number: str
    card: str
    address: str

    @property
    def elements(self) -> FourElements:
        return FourElements(self.name, self.id_number, self.card, self.phone)


ALICE = Person(
    "13912345678",
    "欧阳娜娜",
    resident_id("11010519850612771"),
    luhn_complete("622202123456789012"),
    "上海市浦东新区世纪大道100号",
)
BOB = Person(
    "15887654321",
    "张伟",
    resident_id("44030819900101153"),
    luhn_complete("621700987654321098"),
    "广东省深圳市南山区科技园1号",
)


@pytest.fixture
def keys() -> Keyring:
    return Keyring.parse(f"k1:{new_key_text()}", new_key_text())


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id still, with test-sized cost: the algorithm is what the tests are about."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    )
    monkeypatch.setattr(passwords, "_dummy", [])


def commit_refusals(engine: Engine, work: Callable[[Connection], Any]) -> Any:
    """What an API handler does: commit, also when the work is refused, then raise."""
    from puhui.api.identity import transact

    return transact(engine, work)


def new_customer(
    engine: Engine, keys: Keyring, clock: FixedClock, person: Person, *, verify: bool = True
) -> int:
    sms = otp.SandboxSms()

    def work(c: Connection) -> int:
        customers.send_code(
            c, keys=keys, phone=person.phone, purpose="register", sender=sms, clock=clock
        )
        code = sms.last_code(person.phone)
        assert code
        cid = customers.register(
            c,
            keys=keys,
            phone=person.phone,
            password=PASSWORD,
            code=code,
            kind="person",
            actor=ACTOR,
            clock=clock,
        )
        if verify:
            consents.grant(c, customer_id=cid, purposes=["bank_card"], ip=None, clock=clock)
            verifier = SandboxVerifier()
            verifier.register(person.elements)
            result = customers.verify_identity(
                c,
                keys=keys,
                verifier=verifier,
                customer_id=cid,
                name=person.name,
                id_number=person.id_number,
                card_number=person.card,
                actor=ACTOR,
                clock=clock,
            )
            assert result.passed
        return cid

    return run_in_transaction(engine, work)


def new_staff(
    engine: Engine,
    keys: Keyring,
    clock: FixedClock,
    username: str,
    *,
    position: str | None = None,
    org_unit: str | None = None,
    role_codes: tuple[str, ...] = (),
) -> staff.NewStaff:
    return run_in_transaction(
        engine,
        lambda c: staff.create(
            c,
            keys=keys,
            username=username,
            display_name=username,
            password=PASSWORD,
            position=position,
            org_unit=org_unit,
            role_codes=role_codes,
            actor=ACTOR,
            clock=clock,
        ),
    )


# ---------------------------------------------------------------------------------- HTTP


class Platform:
    """An app on the test database, with helpers that sign people in through the API."""

    def __init__(
        self, app: FastAPI, client: TestClient, engine: Engine, keys: Keyring, clock: FixedClock
    ):
        self.app, self.client, self.engine, self.keys, self.clock = app, client, engine, keys, clock
        self.sms: otp.SandboxSms = app.state.sms
        self.verifier: SandboxVerifier = app.state.verifier

    def code(self, phone: str, purpose: str) -> str:
        r = self.client.post("/api/v1/auth/codes", json={"phone": phone, "purpose": purpose})
        assert r.status_code == 202, r.text
        code = self.sms.last_code(phone)
        assert code, "no code was sent"
        return code

    def register(self, person: Person) -> int:
        code = self.code(person.phone, "register")
        r = self.client.post(
            "/api/v1/customers", json={"phone": person.phone, "password": PASSWORD, "code": code}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def login(self, person: Person, password: str = PASSWORD) -> dict[str, str]:
        code = self.code(person.phone, "login")
        r = self.client.post(
            "/api/v1/auth/login", json={"phone": person.phone, "password": password, "code": code}
        )
        assert r.status_code == 200, r.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def onboard(self, person: Person) -> tuple[int, dict[str, str]]:
        """Register, sign in, consent to the card and pass verification."""
        cid = self.register(person)
        h = self.login(person)
        self.verifier.register(person.elements)
        r = self.client.post("/api/v1/me/consents", json={"purposes": ["bank_card"]}, headers=h)
        assert r.status_code == 201, r.text
        r = self.client.post(
            "/api/v1/me/verification",
            json={"name": person.name, "id_number": person.id_number, "card_number": person.card},
            headers=h,
        )
        assert r.status_code == 200 and r.json()["passed"], r.text
        return cid, h

    def staff_login(self, new: staff.NewStaff) -> dict[str, str]:
        self.clock.advance(timedelta(seconds=30))  # a fresh TOTP step for every login
        r = self.client.post(
            "/admin/api/v1/auth/login",
            json={
                "username": new.member.username,
                "password": PASSWORD,
                "totp": otp.totp_now(new.totp_secret, self.clock),
            },
        )
        assert r.status_code == 200, r.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def staff(self, username: str, **kw: Any) -> tuple[staff.NewStaff, dict[str, str]]:
        new = new_staff(self.engine, self.keys, self.clock, username, **kw)
        return new, self.staff_login(new)


@pytest.fixture
def platform(engine: Engine, clock: FixedClock, keys: Keyring) -> Iterator[Platform]:
    app = create_app(engine=engine, clock=clock)
    app.state.keyring = keys
    app.state.sms = otp.SandboxSms()
    app.state.verifier = SandboxVerifier()
    app.state.rate_limits = {
        name: Limit(name, 10_000, lim.window) for name, lim in DEFAULT_LIMITS.items()
    }
    run_in_transaction(engine, roles.ensure_catalog)
    with TestClient(app) as client:
        yield Platform(app, client, engine, keys, clock)


@pytest.fixture
def captured_logs() -> Iterator[Callable[[], str]]:
    """Everything the ``puhui`` loggers wrote, as the JSON lines ``puhui serve`` emits."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("puhui")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield stream.getvalue
    logger.removeHandler(handler)
    logger.setLevel(old)


def parse_logs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
