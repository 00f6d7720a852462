"""Collections: the overdue queue, assignment and reassignment, the contact log and its guards.

Loans are written straight into the sub-ledger tables here (the queue reads only their aging
columns and installments), so each test states the books it works on in a few lines.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, insert, select

from identity import conftest as identity_fixtures
from identity.conftest import ACTOR, new_staff
from puhui.core.clock import SHANGHAI, FixedClock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.db.metadata import metadata
from puhui.identity import roles
from puhui.identity.audit import Actor
from puhui.identity.crypto import Keyring
from puhui.identity.models import audit_log
from puhui.lending import calendar, collections
from puhui.lending.collection_models import assignments, contacts
from puhui.lending.models import installments, loan_transactions, loans

#: Fixtures shared with the identity tests: cheap Argon2 and a fixed keyring.
cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys

DAY = date(2026, 11, 2)  # the clock fixture's Shanghai date
MANAGER = Actor("staff:1", ("risk_manager",))


def shanghai(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def add_loan(
    conn: Connection,
    *,
    dpd: int,
    state: str = "active",
    due: date | None = None,
    principal: int = 100_000,
    interest: int = 1_000,
    paid_principal: int = 0,
    customer_id: int = 7,
) -> int:
    """A one-installment loan aged ``dpd`` days; its installment falls due ``dpd`` days before
    the business date unless ``due`` says otherwise."""
    bucket = "M0" if dpd == 0 else f"M{min(4, (dpd + 29) // 30)}"
    due = due or DAY - timedelta(days=max(dpd, 0) or -30)
    loan_id = conn.execute(
        insert(loans)
        .values(
            application_id=conn.execute(select(func.count()).select_from(loans)).scalar_one() + 1,
            customer_id=customer_id,
            product_version_id=1,
            state=state,
            principal_fen=principal,
            annual_rate="0.18",
            penalty_rate="0.27",
            rate_ppb=180_000_000,
            penalty_rate_ppb=270_000_000,
            year_days=360,
            method="bullet",
            term_unit="month",
            term=1,
            start_date=due - timedelta(days=30),
            maturity_date=due,
            irr_annual_rate="0.18",
            contract_text="",
            contract_sha256="0" * 64,
            signed_us=0,
            cooling_off_until_us=0,
            principal_outstanding_fen=principal - paid_principal,
            dpd=dpd,
            bucket=bucket,
            classification="normal" if dpd == 0 else "special_mention",
            created_us=0,
            updated_us=0,
        )
        .returning(loans.c.id)
    ).scalar_one()
    conn.execute(
        insert(installments).values(
            loan_id=loan_id,
            seq=1,
            period_start=due - timedelta(days=30),
            due_date=due,
            principal_fen=principal,
            interest_fen=interest,
            paid_principal_fen=paid_principal,
        )
    )
    return loan_id


def pay(conn: Connection, loan_id: int, amount: int, value_date: date, **kw: object) -> int:
    return conn.execute(
        insert(loan_transactions)
        .values(
            loan_id=loan_id,
            kind=kw.pop("kind", "repayment"),
            value_date=value_date,
            booked_date=value_date,
            amount_fen=amount,
            actor="customer:7",
            created_us=0,
            **kw,
        )
        .returning(loan_transactions.c.id)
    ).scalar_one()


@pytest.fixture
def staff(engine: Engine, clock: FixedClock, keys: Keyring) -> dict[str, int]:
    run_in_transaction(engine, roles.ensure_catalog)
    made = {
        name: new_staff(engine, keys, clock, name, position=position).member.id
        for name, position in (
            ("mgr.wang", "risk_manager"),
            ("col.li", "collector"),
            ("col.zhao", "collector"),
            ("fin.qian", "finance_specialist"),
        )
    }
    return made


def run(engine: Engine, work):  # type: ignore[no-untyped-def]
    return run_in_transaction(engine, work)


def counts(engine: Engine) -> tuple[int, int, int]:
    """Rows in the contact log, the assignments and the audit log: a refusal changes none."""
    with engine.connect() as c:
        return tuple(  # type: ignore[return-value]
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (contacts, assignments, audit_log)
        )


# ------------------------------------------------------------------------------------ queue


def test_the_queue_lists_overdue_loans_worst_first_with_what_is_past_due(engine, clock):
    ids = run(
        engine,
        lambda c: {
            "m1": add_loan(c, dpd=5),
            "m2a": add_loan(c, dpd=40, paid_principal=30_000),
            "m4": add_loan(c, dpd=95),
            "m2b": add_loan(c, dpd=40),
            "current": add_loan(c, dpd=0),
            "settled": add_loan(c, dpd=12, state="settled"),
            "written_off": add_loan(c, dpd=200, state="written_off"),
        },
    )
    with engine.connect() as c:
        found = collections.queue(c, clock=clock, limit=10)
        assert [(q.loan_id, q.dpd, q.bucket) for q in found] == [
            (ids["written_off"], 200, "M4"),
            (ids["m4"], 95, "M4"),
            (ids["m2a"], 40, "M2"),
            (ids["m2b"], 40, "M2"),
            (ids["m1"], 5, "M1"),
        ]
        m2a = found[2]
        assert (m2a.overdue_fen, m2a.principal_outstanding_fen) == (71_000, 70_000)
        assert m2a.oldest_due_date == DAY - timedelta(days=40)
        assert (m2a.collector_id, m2a.last_contact_us) == (None, None)
        assert [q.loan_id for q in collections.queue(c, clock=clock, bucket="M2")] == [
            ids["m2a"],
            ids["m2b"],
        ]
        assert [q.dpd for q in collections.queue(c, clock=clock, bucket="M4+")] == [200, 95]
        first = collections.queue(c, clock=clock, limit=2)
        rest = collections.queue(c, clock=clock, after_loan_id=first[-1].loan_id, limit=10)
        assert [q.loan_id for q in first + rest] == [q.loan_id for q in found]
        second = collections.queue(c, clock=clock, after_loan_id=ids["m2a"], limit=1)
        assert [q.loan_id for q in second] == [ids["m2b"]]
        with pytest.raises(ValidationError, match="bucket is one of"):
            collections.queue(c, clock=clock, bucket="M9")
        with pytest.raises(ValidationError, match="not a loan"):
            collections.queue(c, clock=clock, after_loan_id=999)


# ------------------------------------------------------------------------------- assignment


def test_assign_then_reassign_keeps_the_history_and_audits_each(engine, clock, staff):
    loan = run(engine, lambda c: add_loan(c, dpd=10))
    first = run(
        engine,
        lambda c: collections.assign(
            c, loan_id=loan, collector_id=staff["col.li"], actor=MANAGER, clock=clock
        ),
    )
    clock.advance(timedelta(hours=1))
    second = run(
        engine,
        lambda c: collections.assign(
            c,
            loan_id=loan,
            collector_id=staff["col.zhao"],
            actor=MANAGER,
            clock=clock,
            reason="li is on leave",
        ),
    )
    with engine.connect() as c:
        history = collections.assignment_history(c, loan_id=loan)
        assert [(a.id, a.collector_id, a.ended_us) for a in history] == [
            (first.id, staff["col.li"], second.assigned_us),
            (second.id, staff["col.zhao"], None),
        ]
        assert second.assigned_us - first.assigned_us == 3_600_000_000
        assert history[0].ended_by == "staff:1" and history[1].reason == "li is on leave"
        [item] = collections.queue(c, clock=clock)
        assert (item.collector_id, item.assigned_us) == (staff["col.zhao"], second.assigned_us)
        assert collections.queue(c, clock=clock, collector_id=staff["col.li"]) == []
        assert collections.queue(c, clock=clock, unassigned=True) == []
        events = c.execute(
            select(audit_log.c.event_type, audit_log.c.object_id, audit_log.c.actor).where(
                audit_log.c.event_type == "collections.assign"
            )
        ).all()
        assert events == [("collections.assign", str(loan), "staff:1")] * 2


ASSIGN_REFUSALS = [
    ("col.li", 10, "active", Conflict, "already_assigned"),
    ("fin.qian", 10, "active", ValidationError, "not_a_collector"),
    ("mgr.wang", 10, "active", ValidationError, "not_a_collector"),
    ("col.zhao", 0, "active", Conflict, "loan_not_overdue"),
    ("col.zhao", 20, "settled", Conflict, "loan_not_overdue"),
]


def test_assignment_refusals_change_nothing(engine, clock, staff):
    for who, dpd, state, error, code in ASSIGN_REFUSALS:
        loan = run(engine, lambda c, d=dpd, s=state: add_loan(c, dpd=d, state=s))
        if dpd:
            run(
                engine,
                lambda c, n=loan: c.execute(
                    insert(assignments).values(
                        loan_id=n, collector_id=staff["col.li"], assigned_by="x", assigned_us=1
                    )
                ),
            )
        before = counts(engine)
        with pytest.raises(error) as refused:
            run(
                engine,
                lambda c, n=loan, w=who: collections.assign(
                    c, loan_id=n, collector_id=staff[w], actor=MANAGER, clock=clock
                ),
            )
        assert refused.value.code == code, who
        assert counts(engine) == before


def test_assigning_a_missing_loan_or_staff_member_is_refused(engine, clock, staff):
    loan = run(engine, lambda c: add_loan(c, dpd=3))
    with pytest.raises(NotFound, match="no loan 999"):
        run(
            engine,
            lambda c: collections.assign(
                c, loan_id=999, collector_id=1, actor=MANAGER, clock=clock
            ),
        )
    with pytest.raises(ValidationError, match="not an active collector"):
        run(
            engine,
            lambda c: collections.assign(
                c, loan_id=loan, collector_id=999, actor=MANAGER, clock=clock
            ),
        )


# ------------------------------------------------------------------------------ contact log


@pytest.fixture
def assigned(engine, clock, staff) -> int:
    """An M1 loan assigned to col.li."""
    loan = run(engine, lambda c: add_loan(c, dpd=10))
    run(
        engine,
        lambda c: collections.assign(
            c, loan_id=loan, collector_id=staff["col.li"], actor=MANAGER, clock=clock
        ),
    )
    return loan


def contact(engine, clock, staff, loan, *, who="col.li", **kw):  # type: ignore[no-untyped-def]
    args = {"channel": "phone", "party": "borrower", "result": "no_answer"} | kw
    return run(
        engine,
        lambda c: collections.log_contact(
            c,
            loan_id=loan,
            collector_id=staff[who],
            actor=Actor(f"staff:{staff[who]}", ("collector",)),
            clock=clock,
            **args,
        ),
    )


def test_no_contact_between_22_and_8_shanghai_time(engine, clock, staff, assigned):
    for at, allowed in (
        (shanghai(7, 59), False),
        (shanghai(8, 0), True),
        (shanghai(21, 59), True),
        (shanghai(22, 0), False),
        (shanghai(23, 30), False),
        (shanghai(0, 0, day=3), False),
    ):
        clock.set(at)
        before = counts(engine)
        if allowed:
            made = contact(engine, clock, staff, assigned)
            assert made.contacted_us == int(at.timestamp() * 1_000_000)
            assert made.contact_date == at.date()
            assert counts(engine) == (before[0] + 1, before[1], before[2] + 1)
            continue
        with pytest.raises(Conflict, match="between 22:00 and 08:00") as refused:
            contact(engine, clock, staff, assigned)
        assert refused.value.code == "contact_quiet_hours"
        assert counts(engine) == before, at


def test_the_fourth_contact_of_a_day_is_refused_and_the_next_day_counts_anew(
    engine, clock, staff, assigned
):
    clock.set(shanghai(9))
    for channel in ("phone", "sms", "app"):
        contact(engine, clock, staff, assigned, channel=channel)
        clock.advance(timedelta(hours=1))
    before = counts(engine)
    with pytest.raises(Conflict, match="already had 3 contacts on 2026-11-02") as refused:
        contact(engine, clock, staff, assigned, channel="letter")
    assert refused.value.code == "contact_limit_reached"
    assert counts(engine) == before
    clock.set(shanghai(8, day=3))
    assert contact(engine, clock, staff, assigned).contact_date == date(2026, 11, 3)
    strict = collections.ContactPolicy(max_per_day=1)
    with pytest.raises(Conflict, match="at most 1 a day"):
        run(
            engine,
            lambda c: collections.log_contact(
                c,
                loan_id=assigned,
                collector_id=staff["col.li"],
                channel="visit",
                party="borrower",
                result="refused",
                actor=ACTOR,
                clock=clock,
                policy=strict,
            ),
        )


CONTACT_REFUSALS = [
    ({"party": "spouse"}, "third_party_contact_forbidden"),
    ({"party": "employer"}, "third_party_contact_forbidden"),
    ({"party": "neighbour"}, "party_invalid"),
    ({"channel": "fax"}, "channel_invalid"),
    ({"result": "threatened"}, "result_invalid"),
    ({"result": "promise_to_pay"}, "promise_incomplete"),
    ({"promise_date": date(2026, 11, 5)}, "promise_incomplete"),
    ({"promise_date": date(2026, 11, 5), "promise_fen": 0}, "promise_amount_invalid"),
    ({"promise_date": date(2026, 11, 1), "promise_fen": 100}, "promise_date_past"),
    ({"who": "col.zhao"}, "loan_not_assigned_to_you"),
]


def test_contact_refusals_change_nothing(engine, clock, staff, assigned):
    for kw, code in CONTACT_REFUSALS:
        before = counts(engine)
        with pytest.raises((ValidationError, Conflict)) as refused:
            contact(engine, clock, staff, assigned, **kw)
        assert refused.value.code == code
        assert counts(engine) == before


def test_a_loan_that_is_not_overdue_is_never_contacted(engine, clock, staff, assigned):
    run(engine, lambda c: c.execute(loans.update().values(dpd=0, bucket="M0")))
    before = counts(engine)
    with pytest.raises(Conflict, match="is not overdue") as refused:
        contact(engine, clock, staff, assigned)
    assert refused.value.code == "loan_not_overdue"
    assert counts(engine) == before


def test_a_third_party_refusal_names_the_rule(engine, clock, staff, assigned):
    with pytest.raises(ValidationError, match="only the borrower may be contacted"):
        contact(engine, clock, staff, assigned, party="friend")


# ------------------------------------------------------------------------- promises to pay


def test_promise_to_pay_is_kept_or_broken_by_the_repayments(engine, clock, staff, assigned):
    kept = contact(
        engine,
        clock,
        staff,
        assigned,
        result="promise_to_pay",
        promise_date=date(2026, 11, 5),
        promise_fen=10_000,
        note="will pay on payday",
    )
    broken = contact(
        engine,
        clock,
        staff,
        assigned,
        channel="sms",
        result="promise_to_pay",
        promise_date=date(2026, 11, 3),
        promise_fen=5_000,
    )
    plain = contact(engine, clock, staff, assigned)
    assert (kept.promise_status, kept.promise_paid_fen) == ("pending", 0)
    assert (plain.promise_status, plain.promise_paid_fen) == (None, None)

    def statuses() -> list[tuple[int, str | None, int | None]]:
        with engine.connect() as c:
            log = collections.contacts_of(c, loan_id=assigned, clock=clock)
        return [(x.id, x.promise_status, x.promise_paid_fen) for x in log]

    run(engine, lambda c: pay(c, assigned, 1_000, date(2026, 11, 1)))  # before the promise
    wrong = run(engine, lambda c: pay(c, assigned, 9_000, date(2026, 11, 3)))
    run(
        engine,
        lambda c: c.execute(
            loan_transactions.update()
            .where(loan_transactions.c.id == wrong)
            .values(reversed_by_id=wrong + 100)
        ),
    )
    run(engine, lambda c: pay(c, assigned, 6_000, date(2026, 11, 4)))
    run(engine, lambda c: calendar.set_date(c, business_date_=date(2026, 11, 5), clock=clock))
    assert statuses() == [
        (plain.id, None, None),
        (broken.id, "broken", 0),
        (kept.id, "pending", 6_000),
    ]
    run(engine, lambda c: pay(c, assigned, 4_000, date(2026, 11, 5)))
    assert statuses()[2] == (kept.id, "kept", 10_000)
    run(engine, lambda c: calendar.set_date(c, business_date_=date(2026, 11, 9), clock=clock))
    assert statuses()[2][1] == "kept"


def test_each_contact_is_audited_without_its_note(engine, clock, staff, assigned):
    made = contact(engine, clock, staff, assigned, note="borrower lost job")
    with engine.connect() as c:
        row = c.execute(
            select(audit_log).where(audit_log.c.event_type == "collections.contact")
        ).one()
    assert row.actor == f"staff:{staff['col.li']}" and row.object_id == str(assigned)
    assert str(made.id) in row.detail and "lost job" not in row.detail


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_quiet_hours_are_exactly_22_to_8_shanghai_whatever_the_instant(naive: datetime) -> None:
    instant = naive.replace(tzinfo=UTC)
    hour = instant.astimezone(SHANGHAI).hour
    assert collections.in_quiet_hours(instant) == (hour >= 22 or hour < 8)
    daytime = collections.ContactPolicy(quiet_from=time(12, 0), quiet_until=time(13, 0))
    assert collections.in_quiet_hours(instant, daytime) == (hour == 12)


def test_migration_0009_matches_the_collection_models(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "lending_collection_" in repr(d)] == []
