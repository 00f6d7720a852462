"""Every failure answers DESIGN.md's error shape with a 4xx, and a bug a bare 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

KEY = {"Idempotency-Key": "k-errors"}


@pytest.mark.parametrize(
    ("kind", "status", "type_", "code", "field"),
    [
        ("puhui", 400, "invalid_request", "bad_thing", "thing"),
        ("validation", 422, "validation_error", "amount_must_be_positive", "amount_fen"),
        ("not_found", 404, "not_found", "loan_not_found", None),
        ("conflict", 409, "conflict", "already_funded", None),
        ("http", 403, "permission_denied", "forbidden", None),
    ],
)
def test_domain_and_http_errors_keep_their_status_and_code(
    client: TestClient, expect_error, kind: str, status: int, type_: str, code: str, field
) -> None:
    expect_error(client.get(f"/test/raise/{kind}"), status, type_, code, field)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"amount_fen": 100}, "missing", "name"),
        ({"name": "a", "amount_fen": "12.5"}, "int_parsing", "amount_fen"),
        (
            {"name": "a", "amount_fen": 1, "tags": [{"label": "x" * 11}]},
            "string_too_long",
            "tags.0.label",
        ),
        ([1, 2], "model_attributes_type", None),
    ],
)
def test_body_validation_is_422_naming_the_field(
    client: TestClient, expect_error, body, code: str, field: str | None
) -> None:
    err = expect_error(
        client.post("/test/widgets", json=body, headers=KEY), 422, "validation_error", code, field
    )
    assert err["message"].startswith("body")


@pytest.mark.parametrize(
    ("limit", "code"),
    [("0", "greater_than_equal"), ("101", "less_than_equal"), ("ten", "int_parsing")],
)
def test_query_validation_is_422_naming_the_parameter(
    client: TestClient, expect_error, limit: str, code: str
) -> None:
    resp = client.get("/test/widgets", params={"limit": limit})
    err = expect_error(resp, 422, "validation_error", code, "limit")
    assert err["message"].startswith("query.limit: ")


def test_unknown_route_is_404(client: TestClient, expect_error) -> None:
    err = expect_error(client.get("/no/such/thing"), 404, "not_found", "route_not_found")
    assert err["message"] == "no route matches GET /no/such/thing"


def test_wrong_method_is_405_with_allow(client: TestClient, expect_error) -> None:
    resp = client.delete("/health")
    expect_error(resp, 405, "invalid_request", "method_not_allowed")
    assert resp.headers["Allow"] == "GET"


@pytest.mark.parametrize("raw", [b'{"name": "a", "amount_fen": ', b"\xff\xfe{}"])
def test_malformed_json_is_400(client: TestClient, expect_error, raw: bytes) -> None:
    resp = client.post(
        "/test/widgets", content=raw, headers={**KEY, "Content-Type": "application/json"}
    )
    expect_error(resp, 400, "invalid_request", "malformed_json")


def test_a_bug_is_a_bare_500_logged_with_the_request_id(
    client: TestClient, expect_error, json_logs
) -> None:
    resp = client.get("/test/raise/bug", headers={"X-Request-ID": "bug-report-1"})
    err = expect_error(resp, 500, "api_error", "internal_error")
    assert err["request_id"] == "bug-report-1"
    assert "hunter2" not in resp.text
    assert "RuntimeError" not in resp.text
    [record, access] = json_logs()
    assert (record["logger"], access["logger"]) == ("puhui.api.error", "puhui.api.access")
    assert record["request_id"] == "bug-report-1"
    assert record["level"] == "error"
    assert "RuntimeError: password=hunter2" in record["exc"]
