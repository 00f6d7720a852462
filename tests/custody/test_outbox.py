"""Standing authorisations (业务授权) and the instruction outbox: money a domain books on its
own reaches the bank, in booking order, exactly once, and reconciles."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from puhui.core.clock import FixedClock, business_date
from puhui.core.errors import Conflict, ValidationError
from puhui.custody import authorisations, flows, jobs, outbox
from puhui.custody.bank import AuthMethod, Authorisation, BankStatus, Instruction, InstructionKind
from puhui.custody.models import instructions
from puhui.custody.sandbox import Fault, SandboxBank
from puhui.custody.service import Role, Status, get_account, get_instruction
from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import TransferCode, TransferFlags
from puhui.ledger.service import Transfer, create_transfers

from .conftest import assert_books, balances, fund, open_user, password, settle


def _grant(engine: Engine, bank: SandboxBank, clock: FixedClock, user: str, role: Role) -> str:
    return flows.authorise(
        engine, bank, user_ref=user, role=role, authorisation=password(), clock=clock
    ).id


def _book(
    engine: Engine,
    payer: str,
    payer_role: Role,
    payee: str,
    payee_role: Role,
    amount: int,
    tid: str,
    clock: FixedClock,
) -> None:
    """A domain transaction: the ledger transfer and its queued instruction, one commit."""

    def work(c: Connection) -> None:
        a = get_account(c, user_ref=payer, role=payer_role).ledger_account_id
        b = get_account(c, user_ref=payee, role=payee_role).ledger_account_id
        [r] = create_transfers(
            c, [Transfer(tid, a, b, amount, TransferCode.DISTRIBUTION)], clock=clock
        )
        assert r.ok, r
        assert outbox.queue_booked(c, [tid], clock=clock) == 1

    run_in_transaction(engine, work)


@pytest.fixture
def people(engine: Engine, bank: SandboxBank, clock: FixedClock) -> None:
    """alice (lender, 1,000.00, granted), bob (borrower, granted), carol (lender)."""
    open_user(engine, bank, clock, "alice")
    open_user(engine, bank, clock, "bob", Role.BORROWER)
    open_user(engine, bank, clock, "carol")
    fund(engine, bank, clock, "alice", 100_000)
    _grant(engine, bank, clock, "alice", Role.LENDER)
    _grant(engine, bank, clock, "bob", Role.BORROWER)


def _reconcile(engine: Engine, bank: SandboxBank, clock: FixedClock, tmp_path: Path):  # type: ignore[no-untyped-def]
    day: date = business_date(clock.now())
    return jobs.reconcile_day(engine, bank, business_date=day, directory=tmp_path, clock=clock)


def test_a_grant_lets_the_platform_instruct_transfers_from_that_account_only(
    engine, bank, clock, people
):
    with engine.connect() as c:
        alice = get_account(c, user_ref="alice", role=Role.LENDER).bank_account_no
        bob = get_account(c, user_ref="bob", role=Role.BORROWER).bank_account_no
        carol = get_account(c, user_ref="carol", role=Role.LENDER).bank_account_no
        [grant] = authorisations.of_user(c, user_ref="alice")
    assert grant.status == "active" and grant.scope == "invest" and grant.bank_account_no == alice
    standing = Authorisation(AuthMethod.STANDING, grant.id)
    ok = bank.transfer(Instruction("T1", InstructionKind.TRANSFER, 100, alice, bob, standing))
    assert ok.status is BankStatus.PROCESSING
    # the grant is alice's: it does not cover carol's money, nor a withdrawal of alice's
    other = bank.transfer(Instruction("T2", InstructionKind.TRANSFER, 100, carol, bob, standing))
    assert (other.status, other.reason) == (BankStatus.REFUSED, "authorisation_invalid")
    out = bank.withdraw(Instruction("W1", InstructionKind.WITHDRAWAL, 100, alice, None, standing))
    assert (out.status, out.reason) == (BankStatus.REFUSED, "authorisation_invalid")
    # a grant needs the holder's own password, and a grant cannot grant another
    bad = bank.authorise(alice, Authorisation(AuthMethod.PASSWORD, "wrong"), scope="invest")
    assert (bad.status, bad.reason) == (BankStatus.REFUSED, "authorisation_invalid")
    chained = bank.authorise(alice, standing, scope="invest")
    assert chained.status is BankStatus.REFUSED
    with pytest.raises(Conflict) as e:
        flows.authorise(
            engine,
            bank,
            user_ref="carol",
            role=Role.LENDER,
            authorisation=Authorisation(AuthMethod.PASSWORD, "wrong"),
            clock=clock,
        )
    assert e.value.code == "bank_authorisation_invalid"
    with pytest.raises(ValidationError):
        flows.authorise(engine, bank, user_ref="carol", role=Role.LENDER, authorisation=None)
    # revoked: the bank refuses what comes after, and the platform no longer counts it
    flows.revoke_authorisation(engine, bank, user_ref="alice", grant_id=grant.id, clock=clock)
    late = bank.transfer(Instruction("T3", InstructionKind.TRANSFER, 100, alice, bob, standing))
    assert (late.status, late.reason) == (BankStatus.REFUSED, "authorisation_revoked")
    with engine.connect() as c, pytest.raises(Conflict) as e:
        authorisations.require(c, user_ref="alice", role=Role.LENDER)
    assert e.value.code == "custody_authorisation_required"


def test_queued_money_reaches_the_bank_once_and_reconciles(engine, bank, clock, people, tmp_path):
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 30_000, "mkt-t-1", clock)
    with engine.connect() as c:
        queued = get_instruction(c, "mkt-t-1")
    assert (queued.status, queued.ledger_transfer_id, queued.attempts) == (
        Status.QUEUED,
        "mkt-t-1",
        0,
    )
    # the ledger moved at once; the bank not yet
    assert balances(engine, bank, "alice") == (70_000, 70_000, 100_000)
    settle(engine, bank, clock)  # send, the bank settles, poll
    settle(engine, bank, clock)
    with engine.connect() as c:
        done = get_instruction(c, "mkt-t-1")
    assert done.status is Status.SUCCEEDED and done.bank_serial
    assert balances(engine, bank, "alice") == (70_000, 70_000, 70_000)
    assert balances(engine, bank, "bob", Role.BORROWER) == (30_000, 30_000, 30_000)
    assert_books(engine)
    result = _reconcile(engine, bank, clock, tmp_path)
    assert result.clean and result.breaks_added == 0, result.open_breaks
    assert result.invariant.holds


def test_a_timeout_stays_queued_and_is_resent_under_the_same_id(engine, bank, clock, people):
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 10_000, "mkt-t-2", clock)
    bank.inject("mkt-t-2", Fault.TIMEOUT)
    assert flows.send_queued(engine, bank, clock=clock) == flows.SendSummary(0, 0, 1)
    with engine.connect() as c:
        rec = get_instruction(c, "mkt-t-2")
    assert (rec.status, rec.attempts) == (Status.QUEUED, 1)  # never 'unknown', never polled
    bank.inject("mkt-t-2", Fault.LOST_REPLY)  # the bank takes it, the answer is lost
    assert flows.send_queued(engine, bank, clock=clock) == flows.SendSummary(0, 0, 1)
    assert flows.send_queued(engine, bank, clock=clock) == flows.SendSummary(1, 0, 0)
    settle(engine, bank, clock)
    with engine.connect() as c:
        rec = get_instruction(c, "mkt-t-2")
    assert (rec.status, rec.attempts) == (Status.SUCCEEDED, 3)
    assert balances(engine, bank, "bob", Role.BORROWER) == (10_000, 10_000, 10_000)
    assert_books(engine)


def test_the_bank_applies_a_credit_before_the_debit_that_spends_it(engine, bank, clock, people):
    # bob holds nothing at the bank until alice's money arrives; both booked in one microsecond
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 40_000, "mkt-t-3", clock)
    _book(engine, "bob", Role.BORROWER, "carol", Role.LENDER, 25_000, "mkt-t-4", clock)
    settle(engine, bank, clock)
    settle(engine, bank, clock)
    with engine.connect() as c:
        assert [get_instruction(c, i).status for i in ("mkt-t-3", "mkt-t-4")] == [
            Status.SUCCEEDED,
            Status.SUCCEEDED,
        ]
    assert balances(engine, bank, "carol") == (25_000, 25_000, 25_000)
    assert balances(engine, bank, "bob", Role.BORROWER) == (15_000, 15_000, 15_000)


def test_without_a_grant_it_waits_and_so_does_what_depends_on_it(engine, bank, clock, people):
    open_user(engine, bank, clock, "dave")
    fund(engine, bank, clock, "dave", 5_000)
    _book(engine, "dave", Role.LENDER, "bob", Role.BORROWER, 5_000, "mkt-t-5", clock)
    _book(engine, "bob", Role.BORROWER, "carol", Role.LENDER, 5_000, "mkt-t-6", clock)
    _book(engine, "alice", Role.LENDER, "carol", Role.LENDER, 1_000, "mkt-t-7", clock)
    # dave granted nothing: his transfer waits, bob's (which may spend it) waits behind it, and
    # alice's, independent of both, goes
    assert flows.send_queued(engine, bank, clock=clock) == flows.SendSummary(1, 0, 2)
    with engine.connect() as c:
        assert [get_instruction(c, i).status for i in ("mkt-t-5", "mkt-t-6", "mkt-t-7")] == [
            Status.QUEUED,
            Status.QUEUED,
            Status.PROCESSING,
        ]
    _grant(engine, bank, clock, "dave", Role.LENDER)
    settle(engine, bank, clock)
    settle(engine, bank, clock)
    with engine.connect() as c:
        assert {get_instruction(c, i).status for i in ("mkt-t-5", "mkt-t-6")} == {Status.SUCCEEDED}


def test_a_withdrawal_first_sends_what_was_queued_on_its_account(engine, bank, clock, people):
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 20_000, "mkt-t-8", clock)
    rec = flows.withdraw(
        engine,
        bank,
        user_ref="bob",
        role=Role.BORROWER,
        amount=20_000,
        authorisation=password(),
        clock=clock,
    )
    assert rec.status is Status.PROCESSING
    settle(engine, bank, clock)
    with engine.connect() as c:
        assert get_instruction(c, "mkt-t-8").status is Status.SUCCEEDED
        assert get_instruction(c, rec.id).status is Status.SUCCEEDED
    assert balances(engine, bank, "bob", Role.BORROWER) == (0, 0, 0)
    assert_books(engine)


def test_a_refusal_at_the_bank_fails_the_instruction_and_shows_as_a_break(
    engine, bank, clock, people, tmp_path
):
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 5_000, "mkt-t-9", clock)
    with engine.connect() as c:
        [grant] = authorisations.of_user(c, user_ref="alice")
    bank.revoke_authorisation(grant.id)  # at the bank only: the platform still counts it
    assert flows.send_queued(engine, bank, clock=clock) == flows.SendSummary(0, 1, 0)
    with engine.connect() as c:
        rec = get_instruction(c, "mkt-t-9")
    assert (rec.status, rec.failure_reason) == (Status.FAILED, "authorisation_revoked")
    # the ledger keeps what the domain booked; reconciliation shows the bank never moved it
    assert balances(engine, bank, "alice") == (95_000, 95_000, 100_000)
    result = _reconcile(engine, bank, clock, tmp_path)
    assert {(b.kind, b.match_key) for b in result.open_breaks} >= {("ledger_only", "mkt-t-9")}


def test_queueing_refuses_what_the_bank_cannot_carry_and_changes_nothing(
    engine, bank, clock, people
):
    def pending(c: Connection) -> None:
        a = get_account(c, user_ref="alice", role=Role.LENDER).ledger_account_id
        b = get_account(c, user_ref="bob", role=Role.BORROWER).ledger_account_id
        t = Transfer("mkt-p-1", a, b, 100, TransferCode.INVESTMENT, flags=TransferFlags.PENDING)
        assert create_transfers(c, [t], clock=clock)[0].ok
        outbox.queue_booked(c, ["mkt-p-1"], clock=clock)

    with pytest.raises(Conflict) as e:
        run_in_transaction(engine, pending)
    assert e.value.code == "not_a_bank_transfer"
    with pytest.raises(Conflict) as e:
        run_in_transaction(engine, lambda c: outbox.queue_booked(c, ["bad:id"], clock=clock))
    assert e.value.code == "instruction_id_invalid"
    with engine.connect() as c:
        assert (
            c.execute(select(instructions.c.id).where(instructions.c.id == "mkt-p-1")).all() == []
        )
    assert balances(engine, bank, "alice") == (100_000, 100_000, 100_000)
    # queueing the same transfer twice queues it once
    _book(engine, "alice", Role.LENDER, "bob", Role.BORROWER, 100, "mkt-t-10", clock)
    assert (
        run_in_transaction(engine, lambda c: outbox.queue_booked(c, ["mkt-t-10"], clock=clock)) == 0
    )
