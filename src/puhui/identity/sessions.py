"""Sessions: random bearer tokens, idle and absolute timeouts, revocation (SEC-AUTH-02).

A token is 256 random bits, shown once at login and stored only as its SHA-256; each login makes
a new one (no session fixation). A session dies when idle too long (30 minutes for customers, 15
for staff), at its absolute end, or when revoked. The CSRF token of a cookie session is stored
the same way and checked by the HTTP layer on every state-changing form request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import NotFound
from puhui.identity.errors import NotAuthenticated
from puhui.identity.models import sessions
from puhui.identity.times import now_us, span_us

IDLE = {"customer": timedelta(minutes=30), "staff": timedelta(minutes=15)}
ABSOLUTE = {"customer": timedelta(hours=12), "staff": timedelta(hours=10)}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    id: int
    token: str
    csrf_token: str
    expires_us: int
    idle_seconds: int


@dataclass(frozen=True)
class Session:
    id: int
    principal: str
    created_us: int
    last_seen_us: int
    expires_us: int

    @property
    def kind(self) -> str:
        return self.principal.split(":", 1)[0]

    @property
    def principal_id(self) -> int:
        return int(self.principal.split(":", 1)[1])


def start(
    conn: Connection, *, principal: str, ip: str | None, user_agent: str | None, clock: Clock
) -> NewSession:
    kind = principal.split(":", 1)[0]
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = now_us(clock)
    expires = now + span_us(ABSOLUTE[kind])
    session_id = conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            csrf_hash=token_hash(csrf),
            principal=principal,
            created_us=now,
            last_seen_us=now,
            expires_us=expires,
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
    ).inserted_primary_key[0]
    return NewSession(session_id, token, csrf, expires, int(IDLE[kind].total_seconds()))


def authenticate(conn: Connection, *, token: str, kind: str, clock: Clock) -> Session:
    """The live session of ``token`` for a principal of ``kind``, its idle timer reset."""
    row = conn.execute(select(sessions).where(sessions.c.token_hash == token_hash(token))).first()
    now = now_us(clock)
    if row is None or not row.principal.startswith(f"{kind}:") or row.revoked_us is not None:
        raise NotAuthenticated("session_invalid", "sign in again")
    if row.expires_us <= now or row.last_seen_us + span_us(IDLE[kind]) <= now:
        reason = "absolute_timeout" if row.expires_us <= now else "idle_timeout"
        conn.execute(
            update(sessions)
            .where(sessions.c.id == row.id)
            .values(revoked_us=now, revoked_reason=reason)
        )
        raise NotAuthenticated("session_expired", "the session has expired; sign in again")
    conn.execute(update(sessions).where(sessions.c.id == row.id).values(last_seen_us=now))
    return Session(row.id, row.principal, row.created_us, now, row.expires_us)


def csrf_ok(conn: Connection, *, session_id: int, csrf_token: str | None) -> bool:
    if not csrf_token:
        return False
    stored = conn.execute(select(sessions.c.csrf_hash).where(sessions.c.id == session_id)).scalar()
    return stored is not None and secrets.compare_digest(stored, token_hash(csrf_token))


def list_live(conn: Connection, *, principal: str, clock: Clock) -> list[Session]:
    rows = conn.execute(
        select(sessions)
        .where(
            sessions.c.principal == principal,
            sessions.c.revoked_us.is_(None),
            sessions.c.expires_us > now_us(clock),
        )
        .order_by(sessions.c.id)
    )
    return [Session(r.id, r.principal, r.created_us, r.last_seen_us, r.expires_us) for r in rows]


def revoke(conn: Connection, *, session_id: int, principal: str, reason: str, clock: Clock) -> None:
    """Revoke one of ``principal``'s sessions; someone else's is not found (404)."""
    done = conn.execute(
        update(sessions)
        .where(
            sessions.c.id == session_id,
            sessions.c.principal == principal,
            sessions.c.revoked_us.is_(None),
        )
        .values(revoked_us=now_us(clock), revoked_reason=reason)
    )
    if done.rowcount != 1:
        raise NotFound("session_not_found", "no such session")


def revoke_all(conn: Connection, *, principal: str, reason: str, clock: Clock) -> int:
    return conn.execute(
        update(sessions)
        .where(sessions.c.principal == principal, sessions.c.revoked_us.is_(None))
        .values(revoked_us=now_us(clock), revoked_reason=reason)
    ).rowcount
