"""Risk questionnaire → level, limits and grades (P2P-LND-01..04); consents (PI-CON-01/02)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import consents, risk
from puhui.identity.errors import Forbidden

from .conftest import ACTOR, ALICE, new_customer

Q = risk.BUILTIN_QUESTIONNAIRE


def answers(pick: int) -> dict[str, str]:
    return {q["id"]: q["options"][min(pick, len(q["options"]) - 1)]["id"] for q in Q["questions"]}


def test_questionnaire_covers_every_dimension_with_ten_or_more_questions():
    assert len(Q["questions"]) >= 10
    assert {q["dimension"] for q in Q["questions"]} == set(risk.DIMENSIONS)
    assert risk.score(Q, answers(0))[1] == "C1"
    assert risk.score(Q, {q["id"]: q["options"][-1]["id"] for q in Q["questions"]})[1] == "C5"
    with pytest.raises(ValidationError, match="no question"):
        risk.score(Q, {**answers(0), "q99": "a"})


def test_investment_needs_assessment_notice_and_respects_limits(engine, keys, clock):
    cid = new_customer(engine, keys, clock, ALICE)

    def check(amount: int, grade: str, total: int = 0):
        return run_in_transaction(
            engine,
            lambda c: risk.check_investment(
                c,
                customer_id=cid,
                amount_fen=amount,
                project_grade=grade,
                invested_total_fen=total,
                clock=clock,
            ),
        )

    with pytest.raises(Forbidden, match="risk assessment"):
        check(100, "R1")
    assessed = run_in_transaction(
        engine,
        lambda c: risk.assess(
            c, customer_id=cid, version=Q["version"], answers=answers(1), actor=ACTOR, clock=clock
        ),
    )
    with pytest.raises(Forbidden, match="risk notice"):
        check(100, "R1")
    run_in_transaction(
        engine,
        lambda c: risk.sign_notice(c, customer_id=cid, version="2026.1", actor=ACTOR, clock=clock),
    )
    limits = risk.DEFAULT_LIMITS[assessed.level]
    assert check(limits.max_single_fen, limits.allowed_grades[-1]) == limits
    with pytest.raises(Forbidden) as err:
        check(limits.max_single_fen + 1, "R1")
    assert err.value.code == "amount_over_single_limit"
    with pytest.raises(Forbidden) as err:
        check(100, "R5")
    assert err.value.code == "project_grade_not_allowed"
    with pytest.raises(Forbidden) as err:
        check(100, "R1", total=limits.max_total_fen)
    assert err.value.code == "amount_over_total_limit"
    new = risk.Limits(assessed.level, 10, 20, ("R1",))  # changed at run time
    run_in_transaction(engine, lambda c: risk.set_limits(c, limits=new, actor=ACTOR, clock=clock))
    with pytest.raises(Forbidden, match="at most 10 fen"):
        check(11, "R1")
    clock.advance(timedelta(days=366))
    with pytest.raises(Forbidden, match="valid 12 months"):
        check(1, "R1")


def test_consents_are_granular_separate_and_withdrawable(engine, keys, clock):
    cid = new_customer(engine, keys, clock, ALICE, verify=False)

    def grant(*purposes):
        return run_in_transaction(
            engine,
            lambda c: consents.grant(
                c, customer_id=cid, purposes=list(purposes), ip="1.2.3.4", clock=clock
            ),
        )

    with pytest.raises(ValidationError, match="separately"):
        grant("account_service", "bank_card")
    with pytest.raises(ValidationError, match="separately"):
        grant("face_biometrics", "bank_card")
    general = grant("account_service", "marketing")
    assert [c.kind for c in general] == ["general", "general"]
    (card,) = grant("bank_card")
    assert card.kind == "separate" and grant("bank_card")[0].id == card.id  # idempotent
    run_in_transaction(engine, lambda c: consents.require(c, customer_id=cid, purpose="bank_card"))
    run_in_transaction(
        engine, lambda c: consents.withdraw(c, customer_id=cid, consent_id=card.id, clock=clock)
    )
    with pytest.raises(Forbidden, match="consent"):
        run_in_transaction(
            engine, lambda c: consents.require(c, customer_id=cid, purpose="bank_card")
        )
