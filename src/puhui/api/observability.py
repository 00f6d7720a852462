"""Request ids, JSON logs and Prometheus metrics.

Every request carries an id: the caller's ``X-Request-ID`` when it is well formed, else a fresh
one. It is echoed in the response header, written into every error body and every log line
emitted while the request runs (through a context variable, which also reaches handlers run in
the thread pool), so one id ties a complaint, a log line and a trace together.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from puhui.api.redaction import redact

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

#: The id of the request being served, ``None`` outside a request.
request_id_var: ContextVar[str | None] = ContextVar("puhui_request_id", default=None)


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def accept_request_id(incoming: str | None) -> str:
    """The caller's id if it is safe to log and echo, else a new one."""
    if incoming and _WELL_FORMED_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (request_id := request_id_var.get()) is not None:
            payload["request_id"] = request_id
        payload.update(
            (k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRS and k[0] != "_"
        )
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload), ensure_ascii=False, default=str)


#: ``logging.config.dictConfig`` for ``puhui serve``: puhui's and uvicorn's logs as JSON lines on
#: stderr; uvicorn's own access log is off because the request middleware writes a richer one.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "puhui.api.observability.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
        for name in ("puhui", "uvicorn", "uvicorn.error")
    },
}


class Metrics:
    """The HTTP metrics of one app, in a registry of its own so tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("method", "route", "status")
        self.requests = Counter(
            "puhui_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "puhui_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
