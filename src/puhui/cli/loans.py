"""``puhui loans`` (list, show, schedule, the collections queue) and ``puhui capital inject``.

Read-only views of the loan book for operations, as rich tables with amounts in yuan; the
only write is the capital injection (注资) that funds the company's cash so it can lend.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.core.money import format_fen, parse_yuan
from puhui.core.rates import format_percent
from puhui.db.engine import run_in_transaction
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ledger.codes import AccountCode
from puhui.lending import accounts, collections, views
from puhui.lending.contracts import IRR_LABEL

app = typer.Typer(help="Loans: list, detail, schedule, collections queue.", no_args_is_help=True)
capital_app = typer.Typer(help="The company's lending capital.", no_args_is_help=True)

LoanId = Annotated[int, typer.Argument(help="The loan's id.")]
CLI_ACTOR = Actor("cli:capital")


def _yuan(fen: int) -> str:
    return format_fen(fen, grouping=True)


def _rate(text: str) -> str:
    return format_percent(Decimal(text))


@app.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="Only this state (active, settled…).")] = None,
    bucket: Annotated[str | None, typer.Option(help="Only this bucket (M0…M4).")] = None,
    customer: Annotated[int | None, typer.Option(help="Only this borrower's loans.")] = None,
    after: Annotated[int | None, typer.Option(help="Start after this loan id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many rows.")] = 50,
    database: DatabaseOption = None,
) -> None:
    """Loans by id with their state, outstanding principal and days past due."""
    with open_engine(database).connect() as c:
        found = views.list_loans(
            c, state=state, bucket=bucket, customer_id=customer, after_id=after, limit=limit
        )
    if not found:
        console.print("no loans")
        return
    table = Table(title="Loans")
    for name in ("id", "customer", "state", "start", "maturity"):
        table.add_column(name)
    for name in ("principal", "outstanding", "IRR 年化", "dpd"):
        table.add_column(name, justify="right")
    table.add_column("bucket")
    for x in found:
        table.add_row(
            str(x.id),
            str(x.customer_id),
            x.state,
            str(x.start_date),
            str(x.maturity_date),
            _yuan(x.principal_fen),
            _yuan(x.principal_outstanding_fen),
            _rate(x.irr_annual_rate),
            str(x.dpd),
            x.bucket,
        )
    console.print(table)


@app.command("show")
def show_cmd(loan_id: LoanId, database: DatabaseOption = None) -> None:
    """One loan: contract terms, the IRR annual rate, its sub-ledger balances and aging."""
    with open_engine(database).connect() as c:
        x = run(lambda: views.get_loan(c, loan_id=loan_id))
    table = Table(title=f"Loan {x.id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("customer", str(x.customer_id)),
        ("application", str(x.application_id)),
        ("state", x.state),
        ("principal", _yuan(x.principal_fen)),
        (IRR_LABEL, _rate(x.irr_annual_rate)),
        ("contract rate (单利)", _rate(x.annual_rate)),
        ("penalty rate", _rate(x.penalty_rate)),
        ("method / term", f"{x.method}, {x.term} {x.term_unit}(s)"),
        ("start → maturity", f"{x.start_date} → {x.maturity_date}"),
        ("outstanding principal", _yuan(x.principal_outstanding_fen)),
        ("interest accrued", _yuan(x.interest_accrued_fen)),
        ("credit balance", _yuan(x.credit_balance_fen)),
        ("days past due / bucket", f"{x.dpd} / {x.bucket}"),
        ("classification", x.classification),
        ("provision", _yuan(x.provision_fen)),
        ("written off / recovered", f"{_yuan(x.written_off_fen)} / {_yuan(x.recovered_fen)}"),
        ("rollovers", str(x.rollovers)),
        ("contract SHA-256", x.contract_sha256),
        ("closed", str(x.closed_date or "-")),
    ):
        table.add_row(field, value)
    console.print(table)


@app.command("schedule")
def schedule_cmd(loan_id: LoanId, database: DatabaseOption = None) -> None:
    """The loan's installments as they stand: charged, paid, unpaid and status."""
    with open_engine(database).connect() as c:
        rows = run(lambda: views.schedule(c, loan_id=loan_id, clock=SYSTEM_CLOCK))
    table = Table(title=f"Loan {loan_id}: schedule")
    table.add_column("#", justify="right")
    table.add_column("due")
    for name in ("principal", "interest", "fees", "penalty", "total", "unpaid"):
        table.add_column(name, justify="right")
    table.add_column("status")
    for i in rows:
        table.add_row(
            str(i.seq),
            str(i.due_date),
            _yuan(i.principal_fen),
            _yuan(i.interest_fen),
            _yuan(i.fee_fen + i.late_fee_fen),
            _yuan(i.penalty_fen),
            _yuan(i.total_fen),
            _yuan(i.unpaid_fen),
            i.status,
        )
    console.print(table)


@app.command("collections")
def collections_cmd(
    bucket: Annotated[str | None, typer.Option(help="Only this bucket (M1…M4+).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many rows.")] = 50,
    database: DatabaseOption = None,
) -> None:
    """The collections queue: overdue loans, most days past due first."""
    with open_engine(database).connect() as c:
        found = run(lambda: collections.queue(c, clock=SYSTEM_CLOCK, bucket=bucket, limit=limit))
    if not found:
        console.print("no overdue loans")
        return
    table = Table(title="Collections queue")
    for name in ("loan", "customer", "bucket"):
        table.add_column(name)
    for name in ("dpd", "past due", "outstanding"):
        table.add_column(name, justify="right")
    table.add_column("collector")
    for q in found:
        table.add_row(
            str(q.loan_id),
            str(q.customer_id),
            q.bucket,
            str(q.dpd),
            _yuan(q.overdue_fen),
            _yuan(q.principal_outstanding_fen),
            str(q.collector_id or "-"),
        )
    console.print(table)


@capital_app.command("inject")
def inject_cmd(
    amount: Annotated[str, typer.Option("--amount", help="Yuan, e.g. 1000000 or 2500.50.")],
    transfer_id: Annotated[
        str | None,
        typer.Option("--id", help="Transfer id; repeating one injects once (default: new)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """注资: move equity into the company's cash (Dr COMPANY_CASH, Cr EQUITY)."""
    fen = run(lambda: parse_yuan(amount, allow_zero=False))
    tid = transfer_id or f"capital:{uuid.uuid4().hex}"
    engine = open_engine(database)

    def work(c: Connection) -> int:
        accounts.inject_capital(c, amount=fen, transfer_id=tid, clock=SYSTEM_CLOCK)
        audit.record(
            c,
            actor=CLI_ACTOR,
            event="lending.capital_inject",
            object_type="company_cash",
            object_id=tid,
            detail={"amount_fen": fen},
            clock=SYSTEM_CLOCK,
        )
        return accounts.balances(c)[AccountCode.COMPANY_CASH]

    cash = run(lambda: run_in_transaction(engine, work))
    console.print(f"injected {_yuan(fen)} yuan ({tid}); company cash now {_yuan(cash)} yuan")
