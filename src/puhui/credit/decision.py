"""The credit decision: approve, reject or send to a person, with the score, the probability
of default, the grade, the limit, the price and the reasons, stored for explanation.

``evaluate`` is the whole judgement as a pure function of its inputs (no database, no clock):
score the applicant, run the hard, velocity, score and limit rules, and settle the outcome —
any reject hit rejects, else any review hit sends to a person, else approve. ``decide`` gathers
the inputs (bureau report, velocity counts, blacklist), evaluates and records the decision in
``credit_decisions`` with what PI-ADM-01 asks: the model and policy versions, the SHA-256 of
the input snapshot kept beside it, every rule that fired and the top four reasons. The snapshot
holds fingerprints in place of identifiers, so the digest can be checked from the stored row
(``verify_digest``) without keeping an ID number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from numbers import Real
from typing import Any

from sqlalchemy import Connection, insert, select

from puhui.core.clock import Clock, business_date
from puhui.core.errors import NotFound, ValidationError
from puhui.credit.application import Application, ProductOffer
from puhui.credit.bureau import BureauReport, CreditBureau
from puhui.credit.features import Kind
from puhui.credit.fraud import (
    blacklist_matches,
    fingerprints_of,
    record_fingerprints,
    velocity_counts,
)
from puhui.credit.limits import credit_limit, price
from puhui.credit.models import decisions
from puhui.credit.policy import Action, CreditPolicy
from puhui.credit.rules import (
    RuleHit,
    applicant_age,
    application_cap_rooms,
    hard_rules,
    limit_rules,
    score_rules,
    velocity_rules,
)
from puhui.credit.scoring import Reason, Score, ScoringModel


class Outcome(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REVIEW = "review"  # manual review by a credit officer


@dataclass(frozen=True)
class Evaluation:
    outcome: Outcome
    score: Score
    limit_fen: int
    approved_fen: int
    annual_rate: Decimal | None
    rules: tuple[RuleHit, ...]
    limit_basis: tuple[str, ...]
    features: Mapping[str, Any]


def scoring_features(app: Application, model: ScoringModel, *, age: int | None) -> dict[str, Any]:
    """The model's attributes from the application: given ones checked, and the amount (in
    yuan), the term and the age (from the ID number) filled in where not given."""
    features = dict(app.features)
    features.setdefault("credit_amount", app.requested_fen / 100)
    features.setdefault("duration_in_month", app.term_months)
    if age is not None:
        features.setdefault("age_in_years", age)
    for c in model.characteristics:
        value = features.get(c.name)
        if c.name == "age_in_years" and value is None:
            continue  # unknown age (an invalid ID number) scores neutral; HR-IDENTITY rejects
        if c.kind is Kind.NUMERIC and c.name not in model.derived:
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValidationError(
                    "feature_not_a_number", f"{c.name} must be a number", field=c.name
                )
        elif c.kind is Kind.CATEGORICAL and value not in c.categories:
            raise ValidationError(
                "feature_value_unknown",
                f"{c.name} must be one of: {'; '.join(c.categories)}",
                field=c.name,
            )
    return features


def settle(hits: list[RuleHit]) -> Outcome:
    if any(h.action is Action.REJECT for h in hits):
        return Outcome.REJECT
    if any(h.action is Action.REVIEW for h in hits):
        return Outcome.REVIEW
    return Outcome.APPROVE


def evaluate(
    app: Application,
    offer: ProductOffer,
    report: BureauReport,
    *,
    model: ScoringModel,
    policy: CreditPolicy,
    today: date,
    velocity: Mapping[str, int] | None = None,
    blacklisted: Collection[str] = (),
) -> Evaluation:
    """The decision on ``app`` for ``offer``, from the inputs alone."""
    features = scoring_features(app, model, age=applicant_age(app, today=today))
    scored = model.score(features)
    limit = credit_limit(
        grade=scored.grade,
        annual_income_fen=app.annual_income_fen,
        offer=offer,
        rooms=application_cap_rooms(app, offer, report, policy),
        policy=policy,
    )
    hits = [
        *hard_rules(app, offer, report, policy, today=today, blacklisted=blacklisted),
        *velocity_rules(velocity or {}, policy),
        *score_rules(scored.grade, policy),
    ]
    if settle(hits) is not Outcome.REJECT:
        hits += limit_rules(limit.limit_fen, offer)
    outcome = settle(hits)
    rejected = outcome is Outcome.REJECT
    return Evaluation(
        outcome=outcome,
        score=scored,
        limit_fen=0 if rejected else limit.limit_fen,
        approved_fen=0 if rejected else min(app.requested_fen, limit.limit_fen),
        annual_rate=None
        if rejected
        else price(grade=scored.grade, offer=offer, policy=policy, contract_date=today),
        rules=tuple(hits),
        limit_basis=limit.basis,
        features=features,
    )


@dataclass(frozen=True)
class Decision:
    id: int
    applicant_ref: str
    product_code: str
    outcome: Outcome
    score: int
    probability_of_default: Decimal
    grade: str
    limit_fen: int
    approved_fen: int
    annual_rate: Decimal | None
    rules: tuple[RuleHit, ...]
    reasons: tuple[Reason, ...]
    model_version: str
    policy_version: str
    input_digest: str
    business_date: date
    created_us: int


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snapshot(
    app: Application,
    offer: ProductOffer,
    report: BureauReport,
    *,
    evaluation: Evaluation,
    prints: Mapping[str, str],
    velocity: Mapping[str, int],
    blacklisted: Collection[str],
    model_version: str,
    policy_version: str,
    today: date,
) -> dict[str, Any]:
    """Every input of the decision, identifiers replaced by their fingerprints."""
    application = {
        k: v
        for k, v in asdict(app).items()
        if k not in ("id_number", "phone", "card", "device_id", "ip")
    }
    application["features"] = dict(evaluation.features)
    return _plain(
        {
            "application": application,
            "fingerprints": dict(sorted(prints.items())),
            "offer": asdict(offer),
            "bureau": asdict(report),
            "velocity": dict(sorted(velocity.items())),
            "blacklisted": sorted(blacklisted),
            "model_version": model_version,
            "policy_version": policy_version,
            "business_date": today,
        }
    )


def digest_of(snap: Mapping[str, Any]) -> tuple[str, str]:
    """The snapshot's canonical JSON and its SHA-256."""
    text = json.dumps(snap, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text, hashlib.sha256(text.encode()).hexdigest()


def decide(
    conn: Connection,
    *,
    application: Application,
    offer: ProductOffer,
    model: ScoringModel,
    bureau: CreditBureau,
    policy: CreditPolicy,
    fingerprint_key: bytes,
    clock: Clock,
) -> Decision:
    """Decide on an application and record the decision (the caller commits)."""
    now = clock.now()
    today = business_date(now)
    report = bureau.report(id_number=application.id_number, as_of=today)
    prints = fingerprints_of(application, fingerprint_key)
    velocity = velocity_counts(conn, prints=prints, since=now - policy.velocity_window)
    blacklisted = blacklist_matches(conn, prints=prints)
    ev = evaluate(
        application,
        offer,
        report,
        model=model,
        policy=policy,
        today=today,
        velocity=velocity,
        blacklisted=blacklisted,
    )
    snap = snapshot(
        application,
        offer,
        report,
        evaluation=ev,
        prints=prints,
        velocity=velocity,
        blacklisted=blacklisted,
        model_version=model.version,
        policy_version=policy.version,
        today=today,
    )
    text, digest = digest_of(snap)
    created_us = int(now.timestamp() * 1_000_000)
    decision_id = conn.execute(
        insert(decisions).values(
            applicant_ref=application.applicant_ref,
            applicant_digest=prints["id_number"],
            product_code=offer.code,
            requested_fen=application.requested_fen,
            term_months=application.term_months,
            outcome=ev.outcome.value,
            score=ev.score.score,
            probability_of_default=_pd_text(ev.score.probability_of_default),
            grade=ev.score.grade,
            limit_fen=ev.limit_fen,
            approved_fen=ev.approved_fen,
            annual_rate=None if ev.annual_rate is None else str(ev.annual_rate),
            model_version=model.version,
            policy_version=policy.version,
            input_digest=digest,
            rules_json=json.dumps([h.as_dict() for h in ev.rules], ensure_ascii=False),
            reasons_json=json.dumps([asdict(r) for r in ev.score.reasons], ensure_ascii=False),
            snapshot_json=text,
            business_date=today,
            created_us=created_us,
        )
    ).inserted_primary_key[0]
    record_fingerprints(conn, prints=prints, decision_id=decision_id, seen=now)
    return get_decision(conn, decision_id=decision_id)


def _pd_text(pd_: float) -> str:
    return f"{pd_:.6f}"


def _rule(d: Mapping[str, Any]) -> RuleHit:
    return RuleHit(d["code"], Action(d["action"]), d["regulation"], d["text_zh"], d["text_en"])


def get_decision(conn: Connection, *, decision_id: int) -> Decision:
    row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).first()
    if row is None:
        raise NotFound("decision_not_found", f"no decision {decision_id}", field="decision_id")
    return Decision(
        id=row.id,
        applicant_ref=row.applicant_ref,
        product_code=row.product_code,
        outcome=Outcome(row.outcome),
        score=row.score,
        probability_of_default=Decimal(row.probability_of_default),
        grade=row.grade,
        limit_fen=row.limit_fen,
        approved_fen=row.approved_fen,
        annual_rate=None if row.annual_rate is None else Decimal(row.annual_rate),
        rules=tuple(_rule(d) for d in json.loads(row.rules_json)),
        reasons=tuple(Reason(**d) for d in json.loads(row.reasons_json)),
        model_version=row.model_version,
        policy_version=row.policy_version,
        input_digest=row.input_digest,
        business_date=row.business_date,
        created_us=row.created_us,
    )


def get_own_decision(conn: Connection, *, decision_id: int, applicant_ref: str) -> Decision:
    """An applicant's own decision; someone else's is 404 like a missing one (SEC-AC-02)."""
    decision = get_decision(conn, decision_id=decision_id)
    if decision.applicant_ref != applicant_ref:
        raise NotFound("decision_not_found", f"no decision {decision_id}", field="decision_id")
    return decision


def list_decisions(
    conn: Connection,
    *,
    applicant_ref: str | None = None,
    outcome: Outcome | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[Decision]:
    """Decisions newest first, optionally one applicant's or one outcome's, for the pages that
    list them (the back office, a borrower's own)."""
    q = select(decisions.c.id).order_by(decisions.c.id.desc()).limit(limit)
    if applicant_ref is not None:
        q = q.where(decisions.c.applicant_ref == applicant_ref)
    if outcome is not None:
        q = q.where(decisions.c.outcome == outcome.value)
    if before_id is not None:
        q = q.where(decisions.c.id < before_id)
    return [get_decision(conn, decision_id=i) for i in conn.execute(q).scalars()]


def verify_digest(conn: Connection, *, decision_id: int) -> bool:
    """Whether the stored snapshot still hashes to the decision's input digest."""
    row = conn.execute(
        select(decisions.c.snapshot_json, decisions.c.input_digest).where(
            decisions.c.id == decision_id
        )
    ).first()
    if row is None:
        raise NotFound("decision_not_found", f"no decision {decision_id}", field="decision_id")
    return hashlib.sha256(row.snapshot_json.encode()).hexdigest() == row.input_digest
