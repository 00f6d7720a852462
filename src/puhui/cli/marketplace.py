"""``puhui market``: the marketplace's operations from the command line.

Expire unfilled listings (流标), run auto-invest, run the marketplace's end-of-day work, and
show a listing with its bids and notes, or the risk reserve. Amounts print in yuan.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.core.money import format_fen
from puhui.custody.sandbox import SandboxBank
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.marketplace import accounts, auto_invest, jobs, listings, views
from puhui.marketplace.models import bids, notes

app = typer.Typer(help="Lending marketplace: listings, auto-invest, expiry.", no_args_is_help=True)
CLI_ACTOR = Actor("cli:market")
ListingId = Annotated[int, typer.Argument(help="The listing's id.")]


def _yuan(fen: int) -> str:
    return format_fen(fen, grouping=True)


@app.command("open-accounts")
def open_accounts_cmd(database: DatabaseOption = None) -> None:
    """Open the marketplace's fee and risk-reserve sub-accounts at the (sandbox) custody bank;
    a rerun is a no-op and relinks accounts an older version recorded under placeholders."""
    engine = open_engine(database)
    opened = run(lambda: accounts.open_platform_accounts(engine, SandboxBank(engine)))
    for acc in opened:
        console.print(f"{acc.role.value}: bank sub-account {acc.bank_account_no}")
    console.print(
        "grant the reserve's standing authorisation at the bank before compensating "
        "(`puhui bank authorise --user marketplace --role risk_reserve`)"
    )


@app.command("expire")
def expire_cmd(database: DatabaseOption = None) -> None:
    """流标: fail every open listing whose window has closed and release its frozen bids."""
    engine = open_engine(database)
    done = run(
        lambda: run_in_transaction(
            engine, lambda c: jobs.expire_listings(c, actor=CLI_ACTOR, clock=SYSTEM_CLOCK)
        )
    )
    console.print(
        f"{done.listings} listing(s) failed, {done.bids_voided} bid(s) voided, "
        f"{_yuan(done.fen_released)} released"
    )


@app.command("auto-invest")
def auto_invest_cmd(database: DatabaseOption = None) -> None:
    """Place the auto-invest queue's bids on every open listing not yet served."""
    engine = open_engine(database)
    done = run(
        lambda: run_in_transaction(
            engine,
            lambda c: auto_invest.run_open_listings(c, actor=CLI_ACTOR, clock=SYSTEM_CLOCK),
        )
    )
    for r in done:
        console.print(
            f"listing {r.listing_id}: {len(r.bids)} bid(s), {_yuan(sum(a for _, a in r.bids))}"
        )
    if not done:
        console.print("no listing waiting for auto-invest")


@app.command("eod")
def eod_cmd(database: DatabaseOption = None) -> None:
    """The marketplace's end-of-day: expire, auto-invest, distribute, expire claim offers."""
    engine = open_engine(database)
    r = run(
        lambda: run_in_transaction(
            engine, lambda c: jobs.run_day(c, actor=CLI_ACTOR, clock=SYSTEM_CLOCK)
        )
    )
    console.print(
        f"expired {r.expired.listings} listing(s), {r.auto_bids} auto bid(s), "
        f"distributed {r.distributed_loans} loan(s), {r.claims_expired} claim offer(s) expired"
    )


@app.command("show")
def show_cmd(listing_id: ListingId, database: DatabaseOption = None) -> None:
    """One listing: terms, funding progress, its bids and notes."""
    with open_engine(database).connect() as c:
        x = run(lambda: listings.get_listing(c, listing_id=listing_id))
        bid_rows = c.execute(
            select(bids).where(bids.c.listing_id == listing_id).order_by(bids.c.id)
        ).all()
        note_rows = c.execute(
            select(notes).where(notes.c.listing_id == listing_id).order_by(notes.c.id)
        ).all()
    table = Table(title=f"Listing {x.id}: {x.title}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("status", x.status),
        ("borrower (customer id)", str(x.borrower_id)),
        ("amount / funded", f"{_yuan(x.amount_fen)} / {_yuan(x.funded_fen)}"),
        ("annual rate", str(x.annual_rate)),
        ("term / method", f"{x.term_count} {x.term_unit}(s), {x.method}"),
        ("risk grade", x.risk_grade),
        ("min bid / step", f"{_yuan(x.min_bid_fen)} / {_yuan(x.step_fen)}"),
        ("related party", "yes (disclosed)" if x.related_party else "no"),
        ("disclosure version", str(x.disclosure_version)),
        ("loan", str(x.loan_id or "-")),
    ):
        table.add_row(field, value)
    console.print(table)
    bt = Table(title="Bids")
    for name in ("id", "lender", "amount", "status", "auto"):
        bt.add_column(name)
    for b in bid_rows:
        bt.add_row(str(b.id), str(b.lender_id), _yuan(b.amount_fen), b.status, str(bool(b.auto)))
    console.print(bt)
    if note_rows:
        nt = Table(title="Notes")
        for name in ("id", "lender", "principal", "outstanding", "status", "source"):
            nt.add_column(name)
        for n in note_rows:
            nt.add_row(
                str(n.id),
                str(n.lender_id),
                _yuan(n.principal_fen),
                _yuan(n.outstanding_principal_fen),
                n.status,
                n.source,
            )
        console.print(nt)


@app.command("reserve")
def reserve_cmd(database: DatabaseOption = None) -> None:
    """The risk reserve's balance and coverage of expected losses (never a guarantee)."""
    with open_engine(database).connect() as c:
        r = views.reserve(c)
    console.print(
        f"reserve {_yuan(r.balance_fen)}, expected losses {_yuan(r.expected_loss_fen)}, "
        f"coverage {r.coverage_ratio or '-'}"
    )
