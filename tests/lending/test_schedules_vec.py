"""The vectorised schedules agree with the Decimal path to the fen, on every loan."""

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.errors import ValidationError
from puhui.lending.apr import irr_many, schedule_rates
from puhui.lending.schedules import LoanTerms, Method, TermUnit, build_schedule
from puhui.lending.schedules_vec import LoanArrays, VecSchedules, build_schedules


def decimal_rows(vec: VecSchedules, terms: list[LoanTerms]) -> None:
    for j, t in enumerate(terms):
        assert vec.installments(j) == build_schedule(t).installments, (j, t)


loan = st.fixed_dictionaries(
    {
        # Round amounts and whole basis points too: they land exactly on half fen.
        "principal": st.one_of(
            st.integers(min_value=1, max_value=10**11),
            st.integers(min_value=1, max_value=10**6).map(lambda x: x * 100),
        ),
        "rate": st.one_of(
            st.integers(min_value=0, max_value=10**6).map(lambda r: Decimal(r) / 10**6),
            st.integers(min_value=0, max_value=3600).map(lambda r: Decimal(r) / 10**4),
            st.just(Decimal(0)),
        ),
        "term": st.integers(min_value=1, max_value=48),
        "start": st.dates(min_value=date(2019, 1, 1), max_value=date(2040, 12, 31)),
        "period_fee": st.integers(min_value=0, max_value=10_000),
        "upfront_fee": st.integers(min_value=0, max_value=10_000),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    loans=st.lists(loan, min_size=1, max_size=25),
    method=st.sampled_from([m for m in Method if m is not Method.BULLET]),
    repayment_day=st.one_of(st.none(), st.integers(min_value=1, max_value=31)),
    day_count=st.sampled_from(["ACT/360", "ACT/365"]),
)
def test_monthly_schedules_agree_with_decimal(loans, method, repayment_day, day_count):
    terms = [
        LoanTerms(
            x["principal"],
            x["rate"],
            x["term"],
            method,
            x["start"],
            day_count=day_count,
            repayment_day=repayment_day,
            period_fee_fen=x["period_fee"],
            upfront_fee_fen=min(x["upfront_fee"], x["principal"] - 1),
        )
        for x in loans
    ]
    vec = build_schedules(
        LoanArrays(
            principal_fen=[t.principal_fen for t in terms],
            annual_rate=[t.annual_rate for t in terms],
            term=np.array([t.term for t in terms]),
            method=method,
            start=np.array([t.start for t in terms], dtype="datetime64[D]"),
            day_count=day_count,
            repayment_day=repayment_day,
            period_fee_fen=np.array([t.period_fee_fen for t in terms]),
            upfront_fee_fen=np.array([t.upfront_fee_fen for t in terms]),
        ),
        chunk=7,  # several chunks, of ragged terms
    )
    decimal_rows(vec, terms)
    assert (vec.principal_fen.sum(axis=1) == vec.principal_total_fen).all()


@settings(max_examples=60, deadline=None)
@given(
    loans=st.lists(loan, min_size=1, max_size=25),
    unit=st.sampled_from(list(TermUnit)),
    day_count=st.sampled_from(["ACT/360", "ACT/365"]),
)
def test_bullet_schedules_agree_with_decimal(loans, unit, day_count):
    def days(t):
        return t * 7 + 3 if unit is TermUnit.DAY else t

    terms = [
        LoanTerms(
            x["principal"],
            x["rate"],
            days(x["term"]),
            Method.BULLET,
            x["start"],
            term_unit=unit,
            day_count=day_count,
        )
        for x in loans
    ]
    vec = build_schedules(
        LoanArrays(
            principal_fen=[t.principal_fen for t in terms],
            annual_rate=np.array([float(t.annual_rate) for t in terms]),
            term=np.array([t.term for t in terms]),
            method="bullet",
            term_unit=unit,
            day_count=day_count,
            start=np.array([t.start for t in terms], dtype="datetime64[D]"),
        )
    )
    decimal_rows(vec, terms)


def test_exact_half_fen_ties_round_up_as_decimal_does():
    # 10,000.50 yuan × 1%/month on equal principal: balances × 0.01 land on half fen.
    principal = [1_000_050, 1_000_150, 50, 150]
    vec = build_schedules(
        LoanArrays(
            principal_fen=principal,
            annual_rate=[Decimal("0.12")] * 4,
            term=1,
            method="equal_principal",
            start=date(2026, 1, 1),
        )
    )
    assert vec.interest_fen[:, 0].tolist() == [10001, 10002, 1, 2]  # half up, not to even
    assert len(vec.exact_rows) == 4  # each sat on a boundary and was redone in Decimal


def test_one_million_share_a_start_and_come_back_loan_major():
    m = 1_000
    vec = build_schedules(
        LoanArrays(
            principal_fen=np.full(m, 1_000_000),
            annual_rate=np.full(m, 0.12),
            term=12,
            method="equal_installment",
            start=date(2026, 1, 31),
        )
    )
    assert vec.principal_fen.shape == (m, 12)
    assert vec.due_date[0, :2].tolist() == [date(2026, 2, 28), date(2026, 3, 31)]
    assert (vec.total_fen == vec.total_fen[0]).all()
    assert (vec.remaining_principal_fen[:, -1] == 0).all()


def test_ragged_terms_are_zero_and_nat_past_the_end():
    vec = build_schedules(
        LoanArrays(
            principal_fen=[100_000, 100_000],
            annual_rate=[Decimal("0.1")] * 2,
            term=[2, 4],
            method="interest_only",
            start=date(2026, 1, 1),
        )
    )
    assert vec.count.tolist() == [2, 4]
    assert vec.principal_fen[0].tolist() == [0, 100_000, 0, 0]
    assert vec.interest_fen[0, 2:].tolist() == [0, 0]
    assert vec.fee_fen[0, 2:].tolist() == [0, 0]
    assert np.isnat(vec.due_date[0, 2:]).all()
    assert len(vec.installments(0)) == 2


def test_irr_of_vectorised_schedules_matches_decimal_rates():
    rng = np.random.default_rng(3)
    m = 200
    principal = rng.integers(1_000_000, 10**9, m)
    rates = [Decimal(int(r)) / 10_000 for r in rng.integers(100, 3600, m)]
    vec = build_schedules(
        LoanArrays(
            principal_fen=principal,
            annual_rate=rates,
            term=12,
            method="equal_installment",
            start=date(2026, 3, 1),
            upfront_fee_fen=5_000,
        )
    )
    annual = irr_many(vec.cash_flows()) * 12
    for j in range(0, m, 11):
        terms = LoanTerms(
            int(principal[j]),
            rates[j],
            12,
            Method.EQUAL_INSTALLMENT,
            date(2026, 3, 1),
            upfront_fee_fen=5_000,
        )
        expected = schedule_rates(build_schedule(terms)).annual_rate_irr
        assert annual[j] == pytest.approx(float(expected), abs=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"principal_fen": [0]}, "principal_out_of_range"),
        ({"annual_rate": [Decimal("10.5")]}, "rate_out_of_range"),
        ({"term": 0}, "term_out_of_range"),
        ({"upfront_fee_fen": 100}, "upfront_fee_too_large"),
        ({"term_unit": "day", "term": 30}, "day_term_needs_bullet"),
        ({"repayment_day": 0}, "repayment_day_out_of_range"),
    ],
)
def test_refuses_bad_loans(kwargs, code):
    args = {
        "principal_fen": [100],
        "annual_rate": [Decimal("0.1")],
        "term": 3,
        "method": "equal_installment",
        "start": date(2026, 1, 1),
    }
    args.update(kwargs)
    with pytest.raises(ValidationError) as err:
        build_schedules(LoanArrays(**args))
    assert err.value.code == code


def test_long_loans_at_any_rate_agree_with_decimal():
    # 15–30-year loans up to 10 million yuan, rates up to 1000%: the recurrence restarts from a
    # direct power every 16 periods, so few loans need the Decimal path.
    rng = np.random.default_rng(11)
    m = 40
    loans = LoanArrays(
        principal_fen=rng.integers(1, 10**9, m),
        annual_rate=[Decimal(int(r)) / 10**6 for r in rng.integers(0, 10 * 10**6, m)],
        term=rng.integers(180, 361, m),
        method="equal_installment",
        start=np.datetime64("2024-01-31") + rng.integers(0, 800, m).astype("timedelta64[D]"),
        repayment_day=rng.integers(1, 32, m),
    )
    vec = build_schedules(loans)
    decimal_rows(vec, [loans.terms(j) for j in range(m)])
    assert len(vec.exact_rows) <= 4
