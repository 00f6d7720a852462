"""Feed what became of each loan back to the credit decision that approved it.

Credit monitoring (``credit.monitoring``) ranks the scorecard by the bad rates of approved
decisions; those bad rates only mean something if every loan's performance is recorded. A loan
counts as *bad* once it was ever more than ``bad_dpd`` days past due or written off (the
scorecard's definition), and is *observed* once it is bad, closed, or has been on the books for
the performance window. Bad is sticky: a loan that was 91 days late and then cured stays bad,
as it would in the training data.

Set-based, idempotent per business date: one INSERT … SELECT for new observations and one
UPDATE for loans that turned bad; never a loop over loans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, and_, exists, insert, literal, or_, select, true, update

from puhui.core.clock import Clock
from puhui.credit.models import outcomes
from puhui.lending.models import applications, loans

#: More than this many days past due is bad (DIS-OPS-03's "over 90 days").
BAD_DPD = 90
#: A good loan is observed after this long on the books.
PERFORMANCE_DAYS = 90


@dataclass(frozen=True)
class OutcomeCounts:
    observed: int
    turned_bad: int


def record_outcomes(
    conn: Connection,
    *,
    business_date: date,
    clock: Clock,
    bad_dpd: int = BAD_DPD,
    performance_days: int = PERFORMANCE_DAYS,
) -> OutcomeCounts:
    """Record or update the outcome of every disbursed loan with a credit decision."""
    now_us = int(clock.now().timestamp() * 1_000_000)
    bad = or_(loans.c.dpd > bad_dpd, loans.c.state == "written_off", loans.c.written_off_fen > 0)
    observed = or_(
        bad,
        loans.c.state.in_(("settled", "written_off", "cancelled")),
        loans.c.start_date <= business_date - timedelta(days=performance_days),
    )
    source = (
        select(
            applications.c.decision_id,
            bad.label("bad"),
            literal(business_date).label("observed_on"),
            literal(now_us).label("recorded_us"),
        )
        .select_from(loans.join(applications, applications.c.id == loans.c.application_id))
        .where(
            applications.c.decision_id.is_not(None),
            loans.c.disbursed_us.is_not(None),
            observed,
            ~exists().where(outcomes.c.decision_id == applications.c.decision_id),
        )
    )
    # RETURNING counts the rows on both databases (psycopg's rowcount for INSERT … SELECT is
    # not to be relied on)
    added = conn.execute(
        insert(outcomes)
        .from_select(["decision_id", "bad", "observed_on", "recorded_us"], source)
        .returning(outcomes.c.decision_id)
    ).all()
    turned = conn.execute(
        update(outcomes)
        .where(
            outcomes.c.bad.is_not(true()),
            exists()
            .where(
                and_(
                    applications.c.decision_id == outcomes.c.decision_id,
                    loans.c.application_id == applications.c.id,
                )
            )
            .where(bad),
        )
        .values(bad=True, observed_on=business_date, recorded_us=now_us)
        .returning(outcomes.c.decision_id)
    ).all()
    return OutcomeCounts(observed=len(added), turned_bad=len(turned))
