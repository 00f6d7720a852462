"""An app on the test database with a test-only router that exercises the API plumbing.

``/test/widgets`` is a money-moving POST in miniature: it writes a row under an idempotency key.
Its hooks (``app.state.before_write`` and ``after_write``) let a test hold a request in flight or
make it fail, before and after its write.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient
from httpx import Response as HttpResponse
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)

from puhui.api.app import EngineDep, create_app
from puhui.api.idempotency import Idempotency, Idempotent, idempotency
from puhui.api.observability import JsonFormatter
from puhui.api.pagination import Page, Pagination, keyset
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, NotFound, PuhuiError, ValidationError

widgets = Table(
    "test_api_widgets",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
)


class Tag(BaseModel):
    label: str = Field(max_length=10)


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    amount_fen: int
    tags: list[Tag] = []


class WidgetOut(BaseModel):
    id: int
    name: str
    amount_fen: int


router = APIRouter(prefix="/test")


def _create(request: Request, body: WidgetIn, idem: Idempotency) -> Response:
    state = request.app.state

    def work(conn: Connection) -> WidgetOut:
        state.before_write(body)
        new_id = conn.execute(
            insert(widgets).values(name=body.name, amount_fen=body.amount_fen)
        ).inserted_primary_key[0]
        state.after_write(body)
        if body.amount_fen <= 0:
            raise ValidationError(
                "amount_must_be_positive", "amount_fen must be positive", field="amount_fen"
            )
        return WidgetOut(id=new_id, name=body.name, amount_fen=body.amount_fen)

    return idem.run(work, status_code=201)


@router.post("/widgets", status_code=201, response_model=WidgetOut)
def create_widget(request: Request, body: WidgetIn, idem: Idempotent) -> Response:
    return _create(request, body, idem)


@router.post("/widgets/optional-key", status_code=201, response_model=WidgetOut)
def create_widget_optional_key(
    request: Request,
    body: WidgetIn,
    idem: Annotated[Idempotency, Depends(idempotency(required=False))],
) -> Response:
    return _create(request, body, idem)


@router.get("/widgets", response_model=Page[WidgetOut])
def list_widgets(page: Pagination, engine: EngineDep) -> Page[WidgetOut]:
    with engine.connect() as conn:
        rows = conn.execute(keyset(select(widgets), widgets.c.id, page)).mappings().all()
    return Page[WidgetOut].from_rows([WidgetOut(**r) for r in rows], page)


RAISED: dict[str, Exception] = {
    "puhui": PuhuiError("bad_thing", "a bad thing", field="thing"),
    "validation": ValidationError("amount_must_be_positive", "no", field="amount_fen"),
    "not_found": NotFound("loan_not_found", "no such loan"),
    "conflict": Conflict("already_funded", "the listing is full"),
    "http": HTTPException(403, "staff only"),
    "bug": RuntimeError("password=hunter2 at db.internal:5432"),
}


@router.get("/raise/{kind}")
def raise_error(kind: str) -> None:
    raise RAISED[kind]


@pytest.fixture
def app(engine: Engine, clock: FixedClock) -> FastAPI:
    widgets.create(engine, checkfirst=True)
    app = create_app(engine=engine, clock=clock)
    app.include_router(router)
    app.state.before_write = app.state.after_write = lambda body: None
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The records the ``puhui.api`` loggers wrote, through the formatter ``puhui serve`` uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("puhui.api")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture
def expect_error() -> Callable[..., dict[str, Any]]:
    """Check a response is an error of DESIGN.md's exact shape; return its ``error`` object."""

    def check(
        resp: HttpResponse, status: int, type_: str, code: str, field: str | None = None
    ) -> dict[str, Any]:
        assert resp.status_code == status, resp.text
        body = resp.json()
        assert list(body) == ["error"]
        error = body["error"]
        assert set(error) == {"type", "code", "message", "field", "request_id"}
        assert (error["type"], error["code"], error["field"]) == (type_, code, field)
        assert error["message"]
        assert error["request_id"] == resp.headers["X-Request-ID"]
        return error

    return check
