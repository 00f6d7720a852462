"""AML-STR-02 on the money paths: a customer a watch-list match blocked can take no money out of
custody — a withdrawal or a transfer is refused with ``customer_blocked`` before any instruction
is recorded or sent, and every balance (ledger and bank) stays as it was. Other customers
are untouched."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from identity.conftest import (
    ALICE,
    BOB,
    cheap_argon2,  # noqa: F401 (autouse: test-sized Argon2)
    new_customer,
)
from puhui.compliance import aml
from puhui.core.errors import Conflict
from puhui.custody.models import instructions
from puhui.db.engine import run_in_transaction
from puhui.identity.crypto import Keyring, new_key_text

from .conftest import balances, fund, invest, open_user, settle, withdraw

YUAN = 100


@pytest.fixture
def keys() -> Keyring:
    return Keyring.parse(f"k1:{new_key_text()}", new_key_text())


def _instruction_count(engine) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(instructions)).scalar_one()


def test_a_blocked_customer_cannot_withdraw_or_transfer_and_nothing_changes(
    engine,
    clock,
    bank,
    keys,
):
    alice = new_customer(engine, keys, clock, ALICE)
    bob = new_customer(engine, keys, clock, BOB)
    alice_ref, bob_ref = f"customer-{alice}", f"customer-{bob}"
    open_user(engine, bank, clock, alice_ref)
    open_user(engine, bank, clock, bob_ref)
    fund(engine, bank, clock, alice_ref, 1_000 * YUAN)
    fund(engine, bank, clock, bob_ref, 300 * YUAN)
    run_in_transaction(
        engine,
        lambda c: aml.add_to_watch_list(
            c, list_name="UN-1267", id_number=ALICE.id_number, keys=keys, by="staff:1", clock=clock
        ),
    )
    # the match froze the whole 1,000.00 yuan: posted, not available, still at the bank
    before = balances(engine, bank, alice_ref)
    assert before == (100_000, 0, 100_000)
    count = _instruction_count(engine)

    with pytest.raises(Conflict) as refused:
        withdraw(engine, bank, clock, alice_ref, 1 * YUAN)
    assert (refused.value.code, refused.value.field) == ("customer_blocked", "customer")
    with pytest.raises(Conflict) as refused:
        invest(engine, bank, clock, alice_ref, bob_ref, 1 * YUAN)
    assert refused.value.code == "customer_blocked"

    assert _instruction_count(engine) == count  # nothing recorded, nothing sent to the bank
    assert balances(engine, bank, alice_ref) == before
    # Bob is not blocked: his withdrawal of 120.00 yuan goes through in full
    withdraw(engine, bank, clock, bob_ref, 120 * YUAN)
    settle(engine, bank, clock)
    assert balances(engine, bank, bob_ref) == (18_000, 18_000, 18_000)


def test_the_block_refuses_before_the_balance_check(engine, clock, bank, keys):
    """With money still available (a block recorded before anything was frozen), the refusal
    is the block's, not the ledger's: the block itself stops the money."""
    carol = new_customer(engine, keys, clock, BOB)
    ref = f"customer-{carol}"
    open_user(engine, bank, clock, ref)
    fund(engine, bank, clock, ref, 500 * YUAN)
    run_in_transaction(
        engine,
        lambda c: c.execute(
            aml.blocks.insert().values(
                customer_id=carol,
                watch_id=1,
                case_id=1,
                frozen_fen=0,
                freeze_transfer_ids="[]",
                blocked_us=0,
            )
        ),
    )
    count = _instruction_count(engine)
    with pytest.raises(Conflict) as refused:
        withdraw(engine, bank, clock, ref, 100 * YUAN)
    assert refused.value.code == "customer_blocked"
    assert _instruction_count(engine) == count
    assert balances(engine, bank, ref) == (50_000, 50_000, 50_000)
