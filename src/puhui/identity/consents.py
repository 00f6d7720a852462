"""Consents, one record per purpose (PI-CON-01/02).

Sensitive data — bank accounts and cards, face biometrics, data of children under 14 — needs a
separate consent: granted on its own, never in a bundle with other purposes and never implied.
Withdrawing takes one call, like granting; what depended on the consent stops (``require``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import NotFound, ValidationError
from puhui.identity.errors import Forbidden
from puhui.identity.models import consents
from puhui.identity.times import now_us


@dataclass(frozen=True)
class Purpose:
    code: str
    text: str
    version: str
    sensitive: bool

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.version}\x1f{self.text}".encode()).hexdigest()


PURPOSES: dict[str, Purpose] = {
    p.code: p
    for p in (
        Purpose("account_service", "为提供借贷信息服务处理您的账户信息。", "2026.1", False),
        Purpose("credit_assessment", "为评估借款申请查询与处理您的信用信息。", "2026.1", False),
        Purpose("marketing", "向您发送产品与活动信息。", "2026.1", False),
        Purpose(
            "bank_card",
            "为实名认证与资金存管处理您的银行卡信息（敏感个人信息，单独同意）。",
            "2026.1",
            True,
        ),
        Purpose(
            "share_custody_bank", "向存管银行提供您的身份与银行卡信息（单独同意）。", "2026.1", True
        ),
        Purpose(
            "face_biometrics",
            "采集人脸信息用于活体核验（敏感个人信息，单独同意）。",
            "2026.1",
            True,
        ),
    )
}


@dataclass(frozen=True)
class Consent:
    id: int
    purpose: str
    kind: str
    document_version: str
    granted_us: int
    withdrawn_us: int | None


def _consent(r) -> Consent:  # type: ignore[no-untyped-def]
    return Consent(r.id, r.purpose, r.kind, r.document_version, r.granted_us, r.withdrawn_us)


def grant(
    conn: Connection, *, customer_id: int, purposes: list[str], ip: str | None, clock: Clock
) -> list[Consent]:
    """Record consent to each purpose; a sensitive purpose only alone (a separate consent)."""
    if not purposes:
        raise ValidationError("consent_empty", "name at least one purpose", field="purposes")
    chosen = []
    for code in dict.fromkeys(purposes):
        if code not in PURPOSES:
            raise ValidationError(
                "consent_purpose_unknown", f"no purpose {code!r}", field="purposes"
            )
        chosen.append(PURPOSES[code])
    if len(chosen) > 1 and any(p.sensitive for p in chosen):
        raise ValidationError(
            "consent_bundled",
            "consent to a sensitive purpose is given separately, on its own",
            field="purposes",
        )
    out = []
    for p in chosen:
        live = _live(conn, customer_id, p.code)
        if live is not None:
            out.append(live)
            continue
        new_id = conn.execute(
            insert(consents).values(
                customer_id=customer_id,
                purpose=p.code,
                kind="separate" if p.sensitive else "general",
                document_version=p.version,
                document_digest=p.digest,
                granted_us=now_us(clock),
                source_ip=ip,
            )
        ).inserted_primary_key[0]
        out.append(get(conn, customer_id=customer_id, consent_id=new_id))
    return out


def _live(conn: Connection, customer_id: int, purpose: str) -> Consent | None:
    row = conn.execute(
        select(consents).where(
            consents.c.customer_id == customer_id,
            consents.c.purpose == purpose,
            consents.c.withdrawn_us.is_(None),
        )
    ).first()
    return _consent(row) if row is not None else None


def get(conn: Connection, *, customer_id: int, consent_id: int) -> Consent:
    row = conn.execute(
        select(consents).where(consents.c.id == consent_id, consents.c.customer_id == customer_id)
    ).first()
    if row is None:
        raise NotFound("consent_not_found", "no such consent")
    return _consent(row)


def list_for(conn: Connection, *, customer_id: int) -> list[Consent]:
    rows = conn.execute(
        select(consents).where(consents.c.customer_id == customer_id).order_by(consents.c.id)
    )
    return [_consent(r) for r in rows]


def withdraw(conn: Connection, *, customer_id: int, consent_id: int, clock: Clock) -> Consent:
    found = get(conn, customer_id=customer_id, consent_id=consent_id)
    if found.withdrawn_us is None:
        conn.execute(
            update(consents).where(consents.c.id == consent_id).values(withdrawn_us=now_us(clock))
        )
    return get(conn, customer_id=customer_id, consent_id=consent_id)


def require(conn: Connection, *, customer_id: int, purpose: str) -> None:
    if _live(conn, customer_id, purpose) is None:
        raise Forbidden(
            "consent_required",
            f"this needs your consent for {purpose!r} ({PURPOSES[purpose].text})",
            field="purpose",
        )
