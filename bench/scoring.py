"""Scoring benchmark: one credit decision in-process, and a million applicants at once.

    .venv/bin/python bench/scoring.py                       # full run, about 10 seconds
    .venv/bin/python bench/scoring.py --quick               # smaller, a few seconds
    .venv/bin/python bench/scoring.py --markdown bench/results/scoring.md

* **One decision** (target p99 < 5 ms, no database): the sandbox bureau's report, the
  fingerprints of the identifiers (HMAC-SHA256), ``decision.evaluate`` (features checked,
  score with reasons, every hard, velocity, score and limit rule, limit, price under the legal
  cap) and the snapshot digest that would be stored. What ``decide`` adds on top is its SQL:
  the velocity count, the blacklist lookup and two inserts. Applicants are German credit rows
  with their own ID numbers and incomes, so the rules and grades vary as in life.
* **One score** (``ScoringModel.score`` alone), for scale.
* **A million applicants** (target < 5 s): ``ScoringModel.scores`` plus probabilities of
  default and grades over columns resampled from German credit, with categories given as
  strings and as integer codes; a sample is checked against the scalar path.

Latencies are per call over many calls after a warm-up; bulk timings are the best of several
runs with the median beside it, so a machine busy with other work shows in the median.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date
from decimal import Decimal

import numpy as np

from puhui.credit.application import Application, ProductOffer, Purpose
from puhui.credit.bureau import SandboxBureau
from puhui.credit.data import load_german_credit
from puhui.credit.decision import digest_of, evaluate, snapshot
from puhui.credit.features import Kind
from puhui.credit.fraud import DEV_KEY, fingerprints_of
from puhui.credit.policy import CreditPolicy
from puhui.credit.scoring import default_model
from puhui.identity.identifiers import id_check_char

TODAY = date(2026, 11, 2)
#: A licensed micro-lender's consumer loan: 1,000–200,000 at 8–18%.
OFFER = ProductOffer(
    code="XFD-12",
    marketplace=False,
    profile="licensed_lender",
    min_rate=Decimal("0.08"),
    max_rate=Decimal("0.18"),
    min_amount_fen=1_000_00,
    max_amount_fen=200_000_00,
)


def applicants(n: int, rng: np.random.Generator) -> list[Application]:
    data = load_german_credit()
    names = [n for n in data.columns if n != "monthly_installment"]
    rows = rng.integers(0, len(data), n)
    out = []
    for k, i in enumerate(rows):
        birth = f"19{rng.integers(60, 99)}0{rng.integers(1, 9)}1{rng.integers(0, 9)}"
        first17 = f"110101{birth}{k % 1000:03d}"
        out.append(
            Application(
                applicant_ref=f"c-{k}",
                id_number=first17 + id_check_char(first17),
                kyc_verified=True,
                annual_income_fen=int(rng.integers(30_000, 400_000)) * 100,
                purpose=Purpose.CONSUMER_GOODS,
                requested_fen=int(rng.integers(1_000, 50_000)) * 100,
                term_months=int(data.columns["duration_in_month"][i]),
                features={c: data.columns[c][i] for c in names if c != "age_in_years"},
                device_id=f"dev-{k}",
                ip=f"10.{k % 250}.{k % 7}.1",
                phone=f"138{k:08d}",
                card=f"62220212{k:011d}",
            )
        )
    return out


def one_decision(app, off, model, bureau, policy) -> str:
    report = bureau.report(id_number=app.id_number, as_of=TODAY)
    prints = fingerprints_of(app, DEV_KEY)
    ev = evaluate(app, off, report, model=model, policy=policy, today=TODAY)
    snap = snapshot(
        app,
        off,
        report,
        evaluation=ev,
        prints=prints,
        velocity={},
        blacklisted=(),
        model_version=model.version,
        policy_version=policy.version,
        today=TODAY,
    )
    return digest_of(snap)[1]


def latencies(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def columns(n: int, rng: np.random.Generator, model, *, codes: bool) -> dict[str, np.ndarray]:
    data = load_german_credit()
    rows = rng.integers(0, len(data), n)
    out = {}
    for c in model.characteristics:
        if c.name == "monthly_installment":
            continue
        col = data.columns[c.name][rows]
        if c.kind is Kind.NUMERIC:
            col = col + rng.integers(-1, 2, n)  # jitter so bins are crossed
        elif codes:
            col = model.encode(c.name, col)
        out[c.name] = col
    for src in ("credit_amount", "duration_in_month"):
        out.setdefault(src, data.columns[src][rows])
    return out


def bulk(model, cols) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = model.scores(cols)
    return scores, model.probabilities_of_default(scores), model.card.grades_of(scores)


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", help="write the results here")
    args = parser.parse_args()
    n_decisions, n_bulk, repeats = (2_000, 100_000, 2) if args.quick else (20_000, 1_000_000, 5)
    rng = np.random.default_rng(20261102)
    model, policy, off = default_model(), CreditPolicy(), OFFER
    bureau = SandboxBureau(synthetic=True)
    apps = applicants(n_decisions, rng)

    def decision(app):
        return one_decision(app, off, model, bureau, policy)

    for app in apps[:500]:
        decision(app)
    bureau.inquiries.clear()
    dec = latencies(decision, apps)
    outcomes = {}
    for app in apps[:2000]:
        report = bureau.report(id_number=app.id_number, as_of=TODAY)
        o = evaluate(app, off, report, model=model, policy=policy, today=TODAY).outcome.value
        outcomes[o] = outcomes.get(o, 0) + 1
    features = [dict(a.features, age_in_years=40) for a in apps]
    score = latencies(model.score, features)

    by_strings = columns(n_bulk, rng, model, codes=False)
    by_codes = {**by_strings}
    for c in model.characteristics:
        if c.kind is Kind.CATEGORICAL:
            by_codes[c.name] = model.encode(c.name, by_strings[c.name])
    bulk(model, by_strings)
    t_strings = timed(lambda: bulk(model, by_strings), repeats)
    t_codes = timed(lambda: bulk(model, by_codes), repeats)
    vector = model.scores(by_strings)
    sample = rng.integers(0, n_bulk, 1000)
    scalar = [model.score({k: v[i] for k, v in by_strings.items()}).score for i in sample]
    agree = bool(np.array_equal(vector[sample], np.array(scalar)))

    lines = [
        "# Scoring benchmark",
        "",
        "```",
        f".venv/bin/python bench/scoring.py{' --quick' if args.quick else ''}"
        + (f" --markdown {args.markdown}" if args.markdown else ""),
        "```",
        "",
        f"**Machine:** {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}. Other sessions run their "
        "tests on this machine at the same time.",
        "",
        f"**Model:** {model.version} ({len(model.characteristics)} characteristics).",
        "",
        "| measure | n | p50 | p99 | max | target |",
        "|---|---:|---:|---:|---:|---|",
        f"| one decision, in-process, no database | {len(dec):,} | {pct(dec, 50):.3f} ms | "
        f"{pct(dec, 99):.3f} ms | {max(dec):.3f} ms | p99 < 5 ms |",
        f"| one score with reasons | {len(score):,} | {pct(score, 50):.3f} ms | "
        f"{pct(score, 99):.3f} ms | {max(score):.3f} ms | |",
        "",
        f"Decision outcomes over the first 2,000 applicants: {outcomes}.",
        "",
        "| vectorised: scores, PD and grades | applicants | best | median | target |",
        "|---|---:|---:|---:|---|",
        f"| categories as strings | {n_bulk:,} | {min(t_strings):.3f} s | "
        f"{statistics.median(t_strings):.3f} s | < 5 s |",
        f"| categories as integer codes | {n_bulk:,} | {min(t_codes):.3f} s | "
        f"{statistics.median(t_codes):.3f} s | < 5 s |",
        "",
        f"Vectorised scores equal scalar scores on a sample of 1,000: {agree}.",
        "",
        "What `decide` adds to one decision is its SQL (velocity count, blacklist lookup, two "
        "inserts), measured by the test suite on SQLite and PostgreSQL, not here.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text)
    if not agree:
        raise SystemExit("vectorised and scalar scores disagree")


if __name__ == "__main__":
    main()
