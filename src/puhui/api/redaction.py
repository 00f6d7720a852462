"""Redaction of log records (PFI-C3-01, PFI-MSK-01).

Fields named like a secret (password, pin, cvv, otp, token, code, secret…) are dropped from a log
payload, and anything that looks like a mobile number, an ID number or a card number inside a
logged string is masked — so a personal value typed into a URL or an error still leaves no trace
in the logs.
"""

from __future__ import annotations

import re
from typing import Any

from puhui.identity.identifiers import mask_card, mask_id, mask_phone

SECRET_KEY = re.compile(
    r"password|passwd|pwd|pin|cvv|cvn|otp|token|secret|code|cookie|authorization", re.I
)
_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
_CARD = re.compile(r"(?<!\d)\d{16,19}(?!\d)")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
#: Keys the platform itself writes whose values are not personal (kept even if they match).
_SAFE_KEYS = {"status", "level", "logger", "message", "request_id", "route", "method", "path"}


def mask_text(text: str) -> str:
    text = _ID.sub(lambda m: mask_id(m.group(0)), text)
    text = _CARD.sub(lambda m: mask_card(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def redact(payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key not in _SAFE_KEYS and SECRET_KEY.search(key):
            continue
        out[key] = _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value
