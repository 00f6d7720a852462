"""Money endpoints: verified customers with TOTP and the bank's authorisation; balances show
available and frozen; another customer's instruction is 404; no audit, no money (SEC-AUD-04)."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from puhui.custody import flows
from puhui.custody.models import instructions
from puhui.custody.sandbox import SandboxBank
from puhui.identity import audit, otp
from puhui.identity.models import audit_log

from .conftest import ALICE, BOB, PASSWORD

BANK_PASSWORD = "135790"


@pytest.fixture
def bank(platform) -> SandboxBank:
    bank = SandboxBank(
        platform.engine,
        clock=platform.clock,
        hasher=PasswordHasher(time_cost=1, memory_cost=256, parallelism=1),
    )
    platform.app.state.custody_bank = bank
    return bank


def with_totp(platform, person):
    """Onboard, enrol TOTP, open a lender sub-account and set its bank transaction password."""
    _, h = platform.onboard(person)
    c = platform.client
    code = platform.code(person.phone, "step_up")
    secret = c.post(
        "/api/v1/me/totp", json={"password": PASSWORD, "second_factor": code}, headers=h
    ).json()["secret"]
    c.post(
        "/api/v1/me/totp/confirm", json={"code": otp.totp_now(secret, platform.clock)}, headers=h
    )
    opened = c.post("/api/v1/me/custody-accounts", json={"role": "lender"}, headers=h)
    assert opened.status_code == 201, opened.text
    return h, secret


def move(platform, h, secret, path, amount, *, key=None, totp=None):
    platform.clock.advance(timedelta(seconds=30))
    return platform.client.post(
        path,
        json={
            "role": "lender",
            "amount_fen": amount,
            "totp": totp or otp.totp_now(secret, platform.clock),
            "authorisation": {"method": "password", "secret": BANK_PASSWORD},
        },
        headers={**h, "Idempotency-Key": key or uuid4().hex},
    )


def set_bank_password(platform, bank, customer_id):
    from puhui.custody.service import get_account

    with platform.engine.connect() as c:
        acc = get_account(c, user_ref=f"customer-{customer_id}", role="lender")
    bank.set_transaction_password(acc.bank_account_no, BANK_PASSWORD)


def me(platform, h) -> int:
    return platform.client.get("/api/v1/me", headers=h).json()["id"]


def test_deposit_then_withdraw_shows_available_and_frozen(platform, bank):
    h, secret = with_totp(platform, ALICE)
    set_bank_password(platform, bank, me(platform, h))
    key = uuid4().hex
    platform.clock.advance(timedelta(seconds=30))
    code = otp.totp_now(secret, platform.clock)
    dep = move(platform, h, secret, "/api/v1/me/deposits", 100_000, key=key, totp=code)
    assert dep.status_code == 201, dep.text
    retry = move(platform, h, secret, "/api/v1/me/deposits", 100_000, key=key, totp=code)
    assert retry.json() == dep.json() and retry.headers["Idempotent-Replayed"] == "true"
    bank.settle()
    platform.clock.advance(timedelta(minutes=2))
    flows.settle(platform.engine, bank, clock=platform.clock)
    (bal,) = platform.client.get("/api/v1/me/balances", headers=h).json()
    assert (bal["balance_fen"], bal["available_fen"], bal["frozen_fen"]) == (100_000, 100_000, 0)
    assert "*" in bal["account"]
    wd = move(platform, h, secret, "/api/v1/me/withdrawals", 30_000)
    assert wd.status_code == 201, wd.text
    (bal,) = platform.client.get("/api/v1/me/balances", headers=h).json()
    assert (bal["available_fen"], bal["frozen_fen"]) == (70_000, 30_000)
    mine = platform.client.get(f"/api/v1/me/instructions/{wd.json()['id']}", headers=h)
    assert mine.status_code == 200 and mine.json()["kind"] == "withdrawal"
    _, bob = platform.onboard(BOB)
    theirs = platform.client.get(f"/api/v1/me/instructions/{wd.json()['id']}", headers=bob)
    assert theirs.status_code == 404
    assert platform.client.get("/api/v1/me/balances", headers=bob).json() == []


def test_fund_operations_need_totp_and_verification(platform, bank):
    h, secret = with_totp(platform, ALICE)
    wrong = move(platform, h, secret, "/api/v1/me/deposits", 100, totp="000000")
    assert wrong.status_code == 401
    platform.register(BOB)
    bob = platform.login(BOB)
    unverified = move(platform, bob, secret, "/api/v1/me/deposits", 100)
    assert (
        unverified.status_code == 403
        and unverified.json()["error"]["code"] == "verification_required"
    )
    _, carol = platform.onboard(
        BOB.__class__("13700000001", "李四", "110101199003074477", "4111111111111111", "x")
    )
    no_totp = move(platform, carol, secret, "/api/v1/me/deposits", 100)
    assert no_totp.status_code == 401 and no_totp.json()["error"]["code"] == "totp_required"


def test_no_audit_no_money(platform, bank, monkeypatch):
    h, secret = with_totp(platform, ALICE)
    set_bank_password(platform, bank, me(platform, h))

    def broken(conn, **entry):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("INSERT INTO identity_audit_log", {}, Exception("audit store down"))

    monkeypatch.setattr(audit, "_append", broken)
    r = move(platform, h, secret, "/api/v1/me/deposits", 5_000)
    assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"
    with platform.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(instructions)).scalar() == 0


def grant(platform, h, secret, *, bank_password=BANK_PASSWORD, key=None, totp=None):
    platform.clock.advance(timedelta(seconds=30))
    return platform.client.post(
        "/api/v1/me/custody-authorisations",
        json={
            "role": "lender",
            "totp": totp or otp.totp_now(secret, platform.clock),
            "authorisation": {"method": "password", "secret": bank_password},
        },
        headers={**h, "Idempotency-Key": key or uuid4().hex},
    )


def test_a_standing_authorisation_is_granted_listed_and_revoked(platform, bank):
    h, secret = with_totp(platform, ALICE)
    set_bank_password(platform, bank, me(platform, h))
    wrong = grant(platform, h, secret, bank_password="000000")
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "bank_authorisation_invalid"
    platform.clock.advance(timedelta(seconds=30))
    key, code = uuid4().hex, otp.totp_now(secret, platform.clock)
    made = grant(platform, h, secret, key=key, totp=code)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["role"], body["scope"], body["status"]) == ("lender", "invest", "active")
    assert "*" in body["account"] and body["id"].startswith("AU")
    assert grant(platform, h, secret, key=key, totp=code).json() == body  # a retry
    listed = platform.client.get("/api/v1/me/custody-authorisations", headers=h).json()
    assert [g["id"] for g in listed] == [body["id"]]
    _, bob = platform.onboard(BOB)
    path = f"/api/v1/me/custody-authorisations/{body['id']}/revoke"
    assert platform.client.post(path, headers=bob).status_code == 404
    gone = platform.client.post(path, headers=h)
    assert gone.status_code == 200 and gone.json()["status"] == "revoked"
    assert gone.json()["revoked_us"] is not None
    with platform.engine.connect() as c:
        events = c.execute(
            select(audit_log.c.event_type, func.count())
            .where(audit_log.c.event_type.in_(("money.authorise", "money.revoke_authorisation")))
            .group_by(audit_log.c.event_type)
        ).all()
    # two grants asked for (the wrong password too: the audit entry comes first), one revoke
    assert dict(events) == {"money.authorise": 2, "money.revoke_authorisation": 1}
