"""The initial book, set-based: for a simulation too big for one service call per loan.

At a large scale (``SimConfig.book_at_start``, by default from ``BULK_BOOK_FROM`` borrowers) every
borrower starts the first day with one loan already paid out, made by
``lending.bulk.originate`` in batches of ``BATCH`` loans (one transaction, one GL posting and
one audit entry each) instead of through ``lending.applications`` and ``servicing.disburse``
(0.1–0.25 s a loan). Each loan is what the borrower asks for (the German credit row's amount
and duration, inside the product's ranges) at a rate drawn from the product's range on a
half-point grid, with the seeded generator. Its fate is drawn as ``repaying.disbursements``
draws it: with the borrower's modelled PD it stops being paid from a uniformly drawn
installment on. Then the day loop runs as usual (the end-of-day batch is set-based already);
the small demo keeps the service path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.identity.identifiers import mask_id, mask_name
from puhui.lending import bulk, contract_terms, products
from puhui.sim.world import World

Progress = Callable[[str, int, int], None]

#: Loans per transaction: one GL posting and one audit entry each.
BATCH = 50_000
#: Rates are priced on this grid (parts per 10⁹: half a percentage point).
RATE_STEP_PPB = 5_000_000


def rates_ppb(world: World, low: int, high: int, n: int) -> np.ndarray:
    """``n`` rates drawn uniformly from the grid points of the product's range."""
    first = -(-low // RATE_STEP_PPB)
    points = np.arange(first, high // RATE_STEP_PPB + 1, dtype=np.int64) * RATE_STEP_PPB
    if not len(points):
        points = np.array([low], dtype=np.int64)
    return points[world.rng.integers(0, len(points), size=n)]


def originate_book(world: World, progress: Progress) -> None:
    """One paid-out loan per borrower, set-based, and each loan's drawn fate."""
    b = world.borrowers
    assert b is not None
    n = len(world.borrower_ids)
    if n == 0:
        return
    world.at(8, 30)
    with world.engine.connect() as conn:
        version = products.get_product(conn, code=world.product_code)
    terms = version.terms
    rate = rates_ppb(
        world,
        contract_terms.rate_ppb(terms.min_annual_rate),
        contract_terms.rate_ppb(terms.max_annual_rate),
        n,
    )
    amount = np.clip(b.amount_fen, terms.min_amount_fen, terms.max_amount_fen)
    names = [mask_name(str(x)) for x in b.people.name.tolist()]
    id_numbers = [mask_id(str(x), mode="holder") for x in b.people.id_number.tolist()]
    finance = Actor(f"staff:{world.staff_ids['finance_staff']}")
    progress("book", 0, n)
    loan_ids = np.zeros(n, dtype=np.int64)
    for lo in range(0, n, BATCH):
        part = slice(lo, min(n, lo + BATCH))

        def tick(stage: str, done: int, _total: int, lo: int = lo) -> None:
            if stage == "loans":
                progress("book", lo + done, n)

        made = run_in_transaction(
            world.engine,
            lambda c, part=part, tick=tick: bulk.originate(
                c,
                product_version_id=version.version_id,
                customer_ids=world.borrower_ids[part],
                amount_fen=amount[part],
                term=b.term[part],
                rate_ppb=rate[part],
                borrower_names=names[part],
                borrower_id_numbers=id_numbers[part],
                actor=finance,
                clock=world.clock,
                channel="sim-book",
                progress=tick,
            ),
        )
        loan_ids[part] = made.loan_ids
    defaults = world.rng.random(n) < b.pd
    start = (world.rng.random(n) * b.term).astype(np.int64) + 1
    world.default_from.update(
        zip(loan_ids[defaults].tolist(), start[defaults].tolist(), strict=True)
    )
    world.count("loans_disbursed", n)
    world.count("book_loans_originated_in_bulk", n)
    progress("book", n, n)
