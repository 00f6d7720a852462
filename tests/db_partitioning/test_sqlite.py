"""On SQLite the journal stays one table: partitioning is refused with a clear error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from puhui.cli import app
from puhui.core.errors import ValidationError
from puhui.db.engine import make_engine
from puhui.db.partitioning import ensure_partitions, partition_journal


def test_sqlite_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'puhui.db'}")
    with pytest.raises(ValidationError, match=r"partitioning needs PostgreSQL; .* sqlite"):
        partition_journal(engine)
    with pytest.raises(ValidationError, match="partitioning needs PostgreSQL"):
        ensure_partitions(engine, date(2026, 11, 2))
    engine.dispose()
    result = CliRunner().invoke(
        app, ["db", "partition", "--database", f"sqlite:///{tmp_path / 'cli.db'}"]
    )
    assert result.exit_code == 2
    assert "error: partitioning_needs_postgresql" in result.output
