"""Operations (运营) over HTTP: the CRM of the wealth center and the operations center.

Staff routes under ``/admin/api/v1/ops`` name one permission each (``ops.read`` to look,
``ops.write`` to work leads, tasks, events and ownership, ``operations.manage`` for channels,
coupons, plans and targets); what a staff member sees is further narrowed by the team
hierarchy in the domain queries (``puhui.ops.scope``): an advisor their own, a team manager the
team's, a sales director the center's. Outside that scope an object is 404, as if it did not
exist. A landing page posts its form to the one public route, ``POST /api/v1/ops/leads``
(rate-limited per IP); customers read their coupons and referral code under ``/api/v1/me``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from puhui.api.identity import (
    Body,
    ClockDep,
    Customer,
    EngineDep,
    KeysDep,
    StaffAuth,
    ip_limit,
    require,
)
from puhui.core.clock import business_date
from puhui.db.engine import run_in_transaction
from puhui.ops import (
    campaigns,
    channels,
    coupons,
    events,
    exports,
    leads,
    marketing,
    org,
    ownership,
    performance,
    scope,
)

admin = APIRouter(prefix="/admin/api/v1/ops", tags=["operations"])
public = APIRouter(prefix="/api/v1", tags=["operations"])

Reader = Annotated[StaffAuth, Depends(require("ops.read"))]
Worker = Annotated[StaffAuth, Depends(require("ops.write"))]
Manager = Annotated[StaffAuth, Depends(require("operations.manage"))]
Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"])]
Group = Annotated[Literal["advisor", "team"], Query()]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]


def _viewer(c: Connection, who: StaffAuth) -> scope.Viewer:
    return scope.viewer(c, staff_id=who.ctx.id)


def _read(engine: Any, work: Any) -> Any:
    with engine.connect() as c:
        return work(c)


# ---------------------------------------------------------------------------- org, owners


@admin.get("/org-chart", response_model=list[org.Unit])
def org_chart(who: Reader, engine: EngineDep) -> list[org.Unit]:
    return run_in_transaction(engine, org.chart)


@admin.get("/positions", response_model=list[org.Position])
def positions(who: Reader, engine: EngineDep) -> list[org.Position]:
    return run_in_transaction(engine, org.list_positions)


class DutiesIn(Body):
    duties: Annotated[str, Field(min_length=1, max_length=4000)]


@admin.put("/positions/{code}/duties", response_model=org.Position)
def set_duties(
    code: str, body: DutiesIn, who: Manager, engine: EngineDep, clock: ClockDep
) -> org.Position:
    return run_in_transaction(
        engine,
        lambda c: org.set_duties(
            c, position_code=code, duties=body.duties, actor=who.actor, clock=clock
        ),
    )


@admin.get("/books", response_model=list[ownership.Book])
def books(who: Reader, engine: EngineDep) -> list[ownership.Book]:
    """Customers per advisor in the caller's scope."""
    return _read(engine, lambda c: ownership.books(c, viewer=_viewer(c, who)))


@admin.get("/customers/{customer_id}/ownership", response_model=list[ownership.Change])
def ownership_history(customer_id: int, who: Reader, engine: EngineDep) -> list[ownership.Change]:
    return _read(
        engine, lambda c: ownership.history(c, viewer=_viewer(c, who), customer_id=customer_id)
    )


class TransferIn(Body):
    to_staff_id: Annotated[int, Field(ge=1, le=2**62)]
    reason: Annotated[str, Field(min_length=2, max_length=200)]


@admin.post("/customers/{customer_id}/transfer", response_model=ownership.Change)
def transfer_customer(
    customer_id: int, body: TransferIn, who: Worker, engine: EngineDep, clock: ClockDep
) -> ownership.Change:
    """Move a customer to another advisor (a manager, within their teams)."""
    return run_in_transaction(
        engine,
        lambda c: ownership.transfer(
            c,
            viewer=_viewer(c, who),
            customer_id=customer_id,
            to_staff_id=body.to_staff_id,
            reason=body.reason,
            actor=who.actor,
            clock=clock,
        ),
    )


# -------------------------------------------------------------------------------- channels


class ChannelOut(BaseModel):
    id: int
    code: str
    kind: str
    name: str
    source: str | None
    medium: str | None
    campaign: str | None
    quantity: int
    budget_fen: int
    starts_on: date | None
    ends_on: date | None
    team_id: int | None
    owner_staff_id: int | None
    link: str


def _channel_out(ch: channels.Channel) -> ChannelOut:
    fields = {k: getattr(ch, k) for k in ChannelOut.model_fields if k != "link"}
    return ChannelOut(**fields, link=ch.link())


@admin.get("/channels", response_model=list[ChannelOut])
def list_channels(
    who: Reader, engine: EngineDep, kind: Annotated[str | None, Query(max_length=16)] = None
) -> list[ChannelOut]:
    return [
        _channel_out(ch)
        for ch in _read(engine, lambda c: channels.list_channels(c, kind=kind, limit=100))
    ]


class ChannelIn(Body):
    kind: Literal["flyer", "survey", "campaign", "organic"]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    landing_text: Annotated[str, Field(max_length=4000)] = ""
    source: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    medium: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    campaign: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    quantity: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    budget_fen: Annotated[int, Field(ge=0, le=10**12)] = 0
    starts_on: date | None = None
    ends_on: date | None = None
    team_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    owner_staff_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


@admin.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(body: ChannelIn, who: Manager, engine: EngineDep, clock: ClockDep) -> ChannelOut:
    """A flyer batch, a survey desk, a campaign (with its UTM parameters) or an organic source;
    public texts are refused when they contain a banned promise."""
    ch = run_in_transaction(
        engine, lambda c: channels.create(c, actor=who.actor, clock=clock, **body.model_dump())
    )
    return _channel_out(ch)


@admin.get("/channels/{channel_id}/qr", response_class=Response)
def channel_qr(
    channel_id: int, who: Reader, engine: EngineDep, format: Literal["svg", "png"] = "svg"
) -> Response:
    """The channel's landing link as a QR code, to print on its flyers."""
    ch = _read(engine, lambda c: channels.get(c, channel_id=channel_id))
    media = "image/svg+xml" if format == "svg" else "image/png"
    return Response(channels.qr(ch.link(), kind=format), media_type=media)


# ----------------------------------------------------------------------------------- leads


class LeadIn(Body):
    channel_code: Annotated[str, Field(min_length=4, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=50)]
    phone: Annotated[str, Field(min_length=11, max_length=16)]
    note: Annotated[str, Field(max_length=500)] = ""
    referral_code: Annotated[str, Field(min_length=4, max_length=16)] | None = None


class LeadCreated(BaseModel):
    id: int
    created: bool


class Captured(BaseModel):
    received: bool


@public.post(
    "/ops/leads",
    response_model=Captured,
    status_code=202,
    dependencies=[Depends(ip_limit("codes_ip"))],
)
def capture_lead(body: LeadIn, engine: EngineDep, keys: KeysDep, clock: ClockDep) -> Captured:
    """A landing page's form (派发传单 QR, 调研登记): recorded as a lead of its channel. The
    answer says nothing about whether the phone was known already."""
    run_in_transaction(
        engine, lambda c: leads.capture(c, keys=keys, clock=clock, **body.model_dump())
    )
    return Captured(received=True)


@admin.post("/leads", response_model=LeadCreated, status_code=201)
def create_lead(
    body: LeadIn, who: Worker, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> LeadCreated:
    """A registration taken down by staff at a survey desk or an event."""
    lead_id, created = run_in_transaction(
        engine, lambda c: leads.capture(c, keys=keys, clock=clock, **body.model_dump())
    )
    return LeadCreated(id=lead_id, created=created)


@admin.get("/leads", response_model=list[leads.Lead])
def list_leads(
    who: Reader,
    engine: EngineDep,
    keys: KeysDep,
    stage: Annotated[str | None, Query(max_length=20)] = None,
    starting_after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[leads.Lead]:
    """Leads in the caller's scope, names and phones masked."""
    return _read(
        engine,
        lambda c: leads.list_leads(
            c, keys=keys, viewer=_viewer(c, who), stage=stage, after_id=starting_after, limit=limit
        ),
    )


@admin.get("/leads/funnel", response_model=dict[str, int])
def lead_funnel(who: Reader, engine: EngineDep) -> dict[str, int]:
    return _read(engine, lambda c: leads.funnel(c, viewer=_viewer(c, who)))


@admin.get("/leads/{lead_id}", response_model=leads.Lead)
def get_lead(lead_id: int, who: Reader, engine: EngineDep, keys: KeysDep) -> leads.Lead:
    return _read(engine, lambda c: leads.get(c, keys=keys, viewer=_viewer(c, who), lead_id=lead_id))


class StageIn(Body):
    stage: Literal["contacted", "lost"]


@admin.post("/leads/{lead_id}/stage", response_model=leads.Lead)
def move_lead(
    lead_id: int, body: StageIn, who: Worker, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> leads.Lead:
    return run_in_transaction(
        engine,
        lambda c: leads.advance(
            c,
            keys=keys,
            viewer=_viewer(c, who),
            lead_id=lead_id,
            to_stage=body.stage,
            actor=who.actor,
            clock=clock,
        ),
    )


class TaskIn(Body):
    kind: Literal["call", "visit", "follow_up"]
    due_on: date
    note: Annotated[str, Field(max_length=500)] = ""


@admin.post("/leads/{lead_id}/tasks", response_model=leads.Task, status_code=201)
def add_task(
    lead_id: int, body: TaskIn, who: Worker, engine: EngineDep, keys: KeysDep, clock: ClockDep
) -> leads.Task:
    return run_in_transaction(
        engine,
        lambda c: leads.add_task(
            c, keys=keys, viewer=_viewer(c, who), lead_id=lead_id, clock=clock, **body.model_dump()
        ),
    )


@admin.get("/tasks", response_model=list[leads.Task])
def list_tasks(
    who: Reader,
    engine: EngineDep,
    clock: ClockDep,
    due: Annotated[bool, Query(description="only open tasks due today or earlier")] = False,
) -> list[leads.Task]:
    def work(c: Connection) -> list[leads.Task]:
        v = _viewer(c, who)
        if due:
            return leads.reminders(c, viewer=v, today=business_date(clock.now()))
        return leads.list_tasks(c, viewer=v)

    return _read(engine, work)


class OutcomeIn(Body):
    outcome: Annotated[str, Field(max_length=500)] = ""


@admin.post("/tasks/{task_id}/complete", response_model=leads.Task)
def complete_task(
    task_id: int, body: OutcomeIn, who: Worker, engine: EngineDep, clock: ClockDep
) -> leads.Task:
    return run_in_transaction(
        engine,
        lambda c: leads.complete_task(
            c, viewer=_viewer(c, who), task_id=task_id, outcome=body.outcome, clock=clock
        ),
    )


# ---------------------------------------------------------------------------------- events


@admin.get("/events", response_model=list[events.Event])
def list_events(who: Reader, engine: EngineDep) -> list[events.Event]:
    return _read(engine, lambda c: events.list_events(c))


class EventIn(Body):
    title: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["seminar", "salon", "meeting"]
    held_on: date
    location: Text200
    capacity: Annotated[int, Field(ge=1, le=100_000)]
    team_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    owner_staff_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


@admin.post("/events", response_model=events.Event, status_code=201)
def create_event(body: EventIn, who: Manager, engine: EngineDep, clock: ClockDep) -> events.Event:
    return run_in_transaction(
        engine, lambda c: events.create(c, actor=who.actor, clock=clock, **body.model_dump())
    )


class AttendeeIn(Body):
    lead_id: Annotated[int, Field(ge=1, le=2**62)]


@admin.post("/events/{event_id}/sign-in", status_code=204)
def sign_in(
    event_id: int, body: AttendeeIn, who: Worker, engine: EngineDep, clock: ClockDep
) -> Response:
    run_in_transaction(
        engine,
        lambda c: events.sign_in(
            c, viewer=_viewer(c, who), event_id=event_id, lead_id=body.lead_id, clock=clock
        ),
    )
    return Response(status_code=204)


@admin.get("/calendar", response_model=list[campaigns.CalendarEntry])
def marketing_calendar(
    who: Reader, engine: EngineDep, start: date, end: date
) -> list[campaigns.CalendarEntry]:
    """The marketing calendar (营销日历): campaigns running and events held in the range."""
    return _read(engine, lambda c: campaigns.calendar(c, start=start, end=end))


# --------------------------------------------------------------------------------- coupons


class RuleOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    amount_fen: int
    boost_rate: Decimal
    min_amount_fen: int
    min_term_months: int
    max_term_months: int
    products: list[str]
    valid_days: int
    budget_fen: int


def _rule_out(r: coupons.Rule) -> RuleOut:
    return RuleOut(
        **{k: getattr(r, k) for k in RuleOut.model_fields if k != "products"},
        products=list(r.products),
    )


@admin.get("/coupon-rules", response_model=list[RuleOut])
def list_rules(who: Manager, engine: EngineDep) -> list[RuleOut]:
    return [_rule_out(r) for r in _read(engine, coupons.list_rules)]


class RuleIn(Body):
    code: Annotated[str, Field(min_length=1, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["cash", "boost"]
    amount_fen: Annotated[int, Field(ge=0, le=10**10)] = 0
    boost_rate: Annotated[str, Field(pattern=r"^0\.\d{1,6}$")] = "0"
    min_amount_fen: Annotated[int, Field(ge=0, le=10**12)] = 0
    min_term_months: Annotated[int, Field(ge=1, le=600)] = 1
    max_term_months: Annotated[int, Field(ge=1, le=600)] = 120
    products: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(default_factory=list, max_length=20),
    ]
    valid_days: Annotated[int, Field(ge=1, le=3660)] = 30
    budget_fen: Annotated[int, Field(ge=0, le=10**12)] = 0


@admin.post("/coupon-rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, who: Manager, engine: EngineDep, clock: ClockDep) -> RuleOut:
    spec = body.model_dump()
    spec["boost_rate"] = Decimal(spec["boost_rate"])
    spec["products"] = tuple(spec["products"])
    return _rule_out(
        run_in_transaction(
            engine, lambda c: coupons.create_rule(c, actor=who.actor, clock=clock, **spec)
        )
    )


class IssueIn(Body):
    rule_code: Annotated[str, Field(min_length=1, max_length=32)]
    customer_id: Annotated[int, Field(ge=1, le=2**62)]
    reason: Annotated[str, Field(min_length=1, max_length=64)]


@admin.post("/coupons", response_model=coupons.Coupon, status_code=201)
def issue_coupon(body: IssueIn, who: Manager, engine: EngineDep, clock: ClockDep) -> coupons.Coupon:
    """Give a customer a coupon (once per real identity and rule)."""
    return run_in_transaction(engine, lambda c: coupons.issue(c, clock=clock, **body.model_dump()))


@admin.get("/marketing", response_model=marketing.Books)
def marketing_books(who: Manager, engine: EngineDep) -> marketing.Books:
    """The marketing money in the custody and company books (they must agree)."""
    return _read(engine, marketing.check_books)


# ----------------------------------------------------------------------------- performance


class RowOut(BaseModel):
    subject_id: int
    new_investors: int
    first_investment_fen: int
    invested_fen: int
    annualised_fen: int
    aum_fen: int
    retained: int
    retention_base: int
    retention: Decimal | None
    commission_fen: int
    rank: int


@admin.get("/performance", response_model=list[RowOut])
def monthly_performance(
    who: Reader,
    engine: EngineDep,
    month: Month,
    group: Group = "advisor",
    plan: Annotated[str | None, Query(max_length=32)] = None,
) -> list[RowOut]:
    """绩效考核: the month's figures per person or team in the caller's scope, ranked."""
    rows = _read(
        engine,
        lambda c: performance.monthly(
            c, month=month, group=group, viewer=_viewer(c, who), plan_code=plan
        ),
    )
    return [RowOut(**{k: getattr(r, k) for k in RowOut.model_fields}) for r in rows]


@admin.get("/performance/export", response_class=Response)
def export_performance(
    who: Reader,
    engine: EngineDep,
    month: Month,
    group: Group = "advisor",
    plan: Annotated[str | None, Query(max_length=32)] = None,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    rows = _read(
        engine,
        lambda c: performance.monthly(
            c, month=month, group=group, viewer=_viewer(c, who), plan_code=plan
        ),
    )
    body, media = exports.performance(rows, kind=format)
    name = f"performance-{group}-{month}.{format}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@admin.get("/conversion", response_model=list[performance.Conversion])
def conversion(who: Reader, engine: EngineDep, month: Month) -> list[performance.Conversion]:
    return _read(engine, lambda c: performance.conversion(c, month=month, viewer=_viewer(c, who)))


class TargetIn(Body):
    month: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$")]
    scope: Literal["staff", "team"]
    subject_id: Annotated[int, Field(ge=1, le=2**62)]
    metric: Literal[
        "new_investors", "first_investment_fen", "invested_fen", "annualised_fen", "aum_fen"
    ]
    target: Annotated[int, Field(ge=0, le=10**14)]


@admin.put("/targets", status_code=204)
def set_target(body: TargetIn, who: Manager, engine: EngineDep) -> Response:
    run_in_transaction(engine, lambda c: performance.set_target(c, **body.model_dump()))
    return Response(status_code=204)


class PlanIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    tiers: Annotated[
        list[
            tuple[
                Annotated[int, Field(ge=0, le=10**14)],
                Annotated[str, Field(pattern=r"^0(\.\d{1,6})?$")],
            ]
        ],
        Field(min_length=1, max_length=20),
    ]
    new_investor_bonus_fen: Annotated[int, Field(ge=0, le=10**10)] = 0


@admin.put("/commission-plans/{code}", status_code=204)
def save_plan(
    code: str, body: PlanIn, who: Manager, engine: EngineDep, clock: ClockDep
) -> Response:
    tiers = [(t, Decimal(r)) for t, r in body.tiers]
    run_in_transaction(
        engine,
        lambda c: performance.save_plan(
            c,
            code=code[:32],
            name=body.name,
            tiers=tiers,
            new_investor_bonus_fen=body.new_investor_bonus_fen,
            clock=clock,
        ),
    )
    return Response(status_code=204)


# -------------------------------------------------------------------------------- customer


@public.get("/me/coupons", response_model=list[coupons.Coupon])
def my_coupons(who: Customer, engine: EngineDep) -> list[coupons.Coupon]:
    return _read(engine, lambda c: coupons.list_coupons(c, customer_id=who.customer_id))


class ReferralCode(BaseModel):
    code: str


@public.get("/me/referral-code", response_model=ReferralCode)
def my_referral_code(who: Customer, engine: EngineDep, clock: ClockDep) -> ReferralCode:
    return ReferralCode(
        code=run_in_transaction(
            engine, lambda c: campaigns.referral_code(c, customer_id=who.customer_id, clock=clock)
        )
    )


class ReferralIn(Body):
    code: Annotated[str, Field(min_length=4, max_length=16)]


@public.post("/me/referral", status_code=204)
def name_referrer(body: ReferralIn, who: Customer, engine: EngineDep, clock: ClockDep) -> Response:
    """Name the customer who invited you (once, before your first investment)."""
    run_in_transaction(
        engine,
        lambda c: campaigns.accept_referral(
            c, invitee_id=who.customer_id, code=body.code, clock=clock
        ),
    )
    return Response(status_code=204)
