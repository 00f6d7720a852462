"""A line is granted by a credit decision: the scorecard's grade and the customer's verified
income set the limit within MCL-CAP-01 and bank.consumer_credit.cap; a rejection or a referral
is recorded with its reasons and opens no line. A watch-list match stops purchases (AML-STR-02).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, func, select

import identity.conftest as identity_fixtures
from credit.samples import STRONG, WEAK
from identity.conftest import BOB
from lending import factories
from lending.applicants import DAY, borrower
from puhui.compliance import aml
from puhui.core.errors import Conflict, ValidationError
from puhui.credit.bureau import SandboxBureau
from puhui.credit.models import decisions
from puhui.credit.policy import CreditPolicy
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import list_entries
from puhui.lending import calendar
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line import draws, service, underwriting
from puhui.lending.credit_line.models import lines

from .helpers import STAFF

keys = identity_fixtures.keys
cheap_argon2 = identity_fixtures.cheap_argon2
CREDIT = CreditServices(default_model(), SandboxBureau(), b"k" * 32)


def grant(engine, keys, clock, cid, *, features=STRONG, credit=CREDIT, **kw):
    def work(c: Connection) -> underwriting.LineDecision:
        calendar.set_date(c, business_date_=DAY, clock=clock)
        return underwriting.grant_by_decision(
            c,
            customer_id=cid,
            actor=STAFF,
            keys=keys,
            clock=clock,
            credit=credit,
            features=features,
            **kw,
        )

    return run_in_transaction(engine, work)


def counts(engine) -> tuple[int, int]:
    with engine.connect() as c:
        made = c.execute(select(func.count()).select_from(decisions)).scalar()
        opened = c.execute(select(func.count()).select_from(lines)).scalar()
    return made, opened


def audit_of(engine, event: str) -> list:
    with engine.connect() as c:
        return [e for e in list_entries(c, limit=1000) if e.event_type == event]


def test_grade_a_on_300000_yuan_is_held_to_mcl_cap_01(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    got = grant(engine, keys, clock, cid)
    # grade A: 0.5 × 300,000 = 150,000 yuan; MCL-CAP-01: 300,000 / 3 = 100,000 yuan
    assert (got.outcome, got.grade, got.limit_fen) == ("approve", "A", 10_000_000)
    assert got.line is not None
    assert (got.line.customer_id, got.line.limit_fen, got.line.available_fen) == (
        cid,
        10_000_000,
        10_000_000,
    )
    with engine.connect() as c:
        row = c.execute(select(decisions).where(decisions.c.id == got.decision_id)).one()
    assert (row.product_code, row.applicant_ref, row.outcome, row.grade, row.limit_fen) == (
        "credit_line",
        str(cid),
        "approve",
        "A",
        10_000_000,
    )
    (entry,) = audit_of(engine, "credit_line.grant")
    assert entry.detail["decision_id"] == got.decision_id
    assert (entry.detail["grade"], entry.detail["basis"]) == ("A", ["MCL-CAP-01"])


def test_a_high_income_is_held_to_the_consumer_credit_cap(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=150_000_000)
    got = grant(engine, keys, clock, cid)
    # 0.5 × 1,500,000 = 750,000; MCL-CAP-01: 300,000; bank.consumer_credit.cap: 200,000 yuan
    assert (got.outcome, got.limit_fen, got.line.limit_fen) == ("approve", 20_000_000, 20_000_000)


def test_principal_owed_on_a_loan_takes_room_under_mcl_cap_01(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    run_in_transaction(
        engine,
        lambda c: factories.accepted_loan(
            c, clock, version=factories.product(c, clock), customer_id=cid
        ),
    )
    got = grant(engine, keys, clock, cid)
    # 100,000 yuan less the 12,000 yuan signed loan
    assert (got.outcome, got.limit_fen, got.line.limit_fen) == ("approve", 8_800_000, 8_800_000)


def test_staff_may_ask_for_less_never_more(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    with pytest.raises(ValidationError) as above:
        grant(engine, keys, clock, cid, limit_fen=10_000_100)
    assert (above.value.code, above.value.field) == ("limit_above_allowed", "limit_fen")
    assert counts(engine) == (0, 0)  # refused whole: no decision kept, no line
    got = grant(engine, keys, clock, cid, limit_fen=5_000_000)
    assert (got.limit_fen, got.line.limit_fen) == (10_000_000, 5_000_000)
    assert counts(engine) == (1, 1)


def test_a_weak_applicant_is_rejected_with_reasons_and_no_line(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    got = grant(engine, keys, clock, cid, features=WEAK)
    assert (got.outcome, got.grade, got.limit_fen, got.line) == ("reject", "E", 0, None)
    assert [(h.code, h.action.value) for h in got.rules] == [("SC-GRADE", "reject")]
    assert counts(engine) == (1, 0)
    (entry,) = audit_of(engine, "credit_line.decline")
    assert (entry.object_type, entry.object_id) == ("customer", str(cid))
    assert entry.detail == {
        "decision_id": got.decision_id,
        "outcome": "reject",
        "grade": "E",
        "rules": ["SC-GRADE"],
    }
    assert audit_of(engine, "credit_line.grant") == []


def test_a_student_is_rejected_whatever_the_score(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000, occupation="在校学生")
    got = grant(engine, keys, clock, cid)
    assert (got.outcome, got.grade, got.line) == ("reject", "A", None)
    assert [h.code for h in got.rules] == ["HR-STUDENT"]
    assert counts(engine) == (1, 0)


def test_a_referral_opens_no_line(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    refer_a = CreditServices(
        default_model(),
        SandboxBureau(),
        b"k" * 32,
        CreditPolicy(approve_grades=frozenset("BC"), review_grades=frozenset("AD")),
    )
    got = grant(engine, keys, clock, cid, credit=refer_a)
    assert (got.outcome, got.line) == ("review", None)
    assert [(h.code, h.action.value) for h in got.rules] == [("SC-GRADE", "review")]
    assert counts(engine) == (1, 0)


def test_one_line_per_customer_before_any_decision(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    grant(engine, keys, clock, cid)
    with pytest.raises(Conflict) as again:
        grant(engine, keys, clock, cid)
    assert again.value.code == "credit_line_exists"
    assert counts(engine) == (1, 1)


def test_bad_features_change_nothing(engine, keys, clock):
    cid = borrower(engine, keys, clock, income_fen=30_000_000)
    with pytest.raises(ValidationError) as bad:
        grant(engine, keys, clock, cid, features={**STRONG, "housing": "castle"})
    assert (bad.value.code, bad.value.field) == ("feature_value_unknown", "housing")
    assert counts(engine) == (0, 0)


def test_a_watch_list_match_stops_purchases(engine, keys, clock):
    cid = borrower(engine, keys, clock, BOB, income_fen=30_000_000)
    line_id = grant(engine, keys, clock, cid).line.id
    run_in_transaction(engine, lambda c: factories.fund(c, clock, tag="aml"))

    def buy(c: Connection, ref: str) -> draws.Draw:
        return draws.purchase(
            c, line_id=line_id, amount_fen=50_000, merchant="m", reference=ref, actor=STAFF,
            clock=clock, customer_id=cid,
        )  # fmt: skip

    run_in_transaction(engine, lambda c: buy(c, "before"))
    run_in_transaction(
        engine,
        lambda c: aml.add_to_watch_list(
            c, list_name="UN-1267", id_number=BOB.id_number, keys=keys, by="staff:1", clock=clock
        ),
    )
    with pytest.raises(Conflict) as blocked:
        run_in_transaction(engine, lambda c: buy(c, "after"))
    assert blocked.value.code == "customer_blocked"
    with engine.connect() as c:
        got = service.get(c, line_id=line_id, clock=clock)
    assert (got.unbilled_fen, got.available_fen) == (50_000, 10_000_000 - 50_000)
