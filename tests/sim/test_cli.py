"""``puhui demo`` and ``puhui sim`` through typer's CliRunner, in a folder of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from puhui.cli import app

runner = CliRunner()
SMALL = ["--days", "2", "--borrowers", "6", "--investors", "2", "--seed", "3"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUHUI_DEV_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.delenv("PUHUI_DATABASE_URL", raising=False)
    return tmp_path


def test_demo_makes_puhui_db_and_replaces_only_its_own(folder: Path) -> None:
    made = runner.invoke(app, ["demo", "--no-serve", *SMALL])
    assert made.exit_code == 0, made.output
    assert (folder / "puhui.db").exists()
    assert "demo.collector" in made.stdout and "TOTP secret" in made.stdout
    assert "ledger verify" in made.stdout
    assert "no breach" in made.stdout  # compliance check
    assert "monthly disclosure" in made.stdout and "cum loan amount" in made.stdout
    again = runner.invoke(app, ["demo", "--no-serve", *SMALL])
    assert again.exit_code == 0, again.output  # an earlier demo's database is replaced

    for suffix in ("", "-wal", "-shm"):
        Path(f"puhui.db{suffix}").unlink(missing_ok=True)
    (folder / "puhui.db").write_text("someone's data")
    refused = runner.invoke(app, ["demo", "--no-serve", *SMALL])
    assert refused.exit_code == 2
    assert "not a demo database" in refused.output
    assert (folder / "puhui.db").read_text() == "someone's data"


def test_sim_prints_a_passing_summary_as_json(folder: Path, database_url_for_test: str) -> None:
    done = runner.invoke(app, ["sim", *SMALL, "--database", database_url_for_test, "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["customers"] == 8
    assert summary["compliance_alerts"] == {}
    assert summary["disclosure"]["period"] == "2025-12"  # the month before the first day
    again = runner.invoke(app, ["sim", *SMALL, "--database", database_url_for_test])
    assert again.exit_code == 2
    assert "already holds a platform" in again.output


def test_sim_bulk_flag_originates_the_opening_book_set_based(
    folder: Path, database_url_for_test: str
) -> None:
    done = runner.invoke(
        app, ["sim", *SMALL, "--bulk", "--database", database_url_for_test, "--json"]
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["counts"]["book_loans_originated_in_bulk"] > 0
