"""Identity's failures: refusals that still commit what they counted, 401s and 403s."""

from __future__ import annotations

from puhui.core.errors import PuhuiError


class NotAuthenticated(PuhuiError):
    type = "authentication_error"
    status = 401


class Forbidden(PuhuiError):
    type = "permission_denied"
    status = 403


class Refused(Exception):
    """A refusal whose bookkeeping (a failed-login count, a lockout, a used-up code try, the
    audit entry) must still be committed: the caller commits, then raises ``error``."""

    def __init__(self, error: PuhuiError) -> None:
        super().__init__(error.message)
        self.error = error


BAD_LOGIN = "phone, password or code is wrong, or the account is temporarily locked"
