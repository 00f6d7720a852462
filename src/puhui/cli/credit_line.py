"""``puhui credit-line``: grant a line, show one, print a statement.

Operations' view of the consumer credit line (消费信贷) as rich tables with amounts in yuan;
``grant`` is the one write, audited as the CLI actor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Connection

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK
from puhui.core.errors import NotFound, ValidationError
from puhui.core.money import format_fen, parse_yuan
from puhui.credit.bureau import SandboxBureau
from puhui.credit.fraud import key_from_env
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line import service, underwriting, views

app = typer.Typer(help="Consumer credit lines: grant, show, statement.", no_args_is_help=True)
LineId = Annotated[int, typer.Argument(help="The credit line's id.")]
CLI_ACTOR = Actor("cli:credit-line")


def _yuan(fen: int) -> str:
    return format_fen(fen, grouping=True)


@app.command("grant")
def grant_cmd(
    customer_id: Annotated[int, typer.Option("--customer", help="The customer's id.")],
    features: Annotated[
        Path,
        typer.Option(
            "--features", help="A JSON file of the scorecard's attributes for the customer."
        ),
    ],
    limit: Annotated[
        str | None,
        typer.Option("--limit", help="A lower limit in yuan (default: what the decision allows)."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """授信: put the customer through the credit decision; when approved, open a line with the
    limit from the score grade and the customer's income, within the caps."""
    limit_fen = None if limit is None else run(lambda: parse_yuan(limit, allow_zero=False))
    attributes = run(lambda: _features(features))
    keys = run(Keyring.from_env)
    credit = CreditServices(
        model=default_model(), bureau=SandboxBureau(synthetic=True), fingerprint_key=key_from_env()
    )
    engine = open_engine(database)

    def work(c: Connection) -> underwriting.LineDecision:
        return underwriting.grant_by_decision(
            c,
            customer_id=customer_id,
            actor=CLI_ACTOR,
            keys=keys,
            clock=SYSTEM_CLOCK,
            credit=credit,
            features=attributes,
            limit_fen=limit_fen,
        )

    made = run(lambda: run_in_transaction(engine, work))
    reasons = "; ".join(f"{h.code} {h.text_en}" for h in made.rules) or "no rule fired"
    console.print(
        f"decision {made.decision_id}: {made.outcome}, score {made.score}, grade {made.grade}, "
        f"limit {_yuan(made.limit_fen)} yuan ({reasons})"
    )
    if made.line is None:
        raise typer.Exit(1)
    line = made.line
    console.print(
        f"credit line {line.id} for customer {line.customer_id}: limit {_yuan(line.limit_fen)} "
        f"yuan, billed on day {line.statement_day}, due on day {line.due_day}"
    )


def _features(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(
            "features_unreadable", f"{path}: not a JSON file ({exc})", field="features"
        ) from None
    if not isinstance(found, dict):
        raise ValidationError("features_unreadable", f"{path}: not a JSON object", field="features")
    return found


@app.command("show")
def show_cmd(line_id: LineId, database: DatabaseOption = None) -> None:
    """One line: limit, what is owed, the current statement and aging."""
    with open_engine(database).connect() as c:
        x = run(lambda: service.get(c, line_id=line_id, clock=SYSTEM_CLOCK))
    table = Table(title=f"Credit line {x.id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for field, value in (
        ("customer", str(x.customer_id)),
        ("state", x.state),
        ("limit (effective)", f"{_yuan(x.limit_fen)} ({_yuan(x.effective_limit_fen)})"),
        ("available", _yuan(x.available_fen)),
        ("unbilled / billed / instalments", " / ".join(
            _yuan(v) for v in (x.unbilled_fen, x.billed_fen, x.instalment_fen)
        )),
        ("fees / interest / penalty", " / ".join(
            _yuan(v) for v in (x.fees_fen, x.interest_fen, x.penalty_fen)
        )),
        ("statement left / minimum left", f"{_yuan(x.stmt_remaining_fen)} / "
         f"{_yuan(x.min_remaining_fen)}"),
        ("due date", str(x.due_date or "-")),
        ("next statement", str(x.next_statement_date)),
        ("annual rate (单利)", x.annual_rate),
        ("days past due / bucket", f"{x.dpd} / {x.bucket}"),
    ):  # fmt: skip
        table.add_row(field, value)
    console.print(table)


@app.command("statement")
def statement_cmd(
    line_id: LineId,
    statement_id: Annotated[
        int | None, typer.Option("--id", help="A statement id (default: the latest).")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """账单: a statement's totals and every entry of its cycle."""
    with open_engine(database).connect() as c:

        def find() -> views.Statement:
            wanted = statement_id
            if wanted is None:
                latest = views.statements_of(c, line_id=line_id, limit=1)
                if not latest:
                    raise NotFound("statement_not_found", "this line has no statement yet")
                wanted = latest[0].id
            found = views.statement(c, line_id=line_id, statement_id=wanted)
            if found is None:
                raise NotFound("statement_not_found", f"no statement {wanted}")
            return found

        s = run(find)
    console.print(
        f"statement {s.id} of line {line_id}: {s.statement_date} (due {s.due_date}); "
        f"to pay {_yuan(s.closing_fen)} yuan, minimum {_yuan(s.minimum_fen)} yuan"
    )
    table = Table("date", "kind", "merchant", "amount (yuan)")
    for e in s.entries:
        table.add_row(str(e.business_date), e.kind, e.merchant or "", _yuan(e.amount_fen))
    console.print(table)
