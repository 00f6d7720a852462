"""Org chart, the team hierarchy's visibility, ownership transfers, channels, the lead
pipeline, tasks and events."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from identity.conftest import ACTOR
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity.errors import Forbidden
from puhui.identity.models import customers
from puhui.ops import channels, events, investments, leads, ownership
from puhui.ops import org as orgchart
from puhui.ops.models import ownership_history

from .conftest import person, viewer


def _flat(units):
    for u in units:
        yield u
        yield from _flat(u.children)


def test_the_org_chart_shows_teams_under_the_wealth_center_with_their_people(engine, org):
    with engine.connect() as c:
        tree = {u.code: u for u in _flat(orgchart.chart(c))}
    wealth = tree["wealth"]
    assert {u.code for u in wealth.children} == {"team-a", "team-b"}
    assert [p.display_name for p in tree["team-a"].people] == ["tm.qian", "fa.sun", "fa.li"]
    assert [p.position_code for p in wealth.people] == ["sales_director"]
    assert tree["finance"].kind == "center" and tree["security"] in tree["technology"].children


def test_position_duties_default_and_can_be_rewritten(engine, org, clock):
    with engine.connect() as c:
        fa = next(p for p in orgchart.list_positions(c) if p.code == "financial_advisor")
    assert fa.unit_code == "wealth" and fa.role_code == "financial_advisor"
    assert "flyers" in fa.duties
    got = run_in_transaction(
        engine,
        lambda c: orgchart.set_duties(
            c, position_code="financial_advisor", duties="服务客户", actor=ACTOR, clock=clock
        ),
    )
    assert got.duties == "服务客户"
    with pytest.raises(NotFound):
        run_in_transaction(
            engine,
            lambda c: orgchart.set_duties(
                c, position_code="nope", duties="x", actor=ACTOR, clock=clock
            ),
        )


def _visible_customers(engine, staff_id):
    v = viewer(engine, staff_id)
    with engine.connect() as c:
        q = select(customers.c.id).where(v.owns(customers.c.advisor_id, customers.c.team_id))
        return set(c.execute(q).scalars())


def test_visibility_follows_the_team_hierarchy(engine, org):
    assert _visible_customers(engine, org.fa1) == {org.c1}
    assert _visible_customers(engine, org.fa2) == {org.c2}
    assert _visible_customers(engine, org.manager_a) == {org.c1, org.c2}
    assert _visible_customers(engine, org.director) == {org.c1, org.c2, org.c3}
    assert _visible_customers(engine, org.ops) == {org.c1, org.c2, org.c3}
    assert viewer(engine, org.fa1).level == "own"
    assert viewer(engine, org.manager_a).level == "team"
    assert viewer(engine, org.director).level == "center"


def test_a_manager_transfers_a_customer_within_the_team_with_history(engine, org, clock):
    mgr = viewer(engine, org.manager_a)
    change = run_in_transaction(
        engine,
        lambda c: ownership.transfer(
            c,
            viewer=mgr,
            customer_id=org.c1,
            to_staff_id=org.fa2,
            reason="advisor on leave",
            actor=ACTOR,
            clock=clock,
        ),
    )
    assert (change.from_staff_id, change.to_staff_id) == (org.fa1, org.fa2)
    assert (change.from_team_id, change.to_team_id) == (org.team_a, org.team_a)
    assert _visible_customers(engine, org.fa1) == set()
    assert _visible_customers(engine, org.fa2) == {org.c1, org.c2}
    with engine.connect() as c:
        hist = ownership.history(c, viewer=mgr, customer_id=org.c1)
        assert [h.reason for h in hist] == ["advisor on leave"]
        books = ownership.books(c, viewer=mgr)
    assert [(b.advisor_id, b.customers) for b in books] == [(org.fa2, 2)]
    # outside the team: the customer and the receiving advisor are unknown to the manager
    for cid, to in ((org.c3, org.fa2), (org.c2, org.fa3)):
        with pytest.raises(NotFound):
            run_in_transaction(
                engine,
                lambda c, cid=cid, to=to: ownership.transfer(
                    c,
                    viewer=mgr,
                    customer_id=cid,
                    to_staff_id=to,
                    reason="x y",
                    actor=ACTOR,
                    clock=clock,
                ),
            )
    # an advisor cannot move customers at all
    fa2, director = viewer(engine, org.fa2), viewer(engine, org.director)
    with pytest.raises(Forbidden):
        run_in_transaction(
            engine,
            lambda c: ownership.transfer(
                c,
                viewer=fa2,
                customer_id=org.c2,
                to_staff_id=org.fa1,
                reason="mine now",
                actor=ACTOR,
                clock=clock,
            ),
        )
    # the director moves across teams
    run_in_transaction(
        engine,
        lambda c: ownership.transfer(
            c,
            viewer=director,
            customer_id=org.c3,
            to_staff_id=org.fa1,
            reason="team b closes",
            actor=ACTOR,
            clock=clock,
        ),
    )
    assert _visible_customers(engine, org.manager_a) == {org.c1, org.c2, org.c3}
    with engine.connect() as c:
        assert c.execute(select(ownership_history.c.id)).scalars().all() == [1, 2]


def test_channels_have_unique_codes_qr_links_and_refuse_banned_promises(engine, org, clock):
    batch = run_in_transaction(
        engine,
        lambda c: channels.flyer_batch(
            c,
            name="世纪公园 11月",
            quantity=500,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    other = run_in_transaction(
        engine,
        lambda c: channels.flyer_batch(
            c,
            name="陆家嘴 11月",
            quantity=300,
            team_id=org.team_a,
            owner_staff_id=org.fa2,
            actor=ACTOR,
            clock=clock,
        ),
    )
    assert batch.code != other.code and batch.code.startswith("FL") and len(batch.code) == 10
    assert (
        batch.link() == f"https://puhui.example/r/{batch.code}?utm_source=flyer&utm_medium=offline"
    )
    svg = channels.qr(batch.link())
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert channels.qr(batch.link(), kind="png").startswith(b"\x89PNG")
    with pytest.raises(ValidationError, match="banned promise: 保本"):
        run_in_transaction(
            engine,
            lambda c: channels.create(
                c,
                kind="campaign",
                name="双十一",
                landing_text="稳健出借，保 本 保息",
                actor=ACTOR,
                clock=clock,
            ),
        )


def test_the_lead_pipeline_from_flyer_to_repeat_investment(engine, keys, org, clock):
    batch = run_in_transaction(
        engine,
        lambda c: channels.flyer_batch(
            c,
            name="世纪公园",
            quantity=100,
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    p = person(40)
    lead_id, created = run_in_transaction(
        engine,
        lambda c: leads.capture(
            c, keys=keys, channel_code=batch.code.lower(), name=p.name, phone=p.phone, clock=clock
        ),
    )
    again, created2 = run_in_transaction(
        engine,
        lambda c: leads.capture(
            c, keys=keys, channel_code=batch.code, name=p.name, phone=p.phone, clock=clock
        ),
    )
    assert created and not created2 and again == lead_id
    fa1, fa2 = viewer(engine, org.fa1), viewer(engine, org.fa2)
    with engine.connect() as c:
        lead = leads.get(c, keys=keys, viewer=fa1, lead_id=lead_id)
        assert (lead.stage, lead.advisor_id, lead.phone) == (
            "new",
            org.fa1,
            p.phone[:3] + "****" + p.phone[-4:],
        )
        assert p.name not in lead.name
        with pytest.raises(NotFound):
            leads.get(c, keys=keys, viewer=fa2, lead_id=lead_id)
    run_in_transaction(
        engine,
        lambda c: leads.advance(
            c,
            keys=keys,
            viewer=fa1,
            lead_id=lead_id,
            to_stage="contacted",
            actor=ACTOR,
            clock=clock,
        ),
    )
    with pytest.raises(Conflict, match="cannot be moved to repeat"):
        run_in_transaction(
            engine,
            lambda c: leads.advance(
                c,
                keys=keys,
                viewer=fa1,
                lead_id=lead_id,
                to_stage="repeat",
                actor=ACTOR,
                clock=clock,
            ),
        )
    # the person registers and verifies: sync links the lead and gives the customer to fa1
    from .conftest import new_investor

    cid = new_investor(engine, keys, clock, 40, None, None)
    assert run_in_transaction(engine, lambda c: leads.sync(c, clock=clock)) == 1
    with engine.connect() as c:
        lead = leads.get(c, keys=keys, viewer=fa1, lead_id=lead_id)
        owner = c.execute(
            select(customers.c.advisor_id, customers.c.team_id).where(customers.c.id == cid)
        ).one()
    assert (lead.stage, lead.customer_id) == ("verified", cid)
    assert tuple(owner) == (org.fa1, org.team_a)
    assert run_in_transaction(engine, lambda c: leads.sync(c, clock=clock)) == 0
    for n, ref in enumerate(("inv-40-a", "inv-40-b")):
        inv, new = run_in_transaction(
            engine,
            lambda c, ref=ref: investments.record_investment(
                c,
                investment_ref=ref,
                customer_id=cid,
                amount_fen=1_000_000,
                term_months=12,
                product_code="P12",
                invested_on=date(2026, 11, 2),
                clock=clock,
            ),
        )
        assert new and inv.channel_id == batch.id and inv.advisor_id == org.fa1
        with engine.connect() as c:
            assert (
                leads.get(c, keys=keys, viewer=fa1, lead_id=lead_id).stage
                == ("first_investment", "repeat")[n]
            )
        with engine.connect() as c:
            assert leads.funnel(c, viewer=fa1)[("first_investment", "repeat")[n]] == 1


def test_tasks_and_reminders_stay_with_their_advisor(engine, keys, org, clock):
    batch = run_in_transaction(
        engine,
        lambda c: channels.create(
            c,
            kind="survey",
            name="社区调研",
            team_id=org.team_a,
            owner_staff_id=org.fa1,
            actor=ACTOR,
            clock=clock,
        ),
    )
    lead_id, _ = run_in_transaction(
        engine,
        lambda c: leads.capture(
            c, keys=keys, channel_code=batch.code, name="李四", phone="13800001111", clock=clock
        ),
    )
    fa1 = viewer(engine, org.fa1)
    t1 = run_in_transaction(
        engine,
        lambda c: leads.add_task(
            c,
            keys=keys,
            viewer=fa1,
            lead_id=lead_id,
            kind="call",
            due_on=date(2026, 11, 1),
            note="首次电话",
            clock=clock,
        ),
    )
    run_in_transaction(
        engine,
        lambda c: leads.add_task(
            c,
            keys=keys,
            viewer=fa1,
            lead_id=lead_id,
            kind="visit",
            due_on=date(2026, 11, 9),
            note="上门",
            clock=clock,
        ),
    )
    fa2, manager = viewer(engine, org.fa2), viewer(engine, org.manager_a)
    with engine.connect() as c:
        due = leads.reminders(c, viewer=fa1, today=date(2026, 11, 2))
        assert [t.id for t in due] == [t1.id]
        assert leads.reminders(c, viewer=fa2, today=date(2026, 11, 30)) == []
        assert len(leads.reminders(c, viewer=manager, today=date(2026, 11, 30))) == 2
    done = run_in_transaction(
        engine,
        lambda c: leads.complete_task(
            c, viewer=fa1, task_id=t1.id, outcome="约了面谈", clock=clock
        ),
    )
    assert done.status == "done"
    with pytest.raises(Conflict):
        run_in_transaction(
            engine,
            lambda c: leads.complete_task(c, viewer=fa1, task_id=t1.id, outcome="", clock=clock),
        )


def test_an_event_registers_signs_in_and_follows_up(engine, keys, org, clock):
    ev = run_in_transaction(
        engine,
        lambda c: events.create(
            c,
            title="理财沙龙",
            kind="salon",
            held_on=date(2026, 11, 14),
            location="浦东图书馆",
            capacity=2,
            team_id=org.team_a,
            owner_staff_id=org.fa2,
            actor=ACTOR,
            clock=clock,
        ),
    )
    regs = [
        run_in_transaction(
            engine,
            lambda c, n=n: events.register(
                c, keys=keys, event_id=ev.id, name="客户", phone=f"1370000000{n}", clock=clock
            ),
        )
        for n in (1, 2)
    ]
    with pytest.raises(Conflict, match="full"):
        run_in_transaction(
            engine,
            lambda c: events.register(
                c, keys=keys, event_id=ev.id, name="客户", phone="13700000003", clock=clock
            ),
        )
    fa2 = viewer(engine, org.fa2)
    lead1 = regs[0][0]
    run_in_transaction(
        engine, lambda c: events.sign_in(c, viewer=fa2, event_id=ev.id, lead_id=lead1, clock=clock)
    )
    task = run_in_transaction(
        engine,
        lambda c: events.follow_up(
            c, keys=keys, viewer=fa2, event_id=ev.id, lead_id=lead1, note="回访", clock=clock
        ),
    )
    assert task.due_on == date(2026, 11, 16) and task.staff_id == org.fa2
    fa1 = viewer(engine, org.fa1)
    with engine.connect() as c:
        got = events.get(c, event_id=ev.id)
        assert (got.registered, got.signed_in, got.followed_up) == (2, 1, 1)
        with pytest.raises(NotFound):
            events.sign_in(c, viewer=fa1, event_id=ev.id, lead_id=lead1, clock=clock)
