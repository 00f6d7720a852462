"""Passwords: Argon2id hashes and the policy of SEC-AUTH-01.

Policy (defaults from regulation.md §9): at least 8 characters of at least 3 of the 4 classes
(lower, upper, digit, other), not the login name or the phone, not one of the last 5 used;
staff passwords expire after 90 days.
"""

from __future__ import annotations

import string
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select

from puhui.core.clock import Clock
from puhui.core.errors import ValidationError
from puhui.identity.models import password_history
from puhui.identity.times import now_us

MIN_LENGTH = 8
MAX_LENGTH = 128
MIN_CLASSES = 3
HISTORY = 5
STAFF_MAX_AGE = timedelta(days=90)

#: Argon2id with argon2-cffi's RFC 9106 low-memory profile; tests swap in a cheaper one.
HASHER = PasswordHasher()
_dummy: list[str] = []


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no stored hash, spend the same time and say no, so
    a login for an unknown account takes as long as one for a known account."""
    if stored is None:
        if not _dummy:
            _dummy.append(HASHER.hash("puhui-dummy-password"))
        stored, password = _dummy[0], password + "\x00"
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def check_policy(password: str, *, forbidden: tuple[str | None, ...] = ()) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationError(
            "password_length",
            f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters",
            field="password",
        )
    classes = (
        any(c in string.ascii_lowercase for c in password),
        any(c in string.ascii_uppercase for c in password),
        any(c in string.digits for c in password),
        any(not c.isascii() or not c.isalnum() for c in password),
    )
    if sum(classes) < MIN_CLASSES:
        raise ValidationError(
            "password_too_simple",
            "use at least 3 of: lower-case, upper-case, digits, other characters",
            field="password",
        )
    if any(f and f.lower() in password.lower() for f in forbidden):
        raise ValidationError(
            "password_contains_identifier",
            "a password must not contain your login name or phone",
            field="password",
        )


def check_not_reused(conn: Connection, *, principal: str, password: str) -> None:
    recent = conn.execute(
        select(password_history.c.password_hash)
        .where(password_history.c.principal == principal)
        .order_by(password_history.c.id.desc())
        .limit(HISTORY)
    ).scalars()
    if any(verify_password(h, password) for h in recent):
        raise ValidationError(
            "password_reused", f"choose a password not among your last {HISTORY}", field="password"
        )


def remember(conn: Connection, *, principal: str, password_hash: str, clock: Clock) -> None:
    conn.execute(
        insert(password_history).values(
            principal=principal, password_hash=password_hash, created_us=now_us(clock)
        )
    )
