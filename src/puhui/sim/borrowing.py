"""The borrowers' side of a simulated day, through ``lending``'s own services.

Applications arrive as a Poisson stream over borrowers who owe nothing and have nothing
pending; each is created and submitted by the borrower, reviewed by the scored credit decision
(the borrower's scorecard attributes are their German credit row), sent to two risk staff when
the decision refers it (maker recommends, checker decides), offered, and accepted with a
probability. Overdue loans get collection contacts in the allowed hours.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sqlalchemy import Connection, select

from puhui.core.errors import PuhuiError
from puhui.credit.application import Purpose
from puhui.db.engine import run_in_transaction
from puhui.identity.audit import SYSTEM, Actor
from puhui.lending import applications, collections, products
from puhui.lending.applications import CreditServices, LoanApplication
from puhui.lending.models import applications as application_rows
from puhui.lending.models import loans
from puhui.sim.world import World

#: German credit purposes in the credit decision's vocabulary (借款用途).
PURPOSES = {
    "business": Purpose.BUSINESS,
    "car (new)": Purpose.CAR,
    "car (used)": Purpose.CAR,
    "domestic appliances": Purpose.CONSUMER_GOODS,
    "education": Purpose.EDUCATION,
    "furniture/equipment": Purpose.HOME_RENOVATION,
    "others": Purpose.CONSUMER_GOODS,
    "radio/television": Purpose.CONSUMER_GOODS,
    "repairs": Purpose.HOME_RENOVATION,
    "retraining": Purpose.EDUCATION,
}
#: Application and loan states that keep a borrower from applying (again).
BUSY_APPLICATION = (
    "draft",
    "submitted",
    "under_review",
    "manual_review",
    "approved",
    "offered",
    "rejected",  # a rejected borrower does not come back within the simulation
)
BUSY_LOAN = ("accepted", "disbursed", "active")
#: Above this modelled probability of default a risk officer recommends rejection.
REVIEW_PD_LIMIT = 0.35


def credit_services(world: World) -> CreditServices:
    key = hashlib.sha256(f"sim-fingerprints\x1f{world.config.seed}".encode()).digest()
    return CreditServices(model=world.model, bureau=world.bureau, fingerprint_key=key)


def _customer(cid: int) -> Actor:
    return Actor(f"customer:{cid}")


def _staff(world: World, role: str) -> Actor:
    return Actor(f"staff:{world.staff_ids[role]}")


def busy_customers(conn: Connection) -> set[int]:
    apps = conn.execute(
        select(application_rows.c.customer_id).where(application_rows.c.state.in_(BUSY_APPLICATION))
    ).scalars()
    owing = conn.execute(select(loans.c.customer_id).where(loans.c.state.in_(BUSY_LOAN))).scalars()
    return {int(c) for c in apps} | {int(c) for c in owing}


def free_rows(world: World, busy: set[int]) -> np.ndarray:
    """Rows of the borrowers who may apply: nothing owed, nothing pending."""
    keep = ~np.isin(world.borrower_ids, np.fromiter(busy, dtype=np.int64, count=len(busy)))
    return keep.nonzero()[0].astype(np.int64)


def _decide_referral(world: World, conn: Connection, app: LoanApplication, pd_: float) -> None:
    """Maker (risk officer) recommends by the modelled risk; checker (risk manager) decides."""
    verdict = "approve" if pd_ < REVIEW_PD_LIMIT else "reject"
    applications.recommend(
        conn,
        application_id=app.id,
        recommendation=verdict,
        actor=_staff(world, "risk_officer"),
        reason=f"simulated review: modelled PD {pd_:.1%}",
        clock=world.clock,
    )
    decide = applications.approve if verdict == "approve" else applications.reject
    decide(
        conn,
        application_id=app.id,
        actor=_staff(world, "risk_manager"),
        reason="concur with the recommendation",
        clock=world.clock,
    )


def decide(
    world: World, row: int, version_id: int, *, amount_fen: int, term: int, offer: bool = True
) -> tuple[int, str]:
    """One borrower's application from draft to approved (and offered, with ``offer``) or
    rejected, in one transaction; (application id, state)."""
    assert world.borrowers is not None
    cid = int(world.borrower_ids[row])
    b = world.borrowers
    features = b.features_of(row)
    purpose = PURPOSES.get(str(features.get("purpose")), Purpose.CONSUMER_GOODS)

    def decided(conn: Connection) -> tuple[int, str]:
        me = _customer(cid)
        app = applications.create(
            conn,
            customer_id=cid,
            product_version_id=version_id,
            amount_fen=amount_fen,
            term=term,
            purpose=purpose.value,
            actor=me,
            clock=world.clock,
            channel="sim",
        )
        applications.submit(
            conn, application_id=app.id, customer_id=cid, actor=me, clock=world.clock
        )
        app = applications.review(
            conn,
            application_id=app.id,
            actor=SYSTEM,
            keys=world.keys,
            clock=world.clock,
            credit=credit_services(world),
            features=features,
        )
        if app.state == "manual_review":
            _decide_referral(world, conn, app, float(b.pd[row]))
            app = applications.get_application(conn, application_id=app.id)
        if app.state == "approved" and offer:
            applications.make_offer(conn, application_id=app.id, actor=SYSTEM, clock=world.clock)
        return app.id, app.state

    return run_in_transaction(world.engine, decided)


def _apply(world: World, row: int, version_id: int, accept: bool) -> str:
    """One borrower's application from draft to accepted, declined or rejected; its state.
    Deciding and offering is one transaction, the borrower's answer another."""
    assert world.borrowers is not None
    cid = int(world.borrower_ids[row])
    b = world.borrowers
    app_id, state = decide(
        world, row, version_id, amount_fen=int(b.amount_fen[row]), term=int(b.term[row])
    )
    if state != "approved":
        return state

    def answer(conn: Connection) -> str:
        me = _customer(cid)
        if not accept:
            applications.decline(
                conn, application_id=app_id, customer_id=cid, actor=me, clock=world.clock
            )
            return "declined"
        applications.accept(
            conn,
            application_id=app_id,
            customer_id=cid,
            actor=me,
            keys=world.keys,
            clock=world.clock,
        )
        return "accepted"

    try:
        return run_in_transaction(world.engine, answer)
    except PuhuiError as exc:  # e.g. a cap re-checked at signing: the offer stays unsigned
        return f"refused_at_signing_{exc.code}"


def loan_applications(world: World) -> None:
    """10:00–16:00 — the day's applications, one transaction each."""
    if world.borrowers is None or not len(world.borrower_ids):
        return
    world.at(10)
    with world.engine.connect() as conn:
        busy = busy_customers(conn)
        version_id = products.get_product(conn, code=world.product_code).version_id
    free = free_rows(world, busy)
    n = min(int(world.rng.poisson(world.config.apply_rate * len(free))), len(free))
    chosen = world.rng.choice(free, size=n, replace=False) if n else free[:0]
    accepts = world.rng.random(n) < world.config.accept_rate
    for k, (row, accept) in enumerate(zip(chosen.tolist(), accepts.tolist(), strict=True)):
        hours, minutes = divmod(6 * 60 * k // n, 60)  # spread evenly over 10:00-16:00
        world.at(10 + hours, minutes)
        world.count("applications_made")
        world.count(f"applications_{_apply(world, row, version_id, accept)}")


def collection_contacts(world: World) -> None:
    """16:30 — the collector works the queue: assign what nobody works, call each overdue
    borrower once (inside the allowed hours; the service refuses quiet hours)."""
    collector = world.staff_ids.get("collector")
    if collector is None:
        return
    world.at(16, 30)
    with world.engine.connect() as conn:
        items = collections.queue(conn, clock=world.clock, limit=100)
    actor = Actor(f"staff:{collector}")
    for item in items:
        promise = item.overdue_fen > 0 and world.rng.random() < 0.4

        def work(
            conn: Connection,
            loan_id: int = item.loan_id,
            assigned: bool = item.collector_id is not None,
            owed: int = int(item.overdue_fen) if promise else 0,
        ) -> None:
            if not assigned:
                collections.assign(
                    conn, loan_id=loan_id, collector_id=collector, actor=actor, clock=world.clock
                )
            collections.log_contact(
                conn,
                loan_id=loan_id,
                collector_id=collector,
                channel="phone",
                party="borrower",
                result="promise_to_pay" if owed else "no_answer",
                actor=actor,
                clock=world.clock,
                promise_date=world.today if owed else None,
                promise_fen=owed or None,
            )

        run_in_transaction(world.engine, work)
        world.count("collection_contacts")
