"""授信审批: a credit line is granted by a credit decision, never by a grade someone types in.

The customer is put through the same scored decision as a loan application
(``credit.decision.decide`` with ``lending.applications.CreditServices``): identity, age,
income, student, bureau, velocity, blacklist and cap rules, the scorecard's grade, and a limit
of income × the grade's multiple within MCL-CAP-01 (min(300,000, income / 3) less the principal
the person owes here) and bank.consumer_credit.cap (200,000, the "product maximum" of the line's
offer), in 100-yuan steps. The income is the one on the customer's verified profile, not the
request's.

Approve opens the line at that limit (or at a lower one staff ask for; never higher: the design
has no staff override, which would need a second person). Reject, or a referral to a person
(grade D by default: the line has no manual-review queue, so a referral opens nothing either),
opens no line; the decision row keeps the rules that fired and the reasons, and an audit entry
``credit_line.decline`` names them. Nothing raises on a decline, so the caller commits the
record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.credit.application import Application, ProductOffer, Purpose
from puhui.credit.decision import Decision, Outcome, decide
from puhui.credit.policy import CreditPolicy
from puhui.credit.rules import RuleHit
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import customers
from puhui.lending import eligibility
from puhui.lending.applications import CreditServices
from puhui.lending.credit_line import rules, service
from puhui.lending.credit_line.models import lines

#: The product code decisions on a line are recorded under.
PRODUCT_CODE = "credit_line"
#: The term a line is scored for: a year of revolving use (instalments run up to 12 months).
TERM_MONTHS = 12


@dataclass(frozen=True)
class LineDecision:
    """The decision on a line and the line it opened (None unless approved)."""

    decision_id: int
    outcome: str
    score: int
    grade: str
    #: What the decision allows (0 when rejected).
    limit_fen: int
    rules: tuple[RuleHit, ...]
    line: service.Line | None


def offer(terms: rules.LineTerms, policy: CreditPolicy) -> ProductOffer:
    """The line as a product for the decision: a company-funded (direct) consumer credit line
    at the line's rate, from one limit step up to bank.consumer_credit.cap."""
    return ProductOffer(
        code=PRODUCT_CODE,
        marketplace=False,
        profile=terms.profile,
        min_rate=terms.annual_rate,
        max_rate=terms.annual_rate,
        min_amount_fen=policy.limit_step_fen,
        max_amount_fen=rules.CONSUMER_CREDIT_CAP_FEN,
    )


def _check_customer(conn: Connection, customer_id: int) -> None:
    """Refused before a decision is recorded: no such customer, or a line already."""
    found = conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
    if found is None:
        raise NotFound("customer_not_found", f"no customer {customer_id}", field="customer_id")
    if conn.execute(select(lines.c.id).where(lines.c.customer_id == customer_id)).first():
        raise Conflict(
            "credit_line_exists", "the customer already has a credit line", field="customer_id"
        )


def _requested(borrower: eligibility.Borrower, asked: int | None, policy: CreditPolicy) -> int:
    """What the decision is asked for: the most income and the caps allow the best grade (or
    the lower figure staff asked for), so the affordability rule (HR-DTI, MCL-AFF-01) tests a
    line drawn in full and repaid over ``TERM_MONTHS``. Never zero: with no room left the cap
    rule rejects."""
    best = max(policy.income_multiple, key=lambda g: policy.income_multiple[g])
    most = rules.grant_limit(
        grade=best,
        annual_income_fen=borrower.annual_income_fen,
        owed_elsewhere_fen=borrower.outstanding_fen,
        policy=policy,
    ).limit_fen
    return max(policy.limit_step_fen, most if asked is None else min(asked, most))


def grant_by_decision(
    conn: Connection,
    *,
    customer_id: int,
    actor: Actor,
    keys: Keyring,
    clock: Clock,
    credit: CreditServices,
    features: Mapping[str, Any] | None = None,
    limit_fen: int | None = None,
    terms: rules.LineTerms = rules.DEFAULT_TERMS,
) -> LineDecision:
    """Decide on a line for the customer and open it when approved. ``features`` are the
    scorecard's attributes (as for a scored loan review); ``limit_fen`` may ask for less than
    the decision allows, never more."""
    asked = None if limit_fen is None else service._amount(limit_fen, "limit_fen")
    _check_customer(conn, customer_id)
    borrower = eligibility.load_borrower(conn, keys=keys, customer_id=customer_id)
    made = decide(
        conn,
        application=Application(
            applicant_ref=str(customer_id),
            id_number=borrower.id_number,
            kyc_verified=borrower.kyc_verified,
            annual_income_fen=borrower.annual_income_fen,
            purpose=Purpose.CONSUMER_GOODS,
            requested_fen=_requested(borrower, asked, credit.policy),
            term_months=TERM_MONTHS,
            features=dict(features or {}),
            student=borrower.student,
            platform_outstanding_fen=borrower.outstanding_fen,
        ),
        offer=offer(terms, credit.policy),
        model=credit.model,
        bureau=credit.bureau,
        policy=credit.policy,
        fingerprint_key=credit.fingerprint_key,
        clock=clock,
    )
    if made.outcome is not Outcome.APPROVE:
        _decline(conn, made, customer_id=customer_id, actor=actor, clock=clock)
        return _result(made, None)
    if asked is not None and asked > made.limit_fen:
        raise ValidationError(
            "limit_above_allowed",
            f"{asked} fen is above the {made.limit_fen} fen the credit decision allows",
            field="limit_fen",
        )
    line = service.grant(
        conn,
        customer_id=customer_id,
        grade=made.grade,
        annual_income_fen=borrower.annual_income_fen,
        actor=actor,
        clock=clock,
        terms=terms,
        policy=credit.policy,
        limit_fen=made.limit_fen if asked is None else asked,
        decision_id=made.id,
    )
    return _result(made, line)


def apply(
    conn: Connection,
    *,
    customer_id: int,
    keys: Keyring,
    clock: Clock,
    credit: CreditServices,
    features: Mapping[str, Any] | None = None,
    terms: rules.LineTerms = rules.DEFAULT_TERMS,
) -> LineDecision:
    """开通: the customer asks for a line themself; the decision sets the limit."""
    return grant_by_decision(
        conn,
        customer_id=customer_id,
        actor=Actor(f"customer:{customer_id}"),
        keys=keys,
        clock=clock,
        credit=credit,
        features=features,
        terms=terms,
    )


def _decline(
    conn: Connection, made: Decision, *, customer_id: int, actor: Actor, clock: Clock
) -> None:
    audit.record(
        conn,
        actor=actor,
        event="credit_line.decline",
        object_type="customer",
        object_id=customer_id,
        detail={
            "decision_id": made.id,
            "outcome": made.outcome.value,
            "grade": made.grade,
            "rules": [h.code for h in made.rules],
        },
        clock=clock,
    )


def _result(made: Decision, line: service.Line | None) -> LineDecision:
    return LineDecision(
        decision_id=made.id,
        outcome=made.outcome.value,
        score=made.score,
        grade=made.grade,
        limit_fen=made.limit_fen,
        rules=made.rules,
        line=line,
    )
