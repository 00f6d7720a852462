"""``puhui ledger``: verify the books, expire pending transfers, seal a day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from puhui.cli.common import DatabaseOption, console, err_console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.db.engine import run_in_transaction
from puhui.ledger import jobs
from puhui.ledger.verify import verify

app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)


@app.command("verify")
def verify_cmd(database: DatabaseOption = None) -> None:
    """Recompute every hash chain and seal, check debits = credits and balances = journal.

    Exits 1 naming the first broken entry.
    """
    engine = open_engine(database)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=err_console, transient=True
    ) as bar:
        task = bar.add_task("verifying journal", total=None)

        def tick(n: int) -> None:
            bar.update(task, description=f"verifying journal: {n:,} entries")

        with engine.connect() as conn:
            problems = verify(conn, progress=tick)
    if problems:
        err_console.print(
            f"ledger verify FAILED: {len(problems)} problem(s); first: {problems[0]}", markup=False
        )
        for p in problems[1:20]:
            err_console.print(f"  {p}", markup=False)
        raise typer.Exit(1)
    console.print("ledger verify: OK (chains, seals, debits = credits, balances = journal)")


@app.command("expire")
def expire_cmd(database: DatabaseOption = None) -> None:
    """Void pending transfers whose timeout has passed."""
    engine = open_engine(database)
    results = run(
        lambda: run_in_transaction(engine, lambda c: jobs.expire_pending(c, clock=SYSTEM_CLOCK))
    )
    voided = sum(1 for r in results if r.ok)
    console.print(f"expired {voided} pending transfer(s)")


@app.command("seal")
def seal_cmd(
    database: DatabaseOption = None,
    on: Annotated[str | None, typer.Option("--date", help="Business date (default today).")] = None,
) -> None:
    """Seal the day: hash the heads of every account chain that moved since the last seal."""
    engine = open_engine(database)
    day = date.fromisoformat(on) if on else business_date(SYSTEM_CLOCK.now())
    seal = run(lambda: run_in_transaction(engine, lambda c: jobs.seal_day(c, business_date=day)))
    state = "sealed" if seal.created else "already sealed"
    console.print(f"{state} {seal.business_date}: {seal.account_count} chain(s), {seal.hash}")
