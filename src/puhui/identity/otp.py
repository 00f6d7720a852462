"""Second factors: TOTP (RFC 6238, through pyotp) and one-time codes sent by SMS.

SMS codes are six digits, valid five minutes, single use, five tries; only a keyed digest is
stored. The SMS sender is an interface: ``SandboxSms`` keeps the messages for tests and demos
(a real gateway plugs in the same way). Codes never reach a log (PFI-C3-01).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import pyotp
from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.identity.crypto import Keyring
from puhui.identity.identifiers import mask_phone
from puhui.identity.models import otp_codes
from puhui.identity.times import now_us, span_us

CODE_TTL = timedelta(minutes=5)
CODE_TRIES = 5
TOTP_STEP = 30
PURPOSES = ("register", "login", "step_up", "new_phone")


# ---------------------------------------------------------------------------------- TOTP


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str = "puhui") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def check_totp(secret: str, code: str, *, last_step: int | None, clock: Clock) -> int | None:
    """The time step the code belongs to (one step of drift allowed), or ``None``; a step at or
    before ``last_step`` is refused, so an observed code cannot be replayed."""
    totp = pyotp.TOTP(secret)
    now_step = int(clock.now().timestamp()) // TOTP_STEP
    for step in (now_step, now_step - 1, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def totp_now(secret: str, clock: Clock) -> str:
    """The current code (for tests and the sandbox)."""
    return pyotp.TOTP(secret).at(int(clock.now().timestamp()))


# ----------------------------------------------------------------------------- SMS codes


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


@dataclass
class SandboxSms:
    """Keeps sent messages in memory instead of delivering them (tests, demos)."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self, phone: str) -> str | None:
        for to, text in reversed(self.sent):
            if to == phone:
                digits = "".join(c for c in text if c.isdigit())
                return digits[:6] if len(digits) >= 6 else None
        return None


class LogSms(SandboxSms):
    """The demo's sender: keeps the messages as ``SandboxSms`` does and writes each one to the
    server log (the phone masked), so a person trying the demo reads the one-time code in the
    terminal that serves it — there is no SMS gateway on a laptop."""

    def send(self, phone: str, text: str) -> None:
        super().send(phone, text)
        _sms_log.warning("sandbox SMS to %s: %s", mask_phone(phone), text)


_sms_log = logging.getLogger("puhui.sms")


def sandbox_sms() -> SandboxSms:
    """The sender when none is configured: ``PUHUI_SMS=log`` (set by ``puhui demo``) also
    writes the messages to the log; otherwise they are only kept in memory."""
    return LogSms() if os.environ.get("PUHUI_SMS") == "log" else SandboxSms()


def _code_digest(keys: Keyring, phone_bidx: str, purpose: str, code: str) -> str:
    msg = f"otp\x1f{phone_bidx}\x1f{purpose}\x1f{code}".encode()
    return hmac.new(keys.index_key, msg, hashlib.sha256).hexdigest()


def issue_code(
    conn: Connection, *, keys: Keyring, phone_bidx: str, purpose: str, clock: Clock
) -> str:
    """Store a new code for this phone and purpose (older ones stop working); the code, for the
    caller to send."""
    now = now_us(clock)
    conn.execute(
        update(otp_codes)
        .where(
            otp_codes.c.phone_bidx == phone_bidx,
            otp_codes.c.purpose == purpose,
            otp_codes.c.used_us.is_(None),
        )
        .values(used_us=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    conn.execute(
        insert(otp_codes).values(
            phone_bidx=phone_bidx,
            purpose=purpose,
            code_hash=_code_digest(keys, phone_bidx, purpose, code),
            attempts=0,
            expires_us=now + span_us(CODE_TTL),
            created_us=now,
        )
    )
    return code


def use_code(
    conn: Connection, *, keys: Keyring, phone_bidx: str, purpose: str, code: str, clock: Clock
) -> bool:
    """Whether ``code`` is the live code; a right code is used up, a wrong one costs a try."""
    now = now_us(clock)
    row = conn.execute(
        select(otp_codes)
        .where(
            otp_codes.c.phone_bidx == phone_bidx,
            otp_codes.c.purpose == purpose,
            otp_codes.c.used_us.is_(None),
            otp_codes.c.expires_us > now,
        )
        .order_by(otp_codes.c.id.desc())
        .limit(1)
    ).first()
    if row is None or row.attempts >= CODE_TRIES:
        return False
    ok = hmac.compare_digest(row.code_hash, _code_digest(keys, phone_bidx, purpose, code))
    values = {"used_us": now} if ok else {"attempts": row.attempts + 1}
    conn.execute(update(otp_codes).where(otp_codes.c.id == row.id).values(**values))
    return ok
