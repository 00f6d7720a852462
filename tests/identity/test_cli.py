"""``puhui staff create`` and ``puhui keys rotate``."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from puhui.cli import app as cli
from puhui.core.clock import SYSTEM_CLOCK
from puhui.db.engine import make_engine, run_in_transaction
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import staff
from puhui.openplatform import partners
from puhui.openplatform.models import partner_keys

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
    before = Keyring.from_env({"PUHUI_DEV_KEY_FILE": str(key_file)})
    made_partner = run_in_transaction(
        make_engine(url),
        lambda c: partners.create(
            c,
            keys=before,
            code="acme",
            name="Acme",
            mode="sandbox",
            scopes=["applications:write"],
            ip_allowlist=["127.0.0.1/32"],
            product_codes=[],
            actor=Actor("staff:1"),
            clock=SYSTEM_CLOCK,
        ),
    )
    rotated = runner.invoke(cli, ["keys", "rotate", "--new-dev-key", "--database", url])
    assert rotated.exit_code == 0 and "re-wrapped 2 data key(s) under dev2" in rotated.output
    ring = Keyring.from_env({"PUHUI_DEV_KEY_FILE": str(key_file)})
    assert [k for k, _ in ring.master] == ["dev2", "dev1"]
    assert json.loads(key_file.read_text())["dev_only"] is True
    with make_engine(url).connect() as c:
        assert c.execute(select(staff.c.key_id)).scalars().all() == ["dev2"]
        assert c.execute(select(partner_keys.c.master_key_id)).scalars().all() == ["dev2"]
        # the partner's secret opens under the new master key alone
        only_new = Keyring(master=(ring.master[0],), index_key=ring.index_key)
        found = partners.key_secret(
            c, keys=only_new, key_id=made_partner.key_id, clock=SYSTEM_CLOCK
        )
    assert found is not None and found[1] == made_partner.secret
    verified = runner.invoke(cli, ["audit", "verify", "--database", url])
    assert verified.exit_code == 0, verified.output
