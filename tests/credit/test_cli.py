"""``puhui score train``, ``report`` and ``monitor`` through typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from puhui.cli import app
from puhui.credit.artifact import default_artifact_path, read_artifact

runner = CliRunner()


def test_train_writes_artifact_and_report(tmp_path):
    result = runner.invoke(
        app, ["score", "train", "--no-cv", "--seed", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (artifact,) = tmp_path.glob("scorecard-*.json")
    data = read_artifact(artifact)
    assert data["config"]["seed"] == 3 and "cv" not in data["evaluation"]
    html = artifact.with_suffix(".html").read_text()
    assert "data:image/png;base64," in html and "Calibration by score band" in html
    assert data["model_version"] in result.output


def test_report_of_the_shipped_model(tmp_path):
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["score", "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    shipped = read_artifact(default_artifact_path())
    html = out.read_text()
    assert shipped["model_version"] in html
    assert "challenger (LightGBM)" in html and "target mean AUC ≥ 0.79" in html
    for c in shipped["scorecard"]["characteristics"]:
        assert c["name"] in html


def test_monitor_on_an_empty_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    result = runner.invoke(
        app,
        [
            "score",
            "monitor",
            "--json",
            "--since",
            "2026-01-01",
            "--until",
            "2026-12-31",
            "--database",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["decisions"], data["approval_rate"], data["psi"]) == (0, None, None)
    bad = runner.invoke(app, ["score", "monitor", "--since", "soon", "--database", url])
    assert bad.exit_code == 2 and "date_invalid" in bad.output
