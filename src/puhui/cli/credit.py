"""``puhui score``: train the scorecard, redraw its report, watch it in production.

``train`` and ``report`` import the training libraries only when run, so the rest of the CLI
starts as fast as before.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from puhui.cli.calc import parse_date
from puhui.cli.common import DatabaseOption, console, open_engine, run
from puhui.core.clock import SYSTEM_CLOCK, business_date
from puhui.credit.artifact import default_artifact_path, read_artifact, write_artifact
from puhui.credit.monitoring import monitor
from puhui.credit.scoring import ScoringModel

app = typer.Typer(help="Credit scorecard: train, report, monitor.", no_args_is_help=True)

ArtifactOption = Annotated[
    Path | None,
    typer.Option("--artifact", help="Model artifact JSON (default: the one shipped with puhui)."),
]


def _headline_table(artifact: dict[str, Any]) -> Table:
    ev = artifact["evaluation"]
    t = Table(title=f"{artifact['model_version']} (sha256 {artifact['sha256'][:16]}…)")
    for col in ("model", "CV mean AUC", "CV std", "test AUC", "test KS", "test Gini"):
        t.add_column(col, justify="left" if col == "model" else "right")
    cv = ev.get("cv")
    for name, key, test in (
        ("scorecard", "scorecard", ev["test"]),
        ("challenger (LightGBM)", "challenger", ev["challenger"]["test"]),
    ):
        mean = f"{cv[key]['mean']:.4f}" if cv else "–"
        std = f"{cv[key]['std']:.4f}" if cv else "–"
        t.add_row(name, mean, std, f"{test['auc']:.4f}", f"{test['ks']:.4f}", f"{test['gini']:.4f}")
    return t


def _write_report(artifact: dict[str, Any], path: Path) -> None:
    from puhui.credit.report import render

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(artifact), encoding="utf-8")


@app.command("train")
def train_cmd(
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the split, the folds and LightGBM.")
    ] = 42,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the artifact and the report.")
    ] = Path("credit-models"),
    cross_validation: Annotated[
        bool, typer.Option("--cv/--no-cv", help="Run the 5 × 5 cross-validation.")
    ] = True,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Cross-validation repeats.")] = 5,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
) -> None:
    """Train the scorecard on German credit; write <version>.json and <version>.html."""
    from puhui.credit.training import TrainingConfig, train

    config = replace(TrainingConfig(), seed=seed, cv_splits=folds, cv_repeats=repeats)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done)

        artifact = run(lambda: train(config, cross_validation=cross_validation, progress=report))
    path = write_artifact(artifact, out)
    html = path.with_suffix(".html")
    _write_report(artifact, html)
    console.print(_headline_table(artifact))
    console.print(f"artifact: {path}\nreport:   {html}")


@app.command("report")
def report_cmd(
    artifact: ArtifactOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write.")] = None,
) -> None:
    """Show a model's figures and write its HTML report."""
    data = run(lambda: read_artifact(artifact or default_artifact_path()))
    console.print(_headline_table(data))
    target = out or Path(f"{data['model_version']}.html")
    _write_report(data, target)
    console.print(f"report: {target}")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


@app.command("monitor")
def monitor_cmd(
    since: Annotated[
        str | None, typer.Option("--since", help="First day, YYYY-MM-DD (default: 30 days ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day, YYYY-MM-DD (default: today).")
    ] = None,
    artifact: ArtifactOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Score drift (PSI), approval rate and bad rates by grade and vintage."""
    today = business_date(SYSTEM_CLOCK.now())
    last = run(lambda: parse_date(until, field="until")) if until else today
    first = run(lambda: parse_date(since, field="since")) if since else last - timedelta(days=30)
    model = run(
        lambda: ScoringModel.from_artifact(read_artifact(artifact or default_artifact_path()))
    )
    engine = open_engine(database)
    with engine.connect() as conn:
        m = run(lambda: monitor(conn, model=model, since=first, until=last))
    if as_json:
        console.print_json(json.dumps(m.as_dict()))
        return
    psi_text = "–" if m.psi is None else f"{m.psi:.4f}"
    console.print(
        f"{m.model_version}, {m.since} – {m.until}: {m.decisions} decisions, "
        f"approval rate {_pct(m.approval_rate)} ({m.review} to review, {m.rejected} rejected), "
        f"PSI vs training {psi_text}"
    )
    for title, rows in (("bad rate by grade", m.by_grade), ("bad rate by vintage", m.by_vintage)):
        t = Table(title=title)
        for col in ("", "approved", "observed", "bad", "bad rate"):
            t.add_column(col, justify="right")
        for r in rows:
            t.add_row(r.key, str(r.approved), str(r.observed), str(r.bad), _pct(r.bad_rate))
        console.print(t)
