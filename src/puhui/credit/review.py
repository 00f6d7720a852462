"""Human review of an automated rejection (PI-ADM-01, PIPL Art. 24).

The borrower asks once per rejected decision, giving a reason; a credit officer upholds or
overturns it with a note. The decision row itself never changes: the review is kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.credit.decision import Outcome, get_decision
from puhui.credit.models import reviews

MAX_REASON = 2000


class ReviewStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the rejection stands
    OVERTURNED = "overturned"  # the officer approves after all


@dataclass(frozen=True)
class Review:
    id: int
    decision_id: int
    applicant_ref: str
    reason: str
    status: ReviewStatus
    reviewer: str | None
    note: str | None
    requested_us: int
    resolved_us: int | None


def _review(row) -> Review:  # type: ignore[no-untyped-def]
    return Review(
        row.id,
        row.decision_id,
        row.applicant_ref,
        row.reason,
        ReviewStatus(row.status),
        row.reviewer,
        row.note,
        row.requested_us,
        row.resolved_us,
    )


def _now_us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > MAX_REASON:
        raise ValidationError(
            f"{field}_invalid", f"{field} is 1–{MAX_REASON} characters", field=field
        )
    return value


def get_review(conn: Connection, *, decision_id: int) -> Review | None:
    row = conn.execute(select(reviews).where(reviews.c.decision_id == decision_id)).first()
    return None if row is None else _review(row)


def request_review(
    conn: Connection, *, decision_id: int, applicant_ref: str, reason: str, clock: Clock
) -> Review:
    """The applicant's request for a person to look at their rejection. Asking again returns
    the request already made; another applicant's decision is not found."""
    decision = get_decision(conn, decision_id=decision_id)
    if decision.applicant_ref != applicant_ref:
        raise NotFound("decision_not_found", f"no decision {decision_id}", field="decision_id")
    if decision.outcome is not Outcome.REJECT:
        raise Conflict(
            "review_needs_rejection",
            f"decision {decision_id} is {decision.outcome.value}; only a rejection is reviewed",
            field="decision_id",
        )
    existing = get_review(conn, decision_id=decision_id)
    if existing is not None:
        return existing
    conn.execute(
        insert(reviews).values(
            decision_id=decision_id,
            applicant_ref=applicant_ref,
            reason=_text(reason, "reason"),
            status=ReviewStatus.OPEN.value,
            requested_us=_now_us(clock),
        )
    )
    review = get_review(conn, decision_id=decision_id)
    assert review is not None
    return review


def resolve_review(
    conn: Connection, *, decision_id: int, reviewer: str, overturn: bool, note: str, clock: Clock
) -> Review:
    """A credit officer's answer to an open review."""
    review = get_review(conn, decision_id=decision_id)
    if review is None:
        raise NotFound(
            "review_not_found", f"no review of decision {decision_id}", field="decision_id"
        )
    if review.status is not ReviewStatus.OPEN:
        raise Conflict("review_closed", f"the review is already {review.status.value}")
    status = ReviewStatus.OVERTURNED if overturn else ReviewStatus.UPHELD
    conn.execute(
        update(reviews)
        .where(reviews.c.id == review.id, reviews.c.status == ReviewStatus.OPEN.value)
        .values(
            status=status.value,
            reviewer=reviewer,
            note=_text(note, "note"),
            resolved_us=_now_us(clock),
        )
    )
    resolved = get_review(conn, decision_id=decision_id)
    assert resolved is not None
    return resolved
