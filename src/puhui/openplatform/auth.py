"""Checking a partner's signed request: who signed, that it is fresh and new, and allowed.

The checks run cheapest and least revealing first: the timestamp (5 minutes either way), the key,
the partner's status, the signature, the client's address. Only a genuine request then spends
its nonce (stored in ``op_nonces`` with the end of its replay window, so every worker process
sees it) and counts against the partner's rate limit; refusals from there on are ``Refused``, so
the caller commits the spent nonce and the count before answering the error.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.identity import ratelimit
from puhui.identity.crypto import Keyring
from puhui.identity.errors import Forbidden, NotAuthenticated, Refused
from puhui.identity.times import now_us
from puhui.openplatform import partners, signing
from puhui.openplatform.models import nonces
from puhui.openplatform.partners import Partner


@dataclass(frozen=True)
class SignedRequest:
    """What the signature covers, as the server received it, plus the client address."""

    key_id: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None
    method: str
    path: str
    #: Already canonical (``signing.canonical_query``).
    query: str
    body: bytes
    ip: str


def _unauthenticated(code: str, message: str, field: str | None = None) -> NotAuthenticated:
    return NotAuthenticated(code, message, field=field)


def authenticate(
    conn: Connection, *, keys: Keyring, request: SignedRequest, scope: str, clock: Clock
) -> Partner:
    """The partner that signed ``request``, allowed ``scope``; else a 401, 403 or 429."""
    for header, value in (
        (signing.KEY_ID, request.key_id),
        (signing.TIMESTAMP, request.timestamp),
        (signing.NONCE, request.nonce),
        (signing.SIGNATURE, request.signature),
    ):
        if not value:
            raise _unauthenticated("signature_missing", f"send the {header} header", header)
    assert request.key_id and request.timestamp and request.nonce and request.signature
    if not request.timestamp.isdigit():
        raise _unauthenticated(
            "timestamp_invalid", "the timestamp is Unix seconds", signing.TIMESTAMP
        )
    now = now_us(clock)
    timestamp = int(request.timestamp)
    if abs(now // 1_000_000 - timestamp) > signing.MAX_SKEW_S:
        raise _unauthenticated(
            "timestamp_out_of_window",
            f"the timestamp is more than {signing.MAX_SKEW_S} s from the server's clock",
            signing.TIMESTAMP,
        )
    if not signing.NONCE_PATTERN.match(request.nonce):
        raise _unauthenticated(
            "nonce_invalid", "a nonce is 8–64 characters of A-Z a-z 0-9 _ -", signing.NONCE
        )
    found = partners.key_secret(conn, keys=keys, key_id=request.key_id, clock=clock)
    if found is None:
        raise _unauthenticated("key_unknown", "no such key, or it has expired", signing.KEY_ID)
    partner, secret = found
    if partner.status != "active":
        raise Forbidden("partner_disabled", "this partner is disabled", field=signing.KEY_ID)
    expected = signing.sign_request(
        secret,
        method=request.method,
        path=request.path,
        query=request.query,
        timestamp=request.timestamp,
        nonce=request.nonce,
        body=request.body,
    )
    if not hmac.compare_digest(expected, request.signature.lower()):
        raise _unauthenticated(
            "signature_invalid", "the signature does not match the request", signing.SIGNATURE
        )
    if not partner.allows_ip(request.ip):
        raise Forbidden("ip_not_allowed", "this address is not on the partner's allow-list")
    if not spend_nonce(
        conn,
        partner_id=partner.id,
        nonce=request.nonce,
        expires_us=(timestamp + signing.MAX_SKEW_S + 1) * 1_000_000,
        now=now,
    ):
        raise _unauthenticated("nonce_reused", "this nonce was used already", signing.NONCE)
    try:
        ratelimit.hit(
            conn,
            limit=ratelimit.Limit("open_api", partner.rate_limit_per_minute, timedelta(minutes=1)),
            subject=f"partner:{partner.id}",
            clock=clock,
        )
    except ratelimit.RateLimited as exc:
        raise Refused(exc) from None
    if scope not in partner.scopes:
        raise Refused(Forbidden("scope_required", f"this needs the scope {scope!r}", field="scope"))
    return partner


def spend_nonce(
    conn: Connection, *, partner_id: int, nonce: str, expires_us: int, now: int
) -> bool:
    """Record a nonce as used; False when it is in use already (race-free: one statement wins).

    A row whose window has closed is taken over, since its request would fail the timestamp
    check anyway.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: psycopg reports no row count for this statement
    inserted = conn.execute(
        dialect.insert(nonces)
        .values(partner_id=partner_id, nonce=nonce, expires_us=expires_us)
        .on_conflict_do_nothing()
        .returning(nonces.c.nonce)
    ).first()
    if inserted is not None:
        return True
    return (
        conn.execute(
            update(nonces)
            .where(
                nonces.c.partner_id == partner_id,
                nonces.c.nonce == nonce,
                nonces.c.expires_us <= now,
            )
            .values(expires_us=expires_us)
        ).rowcount
        == 1
    )


def purge_nonces(conn: Connection, *, clock: Clock) -> int:
    """Delete nonces whose replay window has closed (a periodic job); how many went."""
    return conn.execute(delete(nonces).where(nonces.c.expires_us <= now_us(clock))).rowcount
