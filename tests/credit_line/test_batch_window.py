"""The batch window: while the end-of-day batch is part-way through closing a date for a line's
partition (it commits between its steps), money on the line is refused whole with
``end_of_day_in_progress``, as loan servicing refuses (``eod.closing``), and goes through once
the batch has finished."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from puhui.core.errors import Conflict
from puhui.lending import jobs
from puhui.lending.credit_line import draws, instalments, repayment, service
from puhui.lending.credit_line.models import entries

from .helpers import STAFF, books_agree, line

START = date(2026, 11, 28)


def test_money_on_a_line_is_refused_while_the_batch_closes_its_day(engine, clock):
    with engine.begin() as c:
        ln = line(c, clock, today=START)
        first = draws.purchase(
            c, line_id=ln.id, amount_fen=100_000, merchant="m", reference="a", actor=STAFF,
            clock=clock,
        ).entry_id  # fmt: skip
        second = draws.purchase(
            c, line_id=ln.id, amount_fen=60_000, merchant="m", reference="b", actor=STAFF,
            clock=clock,
        ).entry_id  # fmt: skip
        plan = instalments.convert_purchase(
            c, line_id=ln.id, purchase_id=second, periods=3, actor=STAFF, clock=clock
        )
    ops: dict[str, Callable[[Connection], Any]] = {
        "purchase": lambda c: draws.purchase(
            c,
            line_id=ln.id,
            amount_fen=5_000,
            merchant="m",
            reference="c",
            actor=STAFF,
            clock=clock,
        ),
        "refund": lambda c: draws.refund(
            c, line_id=ln.id, purchase_id=first, amount_fen=1_000, actor=STAFF, clock=clock
        ),
        "payment": lambda c: repayment.pay(
            c, line_id=ln.id, amount_fen=2_000, actor=STAFF, clock=clock
        ),
        "conversion": lambda c: instalments.convert_purchase(
            c, line_id=ln.id, purchase_id=first, periods=3, actor=STAFF, clock=clock
        ),
        "statement conversion": lambda c: instalments.convert_statement(
            c, line_id=ln.id, periods=3, actor=STAFF, clock=clock
        ),
        "settlement": lambda c: instalments.settle_early(
            c, line_id=ln.id, plan_id=plan.id, actor=STAFF, clock=clock
        ),
    }
    seen: dict[str, str] = {}

    def attempt(day: date, where: str) -> None:
        if where != "before:cl_statement":  # loan and earlier line steps committed
            return
        for name, op in ops.items():
            try:
                with engine.begin() as c:
                    op(c)
                seen[name] = "done"
            except Conflict as exc:
                seen[name] = exc.code

    jobs.run_eod(engine, clock=clock, through=START, hook=attempt)
    assert seen == dict.fromkeys(ops, "end_of_day_in_progress")
    with engine.connect() as c:
        after = service.get(c, line_id=ln.id, clock=clock)
        made = c.execute(select(entries.c.kind).order_by(entries.c.id)).scalars().all()
        books_agree(c)
    # nothing of the refused six moved: two purchases, the second into a plan of 60,000
    assert (after.unbilled_fen, after.instalment_fen, after.available_fen) == (
        100_000,
        60_000,
        840_000,
    )
    assert made == ["purchase", "purchase", "instalment"]
    with engine.begin() as c:  # the day is closed: the same purchase goes through
        ops["purchase"](c)
        ops["payment"](c)
        got = service.get(c, line_id=ln.id, clock=clock)
    assert (got.unbilled_fen, got.available_fen) == (103_000, 837_000)
    with engine.connect() as c:
        books_agree(c)
