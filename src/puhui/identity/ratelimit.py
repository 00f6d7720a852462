"""Rate limits kept in the database, so every worker process shares one count.

A fixed-window counter per (bucket, subject): the subject (an IP, a phone's blind index, a
customer) is stored only as a digest. Callers run ``hit`` in a transaction of its own that
commits even when the request then fails, since failed attempts are what a limit must count.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from puhui.core.clock import Clock
from puhui.core.errors import PuhuiError
from puhui.identity.models import rate_limits
from puhui.identity.times import now_us, span_us


@dataclass(frozen=True)
class Limit:
    bucket: str
    max_hits: int
    window: timedelta


class RateLimited(PuhuiError):
    type = "rate_limited"
    status = 429

    def __init__(self, bucket: str, retry_after_s: int) -> None:
        super().__init__("rate_limited", f"too many requests ({bucket}); retry later")
        self.retry_after_s = retry_after_s


def subject_digest(subject: str) -> str:
    return hashlib.sha256(f"puhui-rate\x1f{subject}".encode()).hexdigest()


def hit(conn: Connection, *, limit: Limit, subject: str, clock: Clock) -> int:
    """Count one hit; raise ``RateLimited`` once the window's hits exceed the limit."""
    window = span_us(limit.window)
    now = now_us(clock)
    start = now - now % window
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(rate_limits).values(
        bucket=limit.bucket, subject=subject_digest(subject), window_us=start, hits=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["bucket", "subject", "window_us"],
        set_={"hits": rate_limits.c.hits + 1},
    ).returning(rate_limits.c.hits)
    hits = conn.execute(stmt).scalar_one()
    if hits > limit.max_hits:
        raise RateLimited(limit.bucket, max(1, (start + window - now) // 1_000_000))
    return hits


def purge(conn: Connection, *, clock: Clock, older_than: timedelta = timedelta(days=2)) -> int:
    cutoff = now_us(clock) - span_us(older_than)
    return conn.execute(delete(rate_limits).where(rate_limits.c.window_us < cutoff)).rowcount
