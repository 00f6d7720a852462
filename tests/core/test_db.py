"""The schema comes only from Alembic; an empty SQLite file is upgraded on first use."""

from sqlalchemy import inspect
from typer.testing import CliRunner

from puhui.cli import app
from puhui.db.engine import database_url, make_engine
from puhui.db.migrate import current_revisions, ensure_schema, head_revisions


def test_empty_sqlite_file_is_upgraded_on_first_use(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert current_revisions(engine) == set()
    ensure_schema(engine)
    assert current_revisions(engine) == head_revisions(engine)
    assert "ledger_transfers" in inspect(engine).get_table_names()


def test_db_cli(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "current", "--database", url]).exit_code == 1
    up = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert up.exit_code == 0 and "schema at" in up.output
    assert runner.invoke(app, ["db", "current", "--database", url]).exit_code == 0


def test_database_url_defaults_and_postgres_driver(monkeypatch):
    monkeypatch.delenv("PUHUI_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:///puhui.db"
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
