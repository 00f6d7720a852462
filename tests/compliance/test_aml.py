"""AML: large-value thresholds at the boundary, structuring, in-and-out, cases, the watch list.

Money moves through the real custody flows against the sandbox bank; the monitors read the
completed instructions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from custody.conftest import FAST_HASHER, fund, open_user, settle, withdraw
from identity.conftest import ALICE, new_customer
from lending import factories
from puhui.compliance import aml
from puhui.core.errors import Conflict, ValidationError
from puhui.custody.sandbox import SandboxBank
from puhui.custody.service import get_account
from puhui.db.engine import run_in_transaction
from puhui.identity.models import customers
from puhui.ledger.service import get_account as ledger_account

YUAN = 100
DAY = date(2026, 11, 2)  # a Monday; the clock fixture's Shanghai date
STAFF = "staff:7"


@pytest.fixture
def bank(engine, clock) -> SandboxBank:
    return SandboxBank(engine, clock=clock, hasher=FAST_HASHER)


def person(engine, clock, bank, kind: str = "person") -> tuple[int, str]:
    def work(c):
        cid = factories.customer(c, clock)
        c.execute(update(customers).where(customers.c.id == cid).values(kind=kind))
        return cid

    cid = run_in_transaction(engine, work)
    ref = f"customer-{cid}"
    open_user(engine, bank, clock, ref)
    return cid, ref


def scan(engine, clock, day=DAY):
    return run_in_transaction(engine, lambda c: aml.scan_large_value(c, day=day, clock=clock))


def test_large_value_thresholds_are_inclusive_per_customer_day_and_direction(engine, clock, bank):
    at, _ = person(engine, clock, bank)
    under, _ = person(engine, clock, bank)
    company, _ = person(engine, clock, bank, kind="entity")
    fund(engine, bank, clock, f"customer-{at}", 300_000 * YUAN)
    fund(engine, bank, clock, f"customer-{at}", 200_000 * YUAN)  # 500,000.00 in one day
    fund(engine, bank, clock, f"customer-{under}", 49_999_999)  # 499,999.99
    fund(engine, bank, clock, f"customer-{company}", 2_000_000 * YUAN)
    withdraw(engine, bank, clock, f"customer-{company}", 2_000_000 * YUAN)
    settle(engine, bank, clock)

    made = scan(engine, clock)
    got = {(r.customer_id, r.direction): r for r in made}
    assert set(got) == {(at, "in"), (company, "in"), (company, "out")}
    person_in = got[(at, "in")]
    assert (person_in.total_fen, person_in.txn_count, person_in.threshold_fen) == (
        50_000_000,
        2,
        50_000_000,
    )
    assert person_in.category == "person_domestic" and person_in.status == "pending"
    assert person_in.due_date == date(2026, 11, 9)  # 5 working days after Monday 11-02
    assert got[(company, "out")].category == "entity_transfer"
    assert got[(company, "out")].total_fen == 200_000_000
    assert scan(engine, clock) == []  # a rerun adds nothing

    # Money straight back out the same day: an in-and-out case for the company.
    cases = run_in_transaction(engine, lambda c: aml.detect_in_and_out(c, day=DAY, clock=clock))
    assert [(k.rule, k.customer_ids) for k in cases] == [("STR-INOUT", (company,))]

    filed = run_in_transaction(
        engine,
        lambda c: aml.file_large_value(c, report_id=person_in.id, by=STAFF, clock=clock),
    )
    assert filed.status == "filed" and filed.filed_by == STAFF
    with pytest.raises(Conflict):
        run_in_transaction(
            engine,
            lambda c: aml.file_large_value(c, report_id=person_in.id, by=STAFF, clock=clock),
        )
    with engine.connect() as c:
        out = aml.export(c, start=DAY, end=DAY)
    assert out["schema"] == "puhui.aml.export/1"
    assert {(r["customer_id"], r["direction"]) for r in out["large_value"]} == set(got)


def test_a_threshold_of_a_later_date_applies_from_that_date():
    later = (*aml.THRESHOLDS, aml.Threshold(date(2026, 12, 1), "person_domestic", "CNY", 1))
    assert aml.threshold("person_domestic", on=date(2026, 11, 30), table=later) == 50_000_000
    assert aml.threshold("person_domestic", on=date(2026, 12, 1), table=later) == 1
    with pytest.raises(ValidationError):
        aml.threshold("person_domestic", on=date(2016, 1, 1))


def test_structuring_just_under_the_threshold_opens_a_case_and_it_is_worked(engine, clock, bank):
    cid, ref = person(engine, clock, bank)
    fund(engine, bank, clock, ref, 460_000 * YUAN)  # 11-02: 92% of the threshold
    clock.set(datetime(2026, 11, 4, 2, tzinfo=UTC))
    fund(engine, bank, clock, ref, 499_000 * YUAN)  # 11-04: just under again
    day = date(2026, 11, 4)
    assert scan(engine, clock, day) == []  # nothing reaches the threshold
    found = run_in_transaction(engine, lambda c: aml.detect_structuring(c, day=day, clock=clock))
    assert len(found) == 1
    case = found[0]
    assert (case.rule, case.customer_ids, case.status) == ("STR-STRUCT", (cid,), "open")
    assert [d["total_fen"] for d in case.detail["days"]] == [46_000_000, 49_900_000]
    again = run_in_transaction(engine, lambda c: aml.detect_structuring(c, day=day, clock=clock))
    assert again == []

    def decide(c, **kw):
        return aml.decide_case(c, case_id=case.id, by=STAFF, clock=clock, **kw)

    with pytest.raises(Conflict):  # reasoning first
        run_in_transaction(engine, lambda c: decide(c, decision="confirm", reason="split"))
    reviewed = run_in_transaction(
        engine,
        lambda c: aml.review_case(
            c, case_id=case.id, reasoning="two deposits a day apart", by=STAFF, clock=clock
        ),
    )
    assert reviewed.status == "reviewing" and "two deposits a day apart" in reviewed.reasoning
    with pytest.raises(ValidationError):
        run_in_transaction(engine, lambda c: decide(c, decision="confirm", reason=" "))
    confirmed = run_in_transaction(
        engine, lambda c: decide(c, decision="confirm", reason="amounts split to avoid a report")
    )
    assert confirmed.status == "confirmed" and confirmed.due_date == date(2026, 11, 11)
    assert confirmed.decision_reason == "amounts split to avoid a report"
    filed = run_in_transaction(
        engine, lambda c: aml.file_case(c, case_id=case.id, by=STAFF, clock=clock)
    )
    assert filed.status == "filed"
    with engine.connect() as c:
        exported = aml.export(c, start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert [k["id"] for k in exported["suspicious"]] == [case.id]


def test_watch_list_match_blocks_and_freezes(engine, clock, bank, keys):
    cid = new_customer(engine, keys, clock, ALICE)
    ref = f"customer-{cid}"
    open_user(engine, bank, clock, ref)
    fund(engine, bank, clock, ref, 1_000 * YUAN)
    with engine.connect() as c:
        assert not aml.is_blocked(c, cid)
    out = run_in_transaction(
        engine,
        lambda c: aml.add_to_watch_list(
            c, list_name="UN-1267", id_number=ALICE.id_number, keys=keys, by=STAFF, clock=clock
        ),
    )
    assert [(b["customer_id"], b["frozen_fen"]) for b in out["blocked"]] == [(cid, 100_000)]
    with engine.connect() as c:
        assert aml.is_blocked(c, cid)
        with pytest.raises(Conflict):
            aml.require_not_blocked(c, cid)
        acc = get_account(c, user_ref=ref, role="lender")
        led = ledger_account(c, acc.ledger_account_id)
        assert (led.credit_balance, led.available) == (100_000, 0)
        case = aml.get_case(c, case_id=out["blocked"][0]["case_id"])
    assert (case.rule, case.status, case.due_date) == ("STR-WATCH", "confirmed", DAY)
    with pytest.raises(Conflict):  # the frozen money cannot leave
        withdraw(engine, bank, clock, ref, 1 * YUAN)
    # Adding the same entry again blocks nobody twice.
    again = run_in_transaction(
        engine,
        lambda c: aml.add_to_watch_list(
            c, list_name="UN-1267", id_number=ALICE.id_number, keys=keys, by=STAFF, clock=clock
        ),
    )
    assert again["blocked"] == []


def test_shared_card_device_and_third_party_repayment_monitors(engine, clock, bank):
    from custody.conftest import password
    from puhui.custody import flows
    from puhui.identity.models import bank_cards, sessions
    from puhui.ledger.codes import TransferCode

    a, ref_a = person(engine, clock, bank)
    b, _ = person(engine, clock, bank)
    c_, ref_c = person(engine, clock, bank)
    open_user(engine, bank, clock, ref_c, role="borrower")
    now = int(clock.now().timestamp() * 1_000_000)
    with engine.begin() as conn:
        for cid, bidx in ((a, "card-1"), (b, "card-1"), (c_, "card-2")):
            conn.execute(
                bank_cards.insert().values(
                    customer_id=cid,
                    card_ct="-",
                    card_bidx=bidx,
                    status="active",
                    bound_us=now,
                    wrapped_key="-",
                    key_id="test",
                )
            )
        for k, cid in enumerate((a, b, c_)):
            conn.execute(
                sessions.insert().values(
                    token_hash=f"t{k}",
                    csrf_hash="-",
                    principal=f"customer:{cid}",
                    created_us=now,
                    last_seen_us=now,
                    expires_us=now + 1,
                    ip="10.0.0.9",
                    user_agent="Phone/1.0",
                )
            )
    fund(engine, bank, clock, ref_a, 5_000 * YUAN)
    flows.transfer(
        engine,
        bank,
        user_ref=ref_a,
        role="lender",
        to_user_ref=ref_c,
        to_role="borrower",
        amount=1_000 * YUAN,
        code=TransferCode.REPAYMENT,
        authorisation=password(),
        clock=clock,
    )
    settle(engine, bank, clock)
    with engine.begin() as conn:
        cards = aml.detect_shared_cards(conn, clock=clock)
        devices = aml.detect_shared_devices(conn, day=DAY, clock=clock)
        third = aml.detect_third_party_repayments(conn, day=DAY, clock=clock)
        assert aml.detect_shared_cards(conn, clock=clock) == []  # one case per finding
    assert [(k.rule, k.customer_ids) for k in cards] == [("STR-CARD", (a, b))]
    assert [(k.rule, k.customer_ids) for k in devices] == [("STR-DEVICE", (a, b, c_))]
    assert [(k.rule, k.customer_ids, k.detail["amount_fen"]) for k in third] == [
        ("STR-3RD", (a, c_), 100_000)
    ]
