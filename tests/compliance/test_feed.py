"""The regulator feed: one loan traced to its lenders' money (穿透式).

The money moves through the real custody flows (deposits, then investments from each lender's
sub-account to the borrower's); the loan comes from the lending services; the marketplace rows
(listing, bids, notes) are inserted straight into the ``mkt_`` tables with the custody
instructions' ledger transfer ids, as the marketplace's own flow would record them.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert

from custody.conftest import FAST_HASHER, fund, invest, open_user, settle
from identity.conftest import ALICE, BOB, new_customer
from lending import factories
from puhui.compliance.feed import SCHEMA, build_feed
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import Role
from puhui.identity.audit import Actor
from puhui.lending import servicing
from puhui.marketplace.models import bids, listings, notes

DAY = date(2026, 11, 2)


@pytest.fixture
def bank(engine, clock) -> SandboxBank:
    return SandboxBank(engine, clock=clock, hasher=FAST_HASHER)


def test_a_loan_traces_to_its_lenders_money(engine, clock, bank, keys):
    alice = new_customer(engine, keys, clock, ALICE)  # lender, verified: masked values exist
    bob = new_customer(engine, keys, clock, BOB)  # lender
    with engine.begin() as c:
        book = factories.setup(c, clock, amount_fen=1_000_000)
        servicing.disburse(c, loan_id=book.loan_id, actor=Actor("staff:1"), clock=clock)
    borrower = f"customer-{book.customer_id}"
    open_user(engine, bank, clock, borrower, role=Role.BORROWER)
    money = {}
    for lender, amount in ((alice, 600_000), (bob, 400_000)):
        ref = f"customer-{lender}"
        open_user(engine, bank, clock, ref)
        fund(engine, bank, clock, ref, amount + 50_000)
        money[lender] = invest(engine, bank, clock, ref, borrower, amount)
    settle(engine, bank, clock)
    with engine.begin() as c:
        listing = c.execute(
            insert(listings).values(
                application_id=1,
                loan_id=book.loan_id,
                borrower_id=book.customer_id,
                product_code="XFD",
                title="t",
                description="d",
                purpose="consumption",
                amount_fen=1_000_000,
                annual_rate="0.12",
                term_count=12,
                method="equal_installment",
                risk_grade="R2",
                min_bid_fen=100,
                step_fen=100,
                status="funded",
                created_at=1,
                updated_at=1,
            )
        ).inserted_primary_key[0]
        for lender, rec in money.items():
            c.execute(
                insert(bids).values(
                    listing_id=listing,
                    lender_id=lender,
                    amount_fen=rec.amount,
                    status="posted",
                    transfer_id=rec.ledger_pending_id or rec.ledger_transfer_id,
                    disclosure_version=1,
                    created_at=1,
                )
            )
            c.execute(
                insert(notes).values(
                    listing_id=listing,
                    loan_id=book.loan_id,
                    lender_id=lender,
                    principal_fen=rec.amount,
                    outstanding_principal_fen=rec.amount,
                    status="active",
                    acquired_at=1,
                    source="bid",
                )
            )
    with engine.connect() as c:
        feed = build_feed(c, as_of=DAY, keys=keys)

    assert feed["schema"] == SCHEMA
    loan = next(x for x in feed["loans"] if x["loan_id"] == book.loan_id)
    assert loan["outstanding_principal_fen"] == 1_000_000
    held = [n for n in feed["notes"] if n["loan_id"] == book.loan_id]
    assert sum(n["principal_fen"] for n in held) == loan["principal_fen"]
    accounts = {a["ledger_account_id"]: a for a in feed["accounts"]}
    balances = {b["ledger_account_id"]: b for b in feed["balances"]}
    for note in held:
        bid = next(
            b
            for b in feed["bids"]
            if b["listing_id"] == note["listing_id"] and b["lender_id"] == note["lender_id"]
        )
        moved = [
            t
            for t in feed["ledger_transfers"]
            if bid["transfer_id"] in (t["transfer_id"], t["pending_id"])
        ]
        assert moved, note
        source = accounts[moved[0]["debit_account_id"]]
        target = accounts[moved[0]["credit_account_id"]]
        # The lender's own custody sub-account paid; the borrower's received.
        assert (source["owner"], source["role"]) == (note["lender_id"], "lender")
        assert (target["owner"], target["role"]) == (book.customer_id, "borrower")
        assert moved[0]["amount_fen"] == note["principal_fen"]
        # What the lender had left at the day's end: the deposit less the investment.
        assert balances[moved[0]["debit_account_id"]]["balance_fen"] == 50_000
    borrower_account = next(
        a["ledger_account_id"] for a in feed["accounts"] if a["owner"] == book.customer_id
    )
    assert balances[borrower_account]["balance_fen"] == 1_000_000
    # Customers are masked: no personal value in the clear anywhere in the feed.
    people = {p["customer_id"]: p for p in feed["customers"]}
    assert people[alice]["id_number"] == ALICE.id_number[:3] + "*" * 11 + ALICE.id_number[-4:]
    assert people[alice]["phone"] == ALICE.phone[:3] + "****" + ALICE.phone[-4:]
    import json

    text = json.dumps(feed, ensure_ascii=False)
    for secret in (ALICE.id_number, ALICE.phone, ALICE.name, BOB.id_number, BOB.name):
        assert secret not in text
