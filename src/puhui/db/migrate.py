"""Schema creation and upgrades, only ever through Alembic.

Each domain adds its own revision branch off the foundation revision, so the schema's heads are
upgraded together (``heads``) and domains do not have to serialise their migrations.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from puhui.core.errors import PuhuiError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revisions(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (``puhui db upgrade``)."""
    command.upgrade(alembic_config(engine), "heads")


class SchemaOutOfDate(PuhuiError):
    type = "schema_out_of_date"
    status = 503


def ensure_schema(engine: Engine) -> None:
    """Make sure the schema is current before a command uses it.

    An embedded SQLite file is upgraded on first use, so a newcomer never runs a migration
    by hand; a PostgreSQL database is production and is only upgraded on explicit request.
    """
    if current_revisions(engine) == head_revisions(engine):
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        "schema_out_of_date", "the database schema is not current: run `puhui db upgrade`"
    )
