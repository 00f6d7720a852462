"""Which broker and which queue: ``PUHUI_BROKER_URL`` and ``PUHUI_TASK_QUEUE``.

RabbitMQ (``amqp://``) is the default because it gives an unacknowledged message back the
moment its consumer's connection drops, so a killed worker's partition is redone at once;
Redis (``redis://``) works too, but hands a dead worker's messages back only after its
heartbeat times out. The queue name lets several deployments, or several test runs, share one
broker without taking each other's messages.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from puhui.core.errors import Conflict, PuhuiError, ValidationError

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_QUEUE = "puhui"
QUEUE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def broker_url(url: str | None = None) -> str:
    """The argument, else ``PUHUI_BROKER_URL``, else RabbitMQ on loopback as guest."""
    return url or os.environ.get("PUHUI_BROKER_URL") or DEFAULT_BROKER_URL


def queue_name(name: str | None = None) -> str:
    """The argument, else ``PUHUI_TASK_QUEUE``, else ``puhui``."""
    name = name or os.environ.get("PUHUI_TASK_QUEUE") or DEFAULT_QUEUE
    if not QUEUE_PATTERN.match(name):
        raise ValidationError(
            "queue_invalid",
            f"queue name {name!r}: 1–64 characters of A-Z a-z 0-9 _ -",
            field="queue",
        )
    return name


def make_broker(url: str | None = None) -> dramatiq.Broker:
    """A broker for the URL's scheme (``amqp``/``amqps`` or ``redis``/``rediss``)."""
    resolved = broker_url(url)
    scheme = resolved.split(":", 1)[0]
    if scheme in ("amqp", "amqps"):
        return RabbitmqBroker(url=resolved)
    if scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker  # needs the redis extra

        return RedisBroker(url=resolved)
    raise ValidationError(
        "broker_url_invalid",
        f"broker URL {scheme}://…: use amqp:// (RabbitMQ) or redis:// (Redis)",
        field="broker",
    )


def delete_queue(url: str | None, queue: str) -> None:
    """Remove a queue and the delay and dead-letter queues Dramatiq made beside it (RabbitMQ),
    or its keys (Redis): for test runs and for retiring a deployment's queue."""
    broker = make_broker(url)
    try:
        if isinstance(broker, RabbitmqBroker):
            channel = broker.channel
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel.queue_delete(name)
        else:
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                broker.flush(name)
    finally:
        broker.close()


#: Retries after an unexpected error (a lost database connection, a deadlock that outlived the
#: engine's own retries); a domain refusal (``PuhuiError``) is final and not retried.
MAX_RETRIES = 8
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 60_000


def partition_actor(
    fn: Callable[..., Any],
    *,
    broker: dramatiq.Broker,
    name: str,
    queue: str,
    time_limit_ms: int,
) -> dramatiq.Actor:
    """A partition task's actor: retried with backoff on the unexpected, never on a domain
    refusal, and given ``time_limit_ms`` (Dramatiq's 10-minute default is too short for a
    partition of a large book). Every partition task is idempotent, so a retry is safe."""
    return dramatiq.actor(
        fn,
        broker=broker,
        actor_name=name,
        queue_name=queue,
        max_retries=MAX_RETRIES,
        min_backoff=MIN_BACKOFF_MS,
        max_backoff=MAX_BACKOFF_MS,
        time_limit=time_limit_ms,
        throws=(PuhuiError,),
    )


def wait_for_partitions(
    finished: Callable[[], Sequence[int]],
    partitions: int,
    *,
    what: str,
    code: str,
    timeout_s: float,
    poll_s: float,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Poll ``finished`` (the partitions committed so far) until all ``partitions`` are, telling
    ``on_progress`` each new count; past ``timeout_s`` a 409 ``code`` names the missing ones.

    The dispatcher of every partitioned job waits this way: the workers' commits are the only
    progress it can trust (a message may be redelivered, a worker killed and replaced)."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while True:
        done = finished()
        if len(done) != seen:
            seen = len(done)
            if on_progress:
                on_progress(seen)
        if seen == partitions:
            return
        if time.monotonic() > deadline:
            missing = sorted(set(range(partitions)) - set(done))
            raise Conflict(
                code,
                f"{what}: partition(s) {', '.join(map(str, missing))} did not finish within "
                f"{timeout_s:.0f} s; are workers running on this queue? (puhui worker)",
                field="partition",
            )
        time.sleep(poll_s)
