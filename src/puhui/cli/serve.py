"""``puhui serve``: run the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from puhui.api.observability import LOG_CONFIG
from puhui.cli.common import DatabaseOption, open_engine, run
from puhui.db.engine import database_url


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    database: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs, health at /health, metrics at /metrics).

    An empty SQLite database is migrated first; a PostgreSQL one must be current.
    """
    run(lambda: open_engine(database)).dispose()
    # Each worker builds its own app and engine from the environment.
    os.environ["PUHUI_DATABASE_URL"] = database_url(database)
    uvicorn.run(
        "puhui.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=LOG_CONFIG,
        access_log=False,
    )
