"""The rules-only decision, each rule at its boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from credit.samples import id_number
from puhui.identity.models import customers
from puhui.lending import eligibility
from puhui.lending.eligibility import Borrower
from puhui.lending.models import loans
from puhui.lending.products import ProductVersion

from . import factories
from .applicants import DIRECT, MARKETPLACE

TODAY = date(2026, 11, 2)
YUAN = 100


def version(terms=DIRECT, cap="0.24") -> ProductVersion:
    return ProductVersion(
        1, 1, "XFD", "消费贷", 1, date(2026, 1, 1), terms, Decimal(cap), Decimal(cap),
        Decimal(cap), "-", "-", 0,
    )  # fmt: skip


DIRECT_V, MARKET_V = version(), version(MARKETPLACE, "0.12")

#: 36 years old, verified, 600,000 a year, owing nothing.
PERSON = Borrower(
    customer_id=1,
    kind="person",
    kyc_verified=True,
    id_number=id_number("19900307"),
    annual_income_fen=600_000 * YUAN,
    student=False,
    other_platforms_fen=0,
    outstanding_fen=0,
)


def reasons(borrower=PERSON, v=DIRECT_V, amount=10_000 * YUAN, purpose="consumer_goods"):
    found = eligibility.evaluate(
        borrower, v, amount_fen=amount, term=12, purpose=purpose, today=TODAY
    )
    assert found.eligible == (not found.reasons)
    return [(h.code, h.regulation) for h in found.reasons]


def test_a_plain_request_is_eligible():
    assert reasons() == []


def test_identity_must_be_verified():
    assert reasons(replace(PERSON, kyc_verified=False)) == [("HR-IDENTITY", "P2P-OBL-03")]
    assert reasons(replace(PERSON, id_number="")) == [("HR-IDENTITY", "P2P-OBL-03")]


@pytest.mark.parametrize(
    ("birth", "ok"),
    [
        ("20041102", True),  # 22 today
        ("20041103", False),  # 22 tomorrow
        ("19711102", True),  # 55 today
        ("19711101", True),  # 55 until tomorrow
        ("19701102", False),  # 56 today
    ],
)
def test_age_range(birth, ok):
    found = reasons(replace(PERSON, id_number=id_number(birth)))
    assert found == ([] if ok else [("HR-AGE", None)])


@pytest.mark.parametrize(
    ("amount", "ok"),
    [(100_000, True), (99_999, False), (30_000_000, True), (30_000_001, False)],
)
def test_amount_within_the_product_range(amount, ok):
    rich = replace(PERSON, annual_income_fen=10_000_000 * YUAN)
    assert (("HR-AMOUNT", None) in reasons(rich, amount=amount)) != ok


def test_p2p_cap_01_exactly_200000_is_accepted():
    owes = replace(PERSON, outstanding_fen=150_000 * YUAN)
    assert reasons(owes, MARKET_V, amount=50_000 * YUAN) == []
    assert reasons(owes, MARKET_V, amount=50_000 * YUAN + 1) == [("HR-P2P-CAP-01", "P2P-CAP-01")]


def test_p2p_cap_03_across_platforms():
    owes = replace(PERSON, outstanding_fen=100_000 * YUAN, other_platforms_fen=850_000 * YUAN)
    assert reasons(owes, MARKET_V, amount=50_000 * YUAN) == []
    assert reasons(owes, MARKET_V, amount=50_000 * YUAN + 1) == [("HR-P2P-CAP-03", "P2P-CAP-03")]


def test_entity_caps_p2p_cap_02_and_04():
    entity = replace(PERSON, kind="entity", id_number="", outstanding_fen=950_000 * YUAN)
    assert reasons(entity, MARKET_V, amount=50_000 * YUAN) == []
    assert reasons(entity, MARKET_V, amount=50_000 * YUAN + 1) == [("HR-P2P-CAP-02", "P2P-CAP-02")]
    spread = replace(entity, outstanding_fen=0, other_platforms_fen=4_950_000 * YUAN)
    assert reasons(spread, MARKET_V, amount=50_000 * YUAN) == []
    assert reasons(spread, MARKET_V, amount=50_000 * YUAN + 1) == [("HR-P2P-CAP-04", "P2P-CAP-04")]
    assert reasons(replace(entity, outstanding_fen=0), DIRECT_V, amount=1_000 * YUAN) == []


@pytest.mark.parametrize(
    ("income_yuan", "limit_yuan"), [(600_000, 200_000), (1_500_000, 300_000), (90_000, 30_000)]
)
def test_mcl_cap_01_income_based_limit(income_yuan, limit_yuan):
    """min(300,000, income / 3): the limit itself is accepted, a fen more is not."""
    earner = replace(PERSON, annual_income_fen=income_yuan * YUAN)
    rich = replace(DIRECT, max_amount_fen=1_000_000 * YUAN)
    v = version(rich)
    assert reasons(earner, v, amount=limit_yuan * YUAN) == []
    assert reasons(earner, v, amount=limit_yuan * YUAN + 1) == [("HR-MCL-CAP-01", "MCL-CAP-01")]
    owes = replace(earner, outstanding_fen=limit_yuan * YUAN - 1_000 * YUAN)
    assert reasons(owes, v, amount=1_000 * YUAN) == []
    assert reasons(owes, v, amount=1_000 * YUAN + 1) == [("HR-MCL-CAP-01", "MCL-CAP-01")]


def test_rate_cash_01_income_student_and_purpose():
    assert ("HR-NO-INCOME", "RATE-CASH-01") in reasons(replace(PERSON, annual_income_fen=0))
    assert reasons(replace(PERSON, student=True)) == [("HR-STUDENT", "RATE-CASH-01")]
    assert reasons(purpose="unspecified") == [("HR-PURPOSE", "RATE-CASH-01")]


@pytest.mark.parametrize(
    "purpose",
    ["securities", "derivatives", "asset_management", "home_purchase", "mortgage_repayment"],
)
def test_prohibited_purposes(purpose):
    assert reasons(purpose=purpose) == [("HR-PURPOSE", "MCL-USE-01")]
    assert reasons(v=MARKET_V, purpose=purpose) == [("HR-PURPOSE", "P2P-BRW-02")]


def test_every_reason_is_kept_not_only_the_first():
    worst = replace(PERSON, kyc_verified=False, annual_income_fen=0, student=True)
    assert [code for code, _ in reasons(worst, purpose="securities", amount=1)] == [
        "HR-IDENTITY",
        "HR-NO-INCOME",
        "HR-STUDENT",
        "HR-PURPOSE",
        "HR-AMOUNT",
        "HR-MCL-CAP-01",
    ]


def _loan(conn, clock, version_, cid, *, state, principal, outstanding):
    loan_id = factories.accepted_loan(
        conn, clock, version=version_, customer_id=cid, amount_fen=principal,
        annual_rate=Decimal("0.08"),
    )  # fmt: skip
    conn.execute(
        update(loans)
        .where(loans.c.id == loan_id)
        .values(state=state, principal_outstanding_fen=outstanding)
    )
    return loan_id


def test_p2p_cap_05_repayment_frees_room(engine, clock):
    """Borrow 200,000, repay 50,000 of principal: a new 50,000 loan is accepted."""
    with engine.begin() as c:
        v = factories.product(c, clock, code="P2P", terms=MARKETPLACE)
        cid = factories.customer(c, clock)
        loan_id = _loan(
            c, clock, v, cid, state="active", principal=200_000 * YUAN, outstanding=200_000 * YUAN
        )
        owed = eligibility.outstanding_principal_fen(c, customer_id=cid)
        assert owed == 200_000 * YUAN
        assert reasons(replace(PERSON, outstanding_fen=owed), v, amount=50_000 * YUAN) == [
            ("HR-P2P-CAP-01", "P2P-CAP-01")
        ]
        c.execute(
            update(loans)
            .where(loans.c.id == loan_id)
            .values(principal_outstanding_fen=150_000 * YUAN)
        )
        owed = eligibility.outstanding_principal_fen(c, customer_id=cid)
        assert owed == 150_000 * YUAN
        assert reasons(replace(PERSON, outstanding_fen=owed), v, amount=50_000 * YUAN) == []


def test_outstanding_counts_what_is_still_owed_by_state(engine, clock):
    with engine.begin() as c:
        v = factories.product(c, clock, code="P2P", terms=MARKETPLACE)
        cid, other = factories.customer(c, clock), factories.customer(c, clock)
        for state, principal, outstanding in [
            ("accepted", 30_000, 0),  # signed, not paid out: counts in full
            ("disbursed", 20_000, 20_000),
            ("active", 50_000, 10_000),
            ("written_off", 7_000, 7_000),
            ("settled", 40_000, 0),
            ("cancelled", 60_000, 0),
        ]:
            _loan(c, clock, v, cid, state=state, principal=principal * YUAN,
                  outstanding=outstanding * YUAN)  # fmt: skip
        _loan(c, clock, v, other, state="active", principal=9_000 * YUAN, outstanding=9_000 * YUAN)
        assert eligibility.outstanding_principal_fen(c, customer_id=cid) == 67_000 * YUAN


def test_p2p_cap_06_one_identity_one_customer(engine, clock):
    """Caps are per identity: a second account with the same ID number cannot exist, so the
    balance summed per ID number cannot be split across accounts."""
    with engine.begin() as c:
        cid = factories.customer(c, clock)
        bidx = c.execute(
            customers.select().with_only_columns(customers.c.id_number_bidx)
            .where(customers.c.id == cid)
        ).scalar()  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(
            insert(customers).values(
                kind="person", status="active", phone_bidx="another-phone", id_number_bidx=bidx,
                kyc_status="verified", password_hash="-", password_changed_us=0,
                failed_logins=0, wrapped_key="-", key_id="t", created_us=0, updated_us=0,
            )
        )  # fmt: skip
