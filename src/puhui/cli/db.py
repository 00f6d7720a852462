"""``puhui db``: schema migrations, and the journal's monthly partitions (PostgreSQL)."""

from __future__ import annotations

from datetime import date

import typer

from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.errors import ValidationError
from puhui.db.migrate import current_revisions, head_revisions, upgrade
from puhui.db.partitioning import ensure_partitions, partition_journal

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(database: DatabaseOption = None) -> None:
    """Apply every pending migration."""
    engine = open_engine(database, migrate=False)
    upgrade(engine)
    console.print(f"schema at {', '.join(sorted(current_revisions(engine)))}")


@app.command("current")
def current_cmd(database: DatabaseOption = None) -> None:
    """Show the applied and the latest revisions; exit 1 when behind."""
    engine = open_engine(database, migrate=False)
    cur, heads = current_revisions(engine), head_revisions(engine)
    console.print(
        f"applied: {', '.join(sorted(cur)) or '(none)'}; latest: {', '.join(sorted(heads))}"
    )
    if cur != heads:
        raise typer.Exit(1)


@app.command("partition")
def partition_cmd(
    database: DatabaseOption = None,
    months_ahead: int = typer.Option(3, "--months-ahead", help="Months to create ahead."),
    ensure: bool = typer.Option(
        False, "--ensure", help="Only create the missing months (the monthly maintenance step)."
    ),
    through: str | None = typer.Option(
        None, "--through", help="With --ensure: create months through this date (YYYY-MM-DD)."
    ),
) -> None:
    """Partition the journal and the daily snapshots by month (PostgreSQL; idempotent).

    Schedule ``puhui db partition --ensure`` monthly, before the month turns (docs/scale.md).
    """
    engine = open_engine(database)
    if ensure:
        created = run(lambda: ensure_partitions(engine, _date(through), months_ahead=months_ahead))
        console.print(f"created: {', '.join(created) or 'nothing (all months exist)'}")
        return
    report = run(lambda: partition_journal(engine, months_ahead=months_ahead))
    for table in report.converted:
        console.print(f"{table}: partitioned by month, {report.rows_copied[table]:,} rows copied")
    if not report.converted:
        console.print("already partitioned")
    console.print(f"created: {', '.join(report.created) or 'nothing (all months exist)'}")


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "invalid_date", f"not a date (YYYY-MM-DD): {value}", field="through"
        ) from None
