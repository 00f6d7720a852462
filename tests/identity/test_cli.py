"""``puhui staff create`` and ``puhui keys rotate``."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from puhui.cli import app as cli
from puhui.db.engine import make_engine
from puhui.identity.crypto import Keyring
from puhui.identity.models import staff

from .conftest import PASSWORD


def test_staff_create_and_key_rotation(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    key_file = tmp_path / "keys.json"
    monkeypatch.delenv("PUHUI_MASTER_KEY", raising=False)
    monkeypatch.setenv("PUHUI_DEV_KEY_FILE", str(key_file))
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "staff",
            "create",
            "--username",
            "root.admin",
            "--display-name",
            "管理员",
            "--position",
            "system_admin",
            "--database",
            url,
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output
    assert "system_admin" in made.output and "otpauth://totp/" in made.output
    weak = runner.invoke(
        cli,
        [
            "staff",
            "create",
            "--username",
            "weak",
            "--display-name",
            "w",
            "--position",
            "engineer",
            "--database",
            url,
        ],
        input="password\npassword\n",
    )
    assert weak.exit_code == 2 and "password_too_simple" in weak.output
    rotated = runner.invoke(cli, ["keys", "rotate", "--new-dev-key", "--database", url])
    assert rotated.exit_code == 0 and "re-wrapped 1 data key(s) under dev2" in rotated.output
    ring = Keyring.from_env({"PUHUI_DEV_KEY_FILE": str(key_file)})
    assert [k for k, _ in ring.master] == ["dev2", "dev1"]
    assert json.loads(key_file.read_text())["dev_only"] is True
    with make_engine(url).connect() as c:
        assert c.execute(select(staff.c.key_id)).scalars().all() == ["dev2"]
    verified = runner.invoke(cli, ["audit", "verify", "--database", url])
    assert verified.exit_code == 0, verified.output
