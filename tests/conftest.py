"""Fixtures shared by every test: real databases, migrated by Alembic.

Every test that takes ``engine`` runs on SQLite, and again on PostgreSQL whenever
``PUHUI_TEST_DATABASE_URL`` is set (``.ci/run`` always sets it). Each pytest-xdist worker gets
its own PostgreSQL database, created from that URL's server; each test starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from puhui.core.clock import FixedClock
from puhui.db.engine import database_url, make_engine
from puhui.db.migrate import upgrade

PG_URL = os.environ.get("PUHUI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every database test runs on each backend; one marked ``postgresql_only`` (a real race
    between row locks, which SQLite's single writer cannot have) only where PostgreSQL is:
    always in CI, which sets PUHUI_TEST_DATABASE_URL."""
    if "backend" in metafunc.fixturenames:
        only_pg = metafunc.definition.get_closest_marker("postgresql_only") is not None
        backends = [b for b in BACKENDS if b == "postgresql" or not only_pg]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_url(worker_id: str) -> Iterator[str]:
    """A database of this test process's own, next to the one the URL names.

    Its name carries the xdist worker and the process id, so concurrent test runs against one
    server never drop each other's tables; it is dropped again at the end of the session.
    """
    assert PG_URL, "PostgreSQL tests need PUHUI_TEST_DATABASE_URL"
    base = make_url(database_url(PG_URL))
    name = f"{base.database}_{worker_id}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """pytest-xdist's worker id, or ``master`` when tests run in one process."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


@pytest.fixture
def database_url_for_test(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty, fully migrated database of the given backend."""
    if backend == "sqlite":
        path = tmp_path / "puhui.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("_pg_url")
    _truncate_all(url)
    return url


@pytest.fixture
def engine(database_url_for_test: str) -> Iterator[Engine]:
    eng = make_engine(database_url_for_test, pool_size=20)
    yield eng
    eng.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        rows = (
            c.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if rows:
            c.execute(
                text("TRUNCATE " + ", ".join(f'"{r}"' for r in rows) + " RESTART IDENTITY CASCADE")
            )
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """A clock at 2026-11-02 10:00 Asia/Shanghai, moved by the test."""
    return FixedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
