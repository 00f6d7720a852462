"""The contract: amounts in words, deterministic text, a hash that changes with any field, and
verification against the stored loan."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

import identity.conftest as identity_fixtures
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor
from puhui.lending import applications as apps
from puhui.lending import contract_terms, contracts
from puhui.lending.apr import schedule_rates
from puhui.lending.models import loans
from puhui.lending.product_terms import Prepayment
from puhui.lending.schedules import Method, TermUnit, build_schedule

from .applicants import DAY, DIRECT, borrower, product
from .test_eligibility import version

keys = identity_fixtures.keys
cheap_argon2 = identity_fixtures.cheap_argon2


@pytest.mark.parametrize(
    ("fen", "zh", "en"),
    [
        (0, "人民币零元整", "zero yuan only"),
        (5, "人民币伍分", "zero yuan and five fen"),
        (1_000_100, "人民币壹万零壹元整", "ten thousand one yuan only"),
        (100_050_030, "人民币壹佰万零伍佰元叁角整", "one million five hundred yuan and thirty fen"),
        (20_000_000, "人民币贰拾万元整", "two hundred thousand yuan only"),
        (10_000_000_001, "人民币壹亿元零壹分", "one hundred million yuan and one fen"),
        (
            123_456_789_012,
            "人民币壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元壹角贰分",
            "one billion two hundred thirty-four million five hundred sixty-seven thousand "
            "eight hundred ninety yuan and twelve fen",
        ),
    ],
)
def test_amount_in_words(fen, zh, en):
    assert contracts.yuan_in_words_zh(fen) == zh
    assert contracts.yuan_in_words_en(fen) == en


V = version()
TERMS = contract_terms.loan_terms(
    V, amount_fen=1_200_000, term=3, annual_rate=Decimal("0.12"), start=DAY
)
SCHEDULE = build_schedule(TERMS)
RATES = schedule_rates(SCHEDULE)
CONTENT = contracts.ContractContent(
    application_id=7,
    lender="普惠小额贷款有限公司",
    borrower_name="欧阳*",
    borrower_id_number="110***********7712",
    customer_id=3,
    product_code="XFD",
    product_version=1,
    principal_fen=1_200_000,
    term=3,
    term_unit=TermUnit.MONTH,
    method=Method.EQUAL_INSTALLMENT,
    day_count="ACT/360",
    annual_rate=Decimal("0.12"),
    irr_annual_rate=RATES.annual_rate_irr,
    effective_annual_rate=RATES.effective_annual_rate,
    penalty_rate=Decimal("0.18"),
    upfront_fee_fen=0,
    period_fee_fen=0,
    late_fee_fen=5_000,
    grace_days=3,
    schedule=SCHEDULE.installments,
    start_date=DAY,
    maturity_date=SCHEDULE.installments[-1].due_date,
    cooling_off_hours=24,
    cooling_off_until_us=1_790_000_000_000_000,
    prepayment=Prepayment.ALLOWED_WITH_FEE,
    prepayment_fee_rate=Decimal("0.01"),
    signed_us=1_789_913_600_000_000,
)

CHANGED = {
    int: lambda v: v + 1,
    str: lambda v: v + "x",
    Decimal: lambda v: v + Decimal("0.0001"),
    date: lambda v: v + timedelta(days=1),
    TermUnit: lambda v: TermUnit.DAY,
    Method: lambda v: Method.EQUAL_PRINCIPAL,
    Prepayment: lambda v: Prepayment.ALLOWED,
    tuple: lambda v: (*v[:-1], replace(v[-1], interest_fen=v[-1].interest_fen + 1)),
}


def test_the_text_is_deterministic():
    text = contracts.render(CONTENT)
    assert text == contracts.render(replace(CONTENT))
    assert contracts.sha256_of(text) == contracts.sha256_of(contracts.render(CONTENT))
    assert "人民币壹万贰仟元整" in text and "twelve thousand yuan only" in text
    # RATE-APR-02/03: the IRR rate, labelled, comes before the simple contract rate.
    assert text.index("年化利率（按内部收益率法/复利计算）") < text.index("合同利率（单利）")
    assert f"{RATES.annual_rate_irr * 100:.4f}%" in text
    assert "冷静期" in text and "Cooling-off" in text and "提前还款" in text


@pytest.mark.parametrize("name", [f.name for f in fields(contracts.ContractContent)])
def test_the_hash_changes_when_any_field_changes(name):
    value = getattr(CONTENT, name)
    changed = replace(CONTENT, **{name: CHANGED[type(value)](value)})
    assert contracts.sha256_of(contracts.render(changed)) != contracts.sha256_of(
        contracts.render(CONTENT)
    )


def test_a_signed_contract_verifies_until_tampered(engine, keys, clock):
    v = run_in_transaction(engine, lambda c: product(c, clock, terms=DIRECT))
    cid = borrower(engine, keys, clock)
    actor = Actor(f"customer:{cid}")

    def sign(c):
        made = apps.create(
            c, customer_id=cid, product_version_id=v.version_id, amount_fen=1_200_000, term=3,
            purpose="travel", actor=actor, clock=clock,
        )  # fmt: skip
        apps.submit(c, application_id=made.id, customer_id=cid, actor=actor, clock=clock)
        apps.review(c, application_id=made.id, actor=actor, keys=keys, clock=clock)
        apps.make_offer(c, application_id=made.id, actor=actor, clock=clock)
        return apps.accept(
            c, application_id=made.id, customer_id=cid, actor=actor, keys=keys, clock=clock
        ).loan_id

    loan_id = run_in_transaction(engine, sign)
    with engine.begin() as c:
        assert contracts.verify_contract(c, loan_id)
        text = contracts.get_contract(c, loan_id=loan_id, customer_id=cid).text
        assert "欧阳*" in text and identity_fixtures.ALICE.id_number not in text
        assert "人民币壹万贰仟元整" in text
        c.execute(
            update(loans)
            .where(loans.c.id == loan_id)
            .values(contract_text=text.replace("12,000.00", "120,000.00"))
        )
        assert not contracts.verify_contract(c, loan_id)
        assert c.execute(select(loans.c.state).where(loans.c.id == loan_id)).scalar() == "accepted"


@given(st.integers(min_value=0, max_value=10**15))
def test_amount_in_words_never_doubles_or_trails_a_zero(fen):
    words = contracts.yuan_in_words_zh(fen)
    assert "零零" not in words and not words.endswith("零")
    assert ("零元" in words) == (fen == 0)
    assert words.endswith("整") == (fen % 10 == 0)
    assert contracts.yuan_in_words_en(fen).endswith("only" if fen % 100 == 0 else "fen")


@given(st.integers(min_value=80_000_000, max_value=180_000_000))
def test_penalty_rate_is_capped_and_exact_in_ppb(ppb):
    """RATE-FEE-02: 1.5 × any contract rate, within the 24% cap and storable exactly."""
    rate = Decimal(ppb).scaleb(-9)
    penalty = contract_terms.penalty_rate(V, rate)
    exact = min(rate * Decimal("1.5"), Decimal("0.24"))
    assert penalty == exact.quantize(Decimal("1e-9"), rounding=ROUND_DOWN)
    assert contract_terms.rate_ppb(penalty) == int(penalty * 10**9)
    assert contract_terms.rate_ppb(rate) == ppb
