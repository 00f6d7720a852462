"""List endpoints: ``limit`` and ``starting_after`` in, ``data`` and ``has_more`` out."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from puhui.db.engine import run_in_transaction

from .conftest import widgets


def _add_widgets(engine: Engine, n: int) -> None:
    rows = [{"name": f"w{i}", "amount_fen": i * 100} for i in range(1, n + 1)]
    run_in_transaction(engine, lambda conn: conn.execute(insert(widgets), rows))


def test_pages_follow_the_cursor_until_has_more_is_false(
    client: TestClient, engine: Engine
) -> None:
    _add_widgets(engine, 25)
    first = client.get("/test/widgets").json()
    assert [w["name"] for w in first["data"]] == [f"w{i}" for i in range(1, 21)]
    assert first["has_more"] is True
    after = first["data"][-1]["id"]
    second = client.get("/test/widgets", params={"starting_after": after}).json()
    assert [w["name"] for w in second["data"]] == [f"w{i}" for i in range(21, 26)]
    assert second["has_more"] is False


def test_limit_bounds_the_page(client: TestClient, engine: Engine) -> None:
    _add_widgets(engine, 3)
    assert client.get("/test/widgets", params={"limit": 3}).json()["has_more"] is False
    page = client.get("/test/widgets", params={"limit": 1}).json()
    assert (len(page["data"]), page["has_more"]) == (1, True)
    assert client.get("/test/widgets", params={"limit": 100}).status_code == 200


def test_an_empty_list_is_a_page(client: TestClient) -> None:
    assert client.get("/test/widgets").json() == {"data": [], "has_more": False}


def test_a_cursor_of_the_wrong_type_is_422(client: TestClient, expect_error) -> None:
    resp = client.get("/test/widgets", params={"starting_after": "w3"})
    expect_error(resp, 422, "validation_error", "invalid_cursor", "starting_after")
