"""Read models of the credit line: statements with their entries, the entries of the current
cycle, and the collections queue of overdue lines (most days past due first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from puhui.lending.credit_line.models import entries, lines
from puhui.lending.credit_line.models import statements as statement_table


@dataclass(frozen=True)
class Entry:
    id: int
    kind: str
    amount_fen: int
    business_date: date
    merchant: str | None
    reference: str | None
    statement_id: int | None
    plan_id: int | None
    refunded_fen: int


@dataclass(frozen=True)
class Statement:
    """账单: the cycle's entries, what it carried in (``opening_fen``: the last statement's
    balance less the payments since), and what to pay by the due date."""

    id: int
    line_id: int
    statement_date: date
    period_start: date
    due_date: date
    opening_fen: int
    purchases_fen: int
    refunds_fen: int
    payments_fen: int
    fees_fen: int
    interest_fen: int
    penalty_fen: int
    instalments_fen: int
    closing_fen: int
    minimum_fen: int
    entries: tuple[Entry, ...] = ()


def _entry(r: object) -> Entry:
    return Entry(
        r.id,  # type: ignore[attr-defined]
        r.kind,  # type: ignore[attr-defined]
        r.amount_fen,  # type: ignore[attr-defined]
        r.business_date,  # type: ignore[attr-defined]
        r.merchant,  # type: ignore[attr-defined]
        r.reference,  # type: ignore[attr-defined]
        r.statement_id,  # type: ignore[attr-defined]
        r.plan_id,  # type: ignore[attr-defined]
        r.refunded_fen,  # type: ignore[attr-defined]
    )


def list_entries(
    conn: Connection,
    *,
    line_id: int,
    unbilled_only: bool = False,
    kinds: tuple[str, ...] = (),
    after_id: int | None = None,
    limit: int = 100,
) -> list[Entry]:
    q = select(entries).where(entries.c.line_id == line_id)
    if unbilled_only:
        q = q.where(entries.c.statement_id.is_(None))
    if kinds:
        q = q.where(entries.c.kind.in_(kinds))
    if after_id is not None:
        q = q.where(entries.c.id > after_id)
    return [_entry(r) for r in conn.execute(q.order_by(entries.c.id).limit(limit))]


def statements_of(
    conn: Connection, *, line_id: int, after_id: int | None = None, limit: int = 100
) -> list[Statement]:
    """Statements, newest first, without their entries."""
    q = select(statement_table).where(statement_table.c.line_id == line_id)
    if after_id is not None:
        q = q.where(statement_table.c.id < after_id)
    rows = conn.execute(q.order_by(statement_table.c.id.desc()).limit(limit))
    return [_statement(r, ()) for r in rows]


def _statement(r: object, items: tuple[Entry, ...]) -> Statement:
    cols = [c.name for c in statement_table.columns if c.name != "created_us"]
    return Statement(**{c: getattr(r, c) for c in cols}, entries=items)


def statement(conn: Connection, *, line_id: int, statement_id: int) -> Statement | None:
    r = conn.execute(
        select(statement_table).where(
            statement_table.c.id == statement_id, statement_table.c.line_id == line_id
        )
    ).first()
    if r is None:
        return None
    items = conn.execute(
        select(entries).where(entries.c.statement_id == statement_id).order_by(entries.c.id)
    )
    return _statement(r, tuple(_entry(e) for e in items))


def all_statements(conn: Connection, *, line_id: int) -> list[Statement]:
    """Every statement of the line, oldest first, each with its entries."""
    out = []
    for s in reversed(statements_of(conn, line_id=line_id, limit=1000)):
        full = statement(conn, line_id=line_id, statement_id=s.id)
        assert full is not None
        out.append(full)
    return out


@dataclass(frozen=True)
class QueueItem:
    line_id: int
    customer_id: int
    state: str
    dpd: int
    bucket: str
    #: The minimum still unpaid since it fell due.
    overdue_fen: int
    owed_fen: int


def collections_queue(conn: Connection, *, limit: int = 100) -> list[QueueItem]:
    """Overdue lines for collectors, most days past due first, then line id."""
    c = lines.c
    owed = c.unbilled_fen + c.billed_fen + c.instalment_fen + c.fees_fen
    owed = owed + c.interest_fen + c.penalty_fen
    rows = conn.execute(
        select(c.id, c.customer_id, c.state, c.dpd, c.bucket, c.min_remaining_fen, owed)
        .where(c.overdue_since.is_not(None))
        .order_by(c.dpd.desc(), c.id)
        .limit(limit)
    )
    return [QueueItem(*r) for r in rows]
