"""The rules-only decision on a loan application: what the law and the product require, with
no score.

It is the review's fallback when no scoring model is configured, and the regulatory check the
amount finally approved must pass in any case. Each reason is a ``credit.rules.RuleHit`` that
names its rule, so a rules-only rejection reads like a scored one. The identity, age, income,
student and purpose checks are credit's own (``credit.rules``); this module adds what only
lending knows:

* the amount within the product version's range;
* the balance caps, on the principal the borrower still owes here (P2P-CAP-05: repayment frees
  room), summed over every account with the same ID number (P2P-CAP-06). Unlike a scored
  decision, which approves less when the request exceeds the room, a rules-only decision
  rejects a request that would take the balance above a cap; the boundary itself is allowed
  (P2P-CAP-01: exactly 200,000.00 is accepted). Marketplace products are held to P2P-CAP-01..04,
  direct lending to MCL-CAP-01/02, as in ``credit.rules.cap_rooms``;
* a prohibited purpose on a marketplace product cites P2P-BRW-02 as well as MCL-USE-01's list.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import Connection, case, func, or_, select

from puhui.core.money import format_fen
from puhui.credit.application import Application, ProductOffer, Purpose
from puhui.credit.policy import Action, CreditPolicy
from puhui.credit.rules import (
    CapRoom,
    RuleHit,
    cap_rooms,
    identity_rules,
    income_rules,
    purpose_rules,
)
from puhui.identity import customers as customer_service
from puhui.identity.crypto import Keyring
from puhui.identity.models import customers
from puhui.lending.credit_line.models import lines as credit_lines
from puhui.lending.models import loans
from puhui.lending.product_terms import Mode
from puhui.lending.products import ProductVersion
from puhui.lending.schedules import TermUnit

#: What a borrower declares as an occupation that makes them a student (在校学生, RATE-CASH-01).
STUDENT_OCCUPATIONS = frozenset({"student", "学生", "在校学生"})
#: Loan states whose principal counts against the caps: signed loans count in full before
#: they are paid out, then by what is still owed.
OWING_STATES = ("accepted", "disbursed", "active", "written_off")
#: Entity caps: P2P-CAP-02 on this platform, P2P-CAP-04 across platforms, MCL-CAP-02.
ENTITY_PLATFORM_CAP_FEN = 1_000_000_00
ENTITY_ALL_PLATFORMS_CAP_FEN = 5_000_000_00
ENTITY_MCL_CAP_FEN = 1_000_000_00
DAYS_PER_MONTH = 30


@dataclass(frozen=True, repr=False)
class Borrower:
    """What the rules need to know about the applicant. ``id_number`` is the plain number for
    the age and the bureau; it is never stored or shown. ``outstanding_fen`` is the principal
    owed on this platform under the same identity; ``other_platforms_fen`` what the borrower
    declares owing elsewhere (P2P-CAP-03)."""

    customer_id: int
    kind: str
    kyc_verified: bool
    id_number: str
    annual_income_fen: int
    student: bool
    other_platforms_fen: int
    outstanding_fen: int

    def __repr__(self) -> str:  # the ID number never reaches a log through a repr
        return f"Borrower(customer_id={self.customer_id})"


@dataclass(frozen=True)
class Eligibility:
    """The rules-only outcome: eligible when no reason was found."""

    reasons: tuple[RuleHit, ...]
    rooms: tuple[CapRoom, ...]

    @property
    def eligible(self) -> bool:
        return not self.reasons


def outstanding_principal_fen(conn: Connection, *, customer_id: int) -> int:
    """Principal owed on this platform by the customer's identity: every account with the same
    ID number (P2P-CAP-06), signed loans in full, paid-out loans by principal outstanding, and
    the principal drawn on a consumer credit line (MCL-CAP-01 caps what a person owes, whatever
    the product)."""
    identity = (
        select(customers.c.id_number_bidx).where(customers.c.id == customer_id).scalar_subquery()
    )
    same_person = or_(customers.c.id == customer_id, customers.c.id_number_bidx == identity)
    owed = case(
        (loans.c.state == "accepted", loans.c.principal_fen),
        else_=loans.c.principal_outstanding_fen,
    )
    on_loans = (
        select(func.coalesce(func.sum(owed), 0))
        .select_from(loans.join(customers, customers.c.id == loans.c.customer_id))
        .where(loans.c.state.in_(OWING_STATES), same_person)
    )
    drawn = credit_lines.c.unbilled_fen + credit_lines.c.billed_fen + credit_lines.c.instalment_fen
    on_lines = (
        select(func.coalesce(func.sum(drawn), 0))
        .select_from(credit_lines.join(customers, customers.c.id == credit_lines.c.customer_id))
        .where(same_person)
    )
    return int(conn.execute(on_loans).scalar_one()) + int(conn.execute(on_lines).scalar_one())


def load_borrower(conn: Connection, *, keys: Keyring, customer_id: int) -> Borrower:
    """The applicant's facts from identity and from their loans here."""
    seen = customer_service.view(conn, keys=keys, customer_id=customer_id)
    id_number = ""
    if seen.id_number:
        plain = customer_service.unmask(
            conn, keys=keys, customer_id=customer_id, fields=["id_number"]
        )
        id_number = plain["id_number"] or ""
    return Borrower(
        customer_id=customer_id,
        kind=seen.kind,
        kyc_verified=seen.kyc_status == "verified" and seen.status == "active",
        id_number=id_number,
        annual_income_fen=seen.annual_income_fen or 0,
        student=(seen.occupation or "").strip().lower() in STUDENT_OCCUPATIONS,
        other_platforms_fen=seen.other_loans_fen or 0,
        outstanding_fen=outstanding_principal_fen(conn, customer_id=customer_id),
    )


def term_months(version: ProductVersion, term: int) -> int:
    """The term in months as credit counts it (a loan in days rounds up to whole months)."""
    if version.terms.term_unit is TermUnit.DAY:
        return max(1, -(-term // DAYS_PER_MONTH))
    return term


def credit_application(
    borrower: Borrower, version: ProductVersion, *, amount_fen: int, term: int, purpose: str
) -> Application:
    """The borrower's request in the credit decision's vocabulary."""
    return Application(
        applicant_ref=str(borrower.customer_id),
        id_number=borrower.id_number,
        kyc_verified=borrower.kyc_verified,
        annual_income_fen=borrower.annual_income_fen,
        purpose=purpose,  # type: ignore[arg-type]  # validated by Application
        requested_fen=amount_fen,
        term_months=term_months(version, term),
        student=borrower.student,
        platform_outstanding_fen=borrower.outstanding_fen,
    )


def _reject(code: str, regulation: str | None, zh: str, en: str) -> RuleHit:
    return RuleHit(code, Action.REJECT, regulation, zh, en)


def amount_rules(version: ProductVersion, amount_fen: int) -> list[RuleHit]:
    low, high = version.terms.min_amount_fen, version.terms.max_amount_fen
    if low <= amount_fen <= high:
        return []
    span = f"{format_fen(low, grouping=True)}–{format_fen(high, grouping=True)}"
    return [
        _reject(
            "HR-AMOUNT",
            None,
            f"申请金额 {format_fen(amount_fen, grouping=True)} 元不在产品额度 {span} 元之内",
            f"the amount {format_fen(amount_fen, grouping=True)} is outside the product's {span}",
        )
    ]


def entity_rooms(borrower: Borrower, *, marketplace: bool) -> list[CapRoom]:
    """The caps of a legal person or organisation (P2P-CAP-02/04, MCL-CAP-02)."""
    own = borrower.outstanding_fen
    if marketplace:
        everywhere = own + borrower.other_platforms_fen
        return [
            CapRoom("P2P-CAP-02", ENTITY_PLATFORM_CAP_FEN, ENTITY_PLATFORM_CAP_FEN - own),
            CapRoom(
                "P2P-CAP-04",
                ENTITY_ALL_PLATFORMS_CAP_FEN,
                ENTITY_ALL_PLATFORMS_CAP_FEN - everywhere,
            ),
        ]
    return [CapRoom("MCL-CAP-02", ENTITY_MCL_CAP_FEN, ENTITY_MCL_CAP_FEN - own)]


def balance_rules(rooms: list[CapRoom], amount_fen: int, outstanding_fen: int) -> list[RuleHit]:
    """A reject for every cap the loan would take the balance above (the cap itself is
    allowed)."""
    owed = format_fen(outstanding_fen, grouping=True)
    return [
        _reject(
            f"HR-{room.code}",
            room.code,
            f"本平台未还本金 {owed} 元，加上本次借款将超过监管上限 "
            f"{format_fen(room.cap_fen, grouping=True)} 元（剩余额度 "
            f"{format_fen(max(room.room_fen, 0), grouping=True)} 元）",
            f"with {owed} principal still owed here, this loan would take the balance above the "
            f"{format_fen(room.cap_fen, grouping=True)} regulatory cap (room left: "
            f"{format_fen(max(room.room_fen, 0), grouping=True)})",
        )
        for room in rooms
        if amount_fen > room.room_fen
    ]


def evaluate(
    borrower: Borrower,
    version: ProductVersion,
    *,
    amount_fen: int,
    term: int,
    purpose: str,
    today: date,
    policy: CreditPolicy | None = None,
    min_age: int = 22,
    max_age: int = 55,
) -> Eligibility:
    """Every reason the rules refuse this request (none: eligible). Pure."""
    policy = policy or CreditPolicy()
    marketplace = version.terms.mode is Mode.MARKETPLACE
    app = credit_application(borrower, version, amount_fen=amount_fen, term=term, purpose=purpose)
    offer = ProductOffer.from_product(version, min_age=min_age, max_age=max_age)
    if borrower.kind == "entity":
        reasons = [] if borrower.kyc_verified else identity_rules(app, offer, today=today)[:1]
        rooms = entity_rooms(borrower, marketplace=marketplace)
    else:
        reasons = identity_rules(app, offer, today=today) + income_rules(app)
        rooms = cap_rooms(
            marketplace=marketplace,
            annual_income_fen=borrower.annual_income_fen,
            own_outstanding_fen=borrower.outstanding_fen,
            other_outstanding_fen=borrower.other_platforms_fen,
            policy=policy,
        )
    purposes = purpose_rules(app)
    if marketplace and app.purpose is not Purpose.UNSPECIFIED:
        purposes = [replace(hit, regulation="P2P-BRW-02") for hit in purposes]
    reasons += purposes
    reasons += amount_rules(version, amount_fen)
    reasons += balance_rules(rooms, amount_fen, borrower.outstanding_fen)
    return Eligibility(tuple(reasons), tuple(rooms))
