"""Partner institutions and their API keys (onboarded by staff).

A partner gets a key id and a secret, shown once. The platform must recompute signatures, so
the secret cannot be hashed: it is sealed under a per-row data key with the identity crypto
envelope (``op_partner_keys`` | ``secret`` | row id as associated data), and the data key is
wrapped by the master key, as personal data is. Rotation issues a new key and lets the old one
work for a grace period, so a partner can switch without downtime. Staff actions are audited.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, insert, or_, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring, WrappedKey, new_record_key, open_record
from puhui.identity.times import now_us, span_us
from puhui.openplatform.models import partner_keys, partners

SCOPES: dict[str, str] = {
    "products:read": "list the products the partner may sell",
    "applications:write": "push loan applications for consenting customers",
    "applications:read": "read the applications the partner pushed",
    "loans:read": "read the loans and schedules of those applications",
    "webhooks:manage": "subscribe to events and read the delivery log",
    "creditline:purchase": "charge purchases to the credit lines of consenting customers",
}
MODES = ("sandbox", "live")
DEFAULT_RATE_LIMIT = 600  # requests per minute
DEFAULT_GRACE = timedelta(hours=24)
KEY_TABLE = "op_partner_keys"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,47}$")


@dataclass(frozen=True)
class Partner:
    id: int
    code: str
    name: str
    status: str
    mode: str
    scopes: tuple[str, ...]
    ip_allowlist: tuple[str, ...]
    rate_limit_per_minute: int
    product_codes: tuple[str, ...]
    created_us: int
    updated_us: int

    @property
    def live(self) -> bool:
        return self.mode == "live"

    def allows_ip(self, ip: str) -> bool:
        """Whether a client address is inside one of the partner's allowed networks."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net) for net in self.ip_allowlist)


@dataclass(frozen=True, repr=False)
class Credentials:
    """A key id and its secret: returned once, at creation or rotation, never again."""

    partner: Partner
    key_id: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(partner={self.partner.code!r}, key_id={self.key_id!r})"


def _partner(row) -> Partner:  # type: ignore[no-untyped-def]
    return Partner(
        id=row.id,
        code=row.code,
        name=row.name,
        status=row.status,
        mode=row.mode,
        scopes=tuple(json.loads(row.scopes_json)),
        ip_allowlist=tuple(json.loads(row.ip_allowlist_json)),
        rate_limit_per_minute=row.rate_limit_per_minute,
        product_codes=tuple(json.loads(row.product_codes_json)),
        created_us=row.created_us,
        updated_us=row.updated_us,
    )


def _scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationError(
            "scope_unknown",
            f"scopes are some of {', '.join(SCOPES)}; unknown: {', '.join(unknown) or '(none)'}",
            field="scopes",
        )
    return sorted(set(scopes))


def _networks(ip_allowlist: Sequence[str]) -> list[str]:
    """Normalised networks; an empty list is refused (allowing everyone must be explicit)."""
    if not ip_allowlist:
        raise ValidationError(
            "ip_allowlist_empty",
            "name the partner's networks (0.0.0.0/0 and ::/0 allow any address)",
            field="ip_allowlist",
        )
    out = []
    for net in ip_allowlist:
        try:
            out.append(str(ipaddress.ip_network(net.strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                "ip_network_invalid", f"{net!r} is not an IP network", field="ip_allowlist"
            ) from None
    return sorted(set(out))


def create(
    conn: Connection,
    *,
    keys: Keyring,
    code: str,
    name: str,
    mode: str,
    scopes: Sequence[str],
    ip_allowlist: Sequence[str],
    product_codes: Sequence[str],
    actor: Actor,
    clock: Clock,
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT,
) -> Credentials:
    """Onboard a partner with its first key; the secret is in the answer and nowhere else."""
    if not _CODE.match(code):
        raise ValidationError(
            "partner_code_invalid", "a code is 2–48 of a-z, 0-9, _ and -", field="code"
        )
    if not 0 < len(name.strip()) <= 200:
        raise ValidationError("partner_name_invalid", "a name is 1–200 characters", field="name")
    if mode not in MODES:
        raise ValidationError("partner_mode_invalid", "mode is sandbox or live", field="mode")
    if not 1 <= rate_limit_per_minute <= 100_000:
        raise ValidationError(
            "rate_limit_invalid", "1–100000 requests a minute", field="rate_limit_per_minute"
        )
    if conn.execute(select(partners.c.id).where(partners.c.code == code)).first() is not None:
        raise Conflict("partner_exists", f"a partner {code!r} exists already", field="code")
    at = now_us(clock)
    partner_id = conn.execute(
        insert(partners).values(
            code=code,
            name=name.strip(),
            status="active",
            mode=mode,
            scopes_json=json.dumps(_scopes(scopes)),
            ip_allowlist_json=json.dumps(_networks(ip_allowlist)),
            rate_limit_per_minute=rate_limit_per_minute,
            product_codes_json=json.dumps(sorted(set(product_codes))),
            created_by=actor.principal[:64],
            created_us=at,
            updated_us=at,
        )
    ).inserted_primary_key[0]
    key_id, secret = _new_key(conn, keys, partner_id, mode, at)
    partner = get(conn, partner_id=partner_id)
    audit.record(
        conn,
        actor=actor,
        event="partner.create",
        object_type="partner",
        object_id=partner_id,
        after={"code": code, "mode": mode, "scopes": list(partner.scopes), "key_id": key_id},
        clock=clock,
    )
    return Credentials(partner, key_id, secret)


def _new_key(conn: Connection, keys: Keyring, partner_id: int, mode: str, at: int) -> tuple:
    key_id = f"pk_{mode}_{secrets.token_hex(10)}"
    secret = f"sk_{secrets.token_urlsafe(32)}"
    row_id = conn.execute(
        insert(partner_keys).values(
            partner_id=partner_id,
            key_id=key_id,
            secret_ct="",
            wrapped_key="",
            master_key_id=keys.active_id,
            status="active",
            created_us=at,
        )
    ).inserted_primary_key[0]
    cipher, wrapped = new_record_key(keys, KEY_TABLE, row_id)
    conn.execute(
        update(partner_keys)
        .where(partner_keys.c.id == row_id)
        .values(
            secret_ct=cipher.seal("secret", secret),
            wrapped_key=wrapped.wrapped,
            master_key_id=wrapped.key_id,
        )
    )
    return key_id, secret


def get(conn: Connection, *, partner_id: int) -> Partner:
    row = conn.execute(select(partners).where(partners.c.id == partner_id)).first()
    if row is None:
        raise NotFound("partner_not_found", f"no partner {partner_id}", field="partner_id")
    return _partner(row)


def get_by_code(conn: Connection, *, code: str) -> Partner:
    row = conn.execute(select(partners).where(partners.c.code == code)).first()
    if row is None:
        raise NotFound("partner_not_found", f"no partner {code!r}", field="code")
    return _partner(row)


def list_partners(conn: Connection) -> list[Partner]:
    return [_partner(r) for r in conn.execute(select(partners).order_by(partners.c.id))]


def rotate_secret(
    conn: Connection,
    *,
    keys: Keyring,
    partner_id: int,
    actor: Actor,
    clock: Clock,
    grace: timedelta = DEFAULT_GRACE,
) -> Credentials:
    """Issue a new key; the partner's current keys keep working for ``grace``, then stop."""
    partner = get(conn, partner_id=partner_id)
    at = now_us(clock)
    conn.execute(
        update(partner_keys)
        .where(partner_keys.c.partner_id == partner_id, partner_keys.c.status == "active")
        .values(status="retired", expires_us=at + span_us(grace))
    )
    key_id, secret = _new_key(conn, keys, partner_id, partner.mode, at)
    audit.record(
        conn,
        actor=actor,
        event="partner.rotate_secret",
        object_type="partner",
        object_id=partner_id,
        after={"key_id": key_id},
        detail={"grace_s": int(grace.total_seconds())},
        clock=clock,
    )
    return Credentials(partner, key_id, secret)


def disable(conn: Connection, *, partner_id: int, actor: Actor, clock: Clock) -> Partner:
    """Refuse every request of the partner from now on and stop its webhooks."""
    before = get(conn, partner_id=partner_id)
    conn.execute(
        update(partners)
        .where(partners.c.id == partner_id)
        .values(status="disabled", updated_us=now_us(clock))
    )
    audit.record(
        conn,
        actor=actor,
        event="partner.disable",
        object_type="partner",
        object_id=partner_id,
        before={"status": before.status},
        after={"status": "disabled"},
        clock=clock,
    )
    return get(conn, partner_id=partner_id)


def _open_secret(keys: Keyring, row) -> str:  # type: ignore[no-untyped-def]
    cipher = open_record(keys, KEY_TABLE, row.id, WrappedKey(row.wrapped_key, row.master_key_id))
    secret = cipher.open("secret", row.secret_ct)
    assert secret is not None
    return secret


def key_secret(
    conn: Connection, *, keys: Keyring, key_id: str, clock: Clock
) -> tuple[Partner, str] | None:
    """The partner and secret of a key that is accepted now (active, or retired in grace)."""
    row = conn.execute(
        select(partner_keys).where(
            partner_keys.c.key_id == key_id,
            or_(partner_keys.c.expires_us.is_(None), partner_keys.c.expires_us > now_us(clock)),
        )
    ).first()
    if row is None:
        return None
    return get(conn, partner_id=row.partner_id), _open_secret(keys, row)


def signing_key(conn: Connection, *, keys: Keyring, partner_id: int) -> tuple[str, str]:
    """The key id and secret webhooks to this partner are signed with (its newest key)."""
    row = conn.execute(
        select(partner_keys)
        .where(partner_keys.c.partner_id == partner_id, partner_keys.c.status == "active")
        .order_by(partner_keys.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise NotFound("partner_key_not_found", f"partner {partner_id} has no active key")
    return row.key_id, _open_secret(keys, row)
