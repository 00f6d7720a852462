"""Daily reconciliation against the sandbox bank's statement (CUS-REC-01, CUS-ACC-01)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from puhui.core.clock import FixedClock, business_date
from puhui.core.errors import Conflict, ValidationError
from puhui.custody import breaks, flows, jobs
from puhui.custody.bank import BankStatus, Instruction, InstructionKind
from puhui.custody.breaks import Forbidden
from puhui.custody.models import breaks as breaks_table
from puhui.custody.models import recon_runs
from puhui.custody.reconcile import ReconResult, reconcile
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import Role, get_account, master_account_id
from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import TransferCode
from puhui.ledger.service import Transfer, create_transfers

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


@pytest.fixture
def alice(alice: str, engine: Engine, bank: SandboxBank, clock: FixedClock) -> str:
    """alice, with 1,000.00 at the bank and in the ledger."""
    fund(engine, bank, clock, alice, 100_000)
    return alice


def _day(clock: FixedClock) -> date:
    return business_date(clock.now())


def _reconcile(engine: Engine, bank: SandboxBank, clock: FixedClock, tmp_path: Path) -> ReconResult:
    return jobs.reconcile_day(
        engine, bank, business_date=_day(clock), directory=tmp_path, clock=clock
    )


def _number(engine: Engine, user: str, role: Role = Role.LENDER) -> str:
    with engine.connect() as c:
        number = get_account(c, user_ref=user, role=role).bank_account_no
    assert number
    return number


def _bank_deposit(engine: Engine, bank: SandboxBank, user: str, amount: int, iid: str) -> None:
    """A recharge the bank booked but the platform never heard of."""
    ins = Instruction(
        iid,
        InstructionKind.DEPOSIT,
        amount,
        to_account=_number(engine, user),
        authorisation=password(),
    )
    assert bank.deposit(ins).status is BankStatus.PROCESSING
    bank.settle()


def _ledger_deposit(
    engine: Engine,
    clock: FixedClock,
    user: str,
    amount: int,
    tid: str,
    *,
    role: Role = Role.LENDER,
    reference: str | None = None,
) -> None:
    """A ledger entry the bank never booked."""

    def work(c):
        acc = get_account(c, user_ref=user, role=role)
        t = Transfer(
            tid,
            master_account_id(c),
            acc.ledger_account_id,
            amount,
            TransferCode.DEPOSIT,
            reference=reference,
        )
        assert create_transfers(c, [t], clock=clock)[0].ok

    run_in_transaction(engine, work)


def _summary(result: ReconResult) -> list[tuple[str, str, str, int]]:
    return [(b.kind.value, b.match_key, b.sub_account, b.delta) for b in result.open_breaks]


def _count(engine: Engine, table) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_clean_day_matches_every_instruction(engine, bank, clock, alice, tmp_path):
    open_user(engine, bank, clock, "bob", Role.BORROWER)
    withdraw(engine, bank, clock, alice, 30_000)
    invest(engine, bank, clock, alice, "bob", 20_000)
    settle(engine, bank, clock)

    result = _reconcile(engine, bank, clock, tmp_path)
    assert (result.lines, result.matched, result.breaks_added) == (4, 3, 0)
    assert result.sub_accounts_checked == 2
    inv = result.invariant
    assert (inv.bank_master, inv.ledger_total, inv.user_total) == (70_000, 70_000, 70_000)
    assert inv.holds and result.clean


def test_bank_only_entry_is_a_long_break(engine, bank, clock, alice, tmp_path):
    _bank_deposit(engine, bank, alice, 5_000, "DP-unbooked")
    result = _reconcile(engine, bank, clock, tmp_path)
    assert _summary(result) == [("bank_only", "DP-unbooked", _number(engine, alice), 5_000)]
    assert result.open_breaks[0].kind.label.startswith("长款")
    inv = result.invariant
    assert (inv.bank_master, inv.ledger_total, inv.open_difference) == (105_000, 100_000, 5_000)
    assert not inv.holds and inv.unexplained == 0
    assert not result.clean


def test_ledger_only_entry_is_a_short_break(engine, bank, clock, alice, tmp_path):
    _ledger_deposit(engine, clock, alice, 7_000, "ghost-1")
    result = _reconcile(engine, bank, clock, tmp_path)
    assert _summary(result) == [("ledger_only", "ghost-1", _number(engine, alice), -7_000)]
    assert result.open_breaks[0].kind.label.startswith("短款")
    assert result.invariant.ledger_total == 107_000


def test_amount_and_account_mismatches(engine, bank, clock, alice, tmp_path):
    open_user(engine, bank, clock, "bob")
    _bank_deposit(engine, bank, alice, 10_000, "DP-x")
    _ledger_deposit(engine, clock, alice, 9_000, "led-x", reference="DP-x")
    _bank_deposit(engine, bank, alice, 3_000, "DP-y")
    _ledger_deposit(engine, clock, "bob", 3_000, "led-y", reference="DP-y")

    result = _reconcile(engine, bank, clock, tmp_path)
    a, b = _number(engine, alice), _number(engine, "bob")
    assert sorted(_summary(result)) == sorted(
        [
            ("amount_mismatch", "DP-x", a, 1_000),
            ("account_mismatch", "DP-y", a, 3_000),
            ("account_mismatch", "DP-y", b, -3_000),
        ]
    )
    assert result.invariant.unexplained == 0


def test_a_statement_that_does_not_balance_is_refused(engine, bank, clock, alice, tmp_path):
    path = jobs.fetch_statement(bank, business_date=_day(clock), directory=tmp_path)
    rows = path.read_text().splitlines()
    head = rows[1].split(",")
    head[3] = str(int(head[3]) + 1)  # closing balance one fen more than the lines make
    rows[1] = ",".join(head)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValidationError, match="opening 0 \\+ lines 100000 != closing 100001"):
        run_in_transaction(
            engine,
            lambda c: reconcile(c, business_date=_day(clock), statement_path=path, clock=clock),
        )
    assert _count(engine, recon_runs) == 0


def test_a_statement_for_another_day_is_refused(engine, bank, clock, alice, tmp_path):
    path = jobs.fetch_statement(bank, business_date=_day(clock), directory=tmp_path)
    with pytest.raises(ValidationError, match="not 2026-11-03"):
        run_in_transaction(
            engine,
            lambda c: reconcile(
                c, business_date=date(2026, 11, 3), statement_path=path, clock=clock
            ),
        )


def test_a_rerun_on_the_same_file_adds_nothing(engine, bank, clock, alice, tmp_path):
    _bank_deposit(engine, bank, alice, 5_000, "DP-unbooked")
    first = _reconcile(engine, bank, clock, tmp_path)
    again = _reconcile(engine, bank, clock, tmp_path)
    assert (first.breaks_added, again.breaks_added) == (1, 0)
    assert again.open_breaks == first.open_breaks and again.run_id == first.run_id
    assert (_count(engine, recon_runs), _count(engine, breaks_table)) == (1, 1)


def test_open_breaks_carry_forward_with_their_age(engine, bank, clock, alice, tmp_path):
    _bank_deposit(engine, bank, alice, 5_000, "DP-unbooked")
    found = _reconcile(engine, bank, clock, tmp_path).open_breaks[0]
    clock.advance(timedelta(days=2))
    later = _reconcile(engine, bank, clock, tmp_path)
    assert later.lines == 0 and later.breaks_added == 0
    assert [(b.id, b.business_date, b.age_days) for b in later.open_breaks] == [
        (found.id, date(2026, 11, 2), 2)
    ]
    assert not later.clean


def test_a_break_closes_only_by_an_approved_adjustment(engine, bank, clock, alice, tmp_path):
    _bank_deposit(engine, bank, alice, 5_000, "DP-unbooked")
    brk = _reconcile(engine, bank, clock, tmp_path).open_breaks[0]

    def act(fn, **kw):
        return run_in_transaction(engine, lambda c: fn(c, clock=clock, **kw))

    proposal = act(
        breaks.propose,
        break_id=brk.id,
        proposed_by="mei",
        reason="recharge booked by the bank, missing in the ledger",
    )
    with pytest.raises(Forbidden, match="another person"):
        act(breaks.approve, proposal_id=proposal.id, approved_by="mei")
    assert balances(engine, bank, alice) == (100_000, 100_000, 105_000)

    done = act(breaks.approve, proposal_id=proposal.id, approved_by="li")
    assert (done.status, done.decided_by, done.amount) == ("approved", "li", 5_000)
    assert balances(engine, bank, alice) == (105_000, 105_000, 105_000)
    with pytest.raises(Conflict, match="already resolved"):
        act(breaks.propose, break_id=brk.id, proposed_by="mei", reason="again")

    result = _reconcile(engine, bank, clock, tmp_path)
    assert result.clean and result.invariant.holds and result.breaks_added == 0
    assert_books(engine)


def test_master_invariant_catches_what_no_statement_line_shows(
    engine, bank, clock, alice, tmp_path
):
    open_user(engine, bank, clock, "bob")
    yesterday = FixedClock(clock.now() - timedelta(days=1))
    _ledger_deposit(engine, yesterday, "bob", 7_000, "ghost-old")  # never reconciled

    result = _reconcile(engine, bank, clock, tmp_path)
    assert _summary(result) == [("master_mismatch", "master:2026-11-02", "master", -7_000)]
    assert (result.invariant.bank_master, result.invariant.ledger_total) == (100_000, 107_000)

    # parked in suspense under maker-checker, after which Σ sub-accounts = master again
    p = run_in_transaction(
        engine,
        lambda c: breaks.propose(
            c, break_id=result.open_breaks[0].id, proposed_by="mei", reason="park", clock=clock
        ),
    )
    run_in_transaction(
        engine, lambda c: breaks.approve(c, proposal_id=p.id, approved_by="li", clock=clock)
    )
    again = _reconcile(engine, bank, clock, tmp_path)
    assert again.clean and again.invariant.holds
    assert_books(engine)


def test_an_instruction_settled_across_midnight_matches_late(engine, bank, clock, alice, tmp_path):
    rec = withdraw(engine, bank, clock, alice, 30_000)
    bank.settle()  # the bank pays today; the platform hears of it only tomorrow
    today = _reconcile(engine, bank, clock, tmp_path)
    assert _summary(today) == [("bank_only", rec.id, _number(engine, alice), -30_000)]
    with pytest.raises(Conflict, match="settle it"):
        run_in_transaction(
            engine,
            lambda c: breaks.propose(
                c, break_id=today.open_breaks[0].id, proposed_by="mei", reason="x", clock=clock
            ),
        )

    clock.advance(timedelta(days=1))
    flows.settle(engine, bank, clock=clock)
    tomorrow = _reconcile(engine, bank, clock, tmp_path)
    assert (tomorrow.late_matched, tomorrow.breaks_added) == (1, 0)
    assert tomorrow.clean and tomorrow.invariant.holds
    rerun = jobs.reconcile_day(
        engine, bank, business_date=today.business_date, directory=tmp_path, clock=clock
    )
    assert rerun.clean and not rerun.invariant.holds  # the ledger caught up only next day
