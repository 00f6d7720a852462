"""Idempotency keys: one execution per key, the saved answer on retry, 409 while in flight."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from puhui.api.idempotency import KEY_TTL, LOCK_TIMEOUT, purge_expired
from puhui.api.models import idempotency_keys
from puhui.core.clock import FixedClock
from puhui.db.engine import run_in_transaction
from puhui.db.metadata import metadata

from .conftest import widgets

BODY = {"name": "loan-1 repayment", "amount_fen": 123_456}


def post(
    client: TestClient, key: str | None, body: dict[str, Any] = BODY, path: str = "/test/widgets"
):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(path, json=body, headers=headers)


def count(engine: Engine, table=widgets) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


class Calls:
    """A hook that counts the requests that reached the write and can hold the first one."""

    def __init__(self, *, hold_first: bool = False, fail_first: bool = False) -> None:
        self.n = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first
        self.fail_first = fail_first

    def __call__(self, _body: Any) -> None:
        self.n += 1
        if self.n == 1 and self.hold_first:
            self.entered.set()
            assert self.release.wait(20)
        if self.n == 1 and self.fail_first:
            raise RuntimeError("custody bank unreachable")


def test_a_retry_replays_the_saved_response_and_writes_once(
    client: TestClient, app: FastAPI, engine: Engine
) -> None:
    app.state.before_write = calls = Calls()
    first = post(client, "k-1")
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], **BODY}
    again = post(client, "k-1", body=dict(reversed(BODY.items())))  # same JSON, other order
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (calls.n, count(engine), count(engine, idempotency_keys)) == (1, 1, 1)


def test_the_same_key_with_another_body_is_refused(
    client: TestClient, engine: Engine, expect_error
) -> None:
    assert post(client, "k-2").status_code == 201
    resp = post(client, "k-2", body={**BODY, "amount_fen": 1})
    expect_error(resp, 422, "validation_error", "idempotency_key_reused", "Idempotency-Key")
    assert count(engine) == 1


def test_keys_are_per_route_and_distinct_keys_run_separately(
    client: TestClient, engine: Engine
) -> None:
    assert post(client, "k-3").status_code == 201
    assert post(client, "k-4").status_code == 201
    assert post(client, "k-3", path="/test/widgets/optional-key").status_code == 201
    assert count(engine) == 3


def test_a_money_moving_post_requires_a_key(
    client: TestClient, engine: Engine, expect_error
) -> None:
    resp = post(client, None)
    expect_error(resp, 400, "invalid_request", "idempotency_key_required", "Idempotency-Key")
    resp = post(client, "k" * 256)
    expect_error(resp, 400, "invalid_request", "idempotency_key_invalid", "Idempotency-Key")
    assert count(engine) == 0


def test_an_optional_key_may_be_left_out(client: TestClient, engine: Engine) -> None:
    path = "/test/widgets/optional-key"
    assert [post(client, None, path=path).status_code for _ in range(2)] == [201, 201]
    assert count(engine) == 2
    assert count(engine, idempotency_keys) == 0


def test_a_4xx_is_saved_and_its_writes_roll_back(
    client: TestClient, engine: Engine, expect_error
) -> None:
    bad = {**BODY, "amount_fen": 0}
    first = post(client, "k-5", body=bad)
    err = expect_error(first, 422, "validation_error", "amount_must_be_positive", "amount_fen")
    again = post(client, "k-5", body=bad)
    assert (again.status_code, again.json()["error"]) == (422, err)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(engine) == 0  # the row inserted before the refusal was rolled back


def test_a_5xx_saves_nothing_so_a_retry_runs_again(
    client: TestClient, app: FastAPI, engine: Engine, expect_error
) -> None:
    app.state.after_write = calls = Calls(fail_first=True)
    expect_error(post(client, "k-6"), 500, "api_error", "internal_error")
    assert (count(engine), count(engine, idempotency_keys)) == (0, 0)
    retry = post(client, "k-6")
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert (calls.n, count(engine)) == (2, 1)


def test_duplicates_while_in_flight_get_409_and_the_work_runs_once(
    client: TestClient, app: FastAPI, engine: Engine, expect_error
) -> None:
    app.state.before_write = calls = Calls(hold_first=True)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(post, client, "k-7")
        assert calls.entered.wait(20)
        duplicates = [pool.submit(post, client, "k-7") for _ in range(6)]
        for dup in duplicates:
            expect_error(
                dup.result(timeout=30),
                409,
                "conflict",
                "idempotency_request_in_progress",
                "Idempotency-Key",
            )
        calls.release.set()
        assert first.result(timeout=30).status_code == 201
    assert post(client, "k-7").headers["Idempotent-Replayed"] == "true"
    assert (calls.n, count(engine)) == (1, 1)


def test_racing_duplicates_run_once(client: TestClient, app: FastAPI, engine: Engine) -> None:
    start = threading.Barrier(8)

    def slow(_body: Any) -> None:
        threading.Event().wait(0.3)
        ran.append(1)

    ran: list[int] = []
    app.state.before_write = slow

    def racer() -> tuple[int, str | None, dict[str, Any]]:
        start.wait(10)
        resp = post(client, "k-8")
        return resp.status_code, resp.headers.get("Idempotent-Replayed"), resp.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: racer(), range(8)))
    fresh = [r for r in results if r[0] == 201 and r[1] is None]
    assert len(fresh) == 1
    for status, replayed, body in results:
        assert (status == 201 and body == fresh[0][2]) or (
            status == 409 and body["error"]["code"] == "idempotency_request_in_progress"
        )
        assert replayed is None or status == 201
    assert (len(ran), count(engine)) == (1, 1)


def test_a_stale_claim_is_taken_over_and_the_late_original_cannot_commit(
    client: TestClient, app: FastAPI, engine: Engine, clock: FixedClock, expect_error
) -> None:
    app.state.before_write = calls = Calls(hold_first=True)
    with ThreadPoolExecutor(2) as pool:
        original = pool.submit(post, client, "k-9")
        assert calls.entered.wait(20)
        clock.advance(LOCK_TIMEOUT + timedelta(seconds=1))  # as if its process had died
        takeover = post(client, "k-9")
        assert takeover.status_code == 201
        calls.release.set()
        expect_error(
            original.result(timeout=30),
            409,
            "conflict",
            "idempotency_request_in_progress",
            "Idempotency-Key",
        )
    assert post(client, "k-9").json() == takeover.json()
    assert (calls.n, count(engine)) == (2, 1)


def test_keys_live_24_hours_then_expire(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    assert post(client, "k-10").status_code == 201
    clock.advance(KEY_TTL - timedelta(seconds=1))
    assert post(client, "k-10", body={**BODY, "amount_fen": 7}).status_code == 422
    clock.advance(timedelta(seconds=1))
    assert post(client, "k-10", body={**BODY, "amount_fen": 7}).status_code == 201
    assert post(client, "k-11").status_code == 201
    clock.advance(KEY_TTL)
    purged = run_in_transaction(engine, lambda conn: purge_expired(conn, now=clock.now()))
    assert (purged, count(engine, idempotency_keys)) == (2, 0)


def test_the_migration_matches_the_table(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "api_idempotency_keys" in repr(d)] == []
