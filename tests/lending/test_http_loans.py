"""Loans over HTTP: disburse, the borrower's loans and schedule, repay (charged once per
Idempotency-Key), prepay, cancel in cooling-off, staff repayments backdated and reversed, and the
end-of-day batch run and inspected."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from identity import conftest as identity_fixtures
from identity.conftest import ALICE, BOB
from puhui.db.engine import run_in_transaction
from puhui.lending import accounts, calendar, debit_channel
from puhui.lending.accounts import AccountCode
from puhui.lending.eod_models import debit_sandbox_accounts
from puhui.lending.models import installments, loan_transactions, loans

from .applicants import product
from .test_http_applications import APPLY, borrower

#: Fixtures shared with the identity tests: cheap Argon2, a fixed keyring, the HTTP app.
cheap_argon2 = identity_fixtures.cheap_argon2
keys = identity_fixtures.keys
platform = identity_fixtures.platform

CAPITAL = 100_000_000


@pytest.fixture
def book(platform):  # type: ignore[no-untyped-def]
    """Alice's signed loan of 12,000 yuan at 18% over 12 months, the company funded, and a
    finance clerk who disburses and services loans."""
    run_in_transaction(platform.engine, lambda c: product(c, platform.clock))
    run_in_transaction(
        platform.engine,
        lambda c: accounts.inject_capital(
            c, amount=CAPITAL, transfer_id="capital:test", clock=platform.clock
        ),
    )
    cid, alice = borrower(platform)
    app = platform.client.post("/api/v1/me/loan-applications", json=APPLY, headers=alice).json()
    signed = platform.client.post(
        f"/api/v1/me/loan-applications/{app['id']}/accept", headers=alice
    ).json()
    _, clerk = platform.staff("fin.qian", position="finance_specialist")
    return {"cid": cid, "alice": alice, "loan": signed["loan_id"], "clerk": clerk}


def key(k: str, headers: dict[str, str]) -> dict[str, str]:
    return headers | {"Idempotency-Key": k}


def disburse(platform: Any, book: dict[str, Any]) -> Any:
    return platform.client.post(
        f"/admin/api/v1/loans/{book['loan']}/disburse", json={}, headers=key("d1", book["clerk"])
    )


def count(platform: Any, table: Any, *where: Any) -> int:
    with platform.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def card(platform: Any, cid: int) -> int:
    with platform.engine.connect() as c:
        return c.execute(
            select(debit_sandbox_accounts.c.balance_fen).where(
                debit_sandbox_accounts.c.customer_id == cid
            )
        ).scalar_one()


def on(platform: Any, day: date) -> None:
    """Move the business date (as if the batch had closed the days between)."""
    run_in_transaction(
        platform.engine,
        lambda c: calendar.set_date(c, business_date_=day, clock=platform.clock),
    )


def gl(platform: Any) -> dict[AccountCode, int]:
    with platform.engine.connect() as c:
        assert accounts.check_subledger(c) == {}
        assert accounts.trial_balance(c).balanced
        return accounts.balances(c)


def test_disburse_pays_the_full_principal_once(platform, book):
    no_key = platform.client.post(
        f"/admin/api/v1/loans/{book['loan']}/disburse", json={}, headers=book["clerk"]
    )
    assert no_key.status_code == 400
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    r = disburse(platform, book)
    assert r.status_code == 201, r.text
    assert r.json()["principal_outstanding_fen"] == 1_200_000
    again = disburse(platform, book)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == r.json()
    other = platform.client.post(
        f"/admin/api/v1/loans/{book['loan']}/disburse", json={}, headers=key("d2", book["clerk"])
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "loan_state"
    balances = gl(platform)
    assert balances[AccountCode.LOANS_RECEIVABLE] == 1_200_000
    assert balances[AccountCode.COMPANY_CASH] == CAPITAL - 1_200_000
    assert count(platform, loan_transactions, loan_transactions.c.kind == "disbursement") == 1
    mine = platform.client.get(f"/api/v1/me/loans/{book['loan']}", headers=book["alice"]).json()
    assert mine["state"] in ("disbursed", "active")
    assert mine["irr_label"] == "年化利率（按内部收益率法/复利计算）"
    assert mine["annual_rate"] == "0.18" and mine["irr_annual_rate"].startswith("0.18")
    sched = platform.client.get(
        f"/api/v1/me/loans/{book['loan']}/schedule", headers=book["alice"]
    ).json()
    assert len(sched) == 12 and sched[0]["total_fen"] == 110_016
    assert sum(i["principal_fen"] for i in sched) == 1_200_000
    assert {i["status"] for i in sched} == {"upcoming"}
    contract = platform.client.get(
        f"/api/v1/me/loans/{book['loan']}/contract", headers=book["alice"]
    ).json()
    assert len(contract["sha256"]) == 64 and "年化利率" in contract["text"]


def test_a_borrower_repays_once_per_key_from_the_card(platform, book):
    disburse(platform, book)
    on(platform, date(2026, 12, 2))
    loan, alice = book["loan"], book["alice"]
    url = f"/api/v1/me/loans/{loan}/repayments"
    declined = platform.client.post(url, json={"amount_fen": 110_016}, headers=key("r1", alice))
    assert declined.status_code == 409
    assert declined.json()["error"]["code"] == "payment_declined"
    assert count(platform, loan_transactions, loan_transactions.c.kind == "repayment") == 0
    run_in_transaction(
        platform.engine,
        lambda c: debit_channel.fund(c, balances={book["cid"]: 500_000}, clock=platform.clock),
    )
    r = platform.client.post(url, json={"amount_fen": 110_016}, headers=key("r2", alice))
    assert r.status_code == 201, r.text
    paid = r.json()
    replay = platform.client.post(url, json={"amount_fen": 110_016}, headers=key("r2", alice))
    assert replay.status_code == 201 and replay.json() == paid
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = platform.client.post(url, json={"amount_fen": 1}, headers=key("r2", alice))
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert card(platform, book["cid"]) == 500_000 - 110_016
    assert count(platform, loan_transactions, loan_transactions.c.kind == "repayment") == 1
    # Due today, 2026-12-02: the first installment's interest, then its principal.
    assert paid["allocation"] == {
        "txn_id": paid["transaction_id"],
        "value_date": "2026-12-02",
        "principal_fen": 92_016,
        "interest_fen": 18_000,
        "fee_fen": 0,
        "late_fee_fen": 0,
        "penalty_fen": 0,
        "overpayment_fen": 0,
    }
    assert (paid["principal_outstanding_fen"], paid["credit_balance_fen"]) == (1_107_984, 0)
    sched = platform.client.get(f"/api/v1/me/loans/{loan}/schedule", headers=alice).json()
    assert [(i["seq"], i["status"], i["unpaid_fen"]) for i in sched[:2]] == [
        (1, "paid", 0),
        (2, "upcoming", 110_016),
    ]
    gl(platform)
    missing = platform.client.post(url, json={"amount_fen": 100}, headers=book["alice"])
    assert missing.status_code == 400
    _, bob = platform.onboard(BOB)
    theirs = platform.client.post(url, json={"amount_fen": 100}, headers=key("b1", bob))
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "loan_not_found"
    assert platform.client.get(f"/api/v1/me/loans/{loan}", headers=bob).status_code == 404
    assert platform.client.get("/api/v1/me/loans", headers=bob).json()["data"] == []


def test_prepay_in_full_settles_the_loan(platform, book):
    disburse(platform, book)
    loan, alice = book["loan"], book["alice"]
    run_in_transaction(
        platform.engine,
        lambda c: debit_channel.fund(c, balances={book["cid"]: 2_000_000}, clock=platform.clock),
    )
    quote = platform.client.get(f"/api/v1/me/loans/{loan}/prepayment-quote", headers=alice)
    assert quote.status_code == 200, quote.text
    q = quote.json()
    assert q["principal_fen"] + q["payable_fen"] >= 1_200_000
    assert q["total_fen"] == q["payable_fen"] + q["principal_fen"] + q["fee_fen"]
    partial = platform.client.post(
        f"/api/v1/me/loans/{loan}/prepayments",
        json={"mode": "shorter_term"},
        headers=key("p0", alice),
    )
    assert partial.status_code == 422 and partial.json()["error"]["code"] == "amount_required"
    r = platform.client.post(
        f"/api/v1/me/loans/{loan}/prepayments", json={"mode": "full"}, headers=key("p1", alice)
    )
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["principal_outstanding_fen"]) == ("settled", 0)
    assert card(platform, book["cid"]) == 2_000_000 - q["total_fen"]
    balances = gl(platform)
    assert balances[AccountCode.LOANS_RECEIVABLE] == 0


def test_cancel_in_the_cooling_off_window_returns_the_principal(platform, book):
    disburse(platform, book)
    loan, alice = book["loan"], book["alice"]
    run_in_transaction(
        platform.engine,
        lambda c: debit_channel.fund(c, balances={book["cid"]: 1_200_000}, clock=platform.clock),
    )
    r = platform.client.post(f"/api/v1/me/loans/{loan}/cancel", headers=key("c1", alice))
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "cancelled"
    assert card(platform, book["cid"]) == 0  # same day: the principal, no interest used
    with platform.engine.connect() as c:
        app_state = c.execute(select(loans.c.state).where(loans.c.id == loan)).scalar_one()
    assert app_state == "cancelled"
    assert gl(platform)[AccountCode.LOANS_RECEIVABLE] == 0


def test_after_the_cooling_off_window_cancel_is_refused_and_nothing_moves(platform, book):
    disburse(platform, book)
    run_in_transaction(
        platform.engine,
        lambda c: debit_channel.fund(c, balances={book["cid"]: 1_300_000}, clock=platform.clock),
    )
    platform.clock.advance(timedelta(hours=25))  # the default window is 24 hours
    alice = platform.login(ALICE)
    r = platform.client.post(f"/api/v1/me/loans/{book['loan']}/cancel", headers=key("c1", alice))
    assert r.status_code == 409 and r.json()["error"]["code"] == "cooling_off_over"
    assert card(platform, book["cid"]) == 1_300_000
    assert count(platform, loan_transactions) == 1


def test_staff_post_a_backdated_repayment_and_reverse_it(platform, book):
    disburse(platform, book)
    loan, clerk = book["loan"], book["clerk"]
    on(platform, date(2026, 12, 10))
    url = f"/admin/api/v1/loans/{loan}/repayments"
    future = platform.client.post(
        url,
        json={"amount_fen": 110_016, "value_date": "2026-12-11"},
        headers=key("s0", clerk),
    )
    assert future.status_code == 422 and future.json()["error"]["code"] == "value_date_in_future"
    r = platform.client.post(
        url,
        json={"amount_fen": 110_016, "value_date": "2026-12-02", "external_ref": "BANK-7"},
        headers=key("s1", clerk),
    )
    assert r.status_code == 201, r.text
    txn = r.json()["transaction_id"]
    assert r.json()["dpd"] == 0
    listed = platform.client.get(f"/admin/api/v1/loans/{loan}/transactions", headers=clerk).json()
    assert [(t["kind"], t["value_date"]) for t in listed["data"]] == [
        ("disbursement", "2026-11-02"),
        ("repayment", "2026-12-02"),
    ]
    with platform.engine.connect() as c:
        first = c.execute(
            select(installments).where(installments.c.loan_id == loan, installments.c.seq == 1)
        ).one()
    assert first.paid_principal_fen + first.paid_interest_fen == 110_016
    gl(platform)
    back = platform.client.post(
        f"/admin/api/v1/loans/{loan}/transactions/{txn}/reverse",
        json={"reason": "bank recalled the transfer"},
        headers=key("s2", clerk),
    )
    assert back.status_code == 201, back.text
    assert back.json()["dpd"] == 7  # as of the end of 12-09, the last closed day
    twice = platform.client.post(
        f"/admin/api/v1/loans/{loan}/transactions/{txn}/reverse",
        json={"reason": "again"},
        headers=key("s3", clerk),
    )
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "not_reversible"
    gl(platform)
    detail = platform.client.get(f"/admin/api/v1/loans/{loan}", headers=clerk).json()
    assert (detail["dpd"], detail["bucket"]) == (7, "M1")
    page = platform.client.get("/admin/api/v1/loans?bucket=M1", headers=clerk).json()
    assert [x["id"] for x in page["data"]] == [loan]


def test_end_of_day_runs_once_and_is_inspected(platform, book):
    disburse(platform, book)
    clerk = book["clerk"]
    r = platform.client.post(
        "/admin/api/v1/eod/runs",
        json={"business_date": "2026-11-02", "through": "2026-11-03"},
        headers=clerk,
    )
    assert r.status_code == 201, r.text
    first, day = r.json()
    assert [first["business_date"], day["business_date"]] == ["2026-11-02", "2026-11-03"]
    assert day["closed"] and not day["already_closed"]
    # One day of the first period's 18,000 fen interest over its 30 days.
    # the disbursement day: no interest yet (its period has not begun), the loan turns active
    assert first["totals"]["accrue"] == {"loans": 1, "amount_fen": 0}
    assert day["totals"]["accrue"] == {"loans": 1, "amount_fen": 600}
    again = platform.client.post(
        "/admin/api/v1/eod/runs", json={"business_date": "2026-11-03"}, headers=clerk
    ).json()
    assert again[0]["already_closed"] and again[0]["steps"] == day["steps"]
    runs = platform.client.get("/admin/api/v1/eod/runs?limit=1", headers=clerk).json()
    assert [x["business_date"] for x in runs["data"]] == ["2026-11-03"] and runs["has_more"]
    rest = platform.client.get(
        "/admin/api/v1/eod/runs?starting_after=2026-11-03", headers=clerk
    ).json()
    assert [x["business_date"] for x in rest["data"]] == ["2026-11-02"]
    assert not rest["has_more"]
    one = platform.client.get("/admin/api/v1/eod/runs/2026-11-03", headers=clerk).json()
    assert one["steps"] == day["steps"]
    missing = platform.client.get("/admin/api/v1/eod/runs/2026-11-09", headers=clerk)
    assert missing.status_code == 404
    gl(platform)


def test_staff_rollover_refund_and_write_off(platform, book):
    """Rollovers stop at two (RATE-ROLL-01); an overpayment is refunded, never more than is
    held; a write-off takes the loan off the books. Each refusal changes nothing."""
    disburse(platform, book)
    loan, clerk = book["loan"], book["clerk"]
    on(platform, date(2026, 12, 2))
    url = f"/admin/api/v1/loans/{loan}"
    for i in (1, 2):
        r = platform.client.post(
            f"{url}/rollovers",
            json={"extra_terms": 1, "reason": "hardship"},
            headers=key(f"r{i}", clerk),
        )
        assert r.status_code == 201, r.text
    third = platform.client.post(
        f"{url}/rollovers", json={"extra_terms": 1, "reason": "again"}, headers=key("r3", clerk)
    )
    assert third.status_code == 409 and third.json()["error"]["code"] == "rollover_limit"
    bad = platform.client.post(
        f"{url}/rollovers", json={"extra_terms": 0, "reason": "x"}, headers=key("r4", clerk)
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "extra_terms"
    with platform.engine.connect() as c:
        assert c.execute(select(loans.c.rollovers).where(loans.c.id == loan)).scalar() == 2
    gl(platform)

    # an overpayment held as credit, refunded in part, then refused beyond what is held
    paid = platform.client.post(
        f"{url}/repayments", json={"amount_fen": 5_000_000}, headers=key("p1", clerk)
    )
    assert paid.status_code == 201, paid.text
    held = paid.json()["credit_balance_fen"]
    assert held > 0
    too_much = platform.client.post(
        f"{url}/refunds", json={"amount_fen": held + 1}, headers=key("f0", clerk)
    )
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "credit_balance_insufficient"
    part = platform.client.post(
        f"{url}/refunds", json={"amount_fen": 100}, headers=key("f1", clerk)
    )
    assert part.status_code == 201 and part.json()["credit_balance_fen"] == held - 100
    gl(platform)


def test_staff_write_off_takes_the_loan_off_the_books(platform, book):
    disburse(platform, book)
    loan, clerk = book["loan"], book["clerk"]
    on(platform, date(2027, 3, 1))
    r = platform.client.post(
        f"/admin/api/v1/loans/{loan}/write-off",
        json={"reason": "uncollectable"},
        headers=key("w1", clerk),
    )
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "written_off"
    balances = gl(platform)
    assert balances[AccountCode.LOANS_RECEIVABLE] == 0
    again = platform.client.post(
        f"/admin/api/v1/loans/{loan}/write-off", json={"reason": "x"}, headers=key("w2", clerk)
    )
    assert again.status_code == 409
