"""Loan applications (借款申请), from the borrower's request to the signed contract.

``create`` (a draft) → ``submit`` → ``review``: the credit decision service when a scoring
model is configured (``CreditServices``), else the rules-only decision (``eligibility``); the
amount a scored decision approves must also pass the rules. Approve → ``approved``, reject →
``rejected``, refer → ``manual_review``, where one staff member ``recommend``\\s (maker,
``loans.review``) and another ``approve``\\s or ``reject``\\s (checker, ``loans.approve``):
above ``maker_checker_above_fen`` the checker must be someone else (四眼原则); at or below it
one person may decide. ``make_offer`` prices the schedule and shows the IRR annual rate beside
the contract rate (RATE-APR-01/02/03); ``accept`` signs: it creates the loan in state
``accepted`` with the contract text and its SHA-256 (``contracts``) and the cooling-off window
(RATE-COOL-01). Installments are written at disbursement (``servicing``), not here. The offer
and the contract content are built in ``offers``, rendered and hashed in ``contracts``.

Every function takes the caller's connection and never commits; every state change goes through
``states`` (event row and audit entry). Borrower-facing calls take ``customer_id`` and treat
another borrower's application as not found.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, literal, select, update

from puhui.compliance import aml
from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig, rate_cap
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.money import check_fen
from puhui.core.rates import format_percent
from puhui.credit.application import ProductOffer, Purpose
from puhui.credit.bureau import CreditBureau
from puhui.credit.decision import Outcome, decide
from puhui.credit.policy import Action, CreditPolicy
from puhui.credit.rules import RuleHit
from puhui.credit.scoring import ScoringModel
from puhui.identity import audit
from puhui.identity import customers as customer_service
from puhui.identity.audit import SYSTEM, Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import customers
from puhui.identity.times import now_us, span_us
from puhui.lending import calendar, contract_terms, contracts, eligibility, offers
from puhui.lending.models import application_events, applications, loans
from puhui.lending.products import MAX_PAGE, ProductVersion, get_version
from puhui.lending.states import (
    APPLICATION_TRANSITIONS,
    AppState,
    LoanState,
    check_transition,
    record_application_event,
    transition_application,
    transition_loan,
)


@dataclass(frozen=True)
class LendingConfig:
    """The configurable numbers of the application flow."""

    #: Above this amount the checker must differ from the maker (fen; 50,000 yuan).
    maker_checker_above_fen: int = 5_000_000
    #: RATE-COOL-01: hours after signing in which the borrower may cancel.
    cooling_off_hours: int = 24
    #: How long an offer stands before it expires.
    offer_valid_hours: int = 72
    #: The applicant's age range (PI-AGE-01: at least 18).
    min_age: int = 22
    max_age: int = 55
    lender: str = "普惠小额贷款有限公司 Puhui Microcredit Co., Ltd."
    policy: CreditPolicy = field(default_factory=CreditPolicy)
    cap_config: CapConfig = DEFAULT_CAP_CONFIG


DEFAULT_CONFIG = LendingConfig()


@dataclass(frozen=True)
class CreditServices:
    """What a scored decision needs (see ``api/credit.py`` for how they are obtained)."""

    model: ScoringModel
    bureau: CreditBureau
    fingerprint_key: bytes
    policy: CreditPolicy = field(default_factory=CreditPolicy)


@dataclass(frozen=True)
class LoanApplication:
    id: int
    customer_id: int
    product_version_id: int
    amount_fen: int
    term: int
    annual_rate: Decimal | None
    purpose: str
    purpose_detail: str
    state: str
    channel: str
    decision_id: int | None
    decision_outcome: str | None
    reasons: tuple[RuleHit, ...]
    recommended_by: int | None
    recommendation: str | None
    approved_by: int | None
    approved_fen: int | None
    offer: offers.Offer | None
    offer_expires_us: int | None
    loan_id: int | None
    created_us: int
    updated_us: int


@dataclass(frozen=True)
class ApplicationPage:
    items: tuple[LoanApplication, ...]
    has_more: bool


@dataclass(frozen=True)
class ApplicationEvent:
    id: int
    application_id: int
    from_state: str | None
    to_state: str
    actor: str
    reason: str
    at_us: int


# ------------------------------------------------------------------------------- reading


def _hit(d: Mapping[str, Any]) -> RuleHit:
    return RuleHit(d["code"], Action(d["action"]), d["regulation"], d["text_zh"], d["text_en"])


def _application(row: Any) -> LoanApplication:
    return LoanApplication(
        id=row.id,
        customer_id=row.customer_id,
        product_version_id=row.product_version_id,
        amount_fen=row.amount_fen,
        term=row.term,
        annual_rate=None if row.annual_rate is None else Decimal(row.annual_rate),
        purpose=row.purpose,
        purpose_detail=row.purpose_detail,
        state=row.state,
        channel=row.channel,
        decision_id=row.decision_id,
        decision_outcome=row.decision_outcome,
        reasons=tuple(_hit(d) for d in json.loads(row.reasons_json)),
        recommended_by=row.recommended_by,
        recommendation=row.recommendation,
        approved_by=row.approved_by,
        approved_fen=row.approved_fen,
        offer=None if row.offer_json is None else offers.Offer.from_json(row.offer_json),
        offer_expires_us=row.offer_expires_us,
        loan_id=row.loan_id,
        created_us=row.created_us,
        updated_us=row.updated_us,
    )


def get_application(
    conn: Connection, *, application_id: int, customer_id: int | None = None
) -> LoanApplication:
    """One application; with ``customer_id``, only that borrower's own (else not found)."""
    query = select(applications).where(applications.c.id == application_id)
    if customer_id is not None:
        query = query.where(applications.c.customer_id == customer_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(
            "application_not_found", f"no application {application_id}", field="application_id"
        )
    return _application(row)


def list_applications(
    conn: Connection,
    *,
    customer_id: int | None = None,
    state: str | None = None,
    limit: int = 20,
    starting_after: int | None = None,
) -> ApplicationPage:
    """Applications by id, optionally one borrower's or one state's (the review queue is
    ``state="manual_review"``), a keyset page at a time."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit_out_of_range", f"limit must be 1–{MAX_PAGE}", field="limit")
    query = select(applications).order_by(applications.c.id).limit(limit + 1)
    if customer_id is not None:
        query = query.where(applications.c.customer_id == customer_id)
    if state is not None:
        query = query.where(applications.c.state == state)
    if starting_after is not None:
        query = query.where(applications.c.id > starting_after)
    rows = conn.execute(query).all()
    return ApplicationPage(tuple(_application(r) for r in rows[:limit]), len(rows) > limit)


def list_events(
    conn: Connection, *, application_id: int, customer_id: int | None = None
) -> tuple[ApplicationEvent, ...]:
    """The application's history, oldest first."""
    get_application(conn, application_id=application_id, customer_id=customer_id)
    rows = conn.execute(
        select(application_events)
        .where(application_events.c.application_id == application_id)
        .order_by(application_events.c.id)
    ).all()
    return tuple(
        ApplicationEvent(
            r.id, r.application_id, r.from_state, r.to_state, r.actor, r.reason, r.at_us
        )
        for r in rows
    )


def _move(
    conn: Connection,
    application_id: int,
    to: AppState,
    *,
    actor: Actor,
    reason: str,
    clock: Clock,
    values: Mapping[str, Any] | None = None,
) -> LoanApplication:
    """Make one recorded move and return the application as it now is."""
    transition_application(
        conn,
        application_id=application_id,
        to=to,
        actor=actor,
        reason=reason,
        clock=clock,
        values=values,
    )
    return get_application(conn, application_id=application_id)


# ------------------------------------------------------------------------------ borrower


def _purpose(purpose: str) -> str:
    try:
        return Purpose(purpose).value
    except ValueError:
        raise ValidationError(
            "purpose_unknown",
            f"purpose must be one of {', '.join(p.value for p in Purpose)}",
            field="purpose",
        ) from None


def create(
    conn: Connection,
    *,
    customer_id: int,
    product_version_id: int,
    amount_fen: int,
    term: int,
    purpose: str,
    actor: Actor,
    clock: Clock,
    purpose_detail: str = "",
    channel: str = "web",
) -> LoanApplication:
    """A draft application for one product version; the amount and term must be ones the
    version offers (refused at once, since they can never succeed)."""
    version = get_version(conn, version_id=product_version_id)
    check_fen(amount_fen, field="amount_fen", allow_zero=False)
    contract_terms.check_amount(version, amount_fen)
    contract_terms.check_term(version, term)
    if len(purpose_detail) > 500:
        raise ValidationError(
            "purpose_detail_too_long", "purpose_detail is at most 500 characters", field="purpose"
        )
    if conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise NotFound("customer_not_found", "no such customer", field="customer_id")
    at = now_us(clock)
    application_id = conn.execute(
        insert(applications).values(
            customer_id=customer_id,
            product_version_id=product_version_id,
            amount_fen=amount_fen,
            term=term,
            purpose=_purpose(purpose),
            purpose_detail=purpose_detail,
            state=AppState.DRAFT.value,
            channel=channel,
            created_us=at,
            updated_us=at,
        )
    ).inserted_primary_key[0]
    record_application_event(
        conn,
        application_id=application_id,
        frm=None,
        to=AppState.DRAFT,
        actor=actor,
        reason="created",
        at_us=at,
    )
    audit.record(
        conn,
        actor=actor,
        event="application.draft",
        object_type="loan_application",
        object_id=application_id,
        after={"state": AppState.DRAFT.value, "amount_fen": amount_fen, "term": term},
        clock=clock,
    )
    return get_application(conn, application_id=application_id)


def submit(
    conn: Connection, *, application_id: int, customer_id: int, actor: Actor, clock: Clock
) -> LoanApplication:
    """The borrower hands the draft in for review; a customer blocked by an AML watch-list
    match (AML-STR-02) cannot."""
    get_application(conn, application_id=application_id, customer_id=customer_id)
    aml.require_not_blocked(conn, customer_id)
    return _move(
        conn,
        application_id,
        AppState.SUBMITTED,
        actor=actor,
        reason="submitted by the borrower",
        clock=clock,
    )


# -------------------------------------------------------------------------------- review


_OUTCOME_STATE = {
    Outcome.APPROVE: AppState.APPROVED,
    Outcome.REJECT: AppState.REJECTED,
    Outcome.REVIEW: AppState.MANUAL_REVIEW,
}


def _rules_rate(version: ProductVersion, on: date, config: LendingConfig) -> Decimal:
    """The rules-only price: the product's highest rate, within the cap on the day."""
    cap = rate_cap(
        profile=version.terms.regulatory_profile, contract_date=on, config=config.cap_config
    )
    return min(version.terms.max_annual_rate, cap.cap)


def _rules(
    borrower: eligibility.Borrower,
    version: ProductVersion,
    app: LoanApplication,
    amount_fen: int,
    today: date,
    config: LendingConfig,
    policy: CreditPolicy | None = None,
) -> eligibility.Eligibility:
    """The rules-only decision on ``amount_fen`` of the application."""
    return eligibility.evaluate(
        borrower,
        version,
        amount_fen=amount_fen,
        term=app.term,
        purpose=app.purpose,
        today=today,
        policy=policy or config.policy,
        min_age=config.min_age,
        max_age=config.max_age,
    )


def review(
    conn: Connection,
    *,
    application_id: int,
    actor: Actor,
    keys: Keyring,
    clock: Clock,
    config: LendingConfig = DEFAULT_CONFIG,
    credit: CreditServices | None = None,
    features: Mapping[str, Any] | None = None,
) -> LoanApplication:
    """Decide a submitted application and move it to approved, rejected or manual_review.

    With ``credit`` the scored decision is made and stored (``credit.decision.decide``;
    ``features`` are the scorecard's attributes), and the amount it approves must also pass the
    rules; without it the rules-only decision stands alone, approving the amount asked at the
    product's highest rate within the cap.
    """
    app = get_application(conn, application_id=application_id)
    transition_application(
        conn,
        application_id=application_id,
        to=AppState.UNDER_REVIEW,
        actor=actor,
        reason="review started",
        clock=clock,
    )
    version = get_version(conn, version_id=app.product_version_id)
    today = calendar.current(conn, clock=clock)
    borrower = eligibility.load_borrower(conn, keys=keys, customer_id=app.customer_id)
    decision_id = None
    if credit is None:
        found = _rules(borrower, version, app, app.amount_fen, today, config)
        outcome = Outcome.APPROVE if found.eligible else Outcome.REJECT
        reasons, approved, rate = found.reasons, app.amount_fen, _rules_rate(version, today, config)
    else:
        application = eligibility.credit_application(
            borrower, version, amount_fen=app.amount_fen, term=app.term, purpose=app.purpose
        )
        made = decide(
            conn,
            application=application
            if features is None
            else replace(application, features=dict(features)),
            offer=ProductOffer.from_product(
                version, min_age=config.min_age, max_age=config.max_age
            ),
            model=credit.model,
            bureau=credit.bureau,
            policy=credit.policy,
            fingerprint_key=credit.fingerprint_key,
            clock=clock,
        )
        decision_id, outcome, reasons = made.id, made.outcome, made.rules
        approved, rate = made.approved_fen, made.annual_rate
        if outcome is not Outcome.REJECT:
            found = _rules(borrower, version, app, approved, today, config, credit.policy)
            if not found.eligible:
                outcome, reasons = Outcome.REJECT, reasons + found.reasons
    rejected = outcome is Outcome.REJECT
    return _move(
        conn,
        application_id,
        _OUTCOME_STATE[outcome],
        actor=actor,
        reason="; ".join(h.code for h in reasons) or f"{outcome.value}: no rule fired",
        clock=clock,
        values={
            "decision_id": decision_id,
            "decision_outcome": outcome.value,
            "reasons_json": json.dumps([h.as_dict() for h in reasons], ensure_ascii=False),
            "approved_fen": None if rejected else approved,
            "annual_rate": None if rejected or rate is None else str(rate),
        },
    )


# ------------------------------------------------------------------------ maker / checker


def staff_id(actor: Actor) -> int:
    """The staff member acting (principal ``staff:N``); anyone else is refused."""
    kind, _, number = actor.principal.partition(":")
    if kind != "staff" or not number.isdigit():
        raise Conflict("staff_only", "only a staff member can do this", field="actor")
    return int(number)


def _in_manual_review(conn: Connection, application_id: int) -> LoanApplication:
    app = get_application(conn, application_id=application_id)
    if app.state != AppState.MANUAL_REVIEW:
        raise Conflict(
            "not_in_manual_review",
            f"application {application_id} is {app.state}, not in manual review",
            field="state",
        )
    return app


def _terms_changes(
    conn: Connection, app: LoanApplication, approved_fen: int | None, annual_rate: Any
) -> dict[str, Any]:
    """Staff may approve less, or at another rate, within the product's ranges."""
    version = get_version(conn, version_id=app.product_version_id)
    changes: dict[str, Any] = {}
    if approved_fen is not None:
        contract_terms.check_amount(version, approved_fen)
        if approved_fen > app.amount_fen:
            raise ValidationError(
                "approved_above_requested",
                "the amount approved cannot exceed the amount asked for",
                field="approved_fen",
            )
        changes["approved_fen"] = approved_fen
    if annual_rate is not None:
        changes["annual_rate"] = str(contract_terms.check_rate(version, annual_rate))
    return changes


def recommend(
    conn: Connection,
    *,
    application_id: int,
    recommendation: str,
    actor: Actor,
    reason: str,
    clock: Clock,
    approved_fen: int | None = None,
    annual_rate: Decimal | str | None = None,
) -> LoanApplication:
    """The maker's recommendation (approve or reject), optionally for less or at another rate.
    The state does not change; the checker decides."""
    if recommendation not in ("approve", "reject"):
        raise ValidationError(
            "recommendation_invalid", "recommend approve or reject", field="recommendation"
        )
    app = _in_manual_review(conn, application_id)
    maker = staff_id(actor)
    changes = _terms_changes(conn, app, approved_fen, annual_rate)
    conn.execute(
        update(applications)
        .where(applications.c.id == application_id)
        .values(
            recommended_by=maker, recommendation=recommendation, updated_us=now_us(clock), **changes
        )
    )
    audit.record(
        conn,
        actor=actor,
        event="application.recommend",
        object_type="loan_application",
        object_id=application_id,
        after={"recommendation": recommendation, **changes},
        detail={"reason": reason},
        clock=clock,
    )
    return get_application(conn, application_id=application_id)


def _check(
    conn: Connection,
    *,
    application_id: int,
    to: AppState,
    actor: Actor,
    reason: str,
    clock: Clock,
    config: LendingConfig,
    values: dict[str, Any],
) -> LoanApplication:
    app = _in_manual_review(conn, application_id)
    checker = staff_id(actor)
    amount = values.get("approved_fen") or app.approved_fen or app.amount_fen
    if amount > config.maker_checker_above_fen:
        if app.recommended_by is None:
            raise Conflict(
                "recommendation_required",
                f"above {config.maker_checker_above_fen} fen a recommendation must come first",
                field="recommendation",
            )
        if app.recommended_by == checker:
            raise Conflict(
                "maker_checker_same_person",
                "the checker must be a different person from the one who recommended (maker-"
                f"checker above {config.maker_checker_above_fen} fen)",
                field="actor",
            )
    return _move(
        conn,
        application_id,
        to,
        actor=actor,
        reason=reason,
        clock=clock,
        values={"approved_by": checker, **values},
    )


def approve(
    conn: Connection,
    *,
    application_id: int,
    actor: Actor,
    reason: str,
    clock: Clock,
    config: LendingConfig = DEFAULT_CONFIG,
    approved_fen: int | None = None,
    annual_rate: Decimal | str | None = None,
) -> LoanApplication:
    """The checker approves an application in manual review."""
    app = get_application(conn, application_id=application_id)
    values = _terms_changes(conn, app, approved_fen, annual_rate)
    values.setdefault("approved_fen", app.approved_fen or app.amount_fen)
    return _check(
        conn,
        application_id=application_id,
        to=AppState.APPROVED,
        actor=actor,
        reason=reason,
        clock=clock,
        config=config,
        values=values,
    )


def reject(
    conn: Connection,
    *,
    application_id: int,
    actor: Actor,
    reason: str,
    clock: Clock,
    config: LendingConfig = DEFAULT_CONFIG,
) -> LoanApplication:
    """The checker rejects an application in manual review."""
    return _check(
        conn,
        application_id=application_id,
        to=AppState.REJECTED,
        actor=actor,
        reason=reason,
        clock=clock,
        config=config,
        values={},
    )


# --------------------------------------------------------------------------------- offer


def make_offer(
    conn: Connection,
    *,
    application_id: int,
    actor: Actor,
    clock: Clock,
    config: LendingConfig = DEFAULT_CONFIG,
    annual_rate: Decimal | str | None = None,
) -> LoanApplication:
    """Offer an approved application: the amount approved, at the rate decided (or
    ``annual_rate``), for a loan starting on the business date; it stands
    ``offer_valid_hours``."""
    app = get_application(conn, application_id=application_id)
    version = get_version(conn, version_id=app.product_version_id)
    chosen = annual_rate if annual_rate is not None else app.annual_rate
    rate = contract_terms.check_rate(
        version, version.terms.max_annual_rate if chosen is None else chosen
    )
    expires = now_us(clock) + span_us(timedelta(hours=config.offer_valid_hours))
    offer = offers.build_offer(
        version,
        amount_fen=app.approved_fen or app.amount_fen,
        term=app.term,
        annual_rate=rate,
        start=calendar.current(conn, clock=clock),
        expires_us=expires,
        cooling_off_hours=config.cooling_off_hours,
        cap_config=config.cap_config,
    )
    return _move(
        conn,
        application_id,
        AppState.OFFERED,
        actor=actor,
        reason=f"offered at {contracts.IRR_LABEL} {format_percent(offer.irr_annual_rate, 4)}",
        clock=clock,
        values={
            "offer_json": offer.to_json(),
            "offer_expires_us": expires,
            "annual_rate": str(rate),
            "approved_fen": offer.amount_fen,
        },
    )


# ------------------------------------------------------------------------ accept / cancel


def _owned_offer(
    conn: Connection, application_id: int, customer_id: int, at_us: int
) -> LoanApplication:
    app = get_application(conn, application_id=application_id, customer_id=customer_id)
    expires = app.offer_expires_us
    if app.state == AppState.OFFERED and expires is not None and at_us >= expires:
        raise Conflict("offer_expired", f"the offer on application {application_id} has expired")
    return app


def _recheck_caps(
    conn: Connection,
    *,
    keys: Keyring,
    app: LoanApplication,
    version: ProductVersion,
    on: date,
    config: LendingConfig,
) -> None:
    """The rules again at signing, with the borrower's row locked, so two offers accepted at
    once cannot together take the balance above a cap."""
    conn.execute(
        select(customers.c.id).where(customers.c.id == app.customer_id).with_for_update()
    ).first()
    borrower = eligibility.load_borrower(conn, keys=keys, customer_id=app.customer_id)
    found = _rules(borrower, version, app, app.approved_fen or app.amount_fen, on, config)
    if not found.eligible:
        raise Conflict(
            "no_longer_eligible",
            "the loan can no longer be made: " + "; ".join(h.text_en for h in found.reasons),
            field="application_id",
        )


def accept(
    conn: Connection,
    *,
    application_id: int,
    customer_id: int,
    actor: Actor,
    keys: Keyring,
    clock: Clock,
    config: LendingConfig = DEFAULT_CONFIG,
) -> LoanApplication:
    """The borrower signs the offer: the loan is created in state ``accepted`` with its
    contract, the contract's SHA-256, the signing time and the end of the cooling-off window.
    The schedule is the offer's, counted from the business date of signing."""
    signed = now_us(clock)
    app = _owned_offer(conn, application_id, customer_id, signed)
    check_transition(APPLICATION_TRANSITIONS, "application", app.state, AppState.ACCEPTED)
    offer = app.offer
    assert offer is not None  # an application is offered only with its offer
    version = get_version(conn, version_id=app.product_version_id)
    start = calendar.current(conn, clock=clock)
    _recheck_caps(conn, keys=keys, app=app, version=version, on=start, config=config)
    schedule = offers.loan_schedule(version, offer.amount_fen, offer.term, offer.annual_rate, start)
    seen = customer_service.view(conn, keys=keys, customer_id=customer_id)
    content = offers.contract_content(
        application_id=app.id,
        customer_id=customer_id,
        version=version,
        schedule=schedule,
        penalty=offer.penalty_rate,
        borrower_name=seen.name or "-",
        borrower_id_number=seen.id_number or "-",
        signed_us=signed,
        lender=config.lender,
        cooling_off_hours=config.cooling_off_hours,
    )
    text = contracts.render(content)
    loan_id = conn.execute(
        insert(loans).values(
            application_id=app.id,
            customer_id=customer_id,
            product_version_id=version.version_id,
            state=LoanState.ACCEPTED.value,
            principal_fen=offer.amount_fen,
            annual_rate=str(offer.annual_rate),
            penalty_rate=str(offer.penalty_rate),
            rate_ppb=contract_terms.rate_ppb(offer.annual_rate),
            penalty_rate_ppb=contract_terms.rate_ppb(offer.penalty_rate),
            year_days=contract_terms.year_days(version),
            method=version.terms.method.value,
            term_unit=version.terms.term_unit.value,
            term=offer.term,
            start_date=start,
            maturity_date=content.maturity_date,
            grace_days=version.terms.grace_days,
            upfront_fee_fen=content.upfront_fee_fen,
            irr_annual_rate=str(content.irr_annual_rate),
            contract_text=text,
            contract_sha256=contracts.sha256_of(text),
            signed_us=signed,
            cooling_off_until_us=content.cooling_off_until_us,
            created_us=signed,
            updated_us=signed,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="loan.accepted",
        object_type="loan",
        object_id=loan_id,
        after={"state": LoanState.ACCEPTED.value, "contract_sha256": contracts.sha256_of(text)},
        detail={"application_id": app.id},
        clock=clock,
    )
    return _move(
        conn,
        application_id,
        AppState.ACCEPTED,
        actor=actor,
        reason="contract signed",
        clock=clock,
        values={"loan_id": loan_id},
    )


def decline(
    conn: Connection,
    *,
    application_id: int,
    customer_id: int,
    actor: Actor,
    clock: Clock,
    reason: str = "declined by the borrower",
) -> LoanApplication:
    """The borrower turns the offer down."""
    _owned_offer(conn, application_id, customer_id, now_us(clock))
    return _move(
        conn,
        application_id,
        AppState.DECLINED,
        actor=actor,
        reason=reason,
        clock=clock,
    )


def cancel(
    conn: Connection,
    *,
    application_id: int,
    actor: Actor,
    clock: Clock,
    customer_id: int | None = None,
    reason: str = "cancelled by the borrower",
) -> LoanApplication:
    """Withdraw an application before it is paid out. A signed loan not yet disbursed may be
    cancelled only inside its cooling-off window (RATE-COOL-01); once disbursed, cancelling
    means repaying, which is ``servicing.cancel_in_cooling_off``."""
    app = get_application(conn, application_id=application_id, customer_id=customer_id)
    if app.state == AppState.DISBURSED:
        raise Conflict(
            "cancel_after_disbursement",
            "the loan has been paid out: cancel it in the cooling-off window by repaying "
            "(servicing.cancel_in_cooling_off)",
            field="state",
        )
    if app.state == AppState.ACCEPTED and app.loan_id is not None:
        until = conn.execute(
            select(loans.c.cooling_off_until_us).where(loans.c.id == app.loan_id)
        ).scalar_one()
        if now_us(clock) >= until:
            raise Conflict(
                "cooling_off_over",
                "the cooling-off window has ended; the signed contract stands",
                field="state",
            )
        transition_loan(
            conn,
            loan_id=app.loan_id,
            to=LoanState.CANCELLED,
            actor=actor,
            reason=reason,
            clock=clock,
        )
    return _move(
        conn,
        application_id,
        AppState.CANCELLED,
        actor=actor,
        reason=reason,
        clock=clock,
    )


def expire_stale(conn: Connection, *, now_us: int, clock: Clock) -> int:
    """Expire every offer whose time has passed (at ``offer_expires_us`` or later), in three
    set-based statements: lock, record the events, move the rows. The count expired; a second
    run finds nothing."""
    stale = (applications.c.state == AppState.OFFERED.value) & (
        applications.c.offer_expires_us <= now_us
    )
    conn.execute(select(applications.c.id).where(stale).with_for_update()).all()
    conn.execute(
        insert(application_events).from_select(
            ["application_id", "from_state", "to_state", "actor", "reason", "at_us"],
            select(
                applications.c.id,
                literal(AppState.OFFERED.value),
                literal(AppState.EXPIRED.value),
                literal(SYSTEM.principal),
                literal("the offer expired"),
                literal(now_us),
            ).where(stale),
        )
    )
    count = conn.execute(
        update(applications).where(stale).values(state=AppState.EXPIRED.value, updated_us=now_us)
    ).rowcount
    if count:
        audit.record(
            conn,
            actor=SYSTEM,
            event="application.expired",
            object_type="loan_application",
            object_id="*",
            detail={"count": count, "as_of_us": now_us},
            clock=clock,
        )
    return count
