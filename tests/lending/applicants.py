"""Borrowers and products for the application tests: verified customers made through identity,
with the income and occupation the lending rules read."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Engine

from identity.conftest import ACTOR, ALICE, Person, new_customer
from puhui.core.clock import FixedClock
from puhui.db.engine import run_in_transaction
from puhui.identity import customers
from puhui.identity.crypto import Keyring
from puhui.lending import products
from puhui.lending.product_terms import ProductTerms
from puhui.lending.products import ProductVersion

from .samples import LICENSED

#: The clock fixture's business date.
DAY = date(2026, 11, 2)
#: 1,000–300,000 yuan, 8–18%, 3/6/12 months, licensed lender (cap 24%).
DIRECT: ProductTerms = replace(LICENSED, max_amount_fen=30_000_000)
#: A marketplace product: private lending, 4 × LPR 3.00% = 12% cap.
MARKETPLACE: ProductTerms = replace(
    LICENSED,
    mode="marketplace",
    regulatory_profile="private_lending",
    min_annual_rate=Decimal("0.06"),
    max_annual_rate=Decimal("0.08"),
    max_amount_fen=100_000_000,
)


def product(
    conn: Connection, clock: FixedClock, *, code: str = "XFD", terms: ProductTerms = DIRECT
) -> ProductVersion:
    return products.create_product(
        conn, code=code, name="消费贷", terms=terms, effective_from=date(2026, 1, 1), clock=clock
    )


def borrower(
    engine: Engine,
    keys: Keyring,
    clock: FixedClock,
    person: Person = ALICE,
    *,
    income_fen: int = 60_000_000,
    occupation: str = "engineer",
    verify: bool = True,
) -> int:
    """A customer registered and verified through identity, with a declared income."""
    cid = new_customer(engine, keys, clock, person, verify=verify)
    run_in_transaction(
        engine,
        lambda c: customers.update_profile(
            c,
            keys=keys,
            customer_id=cid,
            changes={"annual_income_fen": income_fen, "occupation": occupation},
            actor=ACTOR,
            clock=clock,
        ),
    )
    return cid
