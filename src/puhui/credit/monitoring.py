"""Is the model still right? Score drift, approval rate, and bad rates by grade and vintage.

* PSI of the scores decided in a period against the training scores, in the training decile
  bands the artifact keeps (``metrics.psi``; above 0.25 the population has shifted).
* The approval rate: approved over all decisions in the period (reviews counted apart).
* Bad rates of approved decisions by grade and by month of origination (vintage), from the
  outcomes lending records (``record_outcome``: bad once 90+ days overdue or written off).
  A grade whose bad rate no longer rises from A to E is a model that stopped ranking.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import NotFound
from puhui.credit.decision import Outcome
from puhui.credit.metrics import psi, shares
from puhui.credit.models import decisions, outcomes
from puhui.credit.scoring import ScoringModel


@dataclass(frozen=True)
class BadRate:
    key: str  # a grade, or a vintage month YYYY-MM
    approved: int
    observed: int
    bad: int

    @property
    def bad_rate(self) -> float | None:
        return self.bad / self.observed if self.observed else None


@dataclass(frozen=True)
class Monitoring:
    model_version: str
    since: date
    until: date
    decisions: int
    approved: int
    review: int
    rejected: int
    psi: float | None
    edges: tuple[float, ...]
    reference_shares: tuple[float, ...]
    live_shares: tuple[float, ...]
    by_grade: tuple[BadRate, ...]
    by_vintage: tuple[BadRate, ...]

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decisions if self.decisions else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        out = asdict(self)
        out.update(
            since=self.since.isoformat(),
            until=self.until.isoformat(),
            approval_rate=self.approval_rate,
            by_grade=[{**asdict(r), "bad_rate": r.bad_rate} for r in self.by_grade],
            by_vintage=[{**asdict(r), "bad_rate": r.bad_rate} for r in self.by_vintage],
        )
        return out


def record_outcome(
    conn: Connection, *, decision_id: int, bad: bool, observed_on: date, clock: Clock
) -> None:
    """What became of an approved decision's loan, as of ``observed_on`` (latest wins)."""
    if conn.execute(select(decisions.c.id).where(decisions.c.id == decision_id)).first() is None:
        raise NotFound("decision_not_found", f"no decision {decision_id}", field="decision_id")
    values = {
        "bad": bad,
        "observed_on": observed_on,
        "recorded_us": int(clock.now().timestamp() * 1_000_000),
    }
    done = conn.execute(
        update(outcomes).where(outcomes.c.decision_id == decision_id).values(**values)
    )
    if not done.rowcount:
        conn.execute(insert(outcomes).values(decision_id=decision_id, **values))


def _bad_rates(keys: list[str], bad: list[bool | None]) -> tuple[BadRate, ...]:
    approved, observed, bads = Counter(keys), Counter(), Counter()
    for k, b in zip(keys, bad, strict=True):
        if b is not None:
            observed[k] += 1
            bads[k] += int(b)
    return tuple(BadRate(k, approved[k], observed[k], bads[k]) for k in sorted(approved))


def monitor(conn: Connection, *, model: ScoringModel, since: date, until: date) -> Monitoring:
    """The model's figures over decisions made from ``since`` to ``until`` (inclusive)."""
    rows = conn.execute(
        select(
            decisions.c.outcome,
            decisions.c.score,
            decisions.c.grade,
            decisions.c.business_date,
            outcomes.c.bad,
        )
        .select_from(decisions.outerjoin(outcomes, outcomes.c.decision_id == decisions.c.id))
        .where(decisions.c.business_date >= since, decisions.c.business_date <= until)
        .where(decisions.c.model_version == model.version)
    ).all()
    counts = Counter(r.outcome for r in rows)
    reference = model.reference or {"edges": [], "shares": [1.0]}
    edges = list(reference["edges"])
    scores = np.array([r.score for r in rows if r.score is not None], dtype=np.float64)
    live = shares(scores, edges) if len(scores) else []
    approved = [r for r in rows if r.outcome == Outcome.APPROVE.value]
    outcome_of = [None if r.bad is None else bool(r.bad) for r in approved]
    return Monitoring(
        model_version=model.version,
        since=since,
        until=until,
        decisions=len(rows),
        approved=counts[Outcome.APPROVE.value],
        review=counts[Outcome.REVIEW.value],
        rejected=counts[Outcome.REJECT.value],
        psi=psi(reference["shares"], live) if len(scores) else None,
        edges=tuple(edges),
        reference_shares=tuple(reference["shares"]),
        live_shares=tuple(live),
        by_grade=_bad_rates([r.grade for r in approved], outcome_of),
        by_vintage=_bad_rates([r.business_date.strftime("%Y-%m") for r in approved], outcome_of),
    )
