"""Passwords, lockout, second factors and sessions (SEC-AUTH-01..03)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import auth, otp, passwords, sessions
from puhui.identity.errors import BAD_LOGIN, NotAuthenticated
from puhui.identity.models import login_history
from puhui.identity.models import sessions as sessions_table

from .conftest import ACTOR, ALICE, BOB, PASSWORD, commit_refusals, new_customer, new_staff


def test_argon2id_and_policy():
    hashed = passwords.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and passwords.verify_password(hashed, PASSWORD)
    assert not passwords.verify_password(hashed, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    passwords.check_policy("Abcdefg1")
    for bad, code in (
        ("Abc1", "password_length"),
        ("abcdefgh1", "password_too_simple"),
        ("Zhang-13800138000", "password_contains_identifier"),
    ):
        with pytest.raises(ValidationError) as err:
            passwords.check_policy(bad, forbidden=("13800138000",))
        assert err.value.code == code


def _login(engine, keys, clock, password=PASSWORD, code=None, phone=ALICE.phone):
    sms = otp.SandboxSms()

    def work(c):
        from puhui.identity import customers

        customers.send_code(c, keys=keys, phone=phone, purpose="login", sender=sms, clock=clock)
        return auth.login_customer(
            c,
            keys=keys,
            phone=phone,
            password=password,
            code=code or sms.last_code(phone) or "000000",
            actor=ACTOR,
            user_agent="pytest",
            clock=clock,
        )

    return commit_refusals(engine, work)


def test_lockout_at_the_sixth_attempt_even_with_the_right_password(engine, keys, clock):
    new_customer(engine, keys, clock, ALICE, verify=False)
    for _ in range(5):
        with pytest.raises(NotAuthenticated, match="temporarily locked"):
            _login(engine, keys, clock, password="Wrong-Pass-1")
    with pytest.raises(NotAuthenticated) as err:
        _login(engine, keys, clock)  # the right password, refused: locked
    assert err.value.message == BAD_LOGIN
    clock.advance(timedelta(minutes=29))
    with pytest.raises(NotAuthenticated):
        _login(engine, keys, clock)
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _login(engine, keys, clock).principal.startswith("customer:")
    with engine.connect() as c:
        reasons = (
            c.execute(select(login_history.c.reason).order_by(login_history.c.id)).scalars().all()
        )
    assert reasons == ["bad_credentials"] * 5 + ["locked", "locked", "ok"]


def test_unknown_account_gets_the_same_answer(engine, keys, clock):
    new_customer(engine, keys, clock, ALICE, verify=False)
    with pytest.raises(NotAuthenticated) as unknown:
        _login(engine, keys, clock, phone=BOB.phone, code="123456")
    with pytest.raises(NotAuthenticated) as wrong:
        _login(engine, keys, clock, password="Wrong-Pass-1")
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)


def test_wrong_sms_code_fails_and_codes_are_single_use(engine, keys, clock):
    new_customer(engine, keys, clock, ALICE, verify=False)
    with pytest.raises(NotAuthenticated):
        _login(engine, keys, clock, code="000000")
    sms = otp.SandboxSms()

    def send(c):
        from puhui.identity import customers

        customers.send_code(
            c, keys=keys, phone=ALICE.phone, purpose="login", sender=sms, clock=clock
        )

    run_in_transaction(engine, send)
    code = sms.last_code(ALICE.phone)
    bidx = auth.phone_index(keys, ALICE.phone)

    def use(c):
        return otp.use_code(c, keys=keys, phone_bidx=bidx, purpose="login", code=code, clock=clock)

    assert run_in_transaction(engine, use) is True
    assert run_in_transaction(engine, use) is False


def test_session_tokens_idle_and_absolute_timeouts(engine, keys, clock):
    new_customer(engine, keys, clock, ALICE, verify=False)
    first = _login(engine, keys, clock).session
    second = _login(engine, keys, clock).session
    assert first.token != second.token and len(first.token) >= 43  # ≥ 256 bits, new per login
    with engine.connect() as c:
        stored = c.execute(select(sessions_table.c.token_hash)).scalars().all()
    assert first.token not in stored and sessions.token_hash(first.token) in stored

    check = lambda t: run_in_transaction(  # noqa: E731
        engine, lambda c: sessions.authenticate(c, token=t, kind="customer", clock=clock)
    )
    clock.advance(timedelta(minutes=29))
    check(first.token)  # activity resets the idle timer
    clock.advance(timedelta(minutes=29))
    check(first.token)
    clock.advance(timedelta(minutes=30))
    with pytest.raises(NotAuthenticated, match="expired"):
        check(first.token)
    with pytest.raises(NotAuthenticated):
        run_in_transaction(
            engine,
            lambda c: sessions.authenticate(c, token=second.token, kind="staff", clock=clock),
        )
    third = _login(engine, keys, clock).session
    for _ in range(25):  # active all the time: the absolute lifetime still ends it
        clock.advance(timedelta(minutes=29))
        try:
            check(third.token)
        except NotAuthenticated:
            break
    with pytest.raises(NotAuthenticated):
        check(third.token)


def test_staff_need_totp_and_idle_out_after_15_minutes(engine, keys, clock):
    new = new_staff(engine, keys, clock, "ops.li", position="operations_manager")

    def login(totp):
        return commit_refusals(
            engine,
            lambda c: auth.login_staff(
                c,
                keys=keys,
                username="ops.li",
                password=PASSWORD,
                totp_code=totp,
                actor=ACTOR,
                user_agent=None,
                clock=clock,
            ),
        )

    with pytest.raises(NotAuthenticated, match="temporarily locked"):
        login("")  # a password alone never signs a staff member in
    code = otp.totp_now(new.totp_secret, clock)
    ok = login(code)
    with pytest.raises(NotAuthenticated):
        login(code)  # the same code twice: replay refused
    check = lambda: run_in_transaction(  # noqa: E731
        engine,
        lambda c: sessions.authenticate(c, token=ok.session.token, kind="staff", clock=clock),
    )
    clock.advance(timedelta(minutes=14))
    check()
    clock.advance(timedelta(minutes=15))
    with pytest.raises(NotAuthenticated, match="expired"):
        check()


def test_staff_password_expires_after_90_days(engine, keys, clock):
    new = new_staff(engine, keys, clock, "fin.wu", position="finance_specialist")
    clock.advance(timedelta(days=91))
    with pytest.raises(NotAuthenticated, match="expired"):
        commit_refusals(
            engine,
            lambda c: auth.login_staff(
                c,
                keys=keys,
                username="fin.wu",
                password=PASSWORD,
                totp_code=otp.totp_now(new.totp_secret, clock),
                actor=ACTOR,
                user_agent=None,
                clock=clock,
            ),
        )


def test_password_history_refuses_reuse(engine, keys, clock):
    from puhui.identity import staff

    new = new_staff(engine, keys, clock, "sec.he", position="security_admin")
    sid = new.member.id
    run_in_transaction(
        engine,
        lambda c: staff.change_password(
            c, staff_id=sid, new_password="Second-Pass-2", actor=ACTOR, clock=clock
        ),
    )
    with pytest.raises(ValidationError, match="last 5"):
        run_in_transaction(
            engine,
            lambda c: staff.change_password(
                c, staff_id=sid, new_password=PASSWORD, actor=ACTOR, clock=clock
            ),
        )
