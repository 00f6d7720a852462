"""``puhui serve``: run the HTTP API under uvicorn, in one process or several.

Several worker processes share nothing in memory that must agree between them: sessions, CSRF
tokens, one-time codes, rate-limit counters, open-platform nonces and idempotency keys are
rows in the database (docs/scale.md lists them). That holds on PostgreSQL; an SQLite file has
one writer at a time, so more than one worker there is refused rather than left to queue.

Each worker runs the API's synchronous handlers in a thread pool and holds one database pool
(``make_engine``: 10 connections plus 10 overflow). AnyIO's default of 40 threads let 40
handlers wait for 20 connections, and under a burst of sign-ins (an argon2id hash each, held
inside the login transaction) the waiters hit the pool's 30-second timeout as 500s (measured
with bench/load.py). ``THREADS`` keeps the threads below the connections, so a burst queues
for a thread instead of timing out on the pool.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import anyio.to_thread
import typer
import uvicorn

from puhui.api.observability import LOG_CONFIG
from puhui.cli.common import DatabaseOption, err_console, open_engine, run
from puhui.db.engine import database_url, is_sqlite

#: Threads per worker for synchronous handlers, below the engine's connections: 10 + 10 on
#: PostgreSQL, SQLAlchemy's default 5 + 10 on SQLite.
THREADS = {"postgresql": 16, "sqlite": 12}


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Worker processes (more than 1 needs PostgreSQL)."),
    ] = 1,
    database: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs, health at /health, metrics at /metrics).

    An empty SQLite database is migrated first; a PostgreSQL one must be current.
    """
    engine = run(lambda: open_engine(database))
    sqlite = is_sqlite(engine)
    engine.dispose()
    if sqlite and workers > 1:
        err_console.print(
            "error: workers_need_postgresql: --workers above 1 needs PostgreSQL; an SQLite "
            "file takes one writer at a time (use --database postgresql://… or --workers 1)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    # Each worker builds its own app and engine from the environment.
    os.environ["PUHUI_DATABASE_URL"] = database_url(database)
    uvicorn.run(
        "puhui.cli.serve:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=LOG_CONFIG,
        access_log=False,
    )


def create_app() -> Any:
    """What each worker serves: the API app, with its thread pool capped at ``THREADS``."""
    from puhui.api.app import create_app as build

    app = build()
    return _CappedThreads(app, THREADS[app.state.engine.dialect.name])


class _CappedThreads:
    """An ASGI wrapper that sets the event loop's thread limit once, at lifespan start."""

    def __init__(self, app: Any, threads: int) -> None:
        self.app = app
        self.state = app.state  # some callers look at app.state
        self.threads = threads

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        await self.app(scope, receive, send)
