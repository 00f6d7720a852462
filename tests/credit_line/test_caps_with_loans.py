"""MCL-CAP-01 counts what a person owes on every product: principal drawn on a credit line is
owed principal when the same person applies for a loan, and a refund gives the room back."""

from __future__ import annotations

from puhui.lending import eligibility
from puhui.lending.credit_line import draws

from .helpers import STAFF, line


def test_drawn_principal_counts_towards_the_personal_cap(engine, clock) -> None:
    with engine.begin() as c:
        made = line(c, clock)
        cid = made.customer_id
        assert eligibility.outstanding_principal_fen(c, customer_id=cid) == 0
        bought = draws.purchase(
            c, line_id=made.id, amount_fen=300_000, merchant="m", actor=STAFF, clock=clock
        )
        assert eligibility.outstanding_principal_fen(c, customer_id=cid) == 300_000
        draws.refund(
            c,
            line_id=made.id,
            purchase_id=bought.entry_id,
            amount_fen=100_000,
            actor=STAFF,
            clock=clock,
        )
        assert eligibility.outstanding_principal_fen(c, customer_id=cid) == 200_000
