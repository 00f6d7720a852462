"""``puhui partner`` (create, list, rotate-secret, disable) and ``puhui webhooks`` (deliver,
redeliver, log): staff onboarding of open-platform partners and the webhook worker."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.times import from_us
from puhui.openplatform import partners, webhooks

partner_app = typer.Typer(help="Open-platform partner institutions.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook deliveries to partners.", no_args_is_help=True)


def _actor() -> Actor:
    return Actor(f"cli:{os.environ.get('USER', 'unknown')}", ("cli",), "local", "cli")


def _show_credentials(creds: partners.Credentials) -> None:
    console.print(f"partner {creds.partner.code} (id {creds.partner.id}, {creds.partner.mode})")
    console.print(f"key id: {creds.key_id}")
    console.print(f"secret: {creds.secret}", markup=False)
    console.print("The secret is shown this once: hand it to the partner over a safe channel.")


@partner_app.command("create")
def create_cmd(
    code: Annotated[str, typer.Option(help="Short code, a-z 0-9 _ -.")],
    name: Annotated[str, typer.Option(help="The institution's name.")],
    ip: Annotated[list[str], typer.Option(help="Allowed network, CIDR (repeatable).")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help=f"Scope (repeatable; default all): {', '.join(partners.SCOPES)}."),
    ] = None,
    product: Annotated[
        list[str] | None, typer.Option(help="Product code it may sell (repeatable).")
    ] = None,
    live: Annotated[bool, typer.Option("--live/--sandbox", help="Mode.")] = False,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per minute.")
    ] = partners.DEFAULT_RATE_LIMIT,
    database: DatabaseOption = None,
) -> None:
    """Onboard a partner; prints its key id and secret (the secret only now)."""
    engine = open_engine(database)
    keys = Keyring.from_env()
    creds = run(
        lambda: run_in_transaction(
            engine,
            lambda c: partners.create(
                c,
                keys=keys,
                code=code,
                name=name,
                mode="live" if live else "sandbox",
                scopes=scope or list(partners.SCOPES),
                ip_allowlist=ip,
                product_codes=product or [],
                rate_limit_per_minute=rate_limit,
                actor=_actor(),
                clock=SYSTEM_CLOCK,
            ),
        )
    )
    _show_credentials(creds)


@partner_app.command("list")
def list_cmd(database: DatabaseOption = None) -> None:
    """Every partner: id, code, status, mode, scopes, networks, products."""
    engine = open_engine(database)
    with engine.connect() as conn:
        found = partners.list_partners(conn)
    for p in found:
        console.print(
            f"{p.id:>4} {p.code:<20} {p.status:<8} {p.mode:<7} {p.rate_limit_per_minute}/min "
            f"scopes={','.join(p.scopes)} ip={','.join(p.ip_allowlist)} "
            f"products={','.join(p.product_codes) or '-'}",
            markup=False,
        )


@partner_app.command("rotate-secret")
def rotate_cmd(
    code: Annotated[str, typer.Argument(help="The partner's code.")],
    grace_hours: Annotated[int, typer.Option(help="Hours the old key keeps working.")] = 24,
    database: DatabaseOption = None,
) -> None:
    """Issue a new key; prints it once. The old key stops after the grace period."""
    from datetime import timedelta

    engine = open_engine(database)
    keys = Keyring.from_env()

    def work(c):  # type: ignore[no-untyped-def]
        partner = partners.get_by_code(c, code=code)
        return partners.rotate_secret(
            c,
            keys=keys,
            partner_id=partner.id,
            actor=_actor(),
            clock=SYSTEM_CLOCK,
            grace=timedelta(hours=grace_hours),
        )

    _show_credentials(run(lambda: run_in_transaction(engine, work)))


@partner_app.command("disable")
def disable_cmd(
    code: Annotated[str, typer.Argument(help="The partner's code.")],
    database: DatabaseOption = None,
) -> None:
    """Refuse the partner's requests from now on and stop its webhooks."""
    engine = open_engine(database)

    def work(c):  # type: ignore[no-untyped-def]
        partner = partners.get_by_code(c, code=code)
        return partners.disable(c, partner_id=partner.id, actor=_actor(), clock=SYSTEM_CLOCK)

    done = run(lambda: run_in_transaction(engine, work))
    console.print(f"partner {done.code}: {done.status}")


@webhooks_app.command("deliver")
def deliver_cmd(
    loop: Annotated[bool, typer.Option(help="Keep running, one pass per interval.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 2.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a receiver.")] = 5.0,
    database: DatabaseOption = None,
) -> None:
    """Queue deliveries for new events and send what is due (the webhook worker)."""
    engine = open_engine(database)
    keys = Keyring.from_env()
    while True:
        done = run(
            lambda: webhooks.run_worker_once(engine, keys=keys, clock=SYSTEM_CLOCK, timeout=timeout)
        )
        console.print(f"sent {done.claimed}: {done.succeeded} succeeded, {done.failed} failed")
        if not loop:
            return
        time.sleep(interval)


@webhooks_app.command("redeliver")
def redeliver_cmd(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (see `webhooks log`).")],
    database: DatabaseOption = None,
) -> None:
    """Queue a delivery again now, with a fresh set of attempts; `webhooks deliver` sends it."""
    engine = open_engine(database)
    d = run(
        lambda: run_in_transaction(
            engine, lambda c: webhooks.redeliver(c, delivery_id=delivery_id, clock=SYSTEM_CLOCK)
        )
    )
    console.print(f"delivery {d.id}: {d.status}")


@webhooks_app.command("log")
def log_cmd(
    delivery_id: Annotated[
        int | None, typer.Argument(help="A delivery: show its attempts.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="Only deliveries in this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many deliveries.")] = 50,
    database: DatabaseOption = None,
) -> None:
    """The delivery log: recent deliveries, or every attempt of one delivery."""
    engine = open_engine(database)
    with engine.connect() as conn:
        if delivery_id is None:
            items, _ = webhooks.list_deliveries(conn, status=status, limit=limit)
            for d in items:
                console.print(
                    f"{d.id:>6} {d.status:<10} partner={d.partner_id} {d.topic:<20} "
                    f"{d.key}#{d.seq} attempts={d.attempts} last={d.last_status_code or '-'}",
                    markup=False,
                )
            return
        attempts = run(lambda: webhooks.attempts_log(conn, delivery_id=delivery_id))
    for a in attempts:
        console.print(
            f"#{a.attempt} {a.trigger:<9} {from_us(a.started_us).isoformat()} "
            f"{a.duration_ms} ms {a.outcome} {a.status_code or '-'} {a.error or ''}",
            markup=False,
        )
