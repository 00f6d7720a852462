"""Simulation fixtures: cheap argon2 parameters for the staff logins seeding creates, as the
identity tests use, so a short simulation is quick; everything else is as in production."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from puhui.identity import passwords


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    )
