"""Decisions on both databases: stored with digest, versions, rules and reasons; fraud
velocity across applications; the blacklist; human review; pre-authorised limits;
monitoring."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from puhui.core.errors import Conflict, NotFound
from puhui.credit import review
from puhui.credit.bureau import BureauReport, SandboxBureau
from puhui.credit.decision import Outcome, decide, evaluate, get_decision, verify_digest
from puhui.credit.fraud import DEV_KEY, add_to_blacklist
from puhui.credit.limits import CustomerHistory, current_preauthorisation, preauthorise
from puhui.credit.models import decisions, fingerprints
from puhui.credit.monitoring import monitor, record_outcome
from puhui.credit.policy import CreditPolicy

from .samples import STRONG, WEAK, application, id_number, offer

POLICY = CreditPolicy()


def decide_in(engine, clock, model, app, bureau=None, off=None):
    with engine.begin() as conn:
        return decide(
            conn,
            application=app,
            offer=off or offer(),
            model=model,
            bureau=bureau or SandboxBureau(),
            policy=POLICY,
            fingerprint_key=DEV_KEY,
            clock=clock,
        )


def test_a_decision_is_stored_with_digest_version_rules_and_reasons(engine, clock, model):
    app = application(features=WEAK)
    made = decide_in(engine, clock, model, app)
    with engine.connect() as conn:
        stored = get_decision(conn, decision_id=made.id)
        row = conn.execute(select(decisions).where(decisions.c.id == made.id)).one()
        assert verify_digest(conn, decision_id=made.id)
    assert stored == made
    assert stored.outcome is Outcome.REJECT
    assert stored.model_version == model.version and stored.policy_version == POLICY.version
    assert len(stored.input_digest) == 64
    assert [h.code for h in stored.rules] == ["SC-GRADE"]
    ev = evaluate(
        app,
        offer(),
        BureauReport(stored.business_date),
        model=model,
        policy=POLICY,
        today=stored.business_date,
    )
    assert stored.reasons == ev.score.reasons and len(stored.reasons) == 4
    assert stored.score == ev.score.score and stored.grade == "E"
    assert stored.business_date == date(2026, 11, 2)
    # the snapshot keeps no identifier in the clear
    for secret in (app.id_number, app.phone, app.card, app.device_id, app.ip):
        assert secret not in row.snapshot_json
    snap = json.loads(row.snapshot_json)
    assert snap["model_version"] == model.version
    assert set(snap["fingerprints"]) == {"id_number", "phone", "card", "device", "ip"}


def test_a_changed_snapshot_no_longer_matches_its_digest(engine, clock, model):
    made = decide_in(engine, clock, model, application())
    with engine.begin() as conn:
        conn.execute(
            update(decisions)
            .where(decisions.c.id == made.id)
            .values(snapshot_json=decisions.c.snapshot_json + " ")
        )
        assert not verify_digest(conn, decision_id=made.id)


def test_an_approval_carries_limit_price_and_grade(engine, clock, model):
    made = decide_in(engine, clock, model, application())
    assert made.outcome is Outcome.APPROVE
    assert (made.grade, made.approved_fen, str(made.annual_rate)) == ("A", 30_000_00, "0.0800")
    assert made.limit_fen == 66_600_00
    assert 0 < made.probability_of_default < 0.05


def other(n: int, **changes):
    """Another applicant (another ID number) on the first one's device, IP, phone and card
    unless told otherwise."""
    return application(applicant_ref=f"c-{n + 1}", id_number=id_number(seq=f"{n:03d}"), **changes)


def test_the_same_device_within_24_hours_goes_to_review(engine, clock, model):
    first = decide_in(engine, clock, model, application(phone=None, card=None))
    assert first.outcome is Outcome.APPROVE
    clock.advance(timedelta(hours=23))
    second = decide_in(engine, clock, model, other(2, phone=None, card=None, ip="10.9.9.9"))
    assert [h.code for h in second.rules] == ["FR-DEVICE"]
    assert second.outcome is Outcome.REVIEW
    # the same applicant again is not velocity, and after 24 hours the device is forgotten
    clock.advance(timedelta(hours=25))
    third = decide_in(engine, clock, model, other(3, phone=None, card=None, ip="10.9.9.8"))
    assert third.outcome is Outcome.APPROVE


def test_the_same_phone_or_card_across_applicants_is_rejected(engine, clock, model):
    decide_in(engine, clock, model, application(device_id=None, ip=None))
    clock.advance(timedelta(minutes=5))
    same_phone = decide_in(
        engine, clock, model, other(2, device_id=None, ip=None, card="6222020000000000001")
    )
    assert [h.code for h in same_phone.rules] == ["FR-PHONE"]
    same_card = decide_in(
        engine, clock, model, other(3, device_id=None, ip=None, phone="13900000000")
    )
    assert [h.code for h in same_card.rules] == ["FR-CARD"]
    assert same_phone.outcome is same_card.outcome is Outcome.REJECT


def test_an_ip_shared_by_more_than_three_others_goes_to_review(engine, clock, model):
    def alone(n):
        return other(n, device_id=f"d{n}", phone=f"1380000{n:04d}", card=None)

    results = [decide_in(engine, clock, model, alone(n)) for n in range(5)]
    assert [r.outcome for r in results[:4]] == [Outcome.APPROVE] * 4
    assert [h.code for h in results[4].rules] == ["FR-IP"]
    with engine.connect() as conn:
        kinds = conn.execute(select(fingerprints.c.kind)).scalars().all()
    assert sorted(set(kinds)) == ["device", "ip", "phone"]


def test_a_blacklisted_phone_is_rejected(engine, clock, model):
    with engine.begin() as conn:
        add_to_blacklist(
            conn,
            kind="phone",
            value="138 0013 8000",
            reason="fraud ring",
            added_by="s-1",
            key=DEV_KEY,
            now=clock.now(),
        )
        again = add_to_blacklist(
            conn,
            kind="phone",
            value="13800138000",
            reason="dup",
            added_by="s-1",
            key=DEV_KEY,
            now=clock.now(),
        )
        assert len(again) == 64
    made = decide_in(engine, clock, model, application())
    assert [h.code for h in made.rules] == ["HR-BLACKLIST"]


def test_the_bureau_feeds_the_rules(engine, clock, model):
    bureau = SandboxBureau()
    app = application()
    bureau.register(
        app.id_number, BureauReport(date(2026, 11, 2), other_lenders=2, overdue_last_6m=2)
    )
    made = decide_in(engine, clock, model, app, bureau=bureau)
    assert [h.code for h in made.rules] == ["HR-OVERDUE"]
    assert bureau.inquiries == [(app.id_number, date(2026, 11, 2))]


def test_a_rejection_can_be_reviewed_by_a_person(engine, clock, model):
    rejected = decide_in(engine, clock, model, application(features=WEAK))
    approved = decide_in(
        engine, clock, model, other(5, device_id=None, phone=None, card=None, ip=None)
    )
    with engine.begin() as conn:
        with pytest.raises(NotFound):
            review.request_review(
                conn, decision_id=rejected.id, applicant_ref="c-9", reason="x", clock=clock
            )
        with pytest.raises(Conflict, match="only a rejection is reviewed"):
            review.request_review(
                conn,
                decision_id=approved.id,
                applicant_ref=approved.applicant_ref,
                reason="x",
                clock=clock,
            )
        asked = review.request_review(
            conn,
            decision_id=rejected.id,
            applicant_ref="c-1",
            reason="我的收入已经提高",
            clock=clock,
        )
        again = review.request_review(
            conn, decision_id=rejected.id, applicant_ref="c-1", reason="again", clock=clock
        )
        assert again == asked and asked.status is review.ReviewStatus.OPEN
        done = review.resolve_review(
            conn,
            decision_id=rejected.id,
            reviewer="s-7",
            overturn=True,
            note="income verified",
            clock=clock,
        )
        assert (done.status, done.reviewer) == (review.ReviewStatus.OVERTURNED, "s-7")
        with pytest.raises(Conflict, match="already overturned"):
            review.resolve_review(
                conn, decision_id=rejected.id, reviewer="s-7", overturn=False, note="n", clock=clock
            )
        # the decision itself is unchanged
        assert get_decision(conn, decision_id=rejected.id) == rejected


def test_a_pre_authorised_limit_follows_the_history(engine, clock, model):
    features = STRONG | {"age_in_years": 36, "duration_in_month": 12}
    history = CustomerHistory("c-1", 120_000_00, 12, 3, 0, 10_000_00, features)
    with engine.begin() as conn:
        made = preauthorise(
            conn, history=history, offer=offer(), model=model, policy=POLICY, clock=clock
        )
        found = current_preauthorisation(conn, customer_ref="c-1", on=date(2026, 11, 2))
        late = preauthorise(
            conn,
            history=CustomerHistory("c-2", 120_000_00, 12, 3, 45, 0, features),
            offer=offer(),
            model=model,
            policy=POLICY,
            clock=clock,
        )
        expired = current_preauthorisation(conn, customer_ref="c-1", on=date(2027, 3, 1))
    # 120,000 × 0.5 × 1.3 = 78,000, but MCL-CAP-01 leaves 40,000 − 10,000 = 30,000
    assert (made.grade, made.limit_fen) == ("A", 30_000_00)
    assert "MCL-CAP-01 room" in made.basis and "3 loan(s) repaid" in made.basis
    assert found == made and made.valid_until == date(2027, 1, 31)
    assert late.limit_fen == 0
    assert expired is None


def test_monitoring_reports_drift_approvals_and_bad_rates(engine, clock, model):
    made = [
        decide_in(engine, clock, model, other(n, device_id=None, phone=None, card=None, ip=None))
        for n in range(3)
    ]
    made.append(
        decide_in(
            engine,
            clock,
            model,
            other(7, features=WEAK, device_id=None, phone=None, card=None, ip=None),
        )
    )
    with engine.begin() as conn:
        record_outcome(
            conn, decision_id=made[0].id, bad=False, observed_on=date(2027, 2, 1), clock=clock
        )
        record_outcome(
            conn, decision_id=made[1].id, bad=False, observed_on=date(2027, 2, 1), clock=clock
        )
        record_outcome(
            conn, decision_id=made[1].id, bad=True, observed_on=date(2027, 5, 1), clock=clock
        )
        with pytest.raises(NotFound):
            record_outcome(
                conn, decision_id=10_000, bad=True, observed_on=date(2027, 5, 1), clock=clock
            )
        m = monitor(conn, model=model, since=date(2026, 11, 1), until=date(2026, 11, 30))
    assert (m.decisions, m.approved, m.rejected, m.review) == (4, 3, 1, 0)
    assert m.approval_rate == pytest.approx(0.75)
    assert m.psi is not None and m.psi > 0.25  # four applicants are nothing like the training set
    assert [(r.key, r.approved, r.observed, r.bad) for r in m.by_grade] == [("A", 3, 2, 1)]
    assert [(r.key, r.bad_rate) for r in m.by_vintage] == [("2026-11", 0.5)]
    assert m.as_dict()["by_grade"][0]["bad_rate"] == 0.5
