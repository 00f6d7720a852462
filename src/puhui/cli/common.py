"""What every command needs: the engine for ``--database`` or ``PUHUI_DATABASE_URL``, a console,
and one way to turn a ``PuhuiError`` into one clear line and exit code 2."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine

from puhui.core.errors import PuhuiError
from puhui.db.engine import make_engine
from puhui.db.migrate import ensure_schema

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="PUHUI_DATABASE_URL",
        help="Database URL (default: sqlite file puhui.db in this folder).",
    ),
]


def open_engine(url: str | None, *, migrate: bool = True) -> Engine:
    engine = make_engine(url)
    if migrate:
        ensure_schema(engine)
    return engine


@contextmanager
def user_errors() -> Iterator[None]:
    """Print an expected error as one line and exit 2, as a command-line tool should."""
    try:
        yield
    except PuhuiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        err_console.print(f"error: {exc.code}: {exc.message}{where}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


def run(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
