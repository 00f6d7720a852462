"""``puhui reconcile``, ``puhui bank`` and ``puhui breaks``: custody bank and daily reconciliation.

``reconcile`` exits 1 while any break is open (so a scheduler can hold the day's close on it)
and 2 when the statement is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.core.money import format_fen
from puhui.custody import breaks, flows, jobs
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.breaks import BreakView, Proposal
from puhui.custody.reconcile import ReconResult, reconcile
from puhui.custody.sandbox import SandboxBank
from puhui.db.engine import run_in_transaction

bank_app = typer.Typer(help="The sandbox custody bank.", no_args_is_help=True)
breaks_app = typer.Typer(
    help="Reconciliation breaks and their maker-checker adjustments.", no_args_is_help=True
)

DateOption = Annotated[str, typer.Option("--date", help="Business date, YYYY-MM-DD.")]
StatementDir = Annotated[
    Path, typer.Option("--statement-dir", help="Where fetched statements are kept.")
]
ByOption = Annotated[str, typer.Option("--by", help="Staff id of the person acting.")]


def reconcile_cmd(
    on: DateOption,
    statement: Annotated[
        Path | None,
        typer.Option(
            "--statement", help="The bank's statement CSV (default: fetch it from the bank)."
        ),
    ] = None,
    statement_dir: StatementDir = Path("statements"),
    database: DatabaseOption = None,
) -> None:
    """Reconcile a business date with the custody bank; exit 1 while any break is open."""
    day = _date(on)
    engine = open_engine(database)

    def work() -> ReconResult:
        path = statement or jobs.fetch_statement(
            SandboxBank(engine), business_date=day, directory=statement_dir
        )
        return run_in_transaction(
            engine,
            lambda c: reconcile(c, business_date=day, statement_path=path, clock=SYSTEM_CLOCK),
        )

    result = run(work)
    inv = result.invariant
    console.print(
        f"{day}: {result.lines} statement line(s), {result.matched} matched, "
        f"{result.late_matched} matched late, {result.breaks_added} new break(s), "
        f"{result.sub_accounts_checked} sub-account(s) checked"
    )
    if inv.holds:
        state = "holds"
    elif inv.unexplained == 0:
        state = "differs only by the breaks found"
    else:
        state = "DOES NOT HOLD"
    console.print(
        f"CUS-ACC-01 {state}: master at bank {format_fen(inv.bank_master)}, Σ sub-accounts "
        f"{format_fen(inv.ledger_total)} (users {format_fen(inv.user_total)}), open breaks "
        f"account for {format_fen(inv.open_difference)}"
    )
    if result.open_breaks:
        console.print(_breaks_table(result.open_breaks, f"Open breaks as of {day}"))
    if not result.clean:
        raise typer.Exit(1)
    console.print("reconciled: no open breaks")


@bank_app.command("statement")
def statement_cmd(
    on: DateOption,
    out: Annotated[Path | None, typer.Option("--out", help="File to write.")] = None,
    statement_dir: StatementDir = Path("statements"),
    database: DatabaseOption = None,
) -> None:
    """Have the sandbox bank write its statement CSV for a business date."""
    day = _date(on)
    bank = SandboxBank(open_engine(database))
    if out is None:
        path = run(lambda: jobs.fetch_statement(bank, business_date=day, directory=statement_dir))
    else:
        path = run(lambda: bank.write_statement(business_date=day, path=out))
    console.print(f"wrote {path}")


@bank_app.command("settle")
def settle_cmd(
    quiet_seconds: Annotated[
        int, typer.Option(help="Leave instructions sent more recently than this to their own flow.")
    ] = 60,
    database: DatabaseOption = None,
) -> None:
    """Send the platform's queued instructions, let the sandbox bank complete its queue, then
    apply its answers to the ledger."""
    engine = open_engine(database)
    bank = SandboxBank(engine)
    sent = run(lambda: flows.send_queued(engine, bank))
    settled = run(bank.settle)
    summary = run(lambda: flows.settle(engine, bank, quiet_seconds=quiet_seconds))
    console.print(
        f"sent {sent.sent} queued instruction(s) ({sent.refused} refused, {sent.waiting} "
        f"waiting); bank settled {len(settled)}; platform checked {summary.checked}: "
        f"{summary.succeeded} succeeded, {summary.failed} failed, {summary.pending} pending"
    )


@bank_app.command("set-password")
def set_password_cmd(
    account: Annotated[str, typer.Option("--account", help="The bank sub-account number.")],
    database: DatabaseOption = None,
) -> None:
    """What a holder does on the sandbox bank's own page: set the transaction password."""
    secret = typer.prompt("transaction password", hide_input=True, confirmation_prompt=True)
    run(lambda: SandboxBank(open_engine(database)).set_transaction_password(account, secret))
    console.print(f"password set for {account}")


@bank_app.command("authorise")
def authorise_cmd(
    user: Annotated[str, typer.Option("--user", help="The holder, e.g. marketplace.")],
    role: Annotated[str, typer.Option("--role", help="The sub-account's role.")],
    database: DatabaseOption = None,
) -> None:
    """业务授权: grant the bank a standing authorisation for the platform's instructions out
    of a sub-account, with the holder's transaction password (asked, never echoed)."""
    secret = typer.prompt("transaction password", hide_input=True)
    engine = open_engine(database)
    grant = run(
        lambda: flows.authorise(
            engine,
            SandboxBank(engine),
            user_ref=user,
            role=role,
            authorisation=Authorisation(AuthMethod.PASSWORD, secret),
        )
    )
    console.print(f"granted {grant.id} ({grant.scope}) on {grant.bank_account_no}")


@breaks_app.command("list")
def list_cmd(
    include_resolved: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    database: DatabaseOption = None,
) -> None:
    """List reconciliation breaks (open ones unless --all)."""
    today = business_date(SYSTEM_CLOCK.now())
    with open_engine(database).connect() as c:
        rows = breaks.list_breaks(c, as_of=today, include_resolved=include_resolved)
    console.print(_breaks_table(rows, "Breaks") if rows else "no breaks")


@breaks_app.command("propose")
def propose_cmd(
    break_id: Annotated[int, typer.Argument(help="The break to close.")],
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why the ledger should change.")],
    database: DatabaseOption = None,
) -> None:
    """Propose the adjustment that closes a break (maker)."""
    _decide(database, partial(breaks.propose, break_id=break_id, proposed_by=by, reason=reason))


@breaks_app.command("approve")
def approve_cmd(
    proposal_id: Annotated[int, typer.Argument(help="The proposal to approve.")],
    by: ByOption,
    database: DatabaseOption = None,
) -> None:
    """Approve a proposal (checker, not the maker): books the adjustment, closes the break."""
    _decide(database, partial(breaks.approve, proposal_id=proposal_id, approved_by=by))


@breaks_app.command("reject")
def reject_cmd(
    proposal_id: Annotated[int, typer.Argument(help="The proposal to reject.")],
    by: ByOption,
    database: DatabaseOption = None,
) -> None:
    """Reject a proposal; its break stays open."""
    _decide(database, partial(breaks.reject, proposal_id=proposal_id, rejected_by=by))


def _breaks_table(rows: list[BreakView] | tuple[BreakView, ...], title: str) -> Table:
    table = Table(title=title)
    for name in ("id", "found", "age", "kind", "instruction / check", "sub-account"):
        table.add_column(name)
    for name in ("bank", "ledger", "difference"):
        table.add_column(name, justify="right")
    table.add_column("status")
    for b in rows:
        table.add_row(
            str(b.id),
            str(b.business_date),
            f"{b.age_days}d",
            b.kind.label,
            b.match_key,
            b.sub_account,
            format_fen(b.bank_amount),
            format_fen(b.ledger_amount),
            format_fen(b.delta),
            b.status if not b.resolution else f"{b.status} ({b.resolution})",
        )
    return table


def _decide(database: str | None, step: Callable[..., Proposal]) -> None:
    """Run one maker-checker step in its own transaction and print the proposal after it."""
    engine = open_engine(database)
    p = run(lambda: run_in_transaction(engine, lambda c: step(c, clock=SYSTEM_CLOCK)))
    decided = f" by {p.decided_by}" if p.decided_by else ""
    booked = f", ledger transfer {p.ledger_transfer_id}" if p.ledger_transfer_id else ""
    console.print(
        f"proposal {p.id} for break {p.break_id}: {p.status}{decided}; debit ledger account "
        f"{p.debit_account_id}, credit {p.credit_account_id}, {format_fen(p.amount)} "
        f"(proposed by {p.proposed_by}){booked}"
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not a date (YYYY-MM-DD)"
        raise typer.BadParameter(message, param_hint="--date") from None
