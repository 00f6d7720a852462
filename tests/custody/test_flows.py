"""Deposits, withdrawals and transfers through the custody bank, on both sides of the books."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from puhui.core.errors import Conflict, ValidationError
from puhui.custody import flows, service
from puhui.custody.bank import AuthMethod, Authorisation, BankStatus, Instruction, InstructionKind
from puhui.custody.models import instructions
from puhui.custody.sandbox import MASTER_ACCOUNT, Fault, SandboxBank
from puhui.custody.sandbox_models import bank_instructions, bank_journal
from puhui.custody.service import Role, Status, master_account_id
from puhui.ledger.models import transfers
from puhui.ledger.service import get_account, pending_status

from .conftest import (
    assert_books,
    balances,
    fund,
    invest,
    open_user,
    password,
    settle,
    withdraw,
)


def _master(engine: Engine, bank: SandboxBank) -> tuple[int, int]:
    with engine.connect() as c:
        ledger = get_account(c, master_account_id(c)).debit_balance
    return ledger, bank.balance(MASTER_ACCOUNT)


def _count(engine: Engine, table, *where) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_deposit_is_booked_when_the_bank_confirms(engine, bank, clock, alice):
    rec = flows.deposit(
        engine,
        bank,
        user_ref=alice,
        role=Role.LENDER,
        amount=100_000,
        authorisation=password(),
        clock=clock,
    )
    assert (rec.status, rec.attempts) == (Status.PROCESSING, 1)
    assert balances(engine, bank, alice) == (0, 0, 0)

    settle(engine, bank, clock)
    with engine.connect() as c:
        done = service.get_instruction(c, rec.id)
    assert done.status is Status.SUCCEEDED
    assert done.bank_serial and done.ledger_transfer_id == f"cus-{rec.id}-d"
    assert balances(engine, bank, alice) == (100_000, 100_000, 100_000)
    assert _master(engine, bank) == (100_000, 100_000)
    assert_books(engine)


def test_withdrawal_freezes_then_posts(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    rec = withdraw(engine, bank, clock, alice, 30_000)
    assert rec.status is Status.PROCESSING
    # frozen in the ledger, untouched at the bank until it settles
    assert balances(engine, bank, alice) == (100_000, 70_000, 100_000)

    settle(engine, bank, clock)
    assert balances(engine, bank, alice) == (70_000, 70_000, 70_000)
    assert _master(engine, bank) == (70_000, 70_000)
    with engine.connect() as c:
        assert pending_status(c, f"cus-{rec.id}-f") == "posted"
    assert_books(engine)


def test_failed_withdrawal_releases_the_freeze(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    bank.inject("WD-fail", Fault.FAIL)
    withdraw(engine, bank, clock, alice, 30_000, instruction_id="WD-fail")
    settle(engine, bank, clock)

    with engine.connect() as c:
        rec = service.get_instruction(c, "WD-fail")
        assert pending_status(c, "cus-WD-fail-f") == "voided"
    assert (rec.status, rec.failure_reason) == (Status.FAILED, "declined_by_bank")
    assert balances(engine, bank, alice) == (100_000, 100_000, 100_000)
    assert_books(engine)


def test_lost_reply_is_retried_with_the_same_id_and_pays_once(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    bank.inject("WD-lost", Fault.LOST_REPLY)  # the bank accepts, its answer is lost
    rec = withdraw(engine, bank, clock, alice, 40_000, instruction_id="WD-lost")
    assert (rec.status, rec.attempts) == (Status.PROCESSING, 2)
    settle(engine, bank, clock)

    assert balances(engine, bank, alice) == (60_000, 60_000, 60_000)
    assert _count(engine, bank_journal, bank_journal.c.instruction_id == "WD-lost") == 1
    assert_books(engine)


def test_timeouts_on_every_attempt_leave_it_unknown_until_the_bank_is_asked(
    engine, bank, clock, alice
):
    fund(engine, bank, clock, alice, 100_000)
    bank.inject("WD-gone", Fault.TIMEOUT, times=3)  # never reaches the bank
    rec = withdraw(engine, bank, clock, alice, 40_000, instruction_id="WD-gone")
    assert (rec.status, rec.attempts) == (Status.UNKNOWN, 3)
    assert balances(engine, bank, alice) == (100_000, 60_000, 100_000)

    settle(engine, bank, clock)  # the bank says not_found: the id is dead, the money released
    assert balances(engine, bank, alice) == (100_000, 100_000, 100_000)
    late = bank.withdraw(rec.to_bank(password()))
    assert (late.status, late.reason) == (BankStatus.REFUSED, "instruction_expired")
    assert_books(engine)


def test_lost_replies_on_every_attempt_are_settled_by_polling(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    bank.inject("WD-mute", Fault.LOST_REPLY, times=3)
    rec = withdraw(engine, bank, clock, alice, 25_000, instruction_id="WD-mute")
    assert rec.status is Status.UNKNOWN
    settle(engine, bank, clock)
    assert balances(engine, bank, alice) == (75_000, 75_000, 75_000)
    assert _count(engine, bank_instructions) == 2  # the deposit and this one, once


def test_no_authorisation_is_refused_before_anything_changes(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    before = (_count(engine, transfers), _count(engine, instructions))
    with pytest.raises(ValidationError, match="authorise"):
        withdraw(engine, bank, clock, alice, 10_000, authorisation=None)
    assert (_count(engine, transfers), _count(engine, instructions)) == before
    assert balances(engine, bank, alice) == (100_000, 100_000, 100_000)


def test_bank_refuses_a_wrong_password_and_the_freeze_is_released(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    rec = withdraw(engine, bank, clock, alice, 10_000, authorisation=password("000000"))
    assert (rec.status, rec.failure_reason) == (Status.FAILED, "authorisation_invalid")
    assert balances(engine, bank, alice) == (100_000, 100_000, 100_000)
    assert _count(engine, bank_instructions, bank_instructions.c.instruction_id == rec.id) == 0


def test_bank_refuses_an_instruction_without_authorisation(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    with engine.connect() as c:
        number = service.get_account(c, user_ref=alice, role=Role.LENDER).bank_account_no
    reply = bank.withdraw(Instruction("WD-raw", InstructionKind.WITHDRAWAL, 10_000, number))
    assert (reply.status, reply.reason) == (BankStatus.REFUSED, "authorisation_required")
    bank.settle()
    assert bank.balance(number) == 100_000
    assert _count(engine, bank_instructions, bank_instructions.c.instruction_id == "WD-raw") == 0


def test_insufficient_funds_are_refused_before_the_bank(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 10_000)
    with pytest.raises(Conflict, match="available balance"):
        withdraw(engine, bank, clock, alice, 10_001, instruction_id="WD-big")
    assert _count(engine, instructions, instructions.c.id == "WD-big") == 0


def test_one_instruction_id_is_applied_once(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    first = withdraw(engine, bank, clock, alice, 10_000, instruction_id="WD-once")
    again = withdraw(engine, bank, clock, alice, 10_000, instruction_id="WD-once")
    assert again.id == first.id
    settle(engine, bank, clock)
    after = withdraw(engine, bank, clock, alice, 10_000, instruction_id="WD-once")
    assert after.status is Status.SUCCEEDED
    with pytest.raises(Conflict, match="other fields"):
        withdraw(engine, bank, clock, alice, 20_000, instruction_id="WD-once")
    assert balances(engine, bank, alice) == (90_000, 90_000, 90_000)


def test_concurrent_withdrawals_never_overdraw(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)

    def attempt(i: int) -> str:
        try:
            return withdraw(engine, bank, clock, alice, 30_000, instruction_id=f"WD-c{i}").id
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes).count("insufficient_funds") == 5
    settle(engine, bank, clock)
    assert balances(engine, bank, alice) == (10_000, 10_000, 10_000)
    assert _master(engine, bank) == (10_000, 10_000)
    assert_books(engine)


def test_transfer_between_sub_accounts(engine, bank, clock, alice):
    open_user(engine, bank, clock, "bob", Role.BORROWER)
    fund(engine, bank, clock, alice, 50_000)
    rec = invest(engine, bank, clock, alice, "bob", 20_000)
    settle(engine, bank, clock)
    assert balances(engine, bank, alice) == (30_000, 30_000, 30_000)
    assert balances(engine, bank, "bob", Role.BORROWER) == (20_000, 20_000, 20_000)
    assert _master(engine, bank) == (50_000, 50_000)
    with engine.connect() as c:
        assert service.get_instruction(c, rec.id).status is Status.SUCCEEDED
    assert_books(engine)


def test_settle_leaves_fresh_instructions_to_their_flow(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 10_000)
    bank.inject("WD-fresh", Fault.TIMEOUT, times=3)
    withdraw(engine, bank, clock, alice, 1_000, instruction_id="WD-fresh")
    summary = flows.settle(engine, bank, clock=clock)
    assert summary.checked == 0
    clock.advance(timedelta(minutes=5))
    assert flows.settle(engine, bank, clock=clock).failed == 1


def test_accounts_are_only_for_users_in_user_roles(engine, bank, clock):
    with pytest.raises(ValidationError, match="not a custody role"):
        flows.open_account(engine, bank, user_ref="carol", role="banker", clock=clock)
    with pytest.raises(ValidationError, match="no custody sub-account"):
        flows.open_account(engine, bank, user_ref="carol", role=Role.MASTER, clock=clock)
    with pytest.raises(ValidationError, match="user_ref"):
        flows.open_account(engine, bank, user_ref="platform", role=Role.LENDER, clock=clock)
    first = flows.open_account(engine, bank, user_ref="carol", role=Role.LENDER, clock=clock)
    assert flows.open_account(engine, bank, user_ref="carol", role="lender", clock=clock) == first


def test_a_one_time_code_authorises_one_instruction_and_its_retries(engine, bank, clock, alice):
    fund(engine, bank, clock, alice, 100_000)
    with engine.connect() as c:
        number = service.get_account(c, user_ref=alice, role=Role.LENDER).bank_account_no
    otp = Authorisation(AuthMethod.OTP, bank.issue_otp(number))
    bank.inject("WD-otp", Fault.LOST_REPLY)  # the retry is a replay: the code is not asked again
    first = withdraw(engine, bank, clock, alice, 1_000, authorisation=otp, instruction_id="WD-otp")
    assert (first.status, first.attempts) == (Status.PROCESSING, 2)
    reused = withdraw(engine, bank, clock, alice, 1_000, authorisation=otp)
    assert (reused.status, reused.failure_reason) == (Status.FAILED, "authorisation_invalid")
    settle(engine, bank, clock)
    assert balances(engine, bank, alice) == (99_000, 99_000, 99_000)
