"""Money out to borrowers and back, through ``lending.servicing`` and the debit channel.

Signed loans are paid out by finance. At payout each loan draws its fate from the borrower's
modelled probability of default: with probability PD the borrower stops paying from a random
installment on (the scorecard's "bad" outcome, over the loan's life), otherwise they pay. A
paying borrower funds the sandbox debit card before the end-of-day batch with the amount due,
mostly on time, sometimes not (then pays late by hand); some prepay in full. So defaults happen
at the modelled rates and the books see every path: auto-debit, manual and late repayment,
penalties, prepayment.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, select

from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.lending import debit_channel, servicing
from puhui.lending.accounts import company_funded
from puhui.lending.models import installment_unpaid_fen, installments, loans
from puhui.sim.world import World

#: A paying borrower has the money on the card by the due date with this probability.
ON_TIME = 0.93
#: A late (not defaulting) borrower pays what is overdue by hand on a given day.
CURE_RATE = 0.25
#: A current borrower prepays the whole loan on a given day.
PREPAY_RATE = 0.002


def _staff(world: World, role: str) -> Actor:
    return Actor(f"staff:{world.staff_ids[role]}")


def _pd_of(world: World) -> dict[int, float]:
    assert world.borrowers is not None
    return dict(zip(world.borrower_ids.tolist(), world.borrowers.pd.tolist(), strict=True))


def disbursements(world: World) -> None:
    """16:00 — finance pays out every signed loan; each loan's fate is drawn now."""
    world.at(16)
    with world.engine.connect() as conn:
        signed = conn.execute(
            select(loans.c.id, loans.c.customer_id, loans.c.term)
            .where(loans.c.state == "accepted")
            .order_by(loans.c.id)
        ).all()
    if not signed:
        return
    pds = _pd_of(world)
    finance = _staff(world, "finance_staff")
    for loan_id, customer_id, term in signed:
        run_in_transaction(
            world.engine,
            lambda c, i=loan_id: servicing.disburse(c, loan_id=i, actor=finance, clock=world.clock),
        )
        defaults = world.rng.random() < pds.get(int(customer_id), 0.0)
        world.default_from[int(loan_id)] = int(world.rng.integers(1, term + 1)) if defaults else 0
        world.count("loans_disbursed")


def _due(conn: Connection, world: World) -> list[tuple[int, int, int, int]]:
    """(loan id, customer id, first unpaid installment, amount due) of live company-funded
    loans with something due by today (marketplace borrowers pay into custody: ``market``)."""
    unpaid = installment_unpaid_fen()
    rows = conn.execute(
        select(
            loans.c.id,
            loans.c.customer_id,
            func.min(installments.c.seq),
            func.sum(unpaid),  # type: ignore[arg-type]
        )
        .select_from(loans.join(installments, installments.c.loan_id == loans.c.id))
        .where(
            and_(
                loans.c.state.in_(("disbursed", "active")),
                company_funded(),
                installments.c.due_date <= world.today,
                unpaid > 0,  # type: ignore[operator]
            )
        )
        .group_by(loans.c.id, loans.c.customer_id)
        .order_by(loans.c.id)
    ).all()
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in rows]


def _paying(world: World, loan_id: int, seq: int) -> bool:
    start = world.default_from.get(loan_id, 0)
    return start == 0 or seq < start


def card_funding(world: World) -> None:
    """18:00 — paying borrowers put what is due on their debit card for tonight's auto-debit."""
    world.at(18)
    with world.engine.connect() as conn:
        due = _due(conn, world)
    balances: dict[int, int] = {}
    for loan_id, customer_id, seq, amount in due:
        if _paying(world, loan_id, seq) and world.rng.random() < ON_TIME:
            balances[customer_id] = balances.get(customer_id, 0) + amount
    if balances:
        run_in_transaction(
            world.engine,
            lambda c: debit_channel.fund(c, balances=balances, clock=world.clock),
        )
        world.count("cards_funded", len(balances))


def manual_payments(world: World) -> None:
    """09:30 — late borrowers who still pay bring what is overdue; a few prepay in full."""
    world.at(9, 30)
    with world.engine.connect() as conn:
        due = {loan_id: seq for loan_id, _c, seq, _a in _due(conn, world)}
        live = conn.execute(
            select(loans.c.id, loans.c.customer_id)
            .where(loans.c.state.in_(("disbursed", "active")), company_funded())
            .order_by(loans.c.id)
        ).all()
    for loan_id, customer_id in live:
        me = Actor(f"customer:{customer_id}")
        draw = world.rng.random()
        if loan_id in due:
            if not _paying(world, loan_id, due[loan_id]) or draw >= CURE_RATE:
                continue

            def late(c: Connection, i: int = loan_id, who: Actor = me) -> None:
                owed = servicing.quote(c, loan_id=i, clock=world.clock).payable_fen
                if owed > 0:
                    servicing.repay(c, loan_id=i, amount_fen=owed, actor=who, clock=world.clock)

            run_in_transaction(world.engine, late)
            world.count("late_repayments")
        elif draw < PREPAY_RATE:
            run_in_transaction(
                world.engine,
                lambda c, i=loan_id, who=me: servicing.prepay(
                    c, loan_id=i, mode="full", actor=who, clock=world.clock
                ),
            )
            world.count("prepayments")
