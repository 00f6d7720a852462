"""`puhui reconcile`, `puhui bank` and `puhui breaks` end to end, on the real clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from puhui.cli import app
from puhui.cli.common import console
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.custody import authorisations, flows
from puhui.custody.bank import Instruction, InstructionKind
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import Role

from .conftest import FAST_HASHER, open_user, password


def test_reconcile_bank_and_breaks_commands(
    engine: Engine, database_url_for_test: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setattr(console, "width", 160)  # the breaks table, unwrapped

    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--database", database_url_for_test])
        return result.exit_code, result.output

    bank = SandboxBank(engine, hasher=FAST_HASHER)
    alice = open_user(engine, bank, SYSTEM_CLOCK, "alice")
    flows.deposit(
        engine, bank, user_ref="alice", role=Role.LENDER, amount=100_000, authorisation=password()
    )
    code, out = cli("bank", "settle", "--quiet-seconds", "0")
    assert code == 0 and "bank settled 1" in out and "1 succeeded" in out

    day = business_date(SYSTEM_CLOCK.now()).isoformat()
    recon = ("reconcile", "--date", day, "--statement-dir", str(tmp_path))
    code, out = cli(*recon)
    assert code == 0, out
    assert "1 matched" in out and "CUS-ACC-01 holds" in out and "no open breaks" in out

    bank.deposit(
        Instruction(
            "DP-unbooked",
            InstructionKind.DEPOSIT,
            5_000,
            to_account=alice.bank_account_no,
            authorisation=password(),
        )
    )
    bank.settle()
    code, out = cli(*recon)
    assert code == 1 and "长款" in out and "DP-unbooked" in out and "50.00" in out

    assert cli("breaks", "list")[1].count("DP-unbooked") == 1
    code, out = cli("breaks", "propose", "1", "--by", "mei", "--reason", "missed recharge")
    assert code == 0 and "proposal 1 for break 1: proposed" in out
    code, out = cli("breaks", "approve", "1", "--by", "mei")
    assert code == 2 and "maker_checker" in out
    code, out = cli("breaks", "approve", "1", "--by", "li")
    assert code == 0 and "approved by li" in out
    assert cli(*recon)[0] == 0

    statement = tmp_path / "bank.csv"
    code, out = cli("bank", "statement", "--date", day, "--out", str(statement))
    assert code == 0 and statement.exists()
    rows = statement.read_text().splitlines()
    rows[1] = rows[1].rsplit(",", 1)[0] + ",1"  # a closing balance the lines do not reach
    statement.write_text("\n".join(rows) + "\n")
    code, out = cli("reconcile", "--date", day, "--statement", str(statement))
    assert code == 2 and "statement_does_not_balance" in out
    assert cli("reconcile", "--date", "yesterday")[0] == 2


def test_marketplace_accounts_and_a_standing_authorisation_from_the_cli(
    engine: Engine, database_url_for_test: str
) -> None:
    runner = CliRunner()

    def cli(*args: str, given: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--database", database_url_for_test], input=given)
        return result.exit_code, result.output

    code, out = cli("market", "open-accounts")
    assert code == 0, out
    numbers = dict(line.split(": bank sub-account ") for line in out.splitlines()[:2])
    assert set(numbers) == {"platform_fee", "risk_reserve"}
    assert cli("market", "open-accounts")[1].splitlines()[:2] == out.splitlines()[:2]
    reserve = numbers["risk_reserve"]
    code, out = cli("bank", "set-password", "--account", reserve, given="s3cret\ns3cret\n")
    assert code == 0 and f"password set for {reserve}" in out
    bad = cli("bank", "authorise", "--user", "marketplace", "--role", "risk_reserve", given="x\n")
    assert bad[0] == 2 and "bank_authorisation_invalid" in bad[1]
    code, out = cli(
        "bank", "authorise", "--user", "marketplace", "--role", "risk_reserve", given="s3cret\n"
    )
    assert code == 0 and "(compensate) on " + reserve in out
    with engine.connect() as c:
        [grant] = authorisations.of_user(c, user_ref="marketplace")
    assert grant.status == "active" and grant.bank_account_no == reserve
