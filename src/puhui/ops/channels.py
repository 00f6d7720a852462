"""Channels (渠道): where a lead or a customer came from.

Every offline and online source is one row of ``ops_channels`` with a unique code: a flyer
batch (派发传单) prints the code as a QR link, a survey desk (调研登记) and an event (会议活动)
capture their forms under it, a campaign carries it with source/medium/campaign parameters on
its landing link. So every lead and every investment is attributed to exactly one channel, and
conversion by channel is a GROUP BY.

Texts shown to the public (a campaign's landing text, a flyer's text) are checked for banned
promise phrases (保本, 保息, 零风险 …) before they are saved.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

import segno
from sqlalchemy import Connection, insert, select

from puhui.compliance.phrases import find_banned
from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.core.money import check_fen
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.times import now_us
from puhui.ops.models import channels

KINDS = ("flyer", "survey", "event", "campaign", "referral", "organic")
_PREFIX = {
    "flyer": "FL",
    "survey": "SV",
    "event": "EV",
    "campaign": "CP",
    "referral": "RF",
    "organic": "OG",
}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed from paper
#: Where landing links point unless a deployment says otherwise.
DEFAULT_BASE_URL = "https://puhui.example/r/"


@dataclass(frozen=True)
class Channel:
    id: int
    code: str
    kind: str
    name: str
    source: str | None
    medium: str | None
    campaign: str | None
    landing_text: str
    quantity: int
    budget_fen: int
    starts_on: date | None
    ends_on: date | None
    team_id: int | None
    owner_staff_id: int | None

    def link(self, base_url: str = DEFAULT_BASE_URL) -> str:
        """The landing link: the channel code plus source/medium/campaign (UTM) parameters."""
        params = {
            k: v
            for k, v in (
                ("utm_source", self.source),
                ("utm_medium", self.medium),
                ("utm_campaign", self.campaign),
            )
            if v
        }
        return f"{base_url}{self.code}" + (f"?{urlencode(params)}" if params else "")


def check_text(text: str, *, field: str) -> str:
    """Refuse public text that promises principal or returns (暂行办法 第十条)."""
    banned = find_banned(text)
    if banned:
        raise ValidationError(
            "banned_phrase", f"the text contains a banned promise: {banned[0]}", field=field
        )
    return text


def new_code(kind: str) -> str:
    return _PREFIX[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def create(
    conn: Connection,
    *,
    kind: str,
    name: str,
    actor: Actor,
    clock: Clock,
    landing_text: str = "",
    source: str | None = None,
    medium: str | None = None,
    campaign: str | None = None,
    quantity: int = 0,
    budget_fen: int = 0,
    starts_on: date | None = None,
    ends_on: date | None = None,
    team_id: int | None = None,
    owner_staff_id: int | None = None,
) -> Channel:
    """A new channel with a fresh unique code."""
    if kind not in KINDS:
        raise ValidationError("kind_invalid", f"kind is one of {', '.join(KINDS)}", field="kind")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValidationError("name_invalid", "name is 1 to 100 characters", field="name")
    check_text(landing_text, field="landing_text")
    check_text(name, field="name")
    check_fen(budget_fen, field="budget_fen")
    if not 0 <= quantity <= 10_000_000:
        raise ValidationError("quantity_invalid", "quantity is 0 to 10,000,000", field="quantity")
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError("dates_invalid", "ends_on is before starts_on", field="ends_on")
    for value, field in ((source, "source"), (medium, "medium"), (campaign, "campaign")):
        if value is not None and not 1 <= len(value) <= 64:
            raise ValidationError(f"{field}_invalid", f"{field} is 1 to 64 characters", field=field)
    channel_id = conn.execute(
        insert(channels).values(
            code=new_code(kind),
            kind=kind,
            name=name,
            source=source,
            medium=medium,
            campaign=campaign,
            landing_text=landing_text,
            quantity=quantity,
            budget_fen=budget_fen,
            starts_on=starts_on,
            ends_on=ends_on,
            team_id=team_id,
            owner_staff_id=owner_staff_id,
            created_us=now_us(clock),
            created_by=actor.principal,
        )
    ).inserted_primary_key[0]
    audit.record(
        conn,
        actor=actor,
        event="ops.channel.create",
        object_type="channel",
        object_id=channel_id,
        clock=clock,
    )
    return get(conn, channel_id=channel_id)


def flyer_batch(
    conn: Connection,
    *,
    name: str,
    quantity: int,
    team_id: int | None,
    owner_staff_id: int | None,
    actor: Actor,
    clock: Clock,
    landing_text: str = "",
) -> Channel:
    """派发传单: a batch of flyers with its own channel code and QR link."""
    if quantity < 1:
        raise ValidationError(
            "quantity_invalid", "a batch has at least one flyer", field="quantity"
        )
    return create(
        conn,
        kind="flyer",
        name=name,
        quantity=quantity,
        team_id=team_id,
        owner_staff_id=owner_staff_id,
        source="flyer",
        medium="offline",
        landing_text=landing_text,
        actor=actor,
        clock=clock,
    )


def _channel(r: object) -> Channel:
    return Channel(**{k: getattr(r, k) for k in Channel.__dataclass_fields__})


def get(conn: Connection, *, channel_id: int) -> Channel:
    row = conn.execute(select(channels).where(channels.c.id == channel_id)).first()
    if row is None:
        raise NotFound("channel_not_found", "no such channel", field="channel_id")
    return _channel(row)


def by_code(conn: Connection, *, code: str) -> Channel:
    row = conn.execute(select(channels).where(channels.c.code == code.strip().upper())).first()
    if row is None:
        raise NotFound("channel_not_found", "no channel with this code", field="channel_code")
    return _channel(row)


def list_channels(
    conn: Connection, *, kind: str | None = None, after_id: int = 0, limit: int = 50
) -> list[Channel]:
    q = select(channels).where(channels.c.id > after_id)
    if kind:
        q = q.where(channels.c.kind == kind)
    return [_channel(r) for r in conn.execute(q.order_by(channels.c.id).limit(limit))]


def qr(link: str, *, kind: str = "svg", scale: int = 4) -> bytes:
    """The QR code of a landing link as SVG or PNG bytes (printed on the flyers)."""
    if kind not in ("svg", "png"):
        raise ValidationError("format_invalid", "format is svg or png", field="format")
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind=kind, scale=scale, border=2)
    return out.getvalue()
