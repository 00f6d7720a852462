"""``puhui audit`` (verify, seal), ``puhui staff create`` and ``puhui keys rotate``."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from puhui.cli.common import DatabaseOption, console, err_console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.db.engine import run_in_transaction
from puhui.identity import audit, sealed, staff
from puhui.identity.audit import Actor
from puhui.identity.crypto import DEV_KEY_FILE, Keyring, load_dev_keyring
from puhui.identity.models import SEALED_TABLES
from puhui.openplatform.models import partner_keys

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
staff_app = typer.Typer(help="Back-office staff accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys for personal data.", no_args_is_help=True)


def _cli_actor() -> Actor:
    return Actor(f"cli:{os.environ.get('USER', 'unknown')}", ("cli",), "local", "cli")


@audit_app.command("verify")
def verify_cmd(database: DatabaseOption = None) -> None:
    """Recompute every entry hash, the chain and every daily Merkle seal.

    Exits 1 naming each edited, deleted or reordered entry.
    """
    engine = open_engine(database)
    with engine.connect() as conn:
        problems = audit.verify(conn)
    if problems:
        err_console.print(f"audit verify FAILED: {len(problems)} problem(s)", markup=False)
        for p in problems[:50]:
            err_console.print(f"  {p}", markup=False)
        raise typer.Exit(1)
    console.print("audit verify: OK (hash chain and daily Merkle seals)")


@audit_app.command("seal")
def seal_cmd(
    database: DatabaseOption = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Business date (default: yesterday).")
    ] = None,
) -> None:
    """Seal a day: the RFC 6962 Merkle root of every entry since the last seal."""
    engine = open_engine(database)
    day = date.fromisoformat(on) if on else business_date(SYSTEM_CLOCK.now()) - timedelta(days=1)
    seal = run(
        lambda: run_in_transaction(
            engine, lambda c: audit.seal_day(c, business_date=day, clock=SYSTEM_CLOCK)
        )
    )
    state = "sealed" if seal.created else "already sealed"
    console.print(
        f"{state} {seal.business_date}: entries {seal.first_seq}..{seal.last_seq} "
        f"({seal.size}), root {seal.merkle_root}"
    )


@staff_app.command("create")
def create_cmd(
    username: Annotated[str, typer.Option(help="Login name.")],
    display_name: Annotated[str, typer.Option(help="Name shown in the back office.")],
    position: Annotated[
        str | None, typer.Option(help="Position code (gives the org unit and the role).")
    ] = None,
    org_unit: Annotated[str | None, typer.Option(help="Org unit code (overrides).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="Role code (repeatable).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a staff account; prints its TOTP secret once. The password is asked for."""
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    engine = open_engine(database)
    keys = run(Keyring.from_env)
    new = run(
        lambda: run_in_transaction(
            engine,
            lambda c: staff.create(
                c,
                keys=keys,
                username=username,
                display_name=display_name,
                password=password,
                position=position,
                org_unit=org_unit,
                role_codes=tuple(role or ()),
                actor=_cli_actor(),
                clock=SYSTEM_CLOCK,
            ),
        )
    )
    console.print(
        f"created staff {new.member.id} {new.member.username}: {', '.join(new.member.roles)}"
    )
    console.print("TOTP (shown once; add it to an authenticator app):", markup=False)
    console.print(new.totp_uri, markup=False, soft_wrap=True)


@keys_app.command("rotate")
def rotate_cmd(
    database: DatabaseOption = None,
    new_dev_key: Annotated[
        bool,
        typer.Option(help="Add a new master key to the dev key file first (development only)."),
    ] = False,
) -> None:
    """Re-wrap every data key under the active master key (data itself is not re-encrypted).

    In production put the new key first in PUHUI_MASTER_KEY (keeping the old one after it),
    run this, then drop the old key.
    """
    if new_dev_key:
        path = Path(os.environ.get("PUHUI_DEV_KEY_FILE", DEV_KEY_FILE))
        keys = load_dev_keyring(path, rotate=True)
    else:
        keys = run(Keyring.from_env)
    engine = open_engine(database)

    def work(c):  # type: ignore[no-untyped-def]
        done = sealed.rotate(c, keys, (*SEALED_TABLES, (partner_keys, "master_key_id")))
        audit.record(
            c,
            actor=_cli_actor(),
            event="keys.rotate",
            object_type="keyring",
            object_id=keys.active_id,
            detail={"rewrapped": done},
            clock=SYSTEM_CLOCK,
        )
        return done

    done = run(lambda: run_in_transaction(engine, work))
    console.print(f"re-wrapped {done} data key(s) under {keys.active_id}")
