"""Custody fixtures: a sandbox bank on the test database, and users with sub-accounts.

The bank hashes passwords with cheap argon2 parameters so the tests stay fast; everything else
is as in production.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from puhui.core.clock import Clock, FixedClock
from puhui.custody import flows
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import CustodyAccount, InstructionRecord, Role, get_account
from puhui.ledger.codes import TransferCode
from puhui.ledger.service import get_account as ledger_account
from puhui.ledger.verify import verify

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "135790"


@pytest.fixture
def bank(engine: Engine, clock: FixedClock) -> SandboxBank:
    return SandboxBank(engine, clock=clock, hasher=FAST_HASHER)


@pytest.fixture
def alice(engine: Engine, bank: SandboxBank, clock: FixedClock) -> str:
    """alice, a lender with a custody account and a transaction password, no money yet."""
    open_user(engine, bank, clock, "alice")
    return "alice"


def password(secret: str = PASSWORD) -> Authorisation:
    return Authorisation(AuthMethod.PASSWORD, secret)


def open_user(
    engine: Engine, bank: SandboxBank, clock: Clock, user: str, role: Role = Role.LENDER
) -> CustodyAccount:
    """Open a user's custody account and let the user set a transaction password at the bank."""
    acc = flows.open_account(engine, bank, user_ref=user, role=role, clock=clock)
    assert acc.bank_account_no
    bank.set_transaction_password(acc.bank_account_no, PASSWORD)
    return acc


def settle(engine: Engine, bank: SandboxBank, clock: FixedClock) -> None:
    """The bank completes its queue; a minute later the platform polls for the results."""
    bank.settle()
    clock.advance(timedelta(minutes=2))
    flows.settle(engine, bank, clock=clock)


def fund(
    engine: Engine, bank: SandboxBank, clock: FixedClock, user: str, amount: int
) -> InstructionRecord:
    """Deposit and settle, so the user has ``amount`` fen on both sides."""
    rec = deposit(engine, bank, clock, user, amount)
    settle(engine, bank, clock)
    return rec


def balances(
    engine: Engine, bank: SandboxBank, user: str, role: Role = Role.LENDER
) -> tuple[int, int, int]:
    """(ledger posted balance, ledger available, bank balance) of one sub-account."""
    with engine.connect() as c:
        acc = get_account(c, user_ref=user, role=role)
        led = ledger_account(c, acc.ledger_account_id)
    assert acc.bank_account_no
    return led.credit_balance, led.available, bank.balance(acc.bank_account_no)


def assert_books(engine: Engine) -> None:
    """`puhui ledger verify` finds nothing wrong."""
    with engine.connect() as c:
        assert verify(c) == []


def deposit(
    engine: Engine, bank: SandboxBank, clock: Clock, user: str, amount: int
) -> InstructionRecord:
    """``user`` recharges the lender sub-account, authorised by the transaction password."""
    return flows.deposit(
        engine,
        bank,
        user_ref=user,
        role=Role.LENDER,
        amount=amount,
        authorisation=password(),
        clock=clock,
    )


def withdraw(
    engine: Engine, bank: SandboxBank, clock: Clock, user: str, amount: int, **kw: Any
) -> InstructionRecord:
    """``user`` withdraws from the lender sub-account, with the right password unless told."""
    kw.setdefault("authorisation", password())
    return flows.withdraw(
        engine, bank, user_ref=user, role=Role.LENDER, amount=amount, clock=clock, **kw
    )


def invest(
    engine: Engine, bank: SandboxBank, clock: Clock, lender: str, borrower: str, amount: int
) -> InstructionRecord:
    """A lender's money moves to a borrower's sub-account on the lender's authorisation."""
    return flows.transfer(
        engine,
        bank,
        user_ref=lender,
        role=Role.LENDER,
        to_user_ref=borrower,
        to_role=Role.BORROWER,
        amount=amount,
        code=TransferCode.INVESTMENT,
        authorisation=password(),
        clock=clock,
    )
