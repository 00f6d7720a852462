"""Fingerprints of identifiers, fraud velocity and the blacklist.

Identifiers (ID number, phone, card, device, IP) are personal data (C2), so credit keeps only
keyed fingerprints of them: HMAC-SHA256 under ``PUHUI_CREDIT_FINGERPRINT_KEY`` of the kind and
the normalised value. Without the key a fingerprint cannot be turned back into a phone number
by trying them all; with it, the same value always gives the same fingerprint, which is all
velocity counting and blacklist matching need. Deployments set the key; the built-in one is
for development only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, or_, select

from puhui.core.errors import ValidationError
from puhui.credit.application import Application
from puhui.credit.models import blacklist, fingerprints

KEY_ENV = "PUHUI_CREDIT_FINGERPRINT_KEY"
DEV_KEY = b"puhui-development-fingerprint-key"
KINDS = ("id_number", "phone", "card", "device", "ip")
VELOCITY_KINDS = ("device", "ip", "phone", "card")


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    raw = (environ if environ is not None else os.environ).get(KEY_ENV)
    return raw.encode() if raw else DEV_KEY


def fingerprint(kind: str, value: str, key: bytes) -> str:
    if kind not in KINDS:
        raise ValidationError("fingerprint_kind", f"kind must be one of {KINDS}", field="kind")
    normal = "".join(value.split()).upper()
    return hmac.new(key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def fingerprints_of(app: Application, key: bytes) -> dict[str, str]:
    """The application's identifiers that are present, as fingerprints by kind."""
    values = {
        "id_number": app.id_number,
        "phone": app.phone,
        "card": app.card,
        "device": app.device_id,
        "ip": app.ip,
    }
    return {k: fingerprint(k, v, key) for k, v in values.items() if v}


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def velocity_counts(
    conn: Connection, *, prints: Mapping[str, str], since: datetime
) -> dict[str, int]:
    """Per kind, how many other applicants used the same identifier since ``since``."""
    me = prints["id_number"]
    pairs = [
        and_(fingerprints.c.kind == k, fingerprints.c.digest == prints[k])
        for k in VELOCITY_KINDS
        if k in prints
    ]
    if not pairs:
        return {}
    rows = conn.execute(
        select(fingerprints.c.kind, func.count(func.distinct(fingerprints.c.applicant_digest)))
        .where(or_(*pairs))
        .where(fingerprints.c.seen_us >= _us(since))
        .where(fingerprints.c.applicant_digest != me)
        .group_by(fingerprints.c.kind)
    ).all()
    return {kind: int(n) for kind, n in rows}


def record_fingerprints(
    conn: Connection, *, prints: Mapping[str, str], decision_id: int, seen: datetime
) -> None:
    rows = [
        {
            "kind": k,
            "digest": prints[k],
            "applicant_digest": prints["id_number"],
            "decision_id": decision_id,
            "seen_us": _us(seen),
        }
        for k in VELOCITY_KINDS
        if k in prints
    ]
    if rows:
        conn.execute(insert(fingerprints), rows)


def blacklist_matches(conn: Connection, *, prints: Mapping[str, str]) -> set[str]:
    """The kinds of the application's identifiers that are blacklisted."""
    pairs = [and_(blacklist.c.kind == k, blacklist.c.digest == d) for k, d in prints.items()]
    return set(conn.execute(select(blacklist.c.kind).where(or_(*pairs))).scalars())


def add_to_blacklist(
    conn: Connection,
    *,
    kind: str,
    value: str,
    reason: str,
    added_by: str,
    key: bytes,
    now: datetime,
) -> str:
    """Blacklist an identifier (idempotent); returns its fingerprint."""
    digest = fingerprint(kind, value, key)
    exists = conn.execute(
        select(blacklist.c.kind).where(blacklist.c.kind == kind, blacklist.c.digest == digest)
    ).first()
    if exists is None:
        conn.execute(
            insert(blacklist).values(
                kind=kind, digest=digest, reason=reason, added_by=added_by, added_us=_us(now)
            )
        )
    return digest
