"""An injectable clock so tests and the simulation can move time.

Timestamps are UTC; business dates are Asia/Shanghai calendar dates, because a loan falls due
on a Chinese calendar day whatever the server's time zone.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


def business_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar date of an instant."""
    return instant.astimezone(SHANGHAI).date()


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; thread-safe so concurrent tests can share it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)


SYSTEM_CLOCK: Clock = SystemClock()
