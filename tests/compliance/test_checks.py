"""`compliance check`: each rule finds its breach, opens one alert under its rule id, and a
clean book finds nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, update

from lending import factories
from puhui.compliance import alerts, checks, events
from puhui.compliance.models import large_value_reports
from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG
from puhui.identity.audit import Actor
from puhui.lending import servicing
from puhui.lending.models import loan_transactions, loans
from puhui.marketplace.models import listings

STAFF = Actor("staff:1")
DAY = date(2026, 11, 2)


def _listing(
    conn, clock, *, borrower: int, loan_id: int | None, status: str, text: str, updated: datetime
) -> int:
    us = int(updated.timestamp() * 1_000_000)
    return int(
        conn.execute(
            insert(listings).values(
                application_id=10_000 + borrower + (loan_id or 0),
                loan_id=loan_id,
                borrower_id=borrower,
                product_code="XFD",
                title="装修贷",
                description=text,
                purpose="consumption",
                amount_fen=1_000_000,
                annual_rate="0.12",
                term_count=12,
                method="equal_installment",
                risk_grade="R2",
                min_bid_fen=10_000,
                step_fen=10_000,
                status=status,
                created_at=us,
                updated_at=us,
            )
        ).inserted_primary_key[0]
    )


def test_a_clean_book_has_no_finding_but_the_missing_reconciliation(engine, clock):
    with engine.begin() as c:
        book = factories.setup(c, clock)
        servicing.disburse(c, loan_id=book.loan_id, actor=STAFF, clock=clock)
    result = checks.run_checks(engine, clock=clock)
    assert [(f.rule_id, f.subject) for f in result.findings] == [("CUS-REC-01", "recon:2026-11-01")]
    assert result.new_alerts == 1 and len(result.checks_run) == len(checks.CHECKS)


def test_every_breach_opens_an_alert_with_its_rule_id(engine, clock):
    with engine.begin() as c:
        book = factories.setup(c, clock, capital=10_000_000_000)
        v = book.version
        dear = factories.accepted_loan(
            c, clock, version=v, customer_id=book.customer_id, annual_rate=Decimal("0.18")
        )
        big_borrower = factories.customer(c, clock)
        big = factories.accepted_loan(
            c, clock, version=v, customer_id=big_borrower, amount_fen=20_000_000
        )
        big2 = factories.accepted_loan(
            c, clock, version=v, customer_id=big_borrower, amount_fen=11_000_000
        )
        lost = factories.accepted_loan(c, clock, version=v, customer_id=book.customer_id)
        for loan_id in (book.loan_id, dear, big, big2):
            servicing.disburse(c, loan_id=loan_id, actor=STAFF, clock=clock)
        # A short disbursement (tampered), and a loan whose disbursement record is gone.
        c.execute(
            update(loan_transactions)
            .where(loan_transactions.c.loan_id == book.loan_id)
            .where(loan_transactions.c.kind == "disbursement")
            .values(amount_fen=1_100_000)
        )
        c.execute(update(loans).where(loans.c.id == lost).values(disbursed_us=1))
        _listing(
            c,
            clock,
            borrower=book.customer_id,
            loan_id=None,
            status="open",
            text="本项目保本保息，稳赚",
            updated=clock.now(),
        )
        stale = _listing(
            c,
            clock,
            borrower=big_borrower,
            loan_id=big,
            status="funded",
            text="经营周转",
            updated=clock.now() - timedelta(days=200),
        )
        ev = events.record_event(
            c,
            kind="business_halt",
            occurred_at=clock.now() - timedelta(hours=49),
            recorded_by="staff:1",
            clock=clock,
            title="停业",
            cause="x",
            current_status="y",
            impact="z",
            measures="w",
        )
        c.execute(
            insert(large_value_reports).values(
                customer_id=book.customer_id,
                customer_kind="person",
                business_date=date(2026, 10, 20),
                direction="in",
                category="person_domestic",
                currency="CNY",
                total_fen=50_000_000,
                txn_count=1,
                threshold_fen=50_000_000,
                due_date=date(2026, 10, 27),
                status="pending",
                created_us=1,
            )
        )
    result = checks.run_checks(engine, clock=clock)
    found = {(f.rule_id, f.subject) for f in result.findings}
    assert found == {
        ("MCL-CAP-01", f"customer:{big_borrower}"),
        ("RATE-FEE-01", f"loan:{book.loan_id}"),
        ("REC-RET-01", f"loan:{lost}"),
        ("P2P-PRO-03", "listing:1"),
        ("DIS-PRJ-04", f"listing:{stale}"),
        ("DIS-EVT-01", f"event:{ev.id}"),
        ("AML-LVT-03", "large_value:1"),
        ("CUS-REC-01", "recon:2026-11-01"),
    }
    phrase = next(f for f in result.findings if f.rule_id == "P2P-PRO-03")
    assert phrase.detail == "banned phrases: 保本, 保息, 稳赚"
    assert result.new_alerts == len(found)

    # The next run refreshes the same alerts instead of opening new ones.
    clock.advance(timedelta(hours=1))
    assert checks.run_checks(engine, clock=clock).new_alerts == 0
    with engine.begin() as c:
        open_ = alerts.list_alerts(c)
        assert len(open_) == len(found)
        rate = next(a for a in open_ if a.rule_id == "RATE-FEE-01")
        assert rate.last_seen_at == clock.now() and rate.opened_at < rate.last_seen_at
        done = alerts.resolve_alert(
            c, alert_id=rate.id, resolved_by="staff:9", resolution="escalated", clock=clock
        )
        assert done.status == "resolved"
    # Still in breach: a new alert opens.
    assert checks.run_checks(engine, clock=clock, only=("upfront_deductions",)).new_alerts == 1
    # The rate cap moves (a lower LPR, a lower policy cap): the 18% loan is now above it.
    lower = replace(DEFAULT_CAP_CONFIG, version="test", licensed_policy_cap=Decimal("0.15"))
    with engine.connect() as c:
        assert checks.rate_caps(c, DAY, clock) == []
        over = checks.rate_caps(c, DAY, clock, config=lower)
    assert [(f.rule_id, f.subject) for f in over] == [("RATE-CAP-02", f"loan:{dear}")]
    assert "above the cap 0.15" in over[0].detail


def test_marketplace_borrowing_cap_counts_outstanding_principal(engine, clock):
    terms = replace(
        factories.TERMS,
        mode="marketplace",
        regulatory_profile="private_lending",
        max_annual_rate=Decimal("0.10"),
        penalty_rate_multiplier=Decimal("1.1"),
        late_fee_fen=0,
    )
    with engine.begin() as c:
        book = factories.setup(  # exactly 200,000.00: allowed
            c,
            clock,
            terms=terms,
            code="P2P",
            capital=10_000_000_000,
            amount_fen=20_000_000,
            annual_rate=Decimal("0.09"),
        )
        servicing.disburse(c, loan_id=book.loan_id, actor=STAFF, clock=clock)
    assert checks.run_checks(engine, clock=clock, only=("borrowing_caps",)).findings == ()
    with engine.begin() as c:
        more = factories.accepted_loan(
            c,
            clock,
            version=book.version,
            customer_id=book.customer_id,
            amount_fen=100_000,
            annual_rate=Decimal("0.09"),
        )
        servicing.disburse(c, loan_id=more, actor=STAFF, clock=clock)
    result = checks.run_checks(engine, clock=clock, only=("borrowing_caps",))
    assert [(f.rule_id, f.subject) for f in result.findings] == [
        ("P2P-CAP-01", f"customer:{book.customer_id}")
    ]
