"""Faults the sandbox bank can be told to meet, so the platform's handling of them is tested.

``inject`` queues faults for one instruction id (deterministic tests); a seeded failure and
timeout rate draws them at random for simulation, from a generator seeded by the seed, the id
and the attempt number, so the same run meets the same faults whatever the thread timing.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from enum import StrEnum


class Fault(StrEnum):
    FAIL = "fail"  # accepted, then declined when it settles
    TIMEOUT = "timeout"  # the request is lost: the bank never sees it
    LOST_REPLY = "lost_reply"  # the bank accepts it, but its answer never arrives


class FaultPlan:
    def __init__(self, *, fail_rate: float = 0.0, timeout_rate: float = 0.0, seed: int = 0):
        self.fail_rate = fail_rate
        self.timeout_rate = timeout_rate
        self.seed = seed
        self._lock = threading.Lock()
        self._queued: dict[str, list[Fault]] = defaultdict(list)
        self._calls: dict[str, int] = defaultdict(int)

    def inject(self, instruction_id: str, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queued[instruction_id].extend([fault] * times)

    def draw(self, instruction_id: str) -> Fault | None:
        """The fault this submission of ``instruction_id`` meets, if any."""
        with self._lock:
            queued = self._queued.get(instruction_id)
            if queued:
                return queued.pop(0)
            self._calls[instruction_id] += 1
            attempt = self._calls[instruction_id]
        if not (self.fail_rate or self.timeout_rate):
            return None
        rng = random.Random(f"{self.seed}:{instruction_id}:{attempt}")
        x = rng.random()
        if x < self.timeout_rate:
            return Fault.TIMEOUT if rng.random() < 0.5 else Fault.LOST_REPLY
        if x < self.timeout_rate + self.fail_rate:
            return Fault.FAIL
        return None
