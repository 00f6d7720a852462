"""Static security scan of the identity code and the HTTP layer: bandit finds nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bandit  # noqa: F401  - a missing install fails here instead of in the subprocess

SRC = Path(__file__).resolve().parents[2] / "src" / "puhui"


def test_bandit_finds_no_issue():
    targets = [SRC / "identity", SRC / "api", SRC / "cli" / "identity.py"]
    run = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "json", "-r", *map(str, targets)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(run.stdout)
    issues = [f"{r['filename']}:{r['line_number']} {r['test_id']}" for r in report["results"]]
    assert issues == []
