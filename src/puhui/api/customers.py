"""The customer's own endpoints under ``/api/v1``: profile, verification, cards, second factor,
suitability, consents and "my data".

Every object is looked up together with its owner, so another customer's card, assessment,
consent, request or session answers 404, exactly like one that does not exist (SEC-AC-02).
Personal values come back masked (the holder's view). Changing the phone or a card asks for
the password and the second factor again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine

from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    CustomerAuth,
    EngineDep,
    KeysDep,
    VerifierDep,
    customer_limit,
    transact,
)
from puhui.core.clock import Clock
from puhui.identity import auth, consents, customers, risk, sessions
from puhui.identity.crypto import Keyring
from puhui.identity.customers import Card, CustomerView, DataRequest, EntityView, KycResult
from puhui.identity.otp import provisioning_uri
from puhui.identity.risk import Assessment
from puhui.identity.sessions import Session

router = APIRouter(prefix="/api/v1", tags=["customers"])
T = TypeVar("T")

Secret = Annotated[str, Field(min_length=1, max_length=128)]
Code6 = Annotated[str, Field(min_length=6, max_length=6, pattern=r"^\d{6}$")]
Fen = Annotated[int, Field(ge=0, le=10**15)]


Sensitive = customer_limit("sensitive_customer")


# -------------------------------------------------------------------------------- public


class QuestionOption(BaseModel):
    id: str
    text: str


class Question(BaseModel):
    id: str
    dimension: str
    text: str
    options: list[QuestionOption]


class QuestionnaireOut(BaseModel):
    version: str
    title: str
    questions: list[Question]


@router.get("/risk/questionnaire", response_model=QuestionnaireOut, tags=["suitability"])
def questionnaire(engine: EngineDep) -> Any:
    """The current risk questionnaire (the scores stay on the server)."""
    with engine.connect() as c:
        return risk.current_questionnaire(c)


class Notice(BaseModel):
    version: str
    text: str


@router.get("/risk/notice", response_model=Notice, tags=["suitability"])
def notice() -> Notice:
    return Notice(**risk.RISK_NOTICE)


class PurposeOut(BaseModel):
    code: str
    text: str
    version: str
    sensitive: bool


@router.get("/consents/purposes", response_model=list[PurposeOut], tags=["consents"])
def purposes() -> list[PurposeOut]:
    """What we ask consent for; a sensitive purpose is consented to on its own."""
    return [PurposeOut(**vars(p)) for p in consents.PURPOSES.values()]


# ------------------------------------------------------------------------------- profile


@router.get("/me", response_model=CustomerView)
def me(who: Customer, engine: EngineDep, keys: KeysDep) -> CustomerView:
    with engine.connect() as c:
        return customers.view(c, keys=keys, customer_id=who.customer_id)


class ProfileIn(Body):
    address: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    occupation: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    annual_income_fen: Fen | None = None
    other_loans_fen: Fen | None = None


@router.patch("/me", response_model=CustomerView)
def correct(
    body: ProfileIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> CustomerView:
    """Correct the self-declared fields (PI-DSR-01); name and ID change only by verification."""
    changes = body.model_dump(exclude_unset=True)
    return transact(
        engine,
        lambda c: customers.update_profile(
            c, keys=keys, customer_id=who.customer_id, changes=changes, actor=who.actor, clock=clock
        ),
    )


class VerificationIn(Body):
    name: Annotated[str, Field(min_length=2, max_length=40)]
    id_number: Annotated[str, Field(min_length=18, max_length=18)]
    card_number: Annotated[str, Field(min_length=16, max_length=23)]


@router.post("/me/verification", response_model=KycResult, dependencies=[Sensitive])
def verify(
    body: VerificationIn,
    who: Customer,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    verifier: VerifierDep,
) -> KycResult:
    """Real-name verification of name, ID, card and this phone (needs the bank_card consent)."""
    return transact(
        engine,
        lambda c: customers.verify_identity(
            c,
            keys=keys,
            verifier=verifier,
            customer_id=who.customer_id,
            name=body.name,
            id_number=body.id_number,
            card_number=body.card_number,
            actor=who.actor,
            clock=clock,
        ),
    )


class EntityIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    uscc: Annotated[str, Field(min_length=18, max_length=18)]
    legal_rep_name: Annotated[str, Field(min_length=2, max_length=40)]
    legal_rep_id_number: Annotated[str, Field(min_length=18, max_length=18)]
    registered_capital_fen: Fen


@router.put("/me/entity", response_model=EntityView)
def set_entity(
    body: EntityIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> EntityView:
    return transact(
        engine,
        lambda c: customers.set_entity(
            c,
            keys=keys,
            customer_id=who.customer_id,
            **body.model_dump(),
            actor=who.actor,
            clock=clock,
        ),
    )


# ----------------------------------------------------------------------- re-authentication


class StepUp(Body):
    password: Secret
    second_factor: Code6


def _after_step_up(
    engine: Engine,
    who: CustomerAuth,
    body: StepUp,
    keys: Keyring,
    clock: Clock,
    then: Callable[[Connection], T],
) -> T:
    """Ask for the password and the second factor again, then do ``then`` in one transaction;
    a failed re-authentication still counts toward the lockout."""

    def work(c: Connection) -> T:
        auth.step_up(
            c,
            keys=keys,
            customer_id=who.customer_id,
            password=body.password,
            second_factor=body.second_factor,
            require_totp=False,
            actor=who.actor,
            clock=clock,
        )
        return then(c)

    return transact(engine, work)


class CardIn(StepUp):
    card_number: Annotated[str, Field(min_length=16, max_length=23)]


@router.get("/me/bank-cards", response_model=list[Card])
def cards(who: Customer, engine: EngineDep, keys: KeysDep) -> list[Card]:
    with engine.connect() as c:
        return customers.list_cards(c, keys=keys, customer_id=who.customer_id)


@router.get("/me/bank-cards/{card_id}", response_model=Card)
def card(card_id: int, who: Customer, engine: EngineDep, keys: KeysDep) -> Card:
    with engine.connect() as c:
        return customers.get_card(c, keys=keys, customer_id=who.customer_id, card_id=card_id)


@router.post("/me/bank-cards", status_code=201, response_model=Card, dependencies=[Sensitive])
def bind_card(
    body: CardIn,
    who: Customer,
    engine: EngineDep,
    clock: ClockDep,
    keys: KeysDep,
    verifier: VerifierDep,
) -> Card:
    return _after_step_up(
        engine,
        who,
        body,
        keys,
        clock,
        lambda c: customers.bind_card(
            c,
            keys=keys,
            verifier=verifier,
            customer_id=who.customer_id,
            card_number=body.card_number,
            actor=who.actor,
            clock=clock,
        ),
    )


@router.post("/me/bank-cards/{card_id}/unbind", response_model=Card, dependencies=[Sensitive])
def unbind_card(
    card_id: int, body: StepUp, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Card:
    with engine.connect() as c:  # another customer's card is 404 before any password check
        customers.get_card(c, keys=keys, customer_id=who.customer_id, card_id=card_id)
    return _after_step_up(
        engine,
        who,
        body,
        keys,
        clock,
        lambda c: customers.unbind_card(
            c, keys=keys, customer_id=who.customer_id, card_id=card_id, actor=who.actor, clock=clock
        ),
    )


class PhoneIn(StepUp):
    new_phone: Annotated[str, Field(min_length=11, max_length=16)]
    code: Code6


@router.post("/me/phone", response_model=CustomerView, dependencies=[Sensitive])
def change_phone(
    body: PhoneIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> CustomerView:
    """Move the account to a new phone: password, second factor and a code sent to the new one."""

    return _after_step_up(
        engine,
        who,
        body,
        keys,
        clock,
        lambda c: customers.change_phone(
            c,
            keys=keys,
            customer_id=who.customer_id,
            new_phone=body.new_phone,
            code=body.code,
            actor=who.actor,
            clock=clock,
        ),
    )


class PasswordIn(StepUp):
    new_password: Secret


@router.post("/me/password", status_code=204, dependencies=[Sensitive])
def change_password(
    body: PasswordIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    """A new password (policy and the last 5 refused); every session ends, sign in again."""

    def then(c: Connection) -> None:
        phone = customers.unmask(c, keys=keys, customer_id=who.customer_id, fields=["phone"])
        auth.set_password(
            c,
            principal=who.actor.principal,
            password=body.new_password,
            forbidden=(phone["phone"],),
            actor=who.actor,
            clock=clock,
        )

    _after_step_up(engine, who, body, keys, clock, then)
    return Response(status_code=204)


class TotpOut(BaseModel):
    secret: str
    uri: str


@router.post("/me/totp", response_model=TotpOut, dependencies=[Sensitive])
def enrol_totp(
    body: StepUp, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> TotpOut:
    """Start enrolling an authenticator app (after password and an SMS step-up code)."""
    secret = _after_step_up(
        engine,
        who,
        body,
        keys,
        clock,
        lambda c: customers.enrol_totp(c, keys=keys, customer_id=who.customer_id),
    )
    return TotpOut(
        secret=secret, uri=provisioning_uri(secret, account=f"customer-{who.customer_id}")
    )


class TotpConfirmIn(Body):
    code: Code6


@router.post("/me/totp/confirm", status_code=204, dependencies=[Sensitive])
def confirm_totp(
    body: TotpConfirmIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> Response:
    transact(
        engine,
        lambda c: customers.confirm_totp(
            c, keys=keys, customer_id=who.customer_id, code=body.code, actor=who.actor, clock=clock
        ),
    )
    return Response(status_code=204)


# ---------------------------------------------------------------------------- suitability


class AssessmentIn(Body):
    version: Annotated[str, Field(min_length=1, max_length=16)]
    answers: dict[Annotated[str, Field(max_length=8)], Annotated[str, Field(max_length=4)]]


@router.post(
    "/me/risk-assessments", status_code=201, response_model=Assessment, tags=["suitability"]
)
def assess(body: AssessmentIn, who: Customer, engine: EngineDep, clock: ClockDep) -> Assessment:
    return transact(
        engine,
        lambda c: risk.assess(
            c,
            customer_id=who.customer_id,
            version=body.version,
            answers=body.answers,
            actor=who.actor,
            clock=clock,
        ),
    )


@router.get("/me/risk-assessments", response_model=list[Assessment], tags=["suitability"])
def assessments(who: Customer, engine: EngineDep) -> list[Assessment]:
    with engine.connect() as c:
        return risk.list_assessments(c, customer_id=who.customer_id)


@router.get("/me/risk-assessments/{assessment_id}", response_model=Assessment, tags=["suitability"])
def assessment(assessment_id: int, who: Customer, engine: EngineDep) -> Assessment:
    with engine.connect() as c:
        return risk.get_assessment(c, customer_id=who.customer_id, assessment_id=assessment_id)


class NoticeIn(Body):
    version: Annotated[str, Field(min_length=1, max_length=16)]
    confirm: Literal[True]


class NoticeOut(BaseModel):
    consent_id: int


@router.post("/me/risk-notice", status_code=201, response_model=NoticeOut, tags=["suitability"])
def sign_notice(body: NoticeIn, who: Customer, engine: EngineDep, clock: ClockDep) -> NoticeOut:
    """Actively confirm the risk notice and the prohibited acts (P2P-LND-04)."""
    consent_id = transact(
        engine,
        lambda c: risk.sign_notice(
            c, customer_id=who.customer_id, version=body.version, actor=who.actor, clock=clock
        ),
    )
    return NoticeOut(consent_id=consent_id)


# ------------------------------------------------------------------------------- consents


class ConsentIn(Body):
    purposes: Annotated[
        list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=10)
    ]


@router.get("/me/consents", response_model=list[consents.Consent], tags=["consents"])
def my_consents(who: Customer, engine: EngineDep) -> list[consents.Consent]:
    with engine.connect() as c:
        return consents.list_for(c, customer_id=who.customer_id)


@router.get("/me/consents/{consent_id}", response_model=consents.Consent, tags=["consents"])
def my_consent(consent_id: int, who: Customer, engine: EngineDep) -> consents.Consent:
    with engine.connect() as c:
        return consents.get(c, customer_id=who.customer_id, consent_id=consent_id)


@router.post(
    "/me/consents", status_code=201, response_model=list[consents.Consent], tags=["consents"]
)
def give_consent(
    body: ConsentIn, who: Customer, engine: EngineDep, clock: ClockDep
) -> list[consents.Consent]:
    """Consent to purposes; a sensitive one (a bank card, biometrics) only on its own."""
    return transact(
        engine,
        lambda c: consents.grant(
            c, customer_id=who.customer_id, purposes=body.purposes, ip=who.actor.ip, clock=clock
        ),
    )


@router.post(
    "/me/consents/{consent_id}/withdraw", response_model=consents.Consent, tags=["consents"]
)
def withdraw_consent(
    consent_id: int, who: Customer, engine: EngineDep, clock: ClockDep
) -> consents.Consent:
    """Withdraw a consent: one call, like giving it."""
    return transact(
        engine,
        lambda c: consents.withdraw(
            c, customer_id=who.customer_id, consent_id=consent_id, clock=clock
        ),
    )


# -------------------------------------------------------------------------------- my data


@router.get("/me/export", tags=["my data"])
def export(who: Customer, engine: EngineDep, keys: KeysDep) -> dict[str, Any]:
    """A copy of everything held about you (PI-DSR-01), masked like every output."""
    with engine.connect() as c:
        return customers.export(c, keys=keys, customer_id=who.customer_id)


class DataRequestIn(Body):
    kind: Literal["delete"]


@router.post("/me/data-requests", status_code=201, response_model=DataRequest, tags=["my data"])
def request_deletion(
    body: DataRequestIn, who: Customer, engine: EngineDep, clock: ClockDep, keys: KeysDep
) -> DataRequest:
    """Ask for deletion: done now, or deferred where the law requires keeping the records."""
    return transact(
        engine,
        lambda c: customers.request_deletion(
            c, keys=keys, customer_id=who.customer_id, actor=who.actor, clock=clock
        ),
    )


@router.get("/me/data-requests", response_model=list[DataRequest], tags=["my data"])
def data_requests(who: Customer, engine: EngineDep) -> list[DataRequest]:
    with engine.connect() as c:
        return customers.list_requests(c, customer_id=who.customer_id)


@router.get("/me/data-requests/{request_id}", response_model=DataRequest, tags=["my data"])
def data_request(request_id: int, who: Customer, engine: EngineDep) -> DataRequest:
    with engine.connect() as c:
        return customers.get_request(c, customer_id=who.customer_id, request_id=request_id)


@router.get("/me/sessions", response_model=list[Session], tags=["my data"])
def my_sessions(who: Customer, engine: EngineDep, clock: ClockDep) -> list[Session]:
    with engine.connect() as c:
        return sessions.list_live(c, principal=who.actor.principal, clock=clock)


@router.delete("/me/sessions/{session_id}", status_code=204, tags=["my data"])
def revoke_session(session_id: int, who: Customer, engine: EngineDep, clock: ClockDep) -> Response:
    transact(
        engine,
        lambda c: sessions.revoke(
            c, session_id=session_id, principal=who.actor.principal, reason="revoked", clock=clock
        ),
    )
    return Response(status_code=204)


@router.get("/me/login-history", response_model=list[auth.LoginRecord], tags=["my data"])
def login_history(who: Customer, engine: EngineDep) -> list[auth.LoginRecord]:
    with engine.connect() as c:
        return auth.history(c, principal=who.actor.principal)
