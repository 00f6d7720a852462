"""Ledger fixtures: a small custody book a credit officer could read.

master  (custody master, debit-normal, credits must not exceed debits)
alice   (lender sub-account, credit-normal, debits must not exceed credits) 1,000.00
bob     (borrower sub-account, credit-normal)                                 200.00
fee     (platform fee sub-account, no limit)
cash    (company book, own cash)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine, func, select

from puhui.core.clock import FixedClock
from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import AccountCode, AccountFlags, Book, TransferCode
from puhui.ledger.models import accounts, entries, transfers
from puhui.ledger.service import Transfer, create_account, create_transfers

USER = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
BANK = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS


@dataclass(frozen=True)
class Books:
    master: int
    alice: int
    bob: int
    fee: int
    cash: int
    usd: int


@pytest.fixture
def books(engine: Engine, clock: FixedClock) -> Books:
    def setup(c: Connection) -> Books:
        b = Books(
            master=create_account(
                c, book=Book.CUSTODY, code=AccountCode.CUSTODY_MASTER, flags=BANK, clock=clock
            ),
            alice=create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.LENDER,
                owner="alice",
                flags=USER,
                clock=clock,
            ),
            bob=create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.BORROWER,
                owner="bob",
                flags=USER,
                clock=clock,
            ),
            fee=create_account(c, book=Book.CUSTODY, code=AccountCode.PLATFORM_FEE, clock=clock),
            cash=create_account(c, book=Book.COMPANY, code=AccountCode.COMPANY_CASH, clock=clock),
            usd=create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.LENDER,
                owner="alice-usd",
                currency="USD",
                flags=USER,
                clock=clock,
            ),
        )
        results = create_transfers(
            c,
            [
                Transfer("seed-alice", b.master, b.alice, 100_000, TransferCode.DEPOSIT),
                Transfer("seed-bob", b.master, b.bob, 20_000, TransferCode.DEPOSIT),
            ],
            clock=clock,
        )
        assert all(r.ok for r in results)
        return b

    return run_in_transaction(engine, setup)


def snapshot(engine: Engine) -> tuple:
    """Everything a failed transfer must leave untouched."""
    with engine.connect() as c:
        accs = c.execute(select(accounts).order_by(accounts.c.id)).all()
        n_t = c.execute(select(func.count()).select_from(transfers)).scalar()
        n_e = c.execute(select(func.count()).select_from(entries)).scalar()
    return (tuple(tuple(a) for a in accs), n_t, n_e)


def apply(engine: Engine, clock: FixedClock, *batch: Transfer) -> list:
    return run_in_transaction(engine, lambda c: create_transfers(c, list(batch), clock=clock))
