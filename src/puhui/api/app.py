"""The FastAPI application: ``create_app`` builds it, later issues mount their routers here.

The engine and clock live on ``app.state`` and reach handlers through ``get_engine`` and
``get_clock``, so a test builds an app on its own database and a moved clock. Called with no
arguments (``uvicorn --factory puhui.api.app:create_app``, which ``puhui serve`` uses so that
every worker process builds its own) the app opens ``PUHUI_DATABASE_URL`` or ./puhui.db.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from puhui import __version__
from puhui.api import errors
from puhui.api.errors import ApiError
from puhui.api.middleware import RequestMiddleware
from puhui.api.observability import Metrics
from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.db.engine import make_engine
from puhui.db.migrate import SchemaOutOfDate, head_revisions

log = logging.getLogger("puhui.api")


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def create_app(*, engine: Engine | None = None, clock: Clock | None = None) -> FastAPI:
    owns_engine = engine is None
    engine = engine if engine is not None else make_engine()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="puhui",
        version=__version__,
        description="puhui (普惠) online-lending platform. Amounts are integer fen.",
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
    )
    app.state.engine = engine
    app.state.clock = clock or SYSTEM_CLOCK
    app.state.metrics = Metrics()
    errors.install(app)
    app.add_middleware(RequestMiddleware, metrics=app.state.metrics)
    app.include_router(system)
    from puhui.api import identity  # its routers import this module

    identity.install(app)
    from puhui.api import credit

    app.include_router(credit.router)
    from puhui.api import open as open_platform  # /open/v1 and its staff routes

    open_platform.install(app)
    from puhui.api import lending

    app.include_router(lending.router)
    from puhui.api import credit_line

    app.include_router(credit_line.router)
    from puhui.api import marketplace

    app.include_router(marketplace.router)
    from puhui.api import compliance

    app.include_router(compliance.router)
    from puhui.api import ops

    app.include_router(ops.admin)
    app.include_router(ops.public)
    from puhui import web

    web.install(app)
    return app


system = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    database: str
    schema_revision: list[str]


@system.get("/health", response_model=Health)
def health(request: Request, engine: EngineDep) -> Health:
    """Liveness and readiness: the database answers and its schema is current (else 503)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc.__class__.__name__)
        raise ApiError(
            503, "api_error", "database_unreachable", "the database cannot be reached"
        ) from exc
    expected = _schema_heads(request, engine)
    if current != expected:
        raise SchemaOutOfDate(
            "schema_out_of_date",
            f"the database schema is at {sorted(current)}, expected {sorted(expected)}",
        )
    return Health(status="ok", database="ok", schema_revision=sorted(current))


def _schema_heads(request: Request, engine: Engine) -> set[str]:
    state = request.app.state
    if not hasattr(state, "schema_heads"):
        state.schema_heads = head_revisions(engine)
    return state.schema_heads


@system.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's request counters and latencies."""
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)
