"""A worker process: consume the queue with a few threads until told to stop. It takes both
kinds of message: end-of-day partitions and monthly-disclosure partitions.

One process shares one engine (its pool sized to the threads) across its threads; start more
processes, on this machine or others, to run more partitions at once. SIGTERM or SIGINT stops
it after the messages in hand finish; SIGKILL loses nothing (the broker redelivers).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import dramatiq

from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.db.engine import make_engine
from puhui.lending.eod import Hook
from puhui.tasks import broker as brokers
from puhui.tasks import disclosure as disclosure_tasks
from puhui.tasks import eod as eod_tasks

#: Milliseconds a consumer waits for a message before it checks whether to stop.
WORKER_TIMEOUT_MS = 200


def run(
    *,
    database: str | None,
    broker_url: str | None = None,
    queue: str | None = None,
    threads: int = 2,
    clock: Clock = SYSTEM_CLOCK,
    hook: Hook | None = None,
    disclosure_hook: disclosure_tasks.Hook | None = None,
    on_ready: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``queue`` until SIGTERM/SIGINT (or ``stop`` is set). ``hook`` and
    ``disclosure_hook`` are the two kinds of task's crash hooks, for tests."""
    engine = make_engine(database, pool_size=max(threads, 1))
    broker = brokers.make_broker(broker_url)
    name = brokers.queue_name(queue)
    eod_tasks.declare(broker, name, engine=lambda: engine, clock=clock, hook=hook)
    disclosure_tasks.declare(broker, name, engine=lambda: engine, clock=clock, hook=disclosure_hook)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    try:
        if on_ready:
            on_ready()
        while not stop.wait(1.0):
            pass
    finally:
        worker.stop()
        broker.close()
        engine.dispose()
