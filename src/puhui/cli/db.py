"""``puhui db``: schema migrations."""

from __future__ import annotations

import typer

from puhui.cli.common import DatabaseOption, console, open_engine
from puhui.db.migrate import current_revisions, head_revisions, upgrade

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
