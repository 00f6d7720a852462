"""The sandbox bank on its own: authorisation, idempotency, faults and its statement."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from puhui.core.clock import business_date
from puhui.custody.bank import AuthMethod, Authorisation, BankStatus, BankTimeout, Instruction
from puhui.custody.bank import InstructionKind as Kind
from puhui.custody.sandbox import MASTER_ACCOUNT, SandboxBank
from puhui.custody.sandbox_models import bank_accounts
from puhui.custody.statement import Direction, check_balances, read_csv
from puhui.db.metadata import metadata

from .conftest import FAST_HASHER, PASSWORD, password


def _account(bank: SandboxBank, user: str) -> str:
    number = bank.open_sub_account(user_ref=user, role="lender")
    bank.set_transaction_password(number, PASSWORD)
    return number


def _deposit(bank: SandboxBank, iid: str, to: str, amount: int, auth=None):
    return bank.deposit(
        Instruction(iid, Kind.DEPOSIT, amount, to_account=to, authorisation=auth or password())
    )


def test_accounts_open_once_and_store_only_a_password_hash(engine: Engine, bank: SandboxBank):
    number = _account(bank, "alice")
    assert bank.open_sub_account(user_ref="alice", role="lender") == number
    with engine.connect() as c:
        digest = c.execute(
            select(bank_accounts.c.password_hash).where(bank_accounts.c.number == number)
        ).scalar_one()
    assert digest.startswith("$argon2id$") and PASSWORD not in digest


def test_instructions_without_valid_authorisation_are_refused(bank: SandboxBank):
    a = _account(bank, "alice")
    cases = [
        (None, "authorisation_required"),
        (Authorisation(AuthMethod.PASSWORD, ""), "authorisation_required"),
        (Authorisation(AuthMethod.PASSWORD, "999999"), "authorisation_invalid"),
        (Authorisation(AuthMethod.OTP, "123456"), "authorisation_invalid"),
    ]
    for auth, reason in cases:
        reply = (
            _deposit(bank, "DP-1", a, 1_000, auth)
            if auth
            else bank.deposit(Instruction("DP-1", Kind.DEPOSIT, 1_000, to_account=a))
        )
        assert (reply.status, reply.reason) == (BankStatus.REFUSED, reason)
    assert bank.settle() == [] and bank.balance(a) == 0
    # a refusal is not remembered: the user may retry the same id, properly authorised
    assert _deposit(bank, "DP-1", a, 1_000).status is BankStatus.PROCESSING


def test_one_time_codes_work_once(bank: SandboxBank):
    a = _account(bank, "alice")
    code = bank.issue_otp(a)
    otp = Authorisation(AuthMethod.OTP, code)
    assert _deposit(bank, "DP-otp1", a, 1_000, otp).status is BankStatus.PROCESSING
    again = _deposit(bank, "DP-otp2", a, 1_000, otp)
    assert (again.status, again.reason) == (BankStatus.REFUSED, "authorisation_invalid")


def test_one_instruction_id_applies_once_and_a_replay_returns_the_result(bank: SandboxBank):
    a = _account(bank, "alice")
    assert _deposit(bank, "DP-1", a, 5_000).status is BankStatus.PROCESSING
    [done] = bank.settle()
    assert done.status is BankStatus.SUCCEEDED and done.serial == "202611020000000001"
    assert _deposit(bank, "DP-1", a, 5_000) == done
    assert bank.query("DP-1") == done
    assert bank.settle() == [] and bank.balance(a) == 5_000
    other = _deposit(bank, "DP-1", a, 6_000)
    assert (other.status, other.reason) == (BankStatus.REFUSED, "instruction_id_reused")


def test_a_queried_unknown_id_can_never_apply(bank: SandboxBank):
    a = _account(bank, "alice")
    assert bank.query("DP-late").status is BankStatus.NOT_FOUND
    late = _deposit(bank, "DP-late", a, 1_000)
    assert (late.status, late.reason) == (BankStatus.REFUSED, "instruction_expired")


def test_withdrawals_need_the_money_at_the_bank(bank: SandboxBank):
    a = _account(bank, "alice")
    ins = Instruction("WD-1", Kind.WITHDRAWAL, 1_000, from_account=a, authorisation=password())
    assert bank.withdraw(ins).status is BankStatus.PROCESSING
    [failed] = bank.settle()
    assert (failed.status, failed.reason) == (BankStatus.FAILED, "insufficient_funds")


def test_seeded_faults(engine: Engine, clock):
    always_fail = SandboxBank(engine, clock=clock, hasher=FAST_HASHER, fail_rate=1.0, seed=3)
    a = _account(always_fail, "alice")
    _deposit(always_fail, "DP-f", a, 1_000)
    assert [r.status for r in always_fail.settle()] == [BankStatus.FAILED]

    def outcomes(b: SandboxBank) -> list[str]:
        out = []
        for i in range(20):
            try:
                out.append(_deposit(b, f"DP-{i}", a, 100).status.value)
            except BankTimeout:
                out.append("timeout")
        return out

    flaky = SandboxBank(engine, clock=clock, hasher=FAST_HASHER, timeout_rate=0.5, seed=3)
    twin = SandboxBank(engine, clock=clock, hasher=FAST_HASHER, timeout_rate=0.5, seed=3)
    seen = outcomes(flaky)
    assert seen == outcomes(twin)  # the same seed fails the same ids the same way
    assert {"timeout", "processing"} <= set(seen)


def test_daily_statement(bank: SandboxBank, clock, tmp_path):
    a, b = _account(bank, "alice"), _account(bank, "bob")
    _deposit(bank, "DP-a", a, 10_000)
    _deposit(bank, "DP-b", b, 2_000)
    bank.transfer(Instruction("TR-1", Kind.TRANSFER, 3_000, a, b, password()))
    bank.withdraw(
        Instruction("WD-b", Kind.WITHDRAWAL, 4_000, from_account=b, authorisation=password())
    )
    bank.settle()

    path = bank.write_statement(business_date=business_date(clock.now()), path=tmp_path / "s.csv")
    st = read_csv(path)
    check_balances(st)
    assert (st.account, st.opening, st.closing) == (MASTER_ACCOUNT, 0, 8_000)
    assert [
        (ln.instruction_id, ln.sub_account, ln.direction, ln.amount, ln.balance_after)
        for ln in st.lines
    ] == [
        ("DP-a", a, Direction.CREDIT, 10_000, 10_000),
        ("DP-b", b, Direction.CREDIT, 2_000, 2_000),
        ("TR-1", a, Direction.DEBIT, 3_000, 7_000),
        ("TR-1", b, Direction.CREDIT, 3_000, 5_000),
        ("WD-b", b, Direction.DEBIT, 4_000, 1_000),
    ]
    assert path.read_text().splitlines()[:2] == [
        "account,date,opening_balance_fen,closing_balance_fen",
        f"{MASTER_ACCOUNT},2026-11-02,0,8000",
    ]


def test_the_migration_matches_the_tables(engine: Engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "custody_" in repr(d) or "sandbox_bank_" in repr(d)] == []
