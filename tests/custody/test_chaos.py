"""A flaky bank: random failures and timeouts never lose money or pay twice.

Users deposit, withdraw and invest at random against a sandbox bank that fails or times out a
third of its calls (seeded, so a failure reproduces). After the bank settles and the platform
polls, every instruction has an outcome, each sub-account agrees with the bank, the day
reconciles clean and the ledger verifies.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from puhui.core.clock import business_date
from puhui.core.errors import Conflict
from puhui.custody import flows, jobs
from puhui.custody.models import instructions
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import Role, Status

from .conftest import FAST_HASHER, assert_books, balances, deposit, invest, open_user, withdraw

USERS = ["u0", "u1", "u2", "u3"]


def test_random_flows_against_a_flaky_bank(engine, clock, tmp_path):
    bank = SandboxBank(
        engine, clock=clock, hasher=FAST_HASHER, fail_rate=0.15, timeout_rate=0.2, seed=20261102
    )
    for u in USERS:
        open_user(engine, bank, clock, u)
        open_user(engine, bank, clock, u, Role.BORROWER)
    rng = random.Random(7)
    for step in range(60):
        user = rng.choice(USERS)
        amount = rng.randrange(1, 50) * 1_000
        try:
            match rng.choice(["deposit", "deposit", "withdraw", "invest"]):
                case "deposit":
                    deposit(engine, bank, clock, user, amount)
                case "withdraw":
                    withdraw(engine, bank, clock, user, amount)
                case "invest":
                    invest(engine, bank, clock, user, rng.choice(USERS), amount)
        except Conflict as exc:
            assert exc.code == "insufficient_funds"
        if step % 10 == 9:
            bank.settle()
    bank.settle()
    clock.advance(timedelta(minutes=5))
    flows.settle(engine, bank, clock=clock)

    with engine.connect() as c:
        statuses = set(c.execute(select(instructions.c.status)).scalars())
    assert statuses <= {Status.SUCCEEDED, Status.FAILED}
    assert {Status.SUCCEEDED, Status.FAILED} <= statuses
    for u in USERS:
        for role in (Role.LENDER, Role.BORROWER):
            posted, available, at_bank = balances(engine, bank, u, role)
            assert posted == available == at_bank
    result = jobs.reconcile_day(
        engine, bank, business_date=business_date(clock.now()), directory=tmp_path, clock=clock
    )
    assert result.clean and result.invariant.holds, result.open_breaks
    assert_books(engine)
