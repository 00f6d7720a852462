"""The credit line's end-of-day steps, run by the lending batch (``eod_steps.STEPS``).

Each step has the batch's shape — a function of ``eod_steps.Ctx`` returning a ``StepResult`` —
works on the lines whose id is in the partition's range (the ranges cover every integer, so
each line falls in exactly one partition) and posts its GL effect as one aggregated transfer
per code pair. Set-based SQL throughout; the auto-debit's waterfall and the statement's sums
are numpy over columns, written back through a staging table. For the end of business date D,
in order:

1. ``cl_debit``: on the due date, 自动还款 of what the statement still asks, from the card.
2. ``cl_charge``: daily interest on the billed principal of a revolving line (the statement
   was not paid in full by its due date) and penalty on the overdue minimum, both half up per
   line per day at rate / 365.
3. ``cl_due``: on the due date, a statement not paid in full makes the line revolving; a
   minimum not paid makes it overdue from that date.
4. ``cl_age``: dpd and bucket of overdue lines; suspended at ``suspend_dpd``, closed at
   ``close_dpd``.
5. ``cl_statement``: on the statement date, the cycle's statement: unbilled principal and one
   period of each instalment plan billed, instalment fees charged, the cycle's entries claimed,
   the amount and minimum to pay by the due date, and a ``creditline.statement`` event.
6. ``cl_check``: the credit-line receivables equal the lines, or the batch stops.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from puhui import events
from puhui.core.errors import Conflict
from puhui.identity import audit
from puhui.ledger.codes import AccountCode as A
from puhui.ledger.codes import TransferCode as T
from puhui.lending.accounts import Leg
from puhui.lending.credit_line import books, rules
from puhui.lending.eod_models import stage

if TYPE_CHECKING:  # the batch imports this module to register the steps
    from puhui.lending.eod_steps import Ctx, StepResult

RANGE = "l.id >= :lo AND l.id < :hi"
YEAR_PPB = rules.YEAR_DAYS * rules.PPB


def _day(ctx: Ctx, day: date) -> Any:
    return day.isoformat() if ctx.conn.dialect.name == "sqlite" else day


def _half_up(amount: str, rate: str) -> str:
    """SQL: ``amount × rate_ppb / (365 × 10⁹)`` rounded half up, in integers."""
    return f"((2 * {amount} * {rate} + {YEAR_PPB}) / {2 * YEAR_PPB})"


def _result(lines: int = 0, fen: int = 0, detail: dict[str, Any] | None = None) -> StepResult:
    from puhui.lending.eod_steps import StepResult

    return StepResult(lines, fen, detail or {})


def _cols(rows: list[Any], n: int) -> list[np.ndarray]:
    if not rows:
        return [np.zeros(0, dtype=np.int64) for _ in range(n)]
    m = np.asarray(rows, dtype=np.int64).reshape(len(rows), n)
    return [m[:, k] for k in range(n)]


# --- 1. auto-debit ----------------------------------------------------------------------------


def _lock_lines(ctx: Ctx) -> str:
    """Lock the lines a step reads and then writes absolute values to, in id order, so a
    payment racing the batch waits rather than being overwritten (SQLite: the batch holds the
    writer lock already)."""
    return "" if ctx.conn.dialect.name == "sqlite" else " ORDER BY l.id FOR UPDATE OF l"


def debit(ctx: Ctx) -> StepResult:
    lock = _lock_lines(ctx)
    rows = ctx.sql(
        "SELECT l.id, l.customer_id, l.stmt_remaining_fen, l.min_remaining_fen, l.fees_fen, "
        "l.penalty_fen, l.interest_fen, l.billed_fen, l.unbilled_fen FROM credit_lines l "
        f"WHERE l.due_date = :d AND l.auto_debit = 1 AND l.stmt_remaining_fen > 0 AND {RANGE}"
        + lock
    ).all()
    if not rows:
        return _result()
    ids, custs, stmt, minimum, fees, pen, intr, billed, unbilled = _cols(
        [tuple(r) for r in rows], 9
    )
    payable = fees + pen + intr + billed + unbilled
    want = np.minimum(stmt, payable)
    got = np.asarray(
        ctx.channel.collect(
            ctx.conn,
            loan_ids=ids,
            customer_ids=custs,
            amounts=want,
            business_date=ctx.business_date,
            clock=ctx.clock,
        ),
        dtype=np.int64,
    )
    left = got.copy()
    parts = []
    for owed in (fees, pen, intr, billed, unbilled):
        take = np.minimum(left, owed)
        parts.append(take)
        left -= take
    t_fee, t_pen, t_int, t_billed, t_unbilled = parts
    new_stmt = np.maximum(0, stmt - got)
    new_min = np.minimum(np.maximum(0, minimum - got), new_stmt)
    paid = got > 0
    table = stage(
        ctx.conn,
        "cl_debit",
        {
            "line_id": ids[paid],
            "got": got[paid],
            "fee": t_fee[paid],
            "pen": t_pen[paid],
            "intr": t_int[paid],
            "billed": t_billed[paid],
            "unbilled": t_unbilled[paid],
            "stmt": new_stmt[paid],
            "minimum": new_min[paid],
        },
        key=("line_id",),
    )
    ctx.sql(
        "INSERT INTO credit_line_entries (line_id, kind, amount_fen, business_date, reference, "
        "to_fees_fen, to_interest_fen, to_principal_fen, refunded_fen, actor, created_us) "
        f"SELECT s.line_id, 'payment', s.got, :d, :ref, s.fee + s.pen, s.intr, "
        f"s.billed + s.unbilled, 0, 'system', :now FROM {table} s",
        {"ref": f"auto:{ctx.business_date.isoformat()}", "now": ctx.now_us},
    )
    ctx.sql(
        f"UPDATE credit_lines SET fees_fen = fees_fen - s.fee, penalty_fen = penalty_fen - s.pen,"
        f" interest_fen = interest_fen - s.intr, billed_fen = billed_fen - s.billed, "
        f"unbilled_fen = unbilled_fen - s.unbilled, stmt_remaining_fen = s.stmt, "
        f"min_remaining_fen = s.minimum, "
        f"revolving = CASE WHEN billed_fen - s.billed = 0 THEN 0 ELSE revolving END, "
        f"version = version + 1, updated_us = :now FROM {table} s "
        f"WHERE credit_lines.id = s.line_id",
        {"now": ctx.now_us},
    )
    _cure(ctx, f"SELECT line_id FROM {table}")
    ctx.post(
        "cl_debit",
        books.payment_legs(
            fees=int(t_fee.sum()),
            penalty=int(t_pen.sum()),
            interest=int(t_int.sum()),
            principal=int(t_billed.sum() + t_unbilled.sum()),
        ),
    )
    return _result(int(paid.sum()), int(got.sum()), {"requested_fen": int(want.sum())})


def _cure(ctx: Ctx, ids_sql: str) -> None:
    """Lines whose overdue minimum is paid are current again (a suspended one active)."""
    ctx.sql(
        "UPDATE credit_lines SET overdue_since = NULL, dpd = 0, bucket = 'M0', "
        "state = CASE WHEN state = 'suspended' THEN 'active' ELSE state END "
        f"WHERE min_remaining_fen = 0 AND overdue_since IS NOT NULL AND id IN ({ids_sql})"
    )


# --- 2. interest and penalty -------------------------------------------------------------------

INTEREST_DUE = "l.revolving = 1 AND l.billed_fen > 0"
PENALTY_DUE = "l.overdue_since IS NOT NULL AND l.overdue_since < :d AND l.min_remaining_fen > 0"


def charge(ctx: Ctx) -> StepResult:
    interest = _half_up("l.billed_fen", "l.rate_ppb")
    penalty = _half_up("l.min_remaining_fen", "l.penalty_rate_ppb")
    n_i, fen_i = (
        int(v or 0)
        for v in ctx.sql(
            f"SELECT COUNT(*), SUM({interest}) FROM credit_lines l WHERE {INTEREST_DUE} AND {RANGE}"
        ).one()
    )
    n_p, fen_p = (
        int(v or 0)
        for v in ctx.sql(
            f"SELECT COUNT(*), SUM({penalty}) FROM credit_lines l WHERE {PENALTY_DUE} AND {RANGE}"
        ).one()
    )
    bare = lambda s: s.replace("l.", "")  # noqa: E731 - the same expressions, unaliased
    if n_i:
        ctx.sql(
            f"UPDATE credit_lines SET interest_fen = interest_fen + {bare(interest)}, "
            f"cycle_interest_fen = cycle_interest_fen + {bare(interest)} "
            f"WHERE {bare(INTEREST_DUE)} AND {bare(RANGE)}"
        )
    if n_p:
        ctx.sql(
            f"UPDATE credit_lines SET penalty_fen = penalty_fen + {bare(penalty)}, "
            f"cycle_penalty_fen = cycle_penalty_fen + {bare(penalty)} "
            f"WHERE {bare(PENALTY_DUE)} AND {bare(RANGE)}"
        )
    ctx.post(
        "cl_charge",
        [
            Leg(books.INTEREST, A.INTEREST_INCOME, fen_i, T.INTEREST_ACCRUAL),
            Leg(books.PENALTY, A.PENALTY_INCOME, fen_p, T.PENALTY_ACCRUAL),
        ],
    )
    return _result(n_i + n_p, fen_i + fen_p, {"interest_fen": fen_i, "penalty_fen": fen_p})


# --- 3. due date ------------------------------------------------------------------------------


def due(ctx: Ctx) -> StepResult:
    revolving = ctx.sql(
        "UPDATE credit_lines SET revolving = 1 WHERE due_date = :d AND stmt_remaining_fen > 0 "
        "AND billed_fen > 0 AND id >= :lo AND id < :hi"
    ).rowcount
    overdue = ctx.sql(
        "UPDATE credit_lines SET overdue_since = due_date WHERE due_date = :d "
        "AND min_remaining_fen > 0 AND overdue_since IS NULL AND id >= :lo AND id < :hi"
    ).rowcount
    return _result(revolving + overdue, 0, {"revolving": revolving, "overdue": overdue})


# --- 4. aging ---------------------------------------------------------------------------------


def age(ctx: Ctx) -> StepResult:
    dpd = ctx.days(":d", "overdue_since")
    bucket = " ".join(
        f"WHEN {dpd} <= {upto} THEN '{name}'"
        for name, upto in (("M0", 0), ("M1", 30), ("M2", 60), ("M3", 90))
    )
    aged = ctx.sql(
        f"UPDATE credit_lines SET dpd = {dpd}, bucket = CASE {bucket} ELSE 'M4' END "
        "WHERE overdue_since IS NOT NULL AND id >= :lo AND id < :hi"
    ).rowcount
    suspend = "overdue_since IS NOT NULL AND state IN ('active', 'frozen') AND dpd >= suspend_dpd"
    close = "overdue_since IS NOT NULL AND state <> 'closed' AND dpd >= close_dpd"
    closed = _move(ctx, close, "closed", "credit_line.closed_overdue", ", closed_date = :d")
    suspended = _move(ctx, suspend, "suspended", "credit_line.suspended", "")
    return _result(aged, 0, {"suspended": len(suspended), "closed": len(closed)})


def _move(ctx: Ctx, where: str, to: str, event: str, extra: str) -> list[int]:
    cond = f"{where} AND id >= :lo AND id < :hi"
    ids = [int(i) for i in ctx.sql(f"SELECT id FROM credit_lines WHERE {cond}").scalars()]
    if ids:
        ctx.sql(f"UPDATE credit_lines SET state = '{to}'{extra} WHERE {cond}")
        audit.record(
            ctx.conn,
            actor=audit.SYSTEM,
            event=event,
            object_type="eod_run",
            object_id=f"{ctx.business_date.isoformat()}:{ctx.partition}",
            after={"state": to},
            detail={"line_ids": sorted(ids)},
            clock=ctx.clock,
        )
    return ids


# --- 5. statements ----------------------------------------------------------------------------

_PLAN_PERIOD = (
    "CASE WHEN p.periods_billed + 1 = p.periods THEN p.principal_fen - p.principal_billed_fen "
    "ELSE p.principal_fen / p.periods END"
)


def statement(ctx: Ctx) -> StepResult:
    rows = ctx.sql(
        "SELECT l.id, l.billed_fen, l.unbilled_fen, l.fees_fen, l.interest_fen, l.penalty_fen, "
        "l.cycle_interest_fen, l.cycle_penalty_fen, l.min_remaining_fen, l.min_payment_ppb, "
        "COALESCE(pl.p, 0), COALESCE(pl.f, 0), COALESCE(e.buy, 0), COALESCE(e.ref, 0), "
        "COALESCE(e.pay, 0) FROM credit_lines l "
        f"LEFT JOIN (SELECT p.line_id, SUM({_PLAN_PERIOD}) AS p, SUM(p.fee_per_period_fen) AS f "
        "FROM credit_line_plans p WHERE p.state = 'active' GROUP BY p.line_id) pl "
        "ON pl.line_id = l.id "
        "LEFT JOIN (SELECT x.line_id, "
        "SUM(CASE WHEN x.kind IN ('purchase', 'cash_draw') THEN x.amount_fen ELSE 0 END) AS buy,"
        " SUM(CASE WHEN x.kind = 'refund' THEN x.amount_fen ELSE 0 END) AS ref, "
        "SUM(CASE WHEN x.kind = 'payment' THEN x.amount_fen ELSE 0 END) AS pay "
        "FROM credit_line_entries x WHERE x.statement_id IS NULL GROUP BY x.line_id) e "
        "ON e.line_id = l.id "
        f"WHERE l.next_statement_date = :d AND {RANGE} "
        "AND NOT (l.state = 'closed' AND l.billed_fen + l.unbilled_fen + l.instalment_fen "
        "+ l.fees_fen + l.interest_fen + l.penalty_fen = 0)" + _lock_lines(ctx)
    ).all()
    nxt = rules.add_month(ctx.business_date)
    if not rows:
        ctx.sql(
            "UPDATE credit_lines SET next_statement_date = :nxt "
            "WHERE next_statement_date = :d AND id >= :lo AND id < :hi",
            {"nxt": _day(ctx, nxt)},
        )
        return _result()
    (ids, billed, unbilled, fees, intr, pen, c_int, c_pen, old_min, ppb, inst_p, inst_f, buy,
     ref, pay) = _cols([tuple(r) for r in rows], 15)  # fmt: skip
    opening = billed + fees + intr + pen - c_int - c_pen
    closing = billed + unbilled + inst_p + fees + inst_f + intr + pen
    revolving = billed + unbilled
    formula = (2 * revolving * ppb + rules.PPB) // (2 * rules.PPB)
    formula += fees + inst_f + intr + pen + inst_p
    minimum = np.minimum(closing, formula + old_min)
    table = stage(
        ctx.conn,
        "cl_statement",
        {
            "line_id": ids,
            "opening": opening,
            "buy": buy,
            "ref": ref,
            "pay": pay,
            "fee": inst_f,
            "intr": c_int,
            "pen": c_pen,
            "inst": inst_p,
            "closing": closing,
            "minimum": minimum,
        },
        key=("line_id",),
    )
    ctx.sql(
        "INSERT INTO credit_line_statements (line_id, statement_date, period_start, due_date, "
        "opening_fen, purchases_fen, refunds_fen, payments_fen, fees_fen, interest_fen, "
        "penalty_fen, instalments_fen, closing_fen, minimum_fen, created_us) "
        "SELECT s.line_id, :d, COALESCE(l.last_statement_date, l.opened_date), :d, s.opening, "
        "s.buy, s.ref, s.pay, s.fee, s.intr, s.pen, s.inst, s.closing, s.minimum, :now "
        f"FROM {table} s JOIN credit_lines l ON l.id = s.line_id",
        {"now": ctx.now_us},
    )
    ctx.sql(
        "UPDATE credit_lines SET billed_fen = billed_fen + unbilled_fen + s.inst, "
        "unbilled_fen = 0, instalment_fen = instalment_fen - s.inst, "
        "fees_fen = fees_fen + s.fee, cycle_interest_fen = 0, cycle_penalty_fen = 0, "
        "stmt_remaining_fen = s.closing, min_remaining_fen = s.minimum, "
        "last_statement_date = :d, next_statement_date = :nxt, version = version + 1, "
        f"updated_us = :now FROM {table} s WHERE credit_lines.id = s.line_id",
        {"nxt": _day(ctx, nxt), "now": ctx.now_us},
    )
    due_days = ctx.sql(
        f"SELECT DISTINCT due_day FROM credit_lines WHERE id IN (SELECT line_id FROM {table})"
    ).scalars()
    for due_day in due_days:  # at most 28 values: one UPDATE per billing setting, not per line
        ctx.sql(
            "UPDATE credit_lines SET due_date = :due WHERE last_statement_date = :d "
            f"AND due_day = :dd AND id IN (SELECT line_id FROM {table})",
            {"due": _day(ctx, rules.next_on_day(ctx.business_date, int(due_day))), "dd": due_day},
        )
    ctx.sql(
        "UPDATE credit_line_statements SET due_date = (SELECT l.due_date FROM credit_lines l "
        "WHERE l.id = credit_line_statements.line_id) WHERE statement_date = :d "
        f"AND line_id IN (SELECT line_id FROM {table})"
    )
    ctx.sql(
        "UPDATE credit_line_entries SET statement_id = (SELECT st.id FROM credit_line_statements"
        " st WHERE st.line_id = credit_line_entries.line_id AND st.statement_date = :d) "
        f"WHERE statement_id IS NULL AND line_id IN (SELECT line_id FROM {table})"
    )
    for kind, col in (("fee", "fee"), ("interest", "intr"), ("penalty", "pen")):
        ctx.sql(
            "INSERT INTO credit_line_entries (line_id, kind, amount_fen, business_date, "
            "statement_id, refunded_fen, to_fees_fen, to_interest_fen, to_principal_fen, actor, "
            f"created_us) SELECT s.line_id, '{kind}', s.{col}, :d, st.id, 0, 0, 0, 0, 'system', "
            f":now FROM {table} s JOIN credit_line_statements st ON st.line_id = s.line_id "
            f"AND st.statement_date = :d WHERE s.{col} > 0",
            {"now": ctx.now_us},
        )
    ctx.sql(
        f"UPDATE credit_line_plans SET principal_billed_fen = principal_billed_fen + "
        f"{_PLAN_PERIOD.replace('p.', '')}, periods_billed = periods_billed + 1, "
        "state = CASE WHEN periods_billed + 1 = periods THEN 'completed' ELSE state END "
        f"WHERE state = 'active' AND line_id IN (SELECT line_id FROM {table})"
    )
    ctx.sql(
        "UPDATE credit_lines SET next_statement_date = :nxt "
        "WHERE next_statement_date = :d AND id >= :lo AND id < :hi",
        {"nxt": _day(ctx, nxt)},
    )
    ctx.post("cl_statement", [Leg(books.FEES, A.FEE_INCOME, int(inst_f.sum()), T.FEE)])
    issued = ctx.sql(
        "SELECT st.id, st.line_id, st.due_date, st.closing_fen, st.minimum_fen "
        f"FROM credit_line_statements st WHERE st.statement_date = :d "
        f"AND st.line_id IN (SELECT line_id FROM {table}) ORDER BY st.line_id"
    ).all()
    events.emit_many(
        ctx.conn,
        topic="creditline.statement",
        events=[
            (
                events.creditline_key(r.line_id),
                {
                    "line_id": r.line_id,
                    "statement_id": r.id,
                    "statement_date": ctx.business_date.isoformat(),
                    "due_date": str(r.due_date),
                    "closing_fen": r.closing_fen,
                    "minimum_fen": r.minimum_fen,
                },
            )
            for r in issued
        ],
        clock=ctx.clock,
    )
    return _result(len(rows), int(closing.sum()), {"fees_fen": int(inst_f.sum())})


# --- 6. check ---------------------------------------------------------------------------------


def check(ctx: Ctx) -> StepResult:
    """The credit-line receivables equal the lines (each operation and step posts its rows and
    its GL in one transaction, so this holds after every commit); a difference stops the batch
    with the date still open, as the loans' check does."""
    differ = books.check_subledger(ctx.conn)
    if differ:
        raise Conflict(
            "credit_line_books_differ",
            "credit-line GL and lines differ: "
            + ", ".join(f"{k.name} {gl} ≠ {sub}" for k, (gl, sub) in differ.items()),
        )
    return _result()


#: The steps, in order, as registered in ``eod_steps.STEPS``.
STEPS = (
    ("cl_debit", debit),
    ("cl_charge", charge),
    ("cl_due", due),
    ("cl_age", age),
    ("cl_statement", statement),
    ("cl_check", check),
)
