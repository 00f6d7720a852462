"""The signature scheme of the open platform, both directions, with the standard library only.

Requests (partner → puhui) carry four headers: ``Puhui-Key-Id``, ``Puhui-Timestamp`` (Unix
seconds), ``Puhui-Nonce`` (8–64 characters of ``[A-Za-z0-9_-]``, never reused) and
``Puhui-Signature``, the hex HMAC-SHA256, under the key's secret, of::

    PUHUI-HMAC-SHA256
    <METHOD>
    <path>
    <query: pairs sorted, RFC 3986 percent-encoded, joined by &>
    <timestamp>
    <nonce>
    <hex SHA-256 of the body bytes>

Webhooks (puhui → partner) carry ``Puhui-Key-Id`` and ``Puhui-Signature: t=<timestamp>,
v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``, under the same secret. Everything a partner needs
to sign requests and check webhooks is in this module and ``client.py``, so they can be copied.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

ALGORITHM = "PUHUI-HMAC-SHA256"
KEY_ID = "Puhui-Key-Id"
TIMESTAMP = "Puhui-Timestamp"
NONCE = "Puhui-Nonce"
SIGNATURE = "Puhui-Signature"
MAX_SKEW_S = 300
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Query pairs sorted by name then value, each part percent-encoded (RFC 3986)."""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted((str(k), str(v)) for k, v in pairs)
    )


def string_to_sign(
    *, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes
) -> str:
    return "\n".join(
        (
            ALGORITHM,
            method.upper(),
            path,
            query,
            timestamp,
            nonce,
            hashlib.sha256(body).hexdigest(),
        )
    )


def sign_request(
    secret: str,
    *,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body: bytes,
) -> str:
    """The hex signature of a request (``query`` already canonical)."""
    text = string_to_sign(
        method=method, path=path, query=query, timestamp=timestamp, nonce=nonce, body=body
    )
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign_webhook(secret: str, *, timestamp: int, body: bytes) -> str:
    """The ``Puhui-Signature`` header value of a webhook."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_webhook(
    secret: str, *, headers: Mapping[str, str], body: bytes, now: int, tolerance_s: int = 300
) -> bool:
    """Whether a webhook is genuinely from puhui and recent (the receiver's side)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    parts = dict(p.split("=", 1) for p in lowered.get(SIGNATURE.lower(), "").split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign_webhook(secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, f"t={timestamp},v1={parts['v1']}")
