"""Instants as integer microseconds (how identity tables store them) and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from puhui.core.clock import Clock


def to_us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def now_us(clock: Clock) -> int:
    return to_us(clock.now())


def from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def span_us(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1_000_000)
