"""A queue of each test's own on the local broker (RabbitMQ, or ``PUHUI_BROKER_URL``), so test
processes running at once never take each other's messages; it is deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lending.test_eod import reset  # noqa: F401 (fixture: empty the database again)
from puhui.tasks import broker as brokers


@pytest.fixture
def broker_url() -> str:
    return brokers.broker_url()


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    name = f"puhui_test_{uuid.uuid4().hex[:16]}"
    yield name
    brokers.delete_queue(broker_url, name)
