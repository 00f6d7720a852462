"""Custody's daily reconciliation on a partitioned journal: the same clean day as on one table.

alice deposits 1,000.00, withdraws 300.00 and invests 200.00 in bob; the bank settles; the
day's statement matches every instruction and the master invariant holds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from puhui.core.clock import FixedClock, business_date
from puhui.custody import flows, jobs
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import Role
from puhui.db.partitioning import partition_journal
from puhui.ledger.codes import TransferCode
from puhui.ledger.verify import verify

from .conftest import TODAY

pytestmark = pytest.mark.postgresql_only
PASSWORD = Authorisation(AuthMethod.PASSWORD, "135790")


def test_a_clean_day_reconciles_on_a_partitioned_journal(
    pg_engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    partition_journal(pg_engine, months_ahead=1, today=TODAY)
    bank = SandboxBank(pg_engine, clock=clock, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    for user, role in (("alice", Role.LENDER), ("bob", Role.BORROWER)):
        acc = flows.open_account(pg_engine, bank, user_ref=user, role=role, clock=clock)
        assert acc.bank_account_no
        bank.set_transaction_password(acc.bank_account_no, "135790")
    lender = {"user_ref": "alice", "role": Role.LENDER, "authorisation": PASSWORD, "clock": clock}
    flows.deposit(pg_engine, bank, amount=100_000, **lender)
    _settle(pg_engine, bank, clock)
    flows.withdraw(pg_engine, bank, amount=30_000, **lender)
    flows.transfer(
        pg_engine,
        bank,
        to_user_ref="bob",
        to_role=Role.BORROWER,
        amount=20_000,
        code=TransferCode.INVESTMENT,
        **lender,
    )
    _settle(pg_engine, bank, clock)

    result = jobs.reconcile_day(
        pg_engine, bank, business_date=business_date(clock.now()), directory=tmp_path, clock=clock
    )

    assert (result.lines, result.matched, result.breaks_added) == (4, 3, 0)
    assert result.sub_accounts_checked == 2
    inv = result.invariant
    assert (inv.bank_master, inv.ledger_total, inv.user_total) == (70_000, 70_000, 70_000)
    assert inv.holds and result.clean
    with pg_engine.connect() as c:
        assert verify(c) == []
        homes = c.exec_driver_sql(
            "SELECT DISTINCT tableoid::regclass::text FROM ledger_transfers"
        ).all()
    assert homes == [("ledger_transfers_202611",)]


def _settle(engine: Engine, bank: SandboxBank, clock: FixedClock) -> None:
    """The bank completes its queue; two minutes later the platform polls for the results."""
    bank.settle()
    clock.advance(timedelta(minutes=2))
    flows.settle(engine, bank, clock=clock)
