"""Health, OpenAPI, metrics, request ids and JSON request logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from puhui.api.app import create_app
from puhui.db.engine import make_engine
from puhui.db.migrate import head_revisions


def test_health_reports_the_database_and_schema(client: TestClient, engine: Engine) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "database": "ok",
        "schema_revision": sorted(head_revisions(engine)),
    }


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path, expect_error) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/no/such/folder/puhui.db")
    with TestClient(create_app(engine=engine)) as client:
        resp = client.get("/health")
    expect_error(resp, 503, "api_error", "database_unreachable")


def test_health_is_503_when_the_schema_is_behind(tmp_path: Path, expect_error) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    with TestClient(create_app(engine=engine)) as client:
        resp = client.get("/health")
    expect_error(resp, 503, "schema_out_of_date", "schema_out_of_date")
    engine.dispose()


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "puhui"
    assert "/health" in spec["paths"]
    post = spec["paths"]["/test/widgets"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= post["parameters"][0].items()
    error_schema = post["responses"]["4XX"]["content"]["application/json"]["schema"]
    assert error_schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/health")
    client.get("/test/raise/not_found")
    client.get("/test/raise/conflict")
    text = client.get("/metrics").text
    assert 'puhui_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert (
        'puhui_http_requests_total{method="GET",route="/test/raise/{kind}",status="404"} 1.0'
        in text
    )
    assert (
        'puhui_http_request_duration_seconds_count{method="GET",route="/health",status="200"} 1.0'
        in text
    )


def test_each_app_has_its_own_metrics(app: FastAPI, engine: Engine) -> None:
    with TestClient(app) as first:
        first.get("/health")
    with TestClient(create_app(engine=engine)) as second:
        assert 'route="/health"' not in second.get("/metrics").text


def test_a_well_formed_request_id_is_echoed(client: TestClient) -> None:
    resp = client.get("/health", headers={"X-Request-ID": "gw-7f3a:0001"})
    assert resp.headers["X-Request-ID"] == "gw-7f3a:0001"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 129, "<script>"])
def test_a_missing_or_malformed_request_id_is_replaced(
    client: TestClient, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    ids = {client.get("/health", headers=headers).headers["X-Request-ID"] for _ in range(2)}
    assert len(ids) == 2
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)


def test_each_request_logs_one_json_line(client: TestClient, json_logs) -> None:
    client.get("/health", headers={"X-Request-ID": "trace-42"})
    [record] = json_logs()
    assert record["logger"] == "puhui.api.access"
    assert {k: record[k] for k in ("request_id", "method", "path", "route", "status")} == {
        "request_id": "trace-42",
        "method": "GET",
        "path": "/health",
        "route": "/health",
        "status": 200,
    }
    assert isinstance(record["duration_ms"], float)
    assert record["duration_ms"] >= 0
