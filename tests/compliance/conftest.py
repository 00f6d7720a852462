"""Compliance fixtures: the identity app and people (for HTTP, AML and the feed)."""

from __future__ import annotations

from identity.conftest import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    Platform,
    cheap_argon2,
    keys,
    platform,
)
