"""Loan performance fed back to the credit decisions that approved the loans."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, insert, select, update

from puhui.credit.models import decisions, outcomes
from puhui.identity.audit import Actor
from puhui.lending import calendar, servicing
from puhui.lending.credit_outcomes import record_outcomes
from puhui.lending.models import applications, loans

from . import factories

STAFF = Actor("staff:1")


def _decision(conn: Connection, loan_id: int, day: date) -> int:
    """A stored decision for the loan's application (the fields monitoring reads)."""
    decision_id = conn.execute(
        insert(decisions).values(
            applicant_ref="c1",
            applicant_digest="0" * 64,
            product_code="XFD",
            requested_fen=1_200_000,
            term_months=12,
            outcome="approve",
            score=610,
            probability_of_default="0.050000",
            grade="B",
            limit_fen=1_200_000,
            approved_fen=1_200_000,
            annual_rate="0.12",
            model_version="m",
            policy_version="p",
            input_digest="0" * 64,
            rules_json="[]",
            reasons_json="[]",
            snapshot_json="{}",
            business_date=day,
            created_us=0,
        )
    ).inserted_primary_key[0]
    app_id = conn.execute(select(loans.c.application_id).where(loans.c.id == loan_id)).scalar()
    conn.execute(
        update(applications).where(applications.c.id == app_id).values(decision_id=decision_id)
    )
    return int(decision_id)


def _outcome(conn: Connection, decision_id: int):
    return conn.execute(select(outcomes).where(outcomes.c.decision_id == decision_id)).first()


def test_outcomes_are_observed_after_the_window_and_bad_sticks(engine, clock):
    day0 = factories.DAY
    with engine.begin() as conn:
        book = factories.setup(conn, clock)
        servicing.disburse(conn, loan_id=book.loan_id, actor=STAFF, clock=clock)
        decision_id = _decision(conn, book.loan_id, day0)

        # too young to observe, and nothing wrong: no outcome yet
        counts = record_outcomes(conn, business_date=day0 + timedelta(days=30), clock=clock)
        assert (counts.observed, counts.turned_bad, _outcome(conn, decision_id)) == (0, 0, None)

        # past the performance window, never late: observed good
        calendar.set_date(conn, business_date_=day0 + timedelta(days=95), clock=clock)
        counts = record_outcomes(conn, business_date=day0 + timedelta(days=95), clock=clock)
        row = _outcome(conn, decision_id)
        assert (counts.observed, row.bad, row.observed_on) == (1, False, day0 + timedelta(days=95))

        # idempotent for a date
        again = record_outcomes(conn, business_date=day0 + timedelta(days=95), clock=clock)
        assert (again.observed, again.turned_bad) == (0, 0)

        # 91 days past due: bad
        conn.execute(update(loans).where(loans.c.id == book.loan_id).values(dpd=91))
        counts = record_outcomes(conn, business_date=day0 + timedelta(days=130), clock=clock)
        assert (counts.observed, counts.turned_bad) == (0, 1)
        assert _outcome(conn, decision_id).bad is True

        # cured: still bad, as in the training data
        conn.execute(update(loans).where(loans.c.id == book.loan_id).values(dpd=0))
        counts = record_outcomes(conn, business_date=day0 + timedelta(days=140), clock=clock)
        assert counts.turned_bad == 0
        row = _outcome(conn, decision_id)
        assert (row.bad, row.observed_on) == (True, day0 + timedelta(days=130))


def test_ninety_days_exactly_is_not_bad_but_a_write_off_is(engine, clock):
    day0 = factories.DAY
    with engine.begin() as conn:
        book = factories.setup(conn, clock)
        servicing.disburse(conn, loan_id=book.loan_id, actor=STAFF, clock=clock)
        decision_id = _decision(conn, book.loan_id, day0)
        conn.execute(update(loans).where(loans.c.id == book.loan_id).values(dpd=90))
        record_outcomes(conn, business_date=day0 + timedelta(days=100), clock=clock)
        assert _outcome(conn, decision_id).bad is False
        conn.execute(update(loans).where(loans.c.id == book.loan_id).values(state="written_off"))
        counts = record_outcomes(conn, business_date=day0 + timedelta(days=200), clock=clock)
        assert counts.turned_bad == 1
        assert _outcome(conn, decision_id).bad is True


def test_a_loan_without_a_decision_or_not_disbursed_records_nothing(engine, clock):
    with engine.begin() as conn:
        book = factories.setup(conn, clock)  # accepted, not disbursed
        decision_id = _decision(conn, book.loan_id, factories.DAY)
        conn.execute(update(loans).where(loans.c.id == book.loan_id).values(dpd=120))
        counts = record_outcomes(conn, business_date=date(2027, 6, 1), clock=clock)
        assert (counts.observed, _outcome(conn, decision_id)) == (0, None)
