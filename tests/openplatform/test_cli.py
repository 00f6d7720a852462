"""``puhui partner`` and ``puhui webhooks`` on an embedded database."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from puhui.cli import app


@pytest.fixture
def cli(tmp_path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PUHUI_DEV_KEY_FILE", str(tmp_path / "keys.json"))
    monkeypatch.delenv("PUHUI_MASTER_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'puhui.db'}"
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, [*args, "--database", url])

    return run


def test_partner_onboarding_rotation_and_disabling(cli):  # type: ignore[no-untyped-def]
    made = cli(
        "partner", "create", "--code", "acme", "--name", "Acme", "--ip", "10.0.0.0/8", "--live"
    )
    assert made.exit_code == 0, made.output
    key_id = re.search(r"key id: (\S+)", made.output).group(1)
    secret = re.search(r"secret: (\S+)", made.output).group(1)
    assert key_id.startswith("pk_live_") and secret.startswith("sk_")
    listed = cli("partner", "list")
    assert "acme" in listed.output and secret not in listed.output
    rotated = cli("partner", "rotate-secret", "acme")
    assert rotated.exit_code == 0 and key_id not in rotated.output
    assert "disabled" in cli("partner", "disable", "acme").output
    again = cli("partner", "create", "--code", "acme", "--name", "A", "--ip", "10.0.0.0/8")
    assert again.exit_code == 2 and "partner_exists" in again.output


def test_webhook_commands_run_on_an_empty_queue(cli):  # type: ignore[no-untyped-def]
    assert "sent 0" in cli("webhooks", "deliver").output
    assert cli("webhooks", "log").exit_code == 0
    missing = cli("webhooks", "redeliver", "7")
    assert missing.exit_code == 2 and "delivery_not_found" in missing.output
