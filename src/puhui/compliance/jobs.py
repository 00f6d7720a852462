"""The daily compliance step: AML monitors for the day, then every regulatory check.

Run after the end-of-day batch for ``business_date`` (``puhui compliance daily``); the AML part
and the checks each commit on their own, so a failed check does not lose the day's reports.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine

from puhui.compliance import aml, checks
from puhui.core.clock import Clock
from puhui.db.engine import run_in_transaction


def daily(engine: Engine, *, business_date_: date, clock: Clock) -> dict[str, Any]:
    monitors = run_in_transaction(
        engine, lambda c: aml.run_monitors(c, day=business_date_, clock=clock)
    )
    result = checks.run_checks(engine, clock=clock, business_date_=business_date_)
    return {"aml": monitors, "checks": result.as_dict()}
