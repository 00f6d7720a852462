"""Set-based origination (``lending.bulk``): a batch makes exactly the loans the application
flow and ``servicing.disburse`` make one by one, the books agree afterwards (and after the
end-of-day batch), and a refused batch changes nothing."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, func, select

import identity.conftest as identity_fixtures
from identity.conftest import ALICE, BOB
from puhui.core.clock import FixedClock
from puhui.core.errors import Conflict, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.ledger.models import transfers
from puhui.ledger.verify import verify
from puhui.lending import accounts, bulk, calendar, contracts, servicing
from puhui.lending import applications as apps
from puhui.lending.jobs import run_eod
from puhui.lending.models import application_events, applications, installments, loans
from puhui.lending.models import loan_transactions as txns
from puhui.lending.products import ProductVersion

from . import factories
from .applicants import DAY, DIRECT, MARKETPLACE, borrower, product

keys = identity_fixtures.keys
cheap_argon2 = identity_fixtures.cheap_argon2
FINANCE = Actor("staff:9")
SYSTEM = Actor("system")
#: An upfront fee of 0.5% and 0.05% of the principal with every installment: the fee legs,
#: installment 0 paid at once, period fees in the schedule.
WITH_FEES = replace(
    DIRECT,
    max_annual_rate=Decimal("0.15"),
    upfront_fee_rate=Decimal("0.005"),
    period_fee_rate=Decimal("0.0005"),
)
#: (borrower, amount, term, rate): a handful of different loans.
CASES = [
    (0, 1_200_000, 12, "0.135"),
    (1, 500_000, 3, "0.08"),
    (0, 2_345_678, 6, "0.15"),
    (1, 100_000, 12, "0.1"),
]


def _ppb(rate: str) -> int:
    return int(Decimal(rate) * 10**9)


def _one_by_one(
    engine: Engine, keys: Keyring, clock: FixedClock, version: ProductVersion, cid: int, case: Any
) -> int:
    """The single path: apply, review, offer at the rate, accept, pay out; the loan id."""
    _, amount, term, rate = case
    me = Actor(f"customer:{cid}")

    def decided(c: Connection) -> int:
        made = apps.create(
            c,
            customer_id=cid,
            product_version_id=version.version_id,
            amount_fen=amount,
            term=term,
            purpose="consumer_goods",
            actor=me,
            clock=clock,
        )
        apps.submit(c, application_id=made.id, customer_id=cid, actor=me, clock=clock)
        assert (
            apps.review(c, application_id=made.id, actor=SYSTEM, keys=keys, clock=clock).state
            == "approved"
        )
        apps.make_offer(
            c, application_id=made.id, actor=SYSTEM, clock=clock, annual_rate=Decimal(rate)
        )
        signed = apps.accept(
            c, application_id=made.id, customer_id=cid, actor=me, keys=keys, clock=clock
        )
        assert signed.loan_id is not None
        servicing.disburse(c, loan_id=signed.loan_id, actor=FINANCE, clock=clock)
        return signed.loan_id

    return run_in_transaction(engine, decided)


def _ids_out(text: str, app_id: int) -> str:
    return re.sub(rf"(申请编号：|Application ){app_id}\b", r"\1#", text)


def _loan(c: Connection, loan_id: int) -> dict[str, Any]:
    row = dict(c.execute(select(loans).where(loans.c.id == loan_id)).one()._mapping)
    app_id = row.pop("application_id")
    row.pop("id")
    row["contract_text"] = _ids_out(row["contract_text"], app_id)
    assert row.pop("contract_sha256") == contracts.sha256_of(
        c.execute(select(loans.c.contract_text).where(loans.c.id == loan_id)).scalar_one()
    )
    row["installments"] = [
        dict(r._mapping, loan_id=None)
        for r in c.execute(
            select(installments).where(installments.c.loan_id == loan_id).order_by("seq")
        )
    ]
    row["transactions"] = [
        {
            **dict(r._mapping),
            "id": None,
            "loan_id": None,
            "external_ref": r.external_ref and r.external_ref.replace(str(loan_id), "#"),
        }
        for r in c.execute(select(txns).where(txns.c.loan_id == loan_id).order_by(txns.c.id))
    ]
    app = c.execute(select(applications).where(applications.c.id == app_id)).one()
    row["application"] = (app.state, app.customer_id, app.amount_fen, app.term, app.annual_rate)
    return row


@pytest.mark.parametrize("terms", [DIRECT, WITH_FEES], ids=["plain", "fees"])
def test_a_batch_makes_what_the_single_path_makes(engine, keys, clock, terms) -> None:
    version = run_in_transaction(engine, lambda c: product(c, clock, terms=terms))
    run_in_transaction(engine, lambda c: calendar.set_date(c, business_date_=DAY, clock=clock))
    run_in_transaction(engine, lambda c: factories.fund(c, clock, amount=1_000_000_000))
    people = [borrower(engine, keys, clock, ALICE), borrower(engine, keys, clock, BOB)]
    with engine.connect() as c:
        before = accounts.balances(c)
    singles = [_one_by_one(engine, keys, clock, version, people[case[0]], case) for case in CASES]
    with engine.connect() as c:
        middle = accounts.balances(c)
    made = run_in_transaction(
        engine,
        lambda c: bulk.originate(
            c,
            product_version_id=version.version_id,
            customer_ids=[people[p] for p, *_ in CASES],
            amount_fen=[a for _, a, _, _ in CASES],
            term=[t for *_, t, _ in CASES],
            rate_ppb=[_ppb(r) for *_, r in CASES],
            keys=keys,
            actor=FINANCE,
            clock=clock,
            chunk=3,  # two chunks
        ),
    )
    assert made.count == len(CASES)
    with engine.connect() as c:
        after = accounts.balances(c)
        for single, batched in zip(singles, made.loan_ids.tolist(), strict=True):
            assert _loan(c, batched) == _loan(c, single)
            assert contracts.verify_contract(c, batched)
        assert {k: after[k] - middle[k] for k in after} == {k: middle[k] - before[k] for k in after}
        assert accounts.check_subledger(c) == {}
        assert accounts.trial_balance(c).balanced
        assert verify(c) == []
        events = c.execute(
            select(application_events.c.from_state, application_events.c.to_state).where(
                application_events.c.application_id == int(made.application_ids[0])
            )
        ).all()
        assert events == [(None, "disbursed")]


def _book(engine: Engine, clock: FixedClock, *, capital: int = 1_000_000_000) -> tuple[Any, list]:
    def work(c: Connection) -> tuple[Any, list]:
        calendar.set_date(c, business_date_=DAY, clock=clock)
        if capital:
            factories.fund(c, clock, amount=capital)
        version = factories.product(c, clock, terms=WITH_FEES)
        return version, [factories.customer(c, clock) for _ in range(50)]

    return run_in_transaction(engine, work)


def _arrays(cids: list[int], seed: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = len(cids)
    return {
        "customer_ids": np.asarray(cids),
        "amount_fen": rng.integers(1_000, 20_000, size=n) * 100,
        "term": rng.choice([3, 6, 12], size=n),
        "rate_ppb": rng.choice([80, 100, 120, 150], size=n) * 1_000_000,
        "borrower_names": ["张*"] * n,
        "borrower_id_numbers": ["110***********1234"] * n,
    }


def _originate(engine: Engine, clock: FixedClock, version: Any, **arrays: Any) -> Any:
    return run_in_transaction(
        engine,
        lambda c: bulk.originate(
            c, product_version_id=version.version_id, actor=FINANCE, clock=clock, **arrays
        ),
    )


def test_fifty_loans_keep_the_books_through_end_of_day(engine, clock) -> None:
    version, cids = _book(engine, clock)
    stages: list[tuple[str, int, int]] = []
    made = _originate(
        engine, clock, version, **_arrays(cids), chunk=20, progress=lambda *a: stages.append(a)
    )
    assert made.count == 50 and ("loans", 50, 50) in stages
    with engine.connect() as c:
        assert accounts.check_subledger(c) == {}
        assert accounts.trial_balance(c).balanced
        assert verify(c) == []
        posted = c.execute(
            select(func.count()).select_from(transfers).where(transfers.c.code == 11)
        ).scalar()
        assert c.execute(select(func.sum(loans.c.principal_outstanding_fen))).scalar() == (
            made.principal_fen
        )
    assert posted is not None
    clock.advance(timedelta(hours=14))
    run_eod(engine, clock=clock, start=DAY)
    with engine.connect() as c:
        assert accounts.check_subledger(c) == {}
        assert set(c.execute(select(loans.c.state)).scalars()) == {"active"}


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (applications, loans, installments, txns, transfers)
        )


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"amount_fen": lambda a: np.where(np.arange(50) == 7, 50_000_000, a)}, ValidationError,
         "amount_out_of_range"),
        ({"term": lambda a: np.where(np.arange(50) == 3, 9, a)}, ValidationError,
         "term_not_offered"),
        ({"rate_ppb": lambda a: a + 100_000_000}, ValidationError, "rate_out_of_range"),
        ({"rate_ppb": lambda a: a.astype(float) / 1e9}, ValidationError, "bulk_array_invalid"),
        ({"term": lambda a: a[:-1]}, ValidationError, "bulk_array_length"),
        ({"customer_ids": lambda a: a + 1_000}, ValidationError, "borrower_not_eligible"),
        ({"amount_fen": lambda a: np.full(50, 20_000_000), "customer_ids": lambda a: a * 0 + a[0]},
         ValidationError, "balance_above_cap"),
    ],
)  # fmt: skip
def test_a_refused_batch_changes_nothing(engine, clock, change, error, code) -> None:
    version, cids = _book(engine, clock)
    arrays = _arrays(cids)
    for key, how in change.items():
        arrays[key] = how(arrays[key])
    before = _counts(engine)
    with pytest.raises(error) as raised:
        _originate(engine, clock, version, **arrays)
    assert raised.value.code == code
    assert _counts(engine) == before


def test_the_cash_must_cover_the_whole_batch(engine, clock) -> None:
    version, cids = _book(engine, clock, capital=5_000_000)
    before = _counts(engine)
    with pytest.raises(Conflict) as raised:
        _originate(engine, clock, version, **_arrays(cids))
    assert raised.value.code == "insufficient_company_cash"
    assert _counts(engine) == before


def test_marketplace_products_are_not_originated_in_bulk(engine, clock) -> None:
    _version, cids = _book(engine, clock)
    market = run_in_transaction(
        engine, lambda c: factories.product(c, clock, code="P2P", terms=MARKETPLACE)
    )
    with pytest.raises(ValidationError) as raised:
        _originate(engine, clock, market, **_arrays(cids))
    assert raised.value.code == "bulk_direct_only"
