"""The open platform's HTTP side: ``/open/v1`` for partners, ``/admin/api/v1/partners`` for staff.

Partner routes are not staff- or customer-authenticated: every request is signed (see
``puhui.openplatform.signing``), and ``signed(scope)`` checks the signature, the timestamp, the
nonce, the address, the rate limit and the scope before the handler runs. Every POST takes an
``Idempotency-Key``, kept per partner. ``/open/v1/openapi.json`` is the partners' own OpenAPI
document (only these routes), served unsigned so tools can fetch it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from puhui import __version__
from puhui.api.errors import ApiError
from puhui.api.idempotency import Idempotency, request_fingerprint
from puhui.api.identity import (
    Body,
    ClockDep,
    EngineDep,
    KeysDep,
    StaffAuth,
    actor_for,
    client_ip,
    require,
    transact,
)
from puhui.api.pagination import Page
from puhui.core.errors import PuhuiError
from puhui.db.engine import run_in_transaction
from puhui.identity.ratelimit import RateLimited
from puhui.lending.credit_line import partners as credit_line_partners
from puhui.openplatform import auth, partners, service, signing, webhooks
from puhui.openplatform.partners import Partner

PREFIX = "/open/v1"
router = APIRouter(prefix=PREFIX, tags=["open platform"])
admin = APIRouter(prefix="/admin/api/v1", tags=["back office"])


# ---------------------------------------------------------------------------- signing


def signed(scope: str) -> Any:
    """A dependency: the partner that signed this request and holds ``scope``."""

    async def dependency(
        request: Request,
        engine: EngineDep,
        clock: ClockDep,
        keys: KeysDep,
        key_id: Annotated[
            str | None, Header(alias=signing.KEY_ID, description="The partner's key id.")
        ] = None,
        timestamp: Annotated[
            str | None,
            Header(alias=signing.TIMESTAMP, description="Unix seconds; within 5 minutes."),
        ] = None,
        nonce: Annotated[
            str | None,
            Header(alias=signing.NONCE, description="8–64 of [A-Za-z0-9_-], never reused."),
        ] = None,
        signature: Annotated[
            str | None,
            Header(alias=signing.SIGNATURE, description="Hex HMAC-SHA256 (docs/openplatform.md)."),
        ] = None,
    ) -> Partner:
        body = await request.body()
        signed_request = auth.SignedRequest(
            key_id=key_id,
            timestamp=timestamp,
            nonce=nonce,
            signature=signature,
            method=request.method,
            path=request.url.path,
            query=signing.canonical_query(request.query_params.multi_items()),
            body=body,
            ip=client_ip(request),
        )
        try:
            partner = await run_in_threadpool(
                transact,
                engine,
                lambda c: auth.authenticate(
                    c, keys=keys, request=signed_request, scope=scope, clock=clock
                ),
            )
        except RateLimited as exc:
            raise ApiError(
                429,
                "rate_limited",
                "rate_limited",
                exc.message,
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from None
        request.state.partner = partner
        return partner

    return dependency


def idempotent(scope: str) -> Any:
    """A dependency for a partner's POST: the partner and its ``Idempotency`` (key required)."""

    partner_dependency = Depends(signed(scope))

    async def dependency(
        request: Request,
        engine: EngineDep,
        clock: ClockDep,
        partner: Partner = partner_dependency,
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Unique per operation; a retry with the same key and body gets "
                "the first answer (24 hours).",
            ),
        ] = None,
    ) -> tuple[Partner, Idempotency]:
        if not key or not (len(key) <= 255 and key.isascii() and key.isprintable()):
            raise PuhuiError(
                "idempotency_key_required",
                "every POST needs an Idempotency-Key of 1–255 printable ASCII characters",
                field="Idempotency-Key",
            )
        route = getattr(request.scope.get("route"), "path", request.url.path)
        idem = Idempotency(
            engine=engine,
            clock=clock,
            scope=f"partner:{partner.id} POST {route}",
            key=key,
            request_hash=await request_fingerprint(request),
        )
        return partner, idem

    return dependency


def _actor(request: Request, partner: Partner) -> Any:
    return actor_for(request, f"partner:{partner.id}", ("partner",))


# ---------------------------------------------------------------------------- products


class ProductOut(BaseModel):
    code: str
    name: str
    version: int
    effective_from: date
    mode: str
    method: str
    term_unit: str
    terms: list[int]
    min_amount_fen: int
    max_amount_fen: int
    min_annual_rate: str
    max_annual_rate: str
    #: The highest IRR annual rate the product can reach (RATE-APR-01), a decimal string.
    highest_effective_rate: str


class ProductList(BaseModel):
    data: list[ProductOut]
    livemode: bool


@router.get("/products", response_model=ProductList)
def list_products(
    engine: EngineDep, partner: Annotated[Partner, Depends(signed("products:read"))]
) -> ProductList:
    """The lending products this partner may sell, each at its current version."""
    with engine.connect() as conn:
        found = service.list_products(conn, partner=partner)
    return ProductList(
        data=[
            ProductOut(
                code=v.code,
                name=v.name,
                version=v.version,
                effective_from=v.effective_from,
                mode=str(v.terms.mode),
                method=str(v.terms.method),
                term_unit=str(v.terms.term_unit),
                terms=list(v.terms.terms),
                min_amount_fen=v.terms.min_amount_fen,
                max_amount_fen=v.terms.max_amount_fen,
                min_annual_rate=str(v.terms.min_annual_rate),
                max_annual_rate=str(v.terms.max_annual_rate),
                highest_effective_rate=str(v.highest_effective_rate),
            )
            for v in found
        ],
        livemode=partner.live,
    )


# ------------------------------------------------------------------------ applications


class ApplicationIn(Body):
    external_ref: Annotated[str, Field(min_length=1, max_length=64)]
    customer_phone: Annotated[str, Field(min_length=5, max_length=20)]
    product_code: Annotated[str, Field(min_length=1, max_length=64)]
    amount_fen: Annotated[int, Field(gt=0)]
    term: Annotated[int, Field(gt=0, le=360)]
    purpose: Annotated[str, Field(min_length=1, max_length=32)]
    purpose_detail: Annotated[str, Field(max_length=500)] = ""


class ApplicationOut(BaseModel):
    id: int
    external_ref: str
    product_version_id: int
    amount_fen: int
    term: int
    state: str
    decision_outcome: str | None
    approved_fen: int | None
    annual_rate: str | None
    loan_id: int | None
    created_us: int
    updated_us: int


def _application_out(pushed: service.PushedApplication) -> ApplicationOut:
    a = pushed.application
    return ApplicationOut(
        id=a.id,
        external_ref=pushed.external_ref,
        product_version_id=a.product_version_id,
        amount_fen=a.amount_fen,
        term=a.term,
        state=a.state,
        decision_outcome=a.decision_outcome,
        approved_fen=a.approved_fen,
        annual_rate=None if a.annual_rate is None else str(a.annual_rate),
        loan_id=a.loan_id,
        created_us=a.created_us,
        updated_us=a.updated_us,
    )


@router.post("/applications", status_code=201, response_model=ApplicationOut)
def push_application(
    body: ApplicationIn,
    request: Request,
    keys: KeysDep,
    clock: ClockDep,
    signed_idem: Annotated[tuple[Partner, Idempotency], Depends(idempotent("applications:write"))],
) -> Response:
    """Apply for a loan on behalf of a customer who consented to credit assessment; the
    application is created and submitted for review. Decisions arrive by webhook."""
    partner, idem = signed_idem
    actor = _actor(request, partner)
    return idem.run(
        lambda conn: _application_out(
            service.push_application(
                conn,
                partner=partner,
                keys=keys,
                customer_phone=body.customer_phone,
                product_code=body.product_code,
                amount_fen=body.amount_fen,
                term=body.term,
                purpose=body.purpose,
                purpose_detail=body.purpose_detail,
                external_ref=body.external_ref,
                actor=actor,
                clock=clock,
            )
        ),
        status_code=201,
    )


# ------------------------------------------------------------------- credit-line purchases


class CreditLinePurchaseIn(Body):
    external_ref: Annotated[str, Field(min_length=1, max_length=48)]
    customer_phone: Annotated[str, Field(min_length=5, max_length=20)]
    amount_fen: Annotated[int, Field(gt=0, le=10**12)]


class CreditLinePurchaseOut(BaseModel):
    purchase_id: int
    external_ref: str
    amount_fen: int
    #: What the customer may still spend after this purchase.
    available_fen: int


@router.post("/credit-line/purchases", status_code=201, response_model=CreditLinePurchaseOut)
def credit_line_purchase(
    body: CreditLinePurchaseIn,
    request: Request,
    keys: KeysDep,
    clock: ClockDep,
    signed_idem: Annotated[tuple[Partner, Idempotency], Depends(idempotent("creditline:purchase"))],
) -> Response:
    """消费: charge a purchase at this partner to a consenting customer's credit line, within
    its available limit; the same ``external_ref`` is charged once."""
    partner, idem = signed_idem
    actor = _actor(request, partner)

    def work(conn: Any) -> CreditLinePurchaseOut:
        d = credit_line_partners.partner_purchase(
            conn,
            partner_code=partner.code,
            live=partner.live,
            keys=keys,
            customer_phone=body.customer_phone,
            amount_fen=body.amount_fen,
            external_ref=body.external_ref,
            actor=actor,
            clock=clock,
        )
        return CreditLinePurchaseOut(
            purchase_id=d.entry_id,
            external_ref=body.external_ref,
            amount_fen=d.amount_fen,
            available_fen=d.line.available_fen,
        )

    return idem.run(work, status_code=201)


@router.get("/applications/{application_id}", response_model=ApplicationOut)
def get_application(
    application_id: int,
    engine: EngineDep,
    partner: Annotated[Partner, Depends(signed("applications:read"))],
) -> ApplicationOut:
    """One application this partner pushed, as it stands."""
    with engine.connect() as conn:
        return _application_out(
            service.get_application(conn, partner=partner, application_id=application_id)
        )


# ------------------------------------------------------------------------------- loans


class LoanOut(BaseModel):
    id: int
    application_id: int
    state: str
    principal_fen: int
    principal_outstanding_fen: int
    annual_rate: str
    irr_annual_rate: str
    term_unit: str
    term: int
    start_date: date
    maturity_date: date
    dpd: int
    bucket: str
    closed_date: date | None


class InstallmentOut(BaseModel):
    seq: int
    period_start: date
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int
    late_fee_fen: int
    penalty_fen: int
    total_fen: int
    unpaid_fen: int
    paid_date: date | None
    status: str


LoansReader = Annotated[Partner, Depends(signed("loans:read"))]


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: int, engine: EngineDep, partner: LoansReader) -> LoanOut:
    """A loan that came from one of this partner's applications."""
    with engine.connect() as conn:
        loan = service.get_loan(conn, partner=partner, loan_id=loan_id)
    return LoanOut.model_validate(loan, from_attributes=True)


@router.get("/loans/{loan_id}/schedule", response_model=list[InstallmentOut])
def loan_schedule(
    loan_id: int, engine: EngineDep, clock: ClockDep, partner: LoansReader
) -> list[InstallmentOut]:
    """The loan's repayment schedule as it stands: charged, paid, unpaid and status."""
    with engine.connect() as conn:
        rows = service.loan_schedule(conn, partner=partner, loan_id=loan_id, clock=clock)
    return [InstallmentOut.model_validate(r, from_attributes=True) for r in rows]


# ---------------------------------------------------------------------------- webhooks


class SubscriptionIn(Body):
    url: Annotated[str, Field(min_length=8, max_length=500)]
    topics: Annotated[list[str], Field(min_length=1, max_length=10)]


class SubscriptionOut(BaseModel):
    id: int
    url: str
    topics: list[str]
    status: str
    created_us: int


class DeliveryOut(BaseModel):
    id: int
    subscription_id: int
    event_id: int
    topic: str
    key: str
    seq: int
    status: str
    attempts: int
    next_attempt_us: int
    last_status_code: int | None
    last_error: str | None
    created_us: int
    delivered_us: int | None


class AttemptOut(BaseModel):
    attempt: int
    trigger: str
    started_us: int
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str


WebhookManager = Annotated[Partner, Depends(signed("webhooks:manage"))]
Status = Literal["pending", "delivering", "succeeded", "failed"]


def _subscription_out(s: webhooks.Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id, url=s.url, topics=list(s.topics), status=s.status, created_us=s.created_us
    )


@router.post("/webhooks/subscriptions", status_code=201, response_model=SubscriptionOut)
def subscribe(
    body: SubscriptionIn,
    clock: ClockDep,
    signed_idem: Annotated[tuple[Partner, Idempotency], Depends(idempotent("webhooks:manage"))],
) -> Response:
    """Receive the given event topics at ``url``, signed with this partner's key."""
    partner, idem = signed_idem
    return idem.run(
        lambda conn: _subscription_out(
            webhooks.subscribe(
                conn, partner_id=partner.id, url=body.url, topics=body.topics, clock=clock
            )
        ),
        status_code=201,
    )


@router.get("/webhooks/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(engine: EngineDep, partner: WebhookManager) -> list[SubscriptionOut]:
    with engine.connect() as conn:
        return [
            _subscription_out(s) for s in webhooks.list_subscriptions(conn, partner_id=partner.id)
        ]


@router.delete("/webhooks/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def unsubscribe(
    subscription_id: int, engine: EngineDep, clock: ClockDep, partner: WebhookManager
) -> SubscriptionOut:
    """Stop a subscription (idempotent: stopping a stopped one answers it again)."""
    return _subscription_out(
        run_in_transaction(
            engine,
            lambda c: webhooks.unsubscribe(
                c, partner_id=partner.id, subscription_id=subscription_id, clock=clock
            ),
        )
    )


class DeliveryQuery:
    """The delivery log's filter and page: ``status``, ``limit``, ``starting_after`` (older
    than that id; the log is newest first)."""

    def __init__(
        self,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        starting_after: Annotated[int | None, Query(ge=1)] = None,
    ) -> None:
        self.status, self.limit, self.starting_after = status, limit, starting_after

    def page(self, engine: Any, partner_id: int | None) -> Page[DeliveryOut]:
        with engine.connect() as conn:
            items, more = webhooks.list_deliveries(
                conn,
                partner_id=partner_id,
                status=self.status,
                limit=self.limit,
                starting_after=self.starting_after,
            )
        return Page[DeliveryOut](
            data=[DeliveryOut.model_validate(d, from_attributes=True) for d in items],
            has_more=more,
        )


DeliveryQueryDep = Annotated[DeliveryQuery, Depends()]


@router.get("/webhooks/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    engine: EngineDep, partner: WebhookManager, query: DeliveryQueryDep
) -> Page[DeliveryOut]:
    """This partner's deliveries, newest first."""
    return query.page(engine, partner.id)


@router.get("/webhooks/deliveries/{delivery_id}/attempts", response_model=list[AttemptOut])
def delivery_attempts(
    delivery_id: int, engine: EngineDep, partner: WebhookManager
) -> list[AttemptOut]:
    """Every attempt to send one delivery: when, how long, the answer."""
    with engine.connect() as conn:
        found = webhooks.attempts_log(conn, delivery_id=delivery_id, partner_id=partner.id)
    return [AttemptOut.model_validate(a, from_attributes=True) for a in found]


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def partner_redeliver(
    delivery_id: int,
    clock: ClockDep,
    signed_idem: Annotated[tuple[Partner, Idempotency], Depends(idempotent("webhooks:manage"))],
) -> Response:
    """Send a delivery again (a failed one, or one the receiver lost)."""
    partner, idem = signed_idem
    return idem.run(
        lambda conn: DeliveryOut.model_validate(
            webhooks.redeliver(conn, delivery_id=delivery_id, partner_id=partner.id, clock=clock),
            from_attributes=True,
        )
    )


# ----------------------------------------------------------------------- back office

Operator = Annotated[StaffAuth, Depends(require("operations.manage"))]


class PartnerIn(Body):
    code: Annotated[str, Field(min_length=2, max_length=48)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    mode: Literal["sandbox", "live"]
    scopes: Annotated[list[str], Field(min_length=1, max_length=10)]
    ip_allowlist: Annotated[list[str], Field(min_length=1, max_length=50)]
    product_codes: Annotated[list[str], Field(default_factory=list, max_length=100)]
    rate_limit_per_minute: Annotated[int, Field(ge=1, le=100_000)] = partners.DEFAULT_RATE_LIMIT


class PartnerOut(BaseModel):
    id: int
    code: str
    name: str
    status: str
    mode: str
    scopes: list[str]
    ip_allowlist: list[str]
    product_codes: list[str]
    rate_limit_per_minute: int
    created_us: int


class CredentialsOut(BaseModel):
    partner: PartnerOut
    key_id: str
    #: Shown this once; puhui keeps it sealed and never shows it again.
    secret: str


def _partner_out(p: Partner) -> PartnerOut:
    return PartnerOut(
        id=p.id,
        code=p.code,
        name=p.name,
        status=p.status,
        mode=p.mode,
        scopes=list(p.scopes),
        ip_allowlist=list(p.ip_allowlist),
        product_codes=list(p.product_codes),
        rate_limit_per_minute=p.rate_limit_per_minute,
        created_us=p.created_us,
    )


def _credentials_out(c: partners.Credentials) -> CredentialsOut:
    return CredentialsOut(partner=_partner_out(c.partner), key_id=c.key_id, secret=c.secret)


@admin.get("/partners", response_model=list[PartnerOut])
def admin_list_partners(engine: EngineDep, who: Operator) -> list[PartnerOut]:
    with engine.connect() as conn:
        return [_partner_out(p) for p in partners.list_partners(conn)]


@admin.post("/partners", status_code=201, response_model=CredentialsOut)
def admin_create_partner(
    body: PartnerIn, engine: EngineDep, clock: ClockDep, keys: KeysDep, who: Operator
) -> CredentialsOut:
    """Onboard a partner institution; the answer holds its secret, shown this once."""
    return _credentials_out(
        run_in_transaction(
            engine,
            lambda c: partners.create(
                c,
                keys=keys,
                code=body.code,
                name=body.name,
                mode=body.mode,
                scopes=body.scopes,
                ip_allowlist=body.ip_allowlist,
                product_codes=body.product_codes,
                rate_limit_per_minute=body.rate_limit_per_minute,
                actor=who.actor,
                clock=clock,
            ),
        )
    )


@admin.post("/partners/{partner_id}/rotate-secret", response_model=CredentialsOut)
def admin_rotate_secret(
    partner_id: int, engine: EngineDep, clock: ClockDep, keys: KeysDep, who: Operator
) -> CredentialsOut:
    """A new key for the partner; its old keys keep working for 24 hours."""
    return _credentials_out(
        run_in_transaction(
            engine,
            lambda c: partners.rotate_secret(
                c, keys=keys, partner_id=partner_id, actor=who.actor, clock=clock
            ),
        )
    )


@admin.post("/partners/{partner_id}/disable", response_model=PartnerOut)
def admin_disable_partner(
    partner_id: int, engine: EngineDep, clock: ClockDep, who: Operator
) -> PartnerOut:
    return _partner_out(
        run_in_transaction(
            engine,
            lambda c: partners.disable(c, partner_id=partner_id, actor=who.actor, clock=clock),
        )
    )


@admin.get("/webhooks/deliveries", response_model=Page[DeliveryOut])
def admin_list_deliveries(
    engine: EngineDep, who: Operator, query: DeliveryQueryDep
) -> Page[DeliveryOut]:
    """Every partner's deliveries, newest first: the delivery log of the platform."""
    return query.page(engine, None)


@admin.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
def admin_redeliver(
    delivery_id: int, engine: EngineDep, clock: ClockDep, who: Operator
) -> DeliveryOut:
    """Queue a delivery again now, with a fresh set of attempts."""
    return DeliveryOut.model_validate(
        run_in_transaction(
            engine, lambda c: webhooks.redeliver(c, delivery_id=delivery_id, clock=clock)
        ),
        from_attributes=True,
    )


# ------------------------------------------------------------------------------ OpenAPI


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The partners' OpenAPI document: the app's, cut down to ``/open/v1`` and the schemas
    those routes reference."""
    if getattr(app.state, "open_openapi", None) is None:
        full = app.openapi()
        paths = {p: ops for p, ops in full["paths"].items() if p.startswith(PREFIX)}
        schemas = full.get("components", {}).get("schemas", {})
        wanted: set[str] = set()
        pending: list[Any] = [paths]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                    name = ref.rsplit("/", 1)[1]
                    if name not in wanted:
                        wanted.add(name)
                        pending.append(schemas.get(name, {}))
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
        app.state.open_openapi = {
            "openapi": full["openapi"],
            "info": {
                "title": "puhui open platform",
                "version": __version__,
                "description": "Signed partner API (docs/openplatform.md). Amounts are integer "
                "fen.",
            },
            "paths": paths,
            "components": {"schemas": {n: schemas[n] for n in sorted(wanted) if n in schemas}},
        }
    return app.state.open_openapi


@router.get("/openapi.json", include_in_schema=False)
def openapi_json(request: Request) -> dict[str, Any]:
    return openapi_document(request.app)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(admin)
