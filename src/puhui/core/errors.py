"""Errors that carry a stable code, a readable message and the offending field.

Domain code raises these; the HTTP layer maps them to the error shape of DESIGN.md and the
CLI prints them as one line, so the same validation speaks the same way everywhere.
"""

from __future__ import annotations


class PuhuiError(Exception):
    """Base of every expected, user-facing failure."""

    type = "invalid_request"
    status = 400

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "code": self.code, "message": self.message, "field": self.field}


class ValidationError(PuhuiError):
    """Input that can never succeed as given (422)."""

    type = "validation_error"
    status = 422


class NotFound(PuhuiError):
    type = "not_found"
    status = 404


class Conflict(PuhuiError):
    """The request clashes with current state (a duplicate id, a state machine refusal)."""

    type = "conflict"
    status = 409
