"""Cursor pagination for list endpoints (DESIGN.md, Interfaces).

A list takes ``limit`` (1–100, default 20) and ``starting_after`` (the id of the last item the
client has) and answers ``{"data": [...], "has_more": bool}``. Pages are keyset pages, so a
row inserted while a client pages through never shifts or repeats what it sees::

    @router.get("/loans", response_model=Page[LoanOut])
    def list_loans(page: Pagination, engine: Engine = Depends(get_engine)) -> Page[LoanOut]:
        with engine.connect() as conn:
            rows = conn.execute(keyset(select(loans), loans.c.id, page)).mappings().all()
        return Page[LoanOut].from_rows(rows, page)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select

from puhui.core.errors import ValidationError

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="How many items to return (1–100).")
    ] = DEFAULT_LIMIT,
    starting_after: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="Id of the last item already seen."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, starting_after=starting_after)


Pagination = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool

    @classmethod
    def from_rows(cls, rows: Sequence[Any], page: PageParams) -> Page[T]:
        """A page from up to ``limit + 1`` rows: the extra row only says that more exist."""
        return cls(data=list(rows[: page.limit]), has_more=len(rows) > page.limit)


def keyset(stmt: Select[Any], column: ColumnElement[Any], page: PageParams) -> Select[Any]:
    """``stmt`` restricted to rows after the cursor in ``column`` order, ``limit + 1`` of them."""
    if page.starting_after is not None:
        stmt = stmt.where(column > _cursor(column, page.starting_after))
    return stmt.order_by(column).limit(page.limit + 1)


def _cursor(column: ColumnElement[Any], raw: str) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return raw
    try:
        return python_type(raw)
    except (TypeError, ValueError):
        raise ValidationError(
            "invalid_cursor", f"starting_after: {raw!r} is not an id here", field="starting_after"
        ) from None


def id_cursor(page: PageParams) -> int | None:
    """The ``starting_after`` cursor as an integer id, for lists keyed by integer ids whose
    query is built by the domain (lending, credit lines) rather than by ``keyset``."""
    if page.starting_after is None:
        return None
    if not (page.starting_after.isdigit() and len(page.starting_after) <= 18):
        raise ValidationError(
            "invalid_cursor",
            f"starting_after: {page.starting_after!r} is not an id here",
            field="starting_after",
        )
    return int(page.starting_after)
