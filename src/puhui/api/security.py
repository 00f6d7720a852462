"""Security headers on every response; no caching of API answers; plain HTTP refused where
``PUHUI_REQUIRE_TLS=1`` (production, SEC-AUTH-04: behind a proxy, ``X-Forwarded-Proto``).

The interactive docs (``/docs``, ``/redoc``) load their scripts from a CDN, so they get a
looser content-security policy; everything else is data and may load nothing at all.
"""

from __future__ import annotations

import os

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
_DOCS = ("/docs", "/redoc")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, require_tls: bool | None = None) -> None:
        self.app = app
        self.require_tls = (
            os.environ.get("PUHUI_REQUIRE_TLS") == "1" if require_tls is None else require_tls
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.require_tls and not _is_tls(scope) and path != "/health":
            refusal = JSONResponse(
                {
                    "error": {
                        "type": "invalid_request",
                        "code": "tls_required",
                        "message": "use HTTPS",
                        "field": None,
                        "request_id": None,
                    }
                },
                status_code=403,
            )
            await refusal(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["Content-Security-Policy"] = (
                    DOCS_CSP if path.startswith(_DOCS) else STRICT_CSP
                )
                if path.startswith(("/api/", "/admin/api/")):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_tls(scope: Scope) -> bool:
    forwarded = Headers(scope=scope).get("x-forwarded-proto", "")
    return scope.get("scheme") == "https" or forwarded.split(",")[0].strip() == "https"
