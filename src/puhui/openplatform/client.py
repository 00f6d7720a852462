"""A short Python client for partners: signs every request and checks nothing else for you.

Needs httpx and ``signing.py`` (standard library only); copy both into a partner's code base::

    client = OpenClient("https://puhui.example", key_id="pk_live_…", secret="sk_…")
    products = client.get("/open/v1/products")["data"]
    app = client.post("/open/v1/applications", {...})  # an Idempotency-Key is added
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from puhui.openplatform import signing


class OpenApiError(Exception):
    """A 4xx/5xx answer: the status and the platform's error object."""

    def __init__(self, status: int, error: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {error.get('code')}: {error.get('message')}")
        self.status = status
        self.error = dict(error)


class OpenClient:
    def __init__(
        self,
        base_url: str,
        *,
        key_id: str,
        secret: str,
        timeout: float = 10.0,
        clock: Any = time.time,
        http: httpx.Client | None = None,
    ) -> None:
        self.key_id, self._secret, self._clock = key_id, secret, clock
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)

    def signed_headers(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: bytes
    ) -> dict[str, str]:
        """The four signature headers for one request."""
        timestamp, nonce = str(int(self._clock())), secrets.token_urlsafe(18)
        query = signing.canonical_query((params or {}).items())
        return {
            signing.KEY_ID: self.key_id,
            signing.TIMESTAMP: timestamp,
            signing.NONCE: nonce,
            signing.SIGNATURE: signing.sign_request(
                self._secret,
                method=method,
                path=path,
                query=query,
                timestamp=timestamp,
                nonce=nonce,
                body=body,
            ),
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Send one signed request; a POST gets a fresh Idempotency-Key unless one is given
        (pass the same key again to retry safely)."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = self.signed_headers(method.upper(), path, params, raw)
        if body is not None:
            headers["Content-Type"] = "application/json"
        if method.upper() == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        return self.http.request(method, path, params=params, content=raw, headers=headers)

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise OpenApiError(response.status_code, response.json().get("error", {}))
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self.request("GET", path, params=params or None))

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        return self._json(
            self.request("POST", path, body=body or {}, idempotency_key=idempotency_key)
        )

    def delete(self, path: str) -> Any:
        return self._json(self.request("DELETE", path))

    def close(self) -> None:
        self.http.close()
