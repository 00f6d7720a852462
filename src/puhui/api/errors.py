"""The one error shape of DESIGN.md, for every failure the API answers.

``{"error": {"type", "code", "message", "field", "request_id"}}``: domain ``PuhuiError``s keep
their own status and code; FastAPI's request validation, unknown routes, wrong methods and
malformed bodies are translated into the same shape here, so a client parses one thing and bad
input is always a 4xx. Anything else is a bug: the request middleware answers it with a bare 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from puhui.api.observability import request_id_var
from puhui.api.redaction import mask_text
from puhui.core.errors import PuhuiError, ValidationError


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


#: OpenAPI ``responses`` for every route: any 4xx has the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "Error (type, code, message, field)"},
}


class ApiError(PuhuiError):
    """A failure the HTTP layer itself detects, with its own status and type."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, field=field)
        self.status = status
        self.type = type_
        self.headers = headers


def internal_error() -> ApiError:
    return ApiError(
        500,
        "api_error",
        "internal_error",
        "an unexpected error occurred; quote the request id when reporting it",
    )


def as_puhui_error(exc: Exception, scope: Mapping[str, Any] | None = None) -> PuhuiError | None:
    """The client-facing error an exception stands for, or ``None`` when it is a bug."""
    if isinstance(exc, PuhuiError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _from_validation(exc)
    if isinstance(exc, HTTPException):
        return _from_http(exc, scope or {})  # no scope: raised by a handler's own work
    return None


def error_body(err: PuhuiError) -> dict[str, Any]:
    """The error object; a personal value echoed in the message (a phone in a mistyped URL)
    comes back masked."""
    body = err.as_dict()
    body["message"] = mask_text(err.message)
    return {"error": {**body, "request_id": request_id_var.get()}}


def error_response(err: PuhuiError) -> JSONResponse:
    headers = err.headers if isinstance(err, ApiError) else None
    return JSONResponse(error_body(err), status_code=err.status, headers=headers)


def install(app: FastAPI) -> None:
    """Answer every expected error in the shape above."""
    for exc_class in (PuhuiError, RequestValidationError, HTTPException):
        app.add_exception_handler(exc_class, _handle)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    err = as_puhui_error(exc, request.scope)
    if err is None:  # pragma: no cover - only registered for the classes above
        raise exc
    return error_response(err)


_SOURCES = {"body", "query", "path", "header", "cookie"}


def _from_validation(exc: RequestValidationError) -> PuhuiError:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        reason = first.get("ctx", {}).get("error", "JSON decode error")
        return ApiError(
            400, "invalid_request", "malformed_json", f"the request body is not JSON: {reason}"
        )
    loc = [str(part) for part in first["loc"]]
    path = loc[1:] if loc and loc[0] in _SOURCES else loc
    return ValidationError(
        first["type"], f"{'.'.join(loc)}: {first['msg']}", field=".".join(path) or None
    )


_TYPES = {
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
}


def _from_http(exc: HTTPException, scope: Mapping[str, Any]) -> ApiError:
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) else phrase
    if status == 404 and "path" in scope and "route" not in scope:
        code = "route_not_found"
        message = f"no route matches {scope.get('method', '')} {scope.get('path', '')}".strip()
    elif status == 405:
        message = f"{scope.get('method', 'this method')} is not allowed on {scope.get('path')}"
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request")
    return ApiError(status, kind, code, message, headers=exc.headers)
