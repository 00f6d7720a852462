"""Credit lines in a simulated day (消费信贷, docs/credit_line.md), through
``lending.credit_line``'s services.

On the first day a share of borrowers apply for a line: risk grants it at their scorecard grade
and declared income within the caps (a grade the policy does not grant, or no room under
MCL-CAP-01, is refused and counted). Every afternoon some holders buy at the sandbox merchant,
within what is available. On a statement's due date, before the end of day, each holder with
something to pay pays it in full, pays the minimum, converts the statement into instalments
(账单分期) and pays what is left of it, or does not pay; the end of day bills, charges
interest on revolving balances and penalty on a missed minimum, and ages the line.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, select

from puhui.core.errors import PuhuiError
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.lending.credit_line import draws, instalments, repayment, service
from puhui.lending.credit_line.models import lines
from puhui.sim.world import World

#: Share of borrowers who ask for a line on the first day.
LINE_SHARE = 0.35
#: At most this many lines on the first day, and this many grants a transaction.
MAX_LINES = 20_000
GRANT_CHUNK = 1_000
#: A line holder buys on a given day with this probability.
PURCHASE_RATE = 0.06
#: Purchase amounts: lognormal around 300 yuan, whole yuan, at least 10.
PURCHASE_MEDIAN_FEN = 30_000
PURCHASE_SIGMA = 0.9
#: What a holder does with a statement due today: pay in full, pay the minimum, convert it
#: into instalments, or nothing (in this order).
BEHAVIOUR = (0.6, 0.22, 0.12, 0.06)
INSTALMENT_PERIODS = (3, 6, 12)
MERCHANT = "sandbox"


def _customer(cid: int) -> Actor:
    return Actor(f"customer:{cid}")


def grant_lines(world: World) -> None:
    """The first day: a share of borrowers are granted a line, each in its own savepoint, a
    chunk of them per transaction (one transaction for a million-borrower book's 350,000 grants
    runs PostgreSQL out of lock memory). Each grant is the full service path, so a large book
    grants at most ``MAX_LINES`` of them: the rest of its borrowers have loans from the bulk
    book and no line."""
    b = world.borrowers
    assert b is not None
    chosen = (world.rng.random(len(world.borrower_ids)) < LINE_SHARE).nonzero()[0][:MAX_LINES]
    grades = world.model.card.grades_of(b.score[chosen])
    risk = Actor(f"staff:{world.staff_ids['risk_manager']}")
    for lo in range(0, len(chosen), GRANT_CHUNK):
        part = slice(lo, lo + GRANT_CHUNK)
        _grant_chunk(world, chosen[part].tolist(), grades[part].tolist(), risk)


def _grant_chunk(world: World, rows: list[int], grades: list[str], risk: Actor) -> None:
    b = world.borrowers
    assert b is not None

    def work(conn: Connection) -> dict[str, int]:
        outcome: dict[str, int] = {}
        for row, grade in zip(rows, grades, strict=True):
            try:
                with conn.begin_nested():
                    service.grant(
                        conn,
                        customer_id=int(world.borrower_ids[row]),
                        grade=str(grade),
                        annual_income_fen=int(b.people.income_fen[row]),
                        actor=risk,
                        clock=world.clock,
                    )
                key = "credit_lines_granted"
            except PuhuiError as exc:
                key = f"credit_lines_refused_{exc.code}"
            outcome[key] = outcome.get(key, 0) + 1
        return outcome

    for key, n in sorted(run_in_transaction(world.engine, work).items()):
        world.count(key, n)


def _holders(conn: Connection) -> list[tuple[int, int]]:
    ln = lines.c
    rows = conn.execute(
        select(ln.id, ln.customer_id).where(ln.state == "active").order_by(ln.id)
    ).all()
    return [(int(a), int(b)) for a, b in rows]


def purchases(world: World) -> None:
    """16:05 — some holders buy at the sandbox merchant, within what is available."""
    if world.borrowers is None:
        return
    world.at(16, 5)
    if world.day_index == 0:
        grant_lines(world)
    with world.engine.connect() as conn:
        holders = _holders(conn)
    if not holders:
        return
    buying = world.rng.random(len(holders)) < PURCHASE_RATE
    amounts = np.maximum(
        np.rint(
            world.rng.lognormal(np.log(PURCHASE_MEDIAN_FEN), PURCHASE_SIGMA, len(holders)) / 100
        ).astype(np.int64)
        * 100,
        1_000,
    )
    day = world.today.isoformat()
    for k in buying.nonzero()[0].tolist():
        line_id, cid = holders[k]

        def buy(c: Connection, line_id: int = line_id, cid: int = cid, fen: int = 0) -> None:
            draws.purchase(
                c,
                line_id=line_id,
                amount_fen=fen,
                merchant=MERCHANT,
                actor=_customer(cid),
                clock=world.clock,
                reference=f"sim-{day}-{line_id}",
                customer_id=cid,
            )

        try:
            run_in_transaction(world.engine, lambda c, f=buy, fen=int(amounts[k]): f(c, fen=fen))
        except PuhuiError as exc:  # over the available limit, a suspended line
            world.count(f"credit_line_purchases_refused_{exc.code}")
            continue
        world.count("credit_line_purchases")
        world.count("credit_line_purchases_fen", int(amounts[k]))


def _due_today(conn: Connection, world: World) -> list[tuple[int, int, int, int]]:
    ln = lines.c
    rows = conn.execute(
        select(ln.id, ln.customer_id, ln.stmt_remaining_fen, ln.min_remaining_fen)
        .where(ln.due_date == world.today, ln.stmt_remaining_fen > 0)
        .order_by(ln.id)
    ).all()
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def _settle(
    conn: Connection, world: World, *, line_id: int, cid: int, what: int, amount: int, periods: int
) -> None:
    """Pay ``amount`` (0, 1), or convert the statement into ``periods`` instalments and pay
    what is left of it (2)."""
    me = _customer(cid)
    if what == 2:
        instalments.convert_statement(
            conn, line_id=line_id, periods=periods, actor=me, clock=world.clock, customer_id=cid
        )
        amount = service.get(conn, line_id=line_id, clock=world.clock).stmt_remaining_fen
    if amount > 0:
        repayment.pay(
            conn, line_id=line_id, amount_fen=amount, actor=me, clock=world.clock, customer_id=cid
        )


def statement_payments(world: World) -> None:
    """18:10 — holders with a statement due today pay in full, the minimum, convert it into
    instalments, or do not pay; the end of day then bills, charges and ages."""
    world.at(18, 10)
    with world.engine.connect() as conn:
        due = _due_today(conn, world)
    if not due:
        return
    choice = world.rng.choice(len(BEHAVIOUR), size=len(due), p=BEHAVIOUR)
    periods = world.rng.choice(INSTALMENT_PERIODS, size=len(due))
    names = ("paid_in_full", "paid_minimum", "converted_to_instalments", "unpaid")
    for (line_id, cid, remaining, minimum), what, n in zip(
        due, choice.tolist(), periods.tolist(), strict=True
    ):
        if what < 3:
            amount = remaining if what == 0 else minimum
            try:
                run_in_transaction(
                    world.engine,
                    lambda c, i=line_id, who=cid, w=what, a=amount, p=int(n): _settle(
                        c, world, line_id=i, cid=who, what=w, amount=a, periods=p
                    ),
                )
            except PuhuiError as exc:
                world.count(f"credit_line_statements_refused_{exc.code}")
                continue
        world.count(f"credit_line_statements_{names[what]}")
