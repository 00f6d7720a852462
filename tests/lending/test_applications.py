"""The application flow on a real database: draft to signed loan, maker-checker, offers that
expire, the cooling-off window, and the scored review."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

import identity.conftest as identity_fixtures
from credit.samples import STRONG
from identity.conftest import BOB
from puhui.core.errors import Conflict, NotFound
from puhui.credit.bureau import SandboxBureau
from puhui.credit.scoring import default_model
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import Actor, list_entries
from puhui.identity.times import now_us
from puhui.lending import applications as apps
from puhui.lending import contract_terms, contracts, states
from puhui.lending.apr import schedule_rates
from puhui.lending.models import application_events, applications, loans
from puhui.lending.schedules import build_schedule

from .applicants import DAY, borrower, product

keys = identity_fixtures.keys
cheap_argon2 = identity_fixtures.cheap_argon2
ME = Actor("customer:1")
MAKER, CHECKER = Actor("staff:1"), Actor("staff:2")
SYSTEM = Actor("system")


@pytest.fixture
def world(engine, keys, clock):
    """A direct-lending product and a verified borrower earning 600,000 a year."""
    version = run_in_transaction(engine, lambda c: product(c, clock))
    cid = borrower(engine, keys, clock)
    return version, cid


def apply(engine, clock, version, cid, amount_fen=1_200_000, term=12, purpose="consumer_goods"):
    def work(c):
        made = apps.create(
            c,
            customer_id=cid,
            product_version_id=version.version_id,
            amount_fen=amount_fen,
            term=term,
            purpose=purpose,
            actor=Actor(f"customer:{cid}"),
            clock=clock,
        )
        return apps.submit(
            c, application_id=made.id, customer_id=cid, actor=Actor(f"customer:{cid}"), clock=clock
        )

    return run_in_transaction(engine, work).id


def reviewed(engine, keys, clock, app_id, **kw):
    return run_in_transaction(
        engine,
        lambda c: apps.review(c, application_id=app_id, actor=SYSTEM, keys=keys, clock=clock, **kw),
    )


def offered(engine, keys, clock, version, cid, **kw):
    app_id = apply(engine, clock, version, cid, **kw)
    assert reviewed(engine, keys, clock, app_id).state == "approved"
    return run_in_transaction(
        engine, lambda c: apps.make_offer(c, application_id=app_id, actor=SYSTEM, clock=clock)
    )


def accept(engine, keys, clock, app_id, cid):
    return run_in_transaction(
        engine,
        lambda c: apps.accept(
            c, application_id=app_id, customer_id=cid, actor=Actor(f"customer:{cid}"), keys=keys,
            clock=clock,
        ),
    )  # fmt: skip


def test_draft_to_signed_loan(engine, keys, clock, world):
    version, cid = world
    app_id = apply(engine, clock, version, cid)
    decided = reviewed(engine, keys, clock, app_id)
    assert (decided.state, decided.decision_outcome, decided.reasons) == ("approved", "approve", ())
    assert (decided.approved_fen, decided.annual_rate) == (1_200_000, Decimal("0.18"))

    offer = run_in_transaction(
        engine, lambda c: apps.make_offer(c, application_id=app_id, actor=SYSTEM, clock=clock)
    ).offer
    schedule = build_schedule(
        contract_terms.loan_terms(
            version, amount_fen=1_200_000, term=12, annual_rate=Decimal("0.18"), start=DAY
        )
    )
    assert offer.irr_annual_rate == schedule_rates(schedule).annual_rate_irr  # RATE-APR-01
    assert offer.irr_label == "年化利率（按内部收益率法/复利计算）"  # RATE-APR-03
    assert offer.total_interest_fen == schedule.total_interest_fen
    assert [line.total_fen for line in offer.schedule] == list(schedule.payments_fen)
    assert offer.penalty_rate == Decimal("0.24")  # 1.5 × 18% = 27%, capped at 24% (RATE-FEE-02)
    assert offer.expires_us == now_us(clock) + 72 * 3_600_000_000

    signed = accept(engine, keys, clock, app_id, cid)
    assert signed.state == "accepted" and signed.loan_id is not None
    with engine.connect() as c:
        loan = c.execute(select(loans).where(loans.c.id == signed.loan_id)).one()
        history = c.execute(
            select(application_events.c.from_state, application_events.c.to_state)
            .where(application_events.c.application_id == app_id)
            .order_by(application_events.c.id)
        ).all()
        assert contracts.verify_contract(c, signed.loan_id)
        audited = {e.event_type for e in list_entries(c, object_type="loan_application")}
    assert loan.state == "accepted" and loan.principal_fen == 1_200_000
    assert (loan.rate_ppb, loan.penalty_rate_ppb, loan.year_days) == (180_000_000, 240_000_000, 360)
    assert loan.contract_sha256 == hashlib.sha256(loan.contract_text.encode()).hexdigest()
    assert loan.signed_us == now_us(clock)
    assert loan.cooling_off_until_us == loan.signed_us + 24 * 3_600_000_000  # RATE-COOL-01
    assert loan.irr_annual_rate == str(offer.irr_annual_rate)
    assert loan.start_date == DAY and loan.maturity_date == schedule.installments[-1].due_date
    assert loan.principal_outstanding_fen == 0  # nothing is owed until it is paid out
    assert history == [
        (None, "draft"),
        ("draft", "submitted"),
        ("submitted", "under_review"),
        ("under_review", "approved"),
        ("approved", "offered"),
        ("offered", "accepted"),
    ]
    assert {"application.draft", "application.accepted", "application.offered"} <= audited


def test_rules_only_rejection_keeps_its_reasons(engine, keys, clock):
    version = run_in_transaction(engine, lambda c: product(c, clock))
    cid = borrower(engine, keys, clock, occupation="在校学生")
    app_id = apply(engine, clock, version, cid, purpose="securities")
    decided = reviewed(engine, keys, clock, app_id)
    assert decided.state == "rejected" and decided.approved_fen is None
    assert [(h.code, h.regulation) for h in decided.reasons] == [
        ("HR-STUDENT", "RATE-CASH-01"),
        ("HR-PURPOSE", "MCL-USE-01"),
    ]
    with pytest.raises(Conflict, match="from rejected to offered"):
        run_in_transaction(
            engine, lambda c: apps.make_offer(c, application_id=app_id, actor=SYSTEM, clock=clock)
        )


def test_scored_review_stores_the_decision(engine, keys, clock, world):
    version, cid = world
    app_id = apply(engine, clock, version, cid)
    credit = apps.CreditServices(default_model(), SandboxBureau(), b"k" * 32)
    decided = reviewed(engine, keys, clock, app_id, credit=credit, features=STRONG)
    assert decided.decision_id is not None
    assert (
        decided.state
        == {"approve": "approved", "review": "manual_review", "reject": "rejected"}[
            decided.decision_outcome
        ]
    )
    if decided.state != "rejected":
        assert 0 < decided.approved_fen <= 1_200_000 and decided.annual_rate is not None


def in_manual_review(engine, clock, version, cid, amount_fen):
    app_id = apply(engine, clock, version, cid, amount_fen=amount_fen)

    def refer(c):
        for to in ("under_review", "manual_review"):
            states.transition_application(
                c, application_id=app_id, to=to, actor=SYSTEM, reason="refer", clock=clock
            )

    run_in_transaction(engine, refer)
    return app_id


def staff_act(engine, clock, fn, app_id, actor, **kw):
    return run_in_transaction(
        engine, lambda c: fn(c, application_id=app_id, actor=actor, clock=clock, **kw)
    )


def test_maker_checker_above_the_threshold(engine, keys, clock, world):
    version, cid = world
    app_id = in_manual_review(engine, clock, version, cid, 5_000_001)  # 50,000.01 yuan
    with pytest.raises(Conflict, match="recommendation must come first"):
        staff_act(engine, clock, apps.approve, app_id, CHECKER, reason="ok")
    staff_act(engine, clock, apps.recommend, app_id, MAKER, recommendation="approve", reason="good")
    with pytest.raises(Conflict) as same:
        staff_act(engine, clock, apps.approve, app_id, MAKER, reason="ok")
    assert same.value.code == "maker_checker_same_person"
    with pytest.raises(Conflict) as same:
        staff_act(engine, clock, apps.reject, app_id, MAKER, reason="no")
    assert same.value.code == "maker_checker_same_person"
    with pytest.raises(Conflict, match="staff member"):
        staff_act(engine, clock, apps.approve, app_id, ME, reason="me")
    done = staff_act(engine, clock, apps.approve, app_id, CHECKER, reason="second pair of eyes")
    assert (done.state, done.recommended_by, done.approved_by) == ("approved", 1, 2)
    assert done.approved_fen == 5_000_001


def test_one_person_may_decide_at_or_below_the_threshold(engine, keys, clock, world):
    version, cid = world
    app_id = in_manual_review(engine, clock, version, cid, 5_000_000)  # exactly 50,000 yuan
    staff_act(engine, clock, apps.recommend, app_id, MAKER, recommendation="approve", reason="ok")
    done = staff_act(engine, clock, apps.approve, app_id, MAKER, reason="small loan")
    assert (done.state, done.recommended_by, done.approved_by) == ("approved", 1, 1)
    other = in_manual_review(engine, clock, version, cid, 1_000_000)
    assert staff_act(engine, clock, apps.reject, other, MAKER, reason="no").state == "rejected"


def test_checker_may_approve_less_within_the_product(engine, keys, clock, world):
    version, cid = world
    app_id = in_manual_review(engine, clock, version, cid, 2_000_000)
    done = staff_act(
        engine, clock, apps.approve, app_id, CHECKER, reason="less", approved_fen=1_500_000
    )
    assert done.approved_fen == 1_500_000
    offer = staff_act(engine, clock, apps.make_offer, app_id, SYSTEM).offer
    assert offer.amount_fen == 1_500_000


def test_offers_expire_set_based_and_idempotent(engine, keys, clock, world):
    version, cid = world
    first = offered(engine, keys, clock, version, cid)
    clock.advance(timedelta(hours=1))
    second = offered(engine, keys, clock, version, cid)
    expire = lambda at: run_in_transaction(  # noqa: E731
        engine, lambda c: apps.expire_stale(c, now_us=at, clock=clock)
    )
    assert expire(first.offer_expires_us - 1) == 0
    assert expire(first.offer_expires_us) == 1  # due at the expiry instant itself
    assert expire(first.offer_expires_us) == 0  # a second run changes nothing
    assert expire(second.offer_expires_us + 10) == 1
    with engine.connect() as c:
        rows = c.execute(
            select(applications.c.state).where(applications.c.id.in_([first.id, second.id]))
        ).scalars()
        assert set(rows) == {"expired"}
        events = c.execute(
            select(application_events.c.to_state).where(application_events.c.to_state == "expired")
        ).all()
    assert len(events) == 2


def test_an_expired_offer_cannot_be_accepted(engine, keys, clock, world):
    version, cid = world
    app = offered(engine, keys, clock, version, cid)
    clock.advance(timedelta(hours=72))
    with pytest.raises(Conflict) as late:
        accept(engine, keys, clock, app.id, cid)
    assert late.value.code == "offer_expired"


def test_cooling_off_window_boundaries(engine, keys, clock, world):
    version, cid = world
    actor = Actor(f"customer:{cid}")

    def cancel(app_id):
        return run_in_transaction(
            engine,
            lambda c: apps.cancel(
                c, application_id=app_id, customer_id=cid, actor=actor, clock=clock
            ),
        )

    inside = accept(engine, keys, clock, offered(engine, keys, clock, version, cid).id, cid)
    clock.advance(timedelta(hours=24) - timedelta(microseconds=1))
    assert cancel(inside.id).state == "cancelled"
    with engine.connect() as c:
        assert c.execute(select(loans.c.state).where(loans.c.id == inside.loan_id)).scalar() == (
            "cancelled"
        )

    late = accept(engine, keys, clock, offered(engine, keys, clock, version, cid).id, cid)
    clock.advance(timedelta(hours=24))
    with pytest.raises(Conflict) as over:
        cancel(late.id)
    assert over.value.code == "cooling_off_over"


def test_borrower_decisions_and_ownership(engine, keys, clock, world):
    version, cid = world
    actor = Actor(f"customer:{cid}")
    app = offered(engine, keys, clock, version, cid)
    with pytest.raises(NotFound):
        run_in_transaction(
            engine,
            lambda c: apps.decline(c, application_id=app.id, customer_id=cid + 99, actor=actor,
                                   clock=clock),
        )  # fmt: skip
    done = run_in_transaction(
        engine,
        lambda c: apps.decline(c, application_id=app.id, customer_id=cid, actor=actor, clock=clock),
    )
    assert done.state == "declined"
    with pytest.raises(Conflict, match="from declined to accepted") as refused:
        accept(engine, keys, clock, app.id, cid)
    assert refused.value.code == "illegal_transition"
    draft = apply(engine, clock, version, cid)
    run_in_transaction(
        engine,
        lambda c: apps.cancel(c, application_id=draft, customer_id=cid, actor=actor, clock=clock),
    )
    under = apply(engine, clock, version, cid)
    run_in_transaction(
        engine,
        lambda c: states.transition_application(
            c, application_id=under, to="under_review", actor=SYSTEM, reason="-", clock=clock
        ),
    )
    with pytest.raises(Conflict, match="from under_review to cancelled"):
        run_in_transaction(
            engine,
            lambda c: apps.cancel(
                c, application_id=under, customer_id=cid, actor=actor, clock=clock
            ),
        )


def test_caps_are_checked_again_at_signing(engine, keys, clock, world):
    """MCL-CAP-01: 600,000 a year allows 200,000; two offers of 150,000 each cannot both be
    signed, though each passed review alone."""
    version, cid = world
    first = offered(engine, keys, clock, version, cid, amount_fen=15_000_000)
    second = offered(engine, keys, clock, version, cid, amount_fen=15_000_000)
    accept(engine, keys, clock, first.id, cid)
    with pytest.raises(Conflict) as refused:
        accept(engine, keys, clock, second.id, cid)
    assert refused.value.code == "no_longer_eligible"
    assert "200,000.00" in refused.value.message


def test_lists_page_by_id(engine, keys, clock, world):
    version, cid = world
    ids = [apply(engine, clock, version, cid) for _ in range(3)]
    other = borrower(engine, keys, clock, BOB)
    apply(engine, clock, version, other)
    with engine.connect() as c:
        page = apps.list_applications(c, customer_id=cid, limit=2)
        assert [a.id for a in page.items] == ids[:2] and page.has_more
        rest = apps.list_applications(c, customer_id=cid, limit=2, starting_after=ids[1])
        assert [a.id for a in rest.items] == ids[2:] and not rest.has_more
        queue = apps.list_applications(c, state="submitted", limit=10)
        assert len(queue.items) == 4
        assert [e.to_state for e in apps.list_events(c, application_id=ids[0])] == [
            "draft",
            "submitted",
        ]
