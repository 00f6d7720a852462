"""A PostgreSQL database of each test's own, migrated and then partitioned by month.

Not the shared test database: converting it would change the schema under every other test
of this worker. A migrated template is made once per module; each test copies it (``CREATE
DATABASE … TEMPLATE``, much faster than migrating) and drops its copy at the end. The tests
take ``backend`` and are marked ``postgresql_only``, so without ``PUHUI_TEST_DATABASE_URL``
(SQLite only) they are skipped by the root conftest's parametrisation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from puhui.db.engine import database_url, make_engine
from puhui.db.migrate import upgrade

PG_URL = os.environ.get("PUHUI_TEST_DATABASE_URL")
#: The conftest clock's business date (2026-11-02 10:00 Shanghai).
TODAY = date(2026, 11, 2)


def _admin() -> Engine:
    assert PG_URL, "PostgreSQL tests need PUHUI_TEST_DATABASE_URL"
    return create_engine(make_url(database_url(PG_URL)), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="module")
def _template(worker_id: str) -> Iterator[str]:
    name = f"{make_url(database_url(PG_URL)).database}_parttpl_{worker_id}_{os.getpid()}"
    admin = _admin()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_engine(backend: str, _template: str, worker_id: str) -> Iterator[Engine]:
    """A fresh, migrated, not yet partitioned PostgreSQL database."""
    assert backend == "postgresql"
    name = f"{make_url(database_url(PG_URL)).database}_part_{worker_id}_{os.getpid()}"
    admin = _admin()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_template}"'))
    engine = make_engine(_url(name), pool_size=10)
    yield engine
    engine.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _url(name: str) -> str:
    return make_url(database_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
