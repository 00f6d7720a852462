"""``puhui ops``: the operations center's commands — fund the marketing account, print a flyer
batch's QR code, run the daily sync (lead stages, coupon expiry), check the marketing books,
and export a month's performance as CSV or XLSX."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.core.money import format_fen, parse_yuan
from puhui.db.engine import run_in_transaction
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ops import channels, coupons, exports, leads, marketing, performance
from puhui.ops.scope import Viewer

app = typer.Typer(
    help="Operations: marketing money, flyers, lead sync, performance.", no_args_is_help=True
)


def _actor() -> Actor:
    return Actor(f"cli:{os.environ.get('USER', 'unknown')}", ("cli",), "local", "cli")


@app.command("fund")
def fund_cmd(
    amount: Annotated[str, typer.Argument(help="Yuan to move from company cash, e.g. 50000.")],
    transfer_id: Annotated[
        str | None,
        typer.Option("--id", help="Transfer id; repeating one funds once (default: new)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """注入营销资金: company cash → the custody marketing sub-account (both books)."""
    fen = run(lambda: parse_yuan(amount, allow_zero=False))
    tid = transfer_id or f"mkt-{uuid.uuid4().hex[:24]}"
    engine = open_engine(database)

    def work(c: Connection) -> marketing.Books:
        marketing.fund(c, amount_fen=fen, transfer_id=tid, clock=SYSTEM_CLOCK)
        audit.record(
            c,
            actor=_actor(),
            event="ops.marketing.fund",
            object_type="marketing",
            object_id=tid,
            detail={"amount_fen": fen},
            clock=SYSTEM_CLOCK,
        )
        return marketing.check_books(c)

    books = run(lambda: run_in_transaction(engine, work))
    console.print(
        f"funded {format_fen(fen)} yuan ({tid}); "
        f"marketing balance {format_fen(books.custody_balance)} yuan"
    )


@app.command("books")
def books_cmd(database: DatabaseOption = None) -> None:
    """The marketing money in the custody and the company books; exit 1 when they differ."""
    engine = open_engine(database)
    with engine.connect() as c:
        books = marketing.check_books(c)
    console.print(
        f"custody {format_fen(books.custody_balance)} · "
        f"company {format_fen(books.company_funds)} · "
        f"paid out {format_fen(books.expense)} yuan"
    )
    if not books.agree:
        console.print("the books differ")
        raise typer.Exit(1)


@app.command("flyers")
def flyers_cmd(
    name: Annotated[str, typer.Option(help="The batch's name, e.g. where it is handed out.")],
    quantity: Annotated[int, typer.Option(help="Flyers printed.")],
    qr: Annotated[Path, typer.Option(help="Write the QR code here (.svg or .png).")],
    team_id: Annotated[int | None, typer.Option(help="The team that hands them out.")] = None,
    owner: Annotated[
        int | None, typer.Option(help="Staff id of the advisor who owns the leads.")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """派发传单: a new flyer batch with its own channel code; writes its QR code."""
    engine = open_engine(database)
    batch = run(
        lambda: run_in_transaction(
            engine,
            lambda c: channels.flyer_batch(
                c,
                name=name,
                quantity=quantity,
                team_id=team_id,
                owner_staff_id=owner,
                actor=_actor(),
                clock=SYSTEM_CLOCK,
            ),
        )
    )
    kind = "png" if qr.suffix.lower() == ".png" else "svg"
    qr.write_bytes(channels.qr(batch.link(), kind=kind))
    console.print(f"batch {batch.code}: {batch.link()} → {qr}")


@app.command("sync")
def sync_cmd(database: DatabaseOption = None) -> None:
    """The daily job: move leads to the stage their customer reached, expire old coupons."""
    engine = open_engine(database)

    def work(c: Connection) -> tuple[int, int]:
        return leads.sync(c, clock=SYSTEM_CLOCK), coupons.expire(c, clock=SYSTEM_CLOCK)

    moved, expired = run(lambda: run_in_transaction(engine, work))
    console.print(f"{moved} leads moved, {expired} coupons expired")


@app.command("performance")
def performance_cmd(
    month: Annotated[str, typer.Option(help="YYYY-MM.")],
    output: Annotated[Path, typer.Option(help="The file to write (.csv or .xlsx).")],
    group: Annotated[str, typer.Option(help="advisor or team.")] = "advisor",
    plan: Annotated[str | None, typer.Option(help="Commission plan code.")] = None,
    database: DatabaseOption = None,
) -> None:
    """绩效考核 of the whole center for a month, as CSV or XLSX."""
    engine = open_engine(database)
    everyone = Viewer(0, "all", frozenset())
    with engine.connect() as c:
        rows = run(
            lambda: performance.monthly(
                c, month=month, group=group, viewer=everyone, plan_code=plan
            )
        )
    kind = "xlsx" if output.suffix.lower() == ".xlsx" else "csv"
    body, _ = exports.performance(rows, kind=kind)
    output.write_bytes(body)
    console.print(f"{len(rows)} rows → {output}")
