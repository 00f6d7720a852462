"""Every hard rule and fraud rule fires on its own case and explains itself; a clean
application is approved within the product and the caps."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from puhui.compliance.rate_caps import Profile
from puhui.credit.application import Purpose
from puhui.credit.bureau import BureauReport
from puhui.credit.decision import Outcome, evaluate
from puhui.credit.policy import Action, CreditPolicy
from puhui.credit.rules import cap_rooms, monthly_installment_fen, score_rules

from .samples import MIDDLING, STRONG, WEAK, application, id_number, offer

TODAY = date(2026, 11, 2)
POLICY = CreditPolicy()
MARKETPLACE = {"marketplace": True, "profile": Profile.PRIVATE_LENDING, "max_rate": Decimal("0.12")}


def run(app=None, off=None, report=None, **kw):
    return evaluate(
        app or application(),
        off or offer(),
        report or BureauReport(TODAY),
        model=kw.pop("model"),
        policy=POLICY,
        today=TODAY,
        **kw,
    )


def test_a_clean_application_is_approved_within_product_and_caps(model):
    ev = run(model=model)
    assert ev.outcome is Outcome.APPROVE, ev.rules
    assert ev.rules == ()
    assert ev.score.grade == "A"
    # income 200,000 × 0.5 = 100,000, but MCL-CAP-01 allows min(300,000, 200,000 / 3) = 66,666
    assert ev.limit_fen == 66_600_00
    assert "MCL-CAP-01 room" in ev.limit_basis
    assert ev.approved_fen == 30_000_00
    assert ev.annual_rate == Decimal("0.0800")  # grade A prices at the bottom of the range
    assert [r.code for r in ev.score.reasons] == ["duration_in_month", "age_in_years"]


CASES = [
    ("HR-IDENTITY", {"kyc_verified": False}, {}, {}),
    ("HR-IDENTITY", {"id_number": id_number()[:-1] + "0"}, {}, {}),
    ("HR-AGE", {"id_number": id_number("20090101")}, {}, {}),
    ("HR-AGE", {"id_number": id_number("19600101")}, {}, {}),
    ("HR-NO-INCOME", {"annual_income_fen": 0}, {}, {}),
    ("HR-STUDENT", {"student": True}, {}, {}),
    ("HR-PURPOSE", {"purpose": Purpose.SECURITIES}, {}, {}),
    ("HR-PURPOSE", {"purpose": Purpose.UNSPECIFIED}, {}, {}),
    ("HR-PURPOSE", {"purpose": Purpose.HOME_PURCHASE}, {}, {}),
    ("HR-OVERDUE", {}, {"overdue_last_6m": 1}, {}),
    ("HR-OVERDUE", {}, {"overdue_now": True}, {}),
    ("HR-LENDERS", {}, {"other_lenders": 4}, {}),
    ("HR-DTI", {"monthly_debt_fen": 8_000_00}, {}, {}),
    ("HR-MCL-CAP-01", {"platform_outstanding_fen": 66_000_00}, {}, {}),
    ("HR-P2P-CAP-01", {"platform_outstanding_fen": 199_500_00}, {}, MARKETPLACE),
    ("HR-P2P-CAP-03", {}, {"outstanding_fen": 999_500_00}, MARKETPLACE),
]


@pytest.mark.parametrize(("code", "app_changes", "bureau", "offer_changes"), CASES)
def test_each_hard_rule_fires_and_explains(model, code, app_changes, bureau, offer_changes):
    ev = run(
        application(**app_changes),
        offer(**offer_changes),
        BureauReport(TODAY, **bureau),
        model=model,
    )
    hits = [h for h in ev.rules if h.code == code]
    assert len(hits) == 1, ev.rules
    hit = hits[0]
    assert hit.action is Action.REJECT
    assert hit.text_zh and hit.text_en
    assert ev.outcome is Outcome.REJECT
    assert (ev.limit_fen, ev.approved_fen, ev.annual_rate) == (0, 0, None)


def test_rules_cite_their_regulation(model):
    def regulation(code, **changes):
        ev = run(application(**changes), model=model)
        return next(h.regulation for h in ev.rules if h.code == code)

    assert regulation("HR-NO-INCOME", annual_income_fen=0) == "RATE-CASH-01"
    assert regulation("HR-STUDENT", student=True) == "RATE-CASH-01"
    assert regulation("HR-PURPOSE", purpose=Purpose.UNSPECIFIED) == "RATE-CASH-01"
    assert regulation("HR-PURPOSE", purpose=Purpose.FUTURES) == "MCL-USE-01"
    assert regulation("HR-AGE", id_number=id_number("20090101")) == "PI-AGE-01"
    assert regulation("HR-MCL-CAP-01", platform_outstanding_fen=66_000_00) == "MCL-CAP-01"


def test_age_and_amount_texts_name_the_numbers(model):
    ev = run(application(id_number=id_number("19600101")), model=model)
    hit = next(h for h in ev.rules if h.code == "HR-AGE")
    assert "66" in hit.text_zh and "22–55" in hit.text_zh
    assert hit.text_en == "age 66 is outside this product's 22–55"


def test_blacklist_rejects_and_names_what_matched(model):
    ev = run(model=model, blacklisted={"phone", "device"})
    hit = next(h for h in ev.rules if h.code == "HR-BLACKLIST")
    assert hit.text_en == "device, phone number on the blacklist"
    assert ev.outcome is Outcome.REJECT


@pytest.mark.parametrize(
    ("kind", "others", "action"),
    [
        ("device", 1, Action.REVIEW),
        ("ip", 4, Action.REVIEW),
        ("phone", 1, Action.REJECT),
        ("card", 1, Action.REJECT),
    ],
)
def test_each_fraud_velocity_rule_fires(model, kind, others, action):
    ev = run(model=model, velocity={kind: others})
    hit = next(h for h in ev.rules if h.code == f"FR-{kind.upper()}")
    assert hit.action is action
    assert f"{others}" in hit.text_zh and "24" in hit.text_en
    assert ev.outcome.value == action.value


def test_a_shared_ip_is_tolerated_up_to_three_others(model):
    assert run(model=model, velocity={"ip": 3}).outcome is Outcome.APPROVE


def test_many_inquiries_go_to_a_person(model):
    ev = run(report=BureauReport(TODAY, inquiries_last_30d=7), model=model)
    assert [h.code for h in ev.rules] == ["SR-INQUIRIES"]
    assert ev.outcome is Outcome.REVIEW
    assert ev.approved_fen == 30_000_00  # proposed to the officer


def test_a_low_grade_is_rejected_and_grade_d_reviewed(model):
    ev = run(application(features=WEAK), model=model)
    assert ev.score.grade == "E"
    assert [h.code for h in ev.rules] == ["SC-GRADE"]
    assert ev.outcome is Outcome.REJECT
    assert score_rules("D", POLICY)[0].action is Action.REVIEW
    assert score_rules("C", POLICY) == []


def test_a_limit_below_the_product_minimum_rejects(model):
    # marketplace: no income-based cap, so income × 0.5 = 50,000 is the limit
    small = offer(**MARKETPLACE, min_amount_fen=80_000_00, max_amount_fen=100_000_00)
    ev = run(application(annual_income_fen=100_000_00), small, model=model)
    assert [h.code for h in ev.rules] == ["LM-BELOW-MIN"]
    assert ev.outcome is Outcome.REJECT


def test_every_rule_is_reported_not_only_the_first(model):
    app = application(kyc_verified=False, student=True, purpose=Purpose.FUTURES)
    ev = run(app, report=BureauReport(TODAY, other_lenders=5), model=model)
    assert {"HR-IDENTITY", "HR-STUDENT", "HR-PURPOSE", "HR-LENDERS"} <= {h.code for h in ev.rules}


def test_p2p_cap_allows_exactly_200000():
    # P2P-CAP-01: a balance of exactly 200,000.00 is accepted.
    rooms = cap_rooms(
        marketplace=True,
        annual_income_fen=0,
        own_outstanding_fen=199_000_00,
        other_outstanding_fen=0,
        policy=POLICY,
    )
    assert rooms[0].code == "P2P-CAP-01" and rooms[0].room_fen == 1_000_00


@pytest.mark.parametrize(("income", "cap"), [(600_000_00, 200_000_00), (1_500_000_00, 300_000_00)])
def test_mcl_cap_is_the_lower_of_300000_and_a_third_of_income(income, cap):
    rooms = cap_rooms(
        marketplace=False,
        annual_income_fen=income,
        own_outstanding_fen=0,
        other_outstanding_fen=0,
        policy=POLICY,
    )
    assert [(r.code, r.cap_fen) for r in rooms] == [("MCL-CAP-01", cap)]


def test_marketplace_price_stays_under_4_lpr(model):
    # 4 × the 3.00% LPR of 2025-05-20 is 12%: even a product reaching 15% prices below it.
    off = offer(**MARKETPLACE | {"max_rate": Decimal("0.15")}, min_rate=Decimal("0.06"))
    strong = run(application(features=STRONG), off, model=model)
    middling = run(application(features=MIDDLING), off, model=model)
    assert (strong.score.grade, middling.score.grade) == ("A", "C")
    assert strong.annual_rate == Decimal("0.0600")
    assert middling.annual_rate == Decimal("0.0900")  # halfway from 6% to the 12% cap


def test_installment_estimate():
    assert monthly_installment_fen(100_000_00, Decimal("0.12"), 12) == 8_884_88
    assert monthly_installment_fen(12_000_00, Decimal(0), 12) == 1_000_00
