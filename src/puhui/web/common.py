"""What every page handler shares: the app's collaborators, and running domain work so that a
refusal becomes a message on the page instead of an exception.

The collaborators (engine, clock, keyring, SMS sender, KYC verifier, custody bank, credit model)
are the very objects the API uses, kept on ``app.state`` and reached through the API's own
getters, so a page and an endpoint can never disagree about which bank or keyring is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from starlette.responses import Response

from puhui.api.app import get_clock, get_engine
from puhui.api.identity import get_keys, get_sms, get_verifier, limit, transact
from puhui.api.money import get_bank
from puhui.core.clock import Clock
from puhui.core.errors import PuhuiError, ValidationError
from puhui.credit.scoring import ScoringModel, default_model
from puhui.custody.bank import CustodyBank
from puhui.identity import auth, sessions
from puhui.identity.crypto import Keyring
from puhui.identity.kyc import Verifier
from puhui.identity.otp import SmsSender
from puhui.web.security import (
    AreaConfig,
    Visitor,
    clear_cookies,
    html_redirect,
    start_session,
)

T = TypeVar("T")

EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
KeysDep = Annotated[Keyring, Depends(get_keys)]
SmsDep = Annotated[SmsSender, Depends(get_sms)]
VerifierDep = Annotated[Verifier, Depends(get_verifier)]
BankDep = Annotated[CustodyBank, Depends(get_bank)]


class Outcome(Generic[T]):
    """What a form's work came to: its value, or the error to show beside the form."""

    def __init__(self, value: T | None = None, error: PuhuiError | None = None) -> None:
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    def field_errors(self) -> dict[str, PuhuiError]:
        """The error keyed by the form field it names (``_`` when it names none)."""
        if self.error is None:
            return {}
        return {self.error.field or "_": self.error}


def attempt(engine: Engine, work: Callable[[Connection], T]) -> Outcome[T]:
    """Run ``work`` in one transaction (a refusal's bookkeeping is still committed, as in the
    API) and catch the expected failures for the page to show."""
    try:
        return Outcome(transact(engine, work))
    except PuhuiError as exc:
        return Outcome(error=exc)


def call(work: Callable[[], T]) -> Outcome[T]:
    """Run a step that manages its own transactions (a custody flow, a rate-limit count)."""
    try:
        return Outcome(work())
    except PuhuiError as exc:
        return Outcome(error=exc)


def get_credit_model(request: Request) -> Callable[[], ScoringModel]:
    """The credit model the API scores with (``app.state.credit_model``), loaded on first use
    only: most pages never need it."""

    def load() -> ScoringModel:
        state = request.app.state
        if not hasattr(state, "credit_model"):
            state.credit_model = default_model()
        return state.credit_model

    return load


ModelDep = Annotated[Callable[[], ScoringModel], Depends(get_credit_model)]


def rate_limit(request: Request, bucket: str, subject: str) -> PuhuiError | None:
    """Count a hit against the API's own limit; the error to show when over it."""
    return call(lambda: limit(request, bucket, subject)).error


def missing(form_values: dict[str, str], *names: str) -> PuhuiError | None:
    """A validation error naming the first empty required field."""
    for name in names:
        if not form_values.get(name):
            return ValidationError("form_incomplete", "fill in this field", field=name)
    return None


def signed_in(done: Outcome[auth.Login], area: AreaConfig, next_path: str) -> Response | None:
    """After a successful login: the session cookies and a redirect; None after a refusal."""
    if not done.ok or done.value is None:
        return None
    response = html_redirect(next_path)
    start_session(response, area, done.value.session)
    return response


def sign_out(engine: Engine, clock: Clock, v: Visitor) -> Response:
    """End the visitor's session (revoked in the database, not only forgotten by the browser)."""
    who = v.customer or v.staff
    if who is not None:
        attempt(
            engine,
            lambda c: sessions.revoke(
                c,
                session_id=who.session_id,
                principal=who.actor.principal,
                reason="logout",
                clock=clock,
            ),
        )
    response = html_redirect(v.area.login_path)
    clear_cookies(response, v.area)
    return response
