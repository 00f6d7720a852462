"""The application and loan state machines: every legal move is made and recorded, every
illegal one refused naming both states."""

from __future__ import annotations

from itertools import product as pairs

import pytest
from sqlalchemy import insert, select, update

from puhui.core.errors import Conflict, NotFound
from puhui.identity.audit import Actor, list_entries
from puhui.lending import states
from puhui.lending.models import application_events, applications, loans
from puhui.lending.states import APPLICATION_TRANSITIONS, LOAN_TRANSITIONS, AppState, LoanState

from . import factories

ACTOR = Actor("staff:7")
APP_STATES = [s.value for s in AppState]
LOAN_STATES = [s.value for s in LoanState]
LEGAL_APP = sorted((f, t) for f, ts in APPLICATION_TRANSITIONS.items() for t in ts)
LEGAL_LOAN = sorted((f, t) for f, ts in LOAN_TRANSITIONS.items() for t in ts)


def test_the_machines_as_documented():
    assert (
        sorted(
            [
                ("draft", "submitted"),
                ("draft", "cancelled"),
                ("submitted", "under_review"),
                ("submitted", "cancelled"),
                ("under_review", "approved"),
                ("under_review", "rejected"),
                ("under_review", "manual_review"),
                ("manual_review", "approved"),
                ("manual_review", "rejected"),
                ("approved", "offered"),
                ("approved", "cancelled"),
                ("offered", "accepted"),
                ("offered", "declined"),
                ("offered", "expired"),
                ("offered", "cancelled"),
                ("accepted", "disbursed"),
                ("accepted", "cancelled"),
                ("disbursed", "cancelled"),
            ]
        )
        == LEGAL_APP
    )
    assert (
        sorted(
            [
                ("accepted", "disbursed"),
                ("accepted", "cancelled"),
                ("disbursed", "active"),
                ("disbursed", "settled"),
                ("disbursed", "cancelled"),
                ("active", "settled"),
                ("active", "written_off"),
                ("active", "cancelled"),
            ]
        )
        == LEGAL_LOAN
    )
    assert states.sources(APPLICATION_TRANSITIONS, "expired") == ("offered",)
    assert states.sources(LOAN_TRANSITIONS, "settled") == ("active", "disbursed")


@pytest.mark.parametrize(("frm", "to"), list(pairs(APP_STATES, APP_STATES)))
def test_check_every_application_pair(frm, to):
    if (frm, to) in LEGAL_APP:
        states.check_transition(APPLICATION_TRANSITIONS, "application", frm, to)
        return
    with pytest.raises(Conflict) as refused:
        states.check_transition(APPLICATION_TRANSITIONS, "application", frm, to)
    assert refused.value.code == "illegal_transition"
    assert f"from {frm} to {to}" in refused.value.message


@pytest.mark.parametrize(("frm", "to"), list(pairs(LOAN_STATES, LOAN_STATES)))
def test_check_every_loan_pair(frm, to):
    if (frm, to) in LEGAL_LOAN:
        states.check_transition(LOAN_TRANSITIONS, "loan", frm, to)
        return
    with pytest.raises(Conflict, match=f"from {frm} to {to}"):
        states.check_transition(LOAN_TRANSITIONS, "loan", frm, to)


def _application(conn, clock, customer_id, version_id, state):
    return conn.execute(
        insert(applications).values(
            customer_id=customer_id,
            product_version_id=version_id,
            amount_fen=100_000,
            term=12,
            purpose="consumer_goods",
            state=state,
            created_us=1,
            updated_us=1,
        )
    ).inserted_primary_key[0]


def test_every_application_move_on_the_database(engine, clock):
    with engine.begin() as c:
        version = factories.product(c, clock)
        cid = factories.customer(c, clock)
        for frm, to in pairs(APP_STATES, APP_STATES):
            app_id = _application(c, clock, cid, version.version_id, frm)
            if (frm, to) not in LEGAL_APP:
                with pytest.raises(Conflict, match=f"from {frm} to {to}"):
                    states.transition_application(
                        c, application_id=app_id, to=to, actor=ACTOR, reason="x", clock=clock
                    )
                assert (
                    c.execute(
                        select(applications.c.state).where(applications.c.id == app_id)
                    ).scalar()
                    == frm
                )
                continue
            moved = states.transition_application(
                c, application_id=app_id, to=to, actor=ACTOR, reason=f"{frm}→{to}", clock=clock
            )
            assert (moved.from_state, moved.to_state) == (frm, to)
            row = c.execute(select(applications).where(applications.c.id == app_id)).one()
            assert (row.state, row.updated_us) == (to, moved.at_us)
            event = c.execute(
                select(application_events).where(application_events.c.application_id == app_id)
            ).one()
            assert (event.from_state, event.to_state, event.actor, event.reason) == (
                frm,
                to,
                "staff:7",
                f"{frm}→{to}",
            )
        audited = list_entries(c, object_type="loan_application", limit=1000)
        assert len(audited) == len(LEGAL_APP)
        assert {e.event_type for e in audited} == {f"application.{t}" for _, t in LEGAL_APP}
        with pytest.raises(NotFound):
            states.transition_application(
                c, application_id=10**9, to="submitted", actor=ACTOR, reason="x", clock=clock
            )


def test_every_loan_move_on_the_database(engine, clock):
    with engine.begin() as c:
        book = factories.setup(c, clock, capital=0)
        for frm, to in pairs(LOAN_STATES, LOAN_STATES):
            c.execute(update(loans).where(loans.c.id == book.loan_id).values(state=frm, version=0))
            if (frm, to) not in LEGAL_LOAN:
                with pytest.raises(Conflict, match=f"from {frm} to {to}"):
                    states.transition_loan(
                        c, loan_id=book.loan_id, to=to, actor=ACTOR, reason="x", clock=clock
                    )
                continue
            states.transition_loan(
                c, loan_id=book.loan_id, to=to, actor=ACTOR, reason="x", clock=clock
            )
            row = c.execute(select(loans.c.state, loans.c.version)).one()
            assert (row.state, row.version) == (to, 1)
        audited = list_entries(c, object_type="loan", limit=1000)
        assert len(audited) == len(LEGAL_LOAN)
