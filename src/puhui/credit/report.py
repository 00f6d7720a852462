"""The training report: one self-contained HTML page made from a model artifact.

Everything on it comes from the artifact, so ``puhui score report`` can redraw it for any
model, including the one shipped with puhui: the cross-validated AUC against the target with
the challenger beside it, AUC/KS/Gini on the test split, PSI train vs test, calibration by
score band and by grade, the information value of every attribute, the bins and points of each
characteristic, and the score distributions of good and bad applicants as a PNG chart embedded
in the page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
from matplotlib.figure import Figure

STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem auto;max-width:60rem;
padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.ok{color:#060}.miss{color:#a00}img{max-width:100%}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are text, aligned left."""
    head = "".join(
        f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < left else ""}">{_fmt(v)}</td>' for i, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def distribution_png(histogram: Mapping[str, Any]) -> bytes:
    """Score distributions of good and bad test applicants, as shares of each outcome."""
    edges = np.array(histogram["edges"])
    fig = Figure(figsize=(8, 3.6), dpi=100)  # no pyplot: no global state, safe in threads
    ax = fig.subplots()
    for key, colour, label in (("good", "#2a7", "good"), ("bad", "#c33", "bad")):
        counts = np.array(histogram[key], dtype=float)
        ax.stairs(
            counts / max(counts.sum(), 1), edges, fill=True, alpha=0.45, color=colour, label=label
        )
    ax.set_xlabel("score")
    ax.set_ylabel("share of outcome")
    ax.set_title("Score distribution by outcome (test split)")
    ax.legend()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _headline(ev: Mapping[str, Any]) -> str:
    cv = ev.get("cv")
    if not cv:
        return "<p>Cross-validation was not run for this artifact.</p>"
    card, ch = cv["scorecard"], cv["challenger"]
    met = card["mean"] >= cv["target_auc"]
    verdict = f'<span class="{"ok" if met else "miss"}">{"met" if met else "not met"}</span>'
    return (
        f"<p>{cv['splits']} × {cv['repeats']} repeated stratified cross-validation, "
        f"target mean AUC ≥ {cv['target_auc']}: {verdict}.</p>"
        + table(
            ["model", "mean AUC", "std", "min", "max"],
            [
                [
                    "scorecard (WoE + logistic regression)",
                    card["mean"],
                    card["std"],
                    min(card["folds"]),
                    max(card["folds"]),
                ],
                [
                    "challenger (LightGBM)",
                    ch["mean"],
                    ch["std"],
                    min(ch["folds"]),
                    max(ch["folds"]),
                ],
            ],
        )
    )


def _bands(rows: list[Mapping[str, Any]], key: str) -> str:
    return table(
        [key, "count", "bad", "bad rate", "mean PD"],
        [[r[key], r["count"], r["bad"], r["bad_rate"], r["mean_pd"]] for r in rows],
    )


def _characteristics(card: Mapping[str, Any]) -> str:
    parts = []
    for c in card["characteristics"]:
        parts.append(
            f"<h3>{escape(c['name'])} <small>IV {c['iv']:.3f}, coefficient "
            f"{c['coefficient']:.3f}</small></h3>"
            + table(
                ["bin", "count", "bad", "WoE", "points"],
                [[b["label"], b["count"], b["bad"], b["woe"], b["points"]] for b in c["bins"]],
            )
        )
    return "".join(parts)


def render(artifact: Mapping[str, Any]) -> str:
    """The report page for ``artifact``."""
    ev, card, sel, data = (
        artifact["evaluation"],
        artifact["scorecard"],
        artifact["selection"],
        artifact["data"],
    )
    png = base64.b64encode(distribution_png(ev["histogram"])).decode()
    sc = card["scaling"]
    used = {c["name"] for c in card["characteristics"]}

    def status(name: str) -> str:
        return "scored" if name in used else "low IV" if name in sel["low_iv"] else "wrong sign"

    ivs = sorted(sel["information_value"].items(), key=lambda kv: -kv[1])
    iv_rows = [[n, iv, status(n)] for n, iv in ivs]
    iv_rows += [[n, None, "excluded (protected)"] for n in sel["excluded"]]
    test, ch = ev["test"], ev["challenger"]["test"]
    split_rows = [
        ["scorecard", test["auc"], test["ks"], test["gini"]],
        ["challenger (LightGBM)", ch["auc"], ch["ks"], ch["gini"]],
    ]
    grade_rows = [[g["grade"], g["min_score"]] for g in card["grades"]] + [["E", "below D"]]
    version = escape(artifact["model_version"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{version} — scorecard report</title><style>{STYLE}</style></head><body>
<h1>Scorecard {version}</h1>
<p>Trained {escape(artifact["trained_at"])} on {escape(data["source"])}
({data["rows"]} applicants, {data["bad"]} bad; sha256 {escape(data["sha256"][:16])}…),
seed {artifact["config"]["seed"]}, {data["train_rows"]} train / {data["test_rows"]} test.
Points: {sc["base_score"]} at {sc["base_odds"]:g}:1 good:bad, {sc["pdo"]:g} points to double
the odds; base points {card["base_points"]}. Artifact sha256 {escape(artifact["sha256"])}.</p>
<h2>Headline</h2>{_headline(ev)}
<h2>Test split</h2>{table(["model", "AUC", "KS", "Gini"], split_rows)}
<p>Train AUC {ev["train"]["auc"]:.4f}. PSI train vs test {ev["psi_train_test"]:.4f}
(below 0.1 is stable).</p>
<img alt="score distribution by outcome" src="data:image/png;base64,{png}">
<h2>Calibration by score band (test)</h2>{_bands(ev["calibration"], "band")}
<h2>Grades (test)</h2>{table(["grade", "lowest score"], grade_rows)}
{_bands(ev["grades"], "grade")}
<h2>Attribute selection</h2>{table(["attribute", "information value", "status"], iv_rows)}
<h2>Bins and points</h2>{_characteristics(card)}
</body></html>
"""
