"""Idempotency keys for money-moving POSTs (DESIGN.md, Interfaces).

A handler takes ``Idempotent`` and does all its work inside ``run``::

    @router.post("/withdrawals", status_code=201, response_model=WithdrawalOut)
    def withdraw(body: WithdrawalIn, idem: Idempotent) -> Response:
        return idem.run(lambda conn: service.withdraw(conn=conn, ...), status_code=201)

What a client sees for one ``Idempotency-Key`` on one route (keys live 24 hours):

- first request: ``work`` runs; its writes and the saved response commit in one transaction;
- the same key and request again: the saved status and body (header ``Idempotent-Replayed``);
- the same key with another body: 422 ``idempotency_key_reused``;
- the same key while the first is still running: 409 ``idempotency_request_in_progress``;
- no key: 400 ``idempotency_key_required``.

A request that fails with a 4xx is saved too (its writes roll back), so a retry gets the same
answer; a 5xx saves nothing and frees the key, so a retry runs again. The key is claimed in a
short transaction of its own before ``work`` starts, which is what lets a concurrent duplicate
see it; a claim left behind by a dead process is taken over after ``LOCK_TIMEOUT``, and then the
late original cannot commit, because its save requires its own claim token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Header, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from puhui.api.app import get_clock, get_engine
from puhui.api.errors import as_puhui_error, error_body
from puhui.api.models import idempotency_keys as keys
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, PuhuiError, ValidationError
from puhui.db.engine import is_retryable, run_in_transaction

KEY_TTL = timedelta(hours=24)
LOCK_TIMEOUT = timedelta(minutes=5)
REPLAYED_HEADER = "Idempotent-Replayed"
_ATTEMPTS = 8


class _ClaimLost(Exception):
    """Raised inside the work transaction to roll it back: another request took the key over."""


class Idempotency:
    """One request's key and fingerprint; ``run`` does the request's work at most once."""

    def __init__(
        self, *, engine: Engine, clock: Clock, scope: str, key: str | None, request_hash: str
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.scope = scope
        self.key = key
        self.request_hash = request_hash
        self._token = secrets.token_hex(16)

    def run(self, work: Callable[[Connection], Any], *, status_code: int = 200) -> Response:
        """Run ``work`` in one transaction that also saves its response; answer JSON."""
        if self.key is None:  # an optional key that was not sent
            result = run_in_transaction(self.engine, lambda conn: jsonable_encoder(work(conn)))
            return JSONResponse(result, status_code=status_code)
        replay = self._claim()
        if replay is not None:
            return replay
        try:
            body = self._in_transaction(lambda conn: self._work_and_save(conn, work, status_code))
        except _ClaimLost:
            raise _in_progress() from None
        except Exception as exc:
            err = as_puhui_error(exc)
            if err is None or err.status >= 500:
                self._release()
                raise
            body = error_body(err)
            run_in_transaction(self.engine, lambda conn: self._save(conn, err.status, body))
            return JSONResponse(body, status_code=err.status)
        return JSONResponse(body, status_code=status_code)

    def _work_and_save(
        self, conn: Connection, work: Callable[[Connection], Any], status_code: int
    ) -> Any:
        body = jsonable_encoder(work(conn))
        if not self._save(conn, status_code, body):
            raise _ClaimLost
        return body

    def _in_transaction(self, fn: Callable[[Connection], Any]) -> Any:
        """Like ``run_in_transaction``, but the transaction begins at the first statement.

        On SQLite that is when the write lock is taken, so work that first talks to someone
        else (a custody bank) does not hold the database while it waits.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.engine.connect() as conn:
                    result = fn(conn)
                    conn.commit()
                    return result
            except DBAPIError as exc:
                if attempt == _ATTEMPTS or not is_retryable(exc):
                    raise
                time.sleep(min(0.002 * 2**attempt, 0.2))
        raise AssertionError("unreachable")  # pragma: no cover

    def _claim(self) -> Response | None:
        """Claim the key, or return the saved response, or refuse."""
        for attempt in range(3):
            try:
                return run_in_transaction(self.engine, self._claim_in)
            except IntegrityError:  # a concurrent first request inserted it: look again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _claim_in(self, conn: Connection) -> Response | None:
        now = _us(self.clock.now())
        row = (
            conn.execute(
                select(keys)
                .where(keys.c.scope == self.scope, keys.c.key == self.key)
                .with_for_update()
            )
            .mappings()
            .first()
        )
        if row is not None and row["expires_us"] <= now:
            conn.execute(delete(keys).where(keys.c.id == row["id"]))
            row = None
        if row is None:
            conn.execute(
                insert(keys).values(
                    scope=self.scope,
                    key=self.key,
                    request_hash=self.request_hash,
                    lock_token=self._token,
                    locked_us=now,
                    created_us=now,
                    expires_us=now + _us_delta(KEY_TTL),
                )
            )
            return None
        if row["request_hash"] != self.request_hash:
            raise ValidationError(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request; use a new key",
                field="Idempotency-Key",
            )
        if row["status_code"] is not None:
            return Response(
                row["response_body"],
                status_code=row["status_code"],
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        if now - row["locked_us"] < _us_delta(LOCK_TIMEOUT):
            raise _in_progress()
        conn.execute(
            update(keys).where(keys.c.id == row["id"]).values(lock_token=self._token, locked_us=now)
        )
        return None

    def _save(self, conn: Connection, status_code: int, body: Any) -> bool:
        """Record the answer if the claim is still ours; whether it was."""
        saved = conn.execute(
            update(keys)
            .where(
                keys.c.scope == self.scope,
                keys.c.key == self.key,
                keys.c.lock_token == self._token,
                keys.c.status_code.is_(None),
            )
            .values(
                status_code=status_code,
                response_body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                lock_token=None,
                locked_us=None,
            )
        )
        return saved.rowcount == 1

    def _release(self) -> None:
        """Give the key up after a failure that should not be remembered (a 5xx)."""
        run_in_transaction(
            self.engine,
            lambda conn: conn.execute(
                delete(keys).where(
                    keys.c.scope == self.scope,
                    keys.c.key == self.key,
                    keys.c.lock_token == self._token,
                    keys.c.status_code.is_(None),
                )
            ),
        )


def idempotency(*, required: bool = True) -> Callable[..., Any]:
    """A dependency giving the handler its ``Idempotency``; the header is optional only if
    ``required`` is false, and then a request without it simply runs once."""

    async def dependency(
        request: Request,
        engine: Annotated[Engine, Depends(get_engine)],
        clock: Annotated[Clock, Depends(get_clock)],
        key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="A unique key per operation (for example a UUID). Retrying with "
                "the same key and body returns the first answer; keys live 24 hours.",
            ),
        ] = None,
    ) -> Idempotency:
        if key is None and required:
            raise PuhuiError(
                "idempotency_key_required",
                "this request moves money: send an Idempotency-Key header",
                field="Idempotency-Key",
            )
        if key is not None and not (0 < len(key) <= 255 and key.isascii() and key.isprintable()):
            raise PuhuiError(
                "idempotency_key_invalid",
                "an Idempotency-Key is 1 to 255 printable ASCII characters",
                field="Idempotency-Key",
            )
        route = getattr(request.scope.get("route"), "path", request.url.path)
        return Idempotency(
            engine=engine,
            clock=clock,
            scope=f"{request.method} {route}",
            key=key,
            request_hash=await request_fingerprint(request),
        )

    return dependency


Idempotent = Annotated[Idempotency, Depends(idempotency())]


async def request_fingerprint(request: Request) -> str:
    """SHA-256 over method, path, sorted query and the body as canonical JSON."""
    raw = await request.body()
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        body = raw
    query = urlencode(sorted(request.query_params.multi_items()))
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def purge_expired(conn: Connection, *, now: datetime) -> int:
    """Delete keys past their expiry (a periodic job); how many went."""
    return conn.execute(delete(keys).where(keys.c.expires_us <= _us(now))).rowcount


def _in_progress() -> Conflict:
    return Conflict(
        "idempotency_request_in_progress",
        "a request with this Idempotency-Key is still being processed; retry later",
        field="Idempotency-Key",
    )


def _us(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


def _us_delta(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1_000_000)
