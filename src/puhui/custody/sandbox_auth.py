"""How the sandbox bank knows the account holder is speaking (CUS-INS-01).

The user sets a transaction password (交易密码) on the bank's own page, or asks for a one-time
code by SMS; both are kept only as argon2id hashes, and a code works once, within five minutes.
The platform never stores either: it passes what the user typed straight to the bank.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.custody._db import for_update, now_us
from puhui.custody.bank import AuthMethod, Authorisation
from puhui.custody.sandbox_models import bank_otps

OTP_SECONDS = 300


class Credentials:
    def __init__(self, hasher: PasswordHasher, clock: Clock) -> None:
        self.hasher = hasher
        self.clock = clock

    def digest(self, password: str) -> str:
        return self.hasher.hash(password)

    def issue_otp(self, c: Connection, account: str) -> str:
        """Store a new one-time code for the account and return it (the SMS, in a sandbox)."""
        code = f"{secrets.randbelow(10**6):06d}"
        c.execute(
            insert(bank_otps).values(
                account_number=account,
                code_hash=self.hasher.hash(code),
                expires_us=now_us(self.clock) + OTP_SECONDS * 1_000_000,
            )
        )
        return code

    def verify(
        self, c: Connection, account: str, password_hash: str | None, auth: Authorisation
    ) -> bool:
        """Whether ``auth`` proves the holder of ``account``; a matching code is used up."""
        if auth.method is AuthMethod.PASSWORD:
            return password_hash is not None and self._matches(password_hash, auth.secret)
        now = now_us(self.clock)
        q = select(bank_otps.c.id, bank_otps.c.code_hash).where(
            bank_otps.c.account_number == account,
            bank_otps.c.used_us.is_(None),
            bank_otps.c.expires_us > now,
        )
        for otp in c.execute(for_update(c, q)).all():
            if self._matches(otp.code_hash, auth.secret):
                c.execute(update(bank_otps).where(bank_otps.c.id == otp.id).values(used_us=now))
                return True
        return False

    def _matches(self, digest: str, secret: str) -> bool:
        try:
            return self.hasher.verify(digest, secret)
        except (VerificationError, InvalidHashError):
            return False
