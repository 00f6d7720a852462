"""Batch work spread over a task queue (任务队列): partitions of the end-of-day batch as
messages on RabbitMQ (or Redis) through Dramatiq, run by any number of ``puhui worker``
processes on any number of machines.

A message names one partition of one business date and nothing else; the database is the
worker's own (``--database`` / ``PUHUI_DATABASE_URL``), never carried in a message. Delivery is
at least once: a message is acknowledged only after its partition has committed, so a worker
that dies part-way leaves its message to be delivered again, and the batch's per-step records
make the second run skip what the first one committed (docs/scale.md).
"""
