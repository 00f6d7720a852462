"""The end-of-day batch on both databases: exact daily rules, reruns, crashes, catch-up and
partitions all end in the same books."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, MetaData, func, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from puhui.cli import app
from puhui.core.errors import Conflict
from puhui.identity.audit import SYSTEM
from puhui.ledger.models import transfers
from puhui.ledger.verify import verify
from puhui.lending import accounts, calendar, debit_channel, jobs, servicing
from puhui.lending.eod import CLOSE
from puhui.lending.eod_models import runs, snapshots
from puhui.lending.eod_steps import STEPS, EodConfig
from puhui.lending.models import installments, loan_transactions, loans

from . import factories

D0 = factories.DAY  # 2026-11-02: loans start, first due date 2026-12-02
DUE = date(2026, 12, 2)
NO_GRACE = replace(factories.TERMS, grace_days=0)


def make_book(
    engine: Engine, clock: Any, *, cards: tuple[int | None, ...], today: date = DUE - timedelta(1)
) -> list[int]:
    """One loan disbursed on D0 per entry of ``cards``: the borrower's sandbox card balance in
    fen (None: no card). No grace days, a 50-yuan late fee; the business date is then
    ``today``."""
    with engine.begin() as conn:
        book = factories.setup(conn, clock, terms=NO_GRACE)
        ids = [book.loan_id]
        customers = [book.customer_id]
        for _ in cards[1:]:
            cid = factories.customer(conn, clock)
            customers.append(cid)
            ids.append(factories.accepted_loan(conn, clock, version=book.version, customer_id=cid))
        for loan_id in ids:
            servicing.disburse(conn, loan_id=loan_id, actor=SYSTEM, clock=clock)
        debit_channel.fund(
            conn,
            balances={c: fen for c, fen in zip(customers, cards, strict=True) if fen is not None},
            clock=clock,
        )
        calendar.set_date(conn, business_date_=today, clock=clock)
    return ids


def close(engine: Engine, clock: Any, start: date, through: date, **kw: Any) -> list[Any]:
    return jobs.run_eod(engine, clock=clock, start=start, through=through, **kw)


def books(engine: Engine) -> dict[str, Any]:
    """Everything the batch may change: every loan, installment and transaction (ids of
    transactions aside: a rolled-back insert still uses a PostgreSQL sequence), the GL
    balances, the number of journal entries and the snapshots."""
    with engine.connect() as conn:
        return {
            "loans": [tuple(r) for r in conn.execute(select(loans).order_by(loans.c.id))],
            "installments": [
                tuple(r)
                for r in conn.execute(
                    select(installments).order_by(installments.c.loan_id, installments.c.seq)
                )
            ],
            "transactions": sorted(
                tuple(v for k, v in r._mapping.items() if k != "id")
                for r in conn.execute(select(loan_transactions))
            ),
            "gl": accounts.balances(conn),
            "journal": conn.execute(select(func.count()).select_from(transfers)).scalar(),
            "snapshots": sorted(tuple(r) for r in conn.execute(select(snapshots))),
            "date": calendar.current(conn, clock=None),  # type: ignore[arg-type]
        }


def assert_books_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        assert accounts.check_subledger(conn) == {}
        assert accounts.trial_balance(conn).balanced
        assert verify(conn) == []


# --- the daily rules, to the fen -------------------------------------------------------------


def test_a_due_date_collects_in_full_in_part_or_not_at_all(engine, clock):
    a, b, c = make_book(engine, clock, cards=(10_000_000, 50_000, None))
    days = close(engine, clock, DUE - timedelta(days=1), DUE + timedelta(days=1))
    assert [d.closed for d in days] == [True, True, True]
    with engine.connect() as conn:
        first = {
            r.loan_id: r for r in conn.execute(select(installments).where(installments.c.seq == 1))
        }
        ln = {r.id: r for r in conn.execute(select(loans))}
        total = first[a].principal_fen + first[a].interest_fen
        # 12,000 yuan at 12% over 12 months: 1,066.19 a month, 120.00 of it interest (30 days)
        assert (total, first[a].interest_fen) == (106_619, 12_000)
        assert first[a].paid_principal_fen + first[a].paid_interest_fen == total
        assert first[a].paid_date == DUE
        # 500 yuan on the card: penalty first (none yet), then interest, then principal
        assert (first[b].paid_interest_fen, first[b].paid_principal_fen) == (12_000, 38_000)
        assert first[c].paid_interest_fen == first[c].paid_principal_fen == 0
        # the day after: one day past due, no grace: a penalty day and the late fee
        assert (ln[a].dpd, ln[b].dpd, ln[c].dpd) == (0, 1, 1)
        assert (ln[b].bucket, ln[b].classification) == ("M1", "special_mention")
        unpaid_b = first[b].principal_fen - 38_000
        penalty_b = (2 * unpaid_b * ln[b].penalty_rate_ppb + 360 * 10**9) // (720 * 10**9)
        assert first[b].penalty_fen == penalty_b
        assert first[b].late_fee_fen == first[c].late_fee_fen == 5_000
        # the second period has accrued one day of interest (cumulatively, half up)
        second = conn.execute(
            select(installments).where(installments.c.loan_id == a, installments.c.seq == 2)
        ).one()
        p = (second.due_date - second.period_start).days
        assert ln[a].interest_accrued_fen == (2 * second.interest_fen * 1 + p) // (2 * p)
        assert ln[b].provision_fen == (2 * ln[b].principal_outstanding_fen * 200 + 10_000) // 20_000
        cash = conn.execute(
            select(debit_channel.debit_sandbox_accounts.c.balance_fen).order_by(
                debit_channel.debit_sandbox_accounts.c.customer_id
            )
        ).scalars()
        assert list(cash) == [10_000_000 - total, 0]
        kinds = conn.execute(
            select(loan_transactions.c.loan_id, loan_transactions.c.amount_fen).where(
                loan_transactions.c.kind == "auto_debit"
            )
        ).all()
        assert sorted(kinds) == [(a, total), (b, 50_000)]
    assert_books_agree(engine)


def test_the_credit_balance_pays_before_the_card(engine, clock):
    (a,) = make_book(engine, clock, cards=(10_000_000,))
    with engine.begin() as conn:
        servicing.repay(conn, loan_id=a, amount_fen=30_000, actor=SYSTEM, clock=clock)
        # paid ahead: the interest accrued so far, then the rest on the credit balance
        before = conn.execute(select(loans).where(loans.c.id == a)).one()
    assert before.credit_balance_fen > 0
    close(engine, clock, DUE - timedelta(days=1), DUE)
    with engine.connect() as conn:
        loan = conn.execute(select(loans).where(loans.c.id == a)).one()
        card = conn.execute(select(debit_channel.debit_sandbox_accounts.c.balance_fen)).scalar()
    assert loan.credit_balance_fen == 0
    assert card == 10_000_000 - (106_619 - 30_000)
    assert_books_agree(engine)


def test_write_off_past_the_configured_days(engine, clock):
    a, b = make_book(engine, clock, cards=(None, 10_000_000))
    close(
        engine,
        clock,
        DUE - timedelta(days=1),
        DUE + timedelta(days=2),
        config=EodConfig(write_off_dpd=1),
    )
    with engine.connect() as conn:
        ln = {r.id: r for r in conn.execute(select(loans))}
    assert (ln[a].state, ln[a].closed_date) == ("written_off", DUE + timedelta(days=2))
    assert ln[a].written_off_fen > ln[a].principal_fen
    assert ln[b].state == "active"
    assert_books_agree(engine)


# --- reruns, crashes, catch-up, partitions ---------------------------------------------------


def test_running_a_date_twice_changes_nothing(engine, clock):
    make_book(engine, clock, cards=(10_000_000, 50_000, None))
    close(engine, clock, DUE - timedelta(days=1), DUE)
    once = books(engine)
    (again,) = close(engine, clock, DUE, DUE)
    assert again.already_closed and again.closed
    assert books(engine) == once


def test_a_date_cannot_be_skipped(engine, clock):
    make_book(engine, clock, cards=(None,))
    with pytest.raises(Conflict, match="close the dates before"):
        close(engine, clock, DUE, DUE)


def test_catching_up_three_dates_equals_three_single_runs(engine, clock, reset):
    make_book(engine, clock, cards=(10_000_000, 50_000, None))
    start = DUE - timedelta(days=1)
    close(engine, clock, start, start + timedelta(days=2))
    caught_up = books(engine)
    reset()
    make_book(engine, clock, cards=(10_000_000, 50_000, None))
    for k in range(3):
        close(engine, clock, start + timedelta(days=k), start + timedelta(days=k))
    assert books(engine) == caught_up


def test_two_partitions_end_in_the_same_books_as_one(engine, clock, reset):
    make_book(engine, clock, cards=(10_000_000, 50_000, None, 20_000))
    start, end = DUE - timedelta(days=1), DUE + timedelta(days=1)
    close(engine, clock, start, end)
    one = books(engine)
    reset()
    make_book(engine, clock, cards=(10_000_000, 50_000, None, 20_000))
    for d in range(3):
        day = start + timedelta(days=d)
        first = close(engine, clock, day, day, partitions=2, partition=1)
        assert not first[0].closed  # partition 0 has not run yet
        (second,) = close(engine, clock, day, day, partitions=2, partition=0)
        assert second.closed
    two = books(engine)
    for key in ("loans", "installments", "gl", "date"):
        assert two[key] == one[key], key
    summed = _snapshot_totals(two["snapshots"])
    assert summed == _snapshot_totals(one["snapshots"])


CRASH_POINTS = [
    f"{when}:{step}"
    for step in (*(name for name, _ in STEPS), CLOSE)
    for when in ("before", "inside")
]


class Crash(RuntimeError):
    pass


_CLEAN: dict[str, dict[str, Any]] = {}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_anywhere_then_a_rerun_equals_one_clean_run(engine, clock, reset, backend, point):
    cards = (10_000_000, 50_000, None)
    config = EodConfig(write_off_dpd=1)
    start, end = DUE - timedelta(days=1), DUE + timedelta(days=2)
    if backend not in _CLEAN:  # one clean run per database serves every crash point
        make_book(engine, clock, cards=cards)
        close(engine, clock, start, end, config=config)
        _CLEAN[backend] = books(engine)
        reset()
    clean = _CLEAN[backend]
    make_book(engine, clock, cards=cards)
    step = point.split(":")[1]
    crash_on = {"accrue": DUE, "debit": DUE, "write_off": end}.get(step, DUE + timedelta(days=1))
    seen: list[str] = []

    def hook(day: date, where: str) -> None:
        if where == point and not seen and day == crash_on:
            seen.append(where)
            raise Crash(where)

    with pytest.raises(Crash):
        close(engine, clock, start, end, config=config, hook=hook)
    close(engine, clock, start, end, config=config)
    assert books(engine) == clean
    assert_books_agree(engine)


# --- the channel and the command line --------------------------------------------------------


def test_the_sandbox_serves_a_customers_loans_in_id_order(engine, clock):
    with engine.begin() as conn:
        debit_channel.fund(conn, balances={7: 1_000, 8: 50}, clock=clock)
        got = debit_channel.SandboxChannel().collect(
            conn,
            loan_ids=np.array([12, 11, 13, 14]),
            customer_ids=np.array([7, 7, 8, 9]),
            amounts=np.array([800, 600, 100, 100]),
            business_date=D0,
            clock=clock,
        )
        cards = debit_channel.debit_sandbox_accounts.c
        left = dict(conn.execute(select(cards.customer_id, cards.balance_fen)).tuples().all())
    assert got.tolist() == [400, 600, 50, 0]
    assert left == {7: 0, 8: 0}


def test_puhui_eod_closes_the_business_date(engine, clock, database_url_for_test):
    make_book(engine, clock, cards=(10_000_000,))
    result = CliRunner().invoke(
        app, ["eod", "--through", DUE.isoformat(), "--database", database_url_for_test]
    )
    assert result.exit_code == 0, result.output
    assert "end of day 2026-12-02: closed" in result.output
    with engine.connect() as conn:
        assert calendar.current(conn, clock=clock) == DUE + timedelta(days=1)
        assert conn.execute(select(func.count()).select_from(runs)).scalar() == 2
    again = CliRunner().invoke(
        app, ["eod", "--date", DUE.isoformat(), "--database", database_url_for_test]
    )
    assert "already closed" in again.output


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def reset(engine: Engine, database_url_for_test: str, request: pytest.FixtureRequest):
    """Empty the database again, as the fixtures do between tests, to run a second history."""

    def again() -> None:
        engine.dispose()
        if database_url_for_test.startswith("sqlite"):
            path = Path(make_url(database_url_for_test).database or "")
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            shutil.copy(request.getfixturevalue("_sqlite_template"), path)
            return
        meta = MetaData()
        meta.reflect(engine)
        names = ", ".join(f'"{t.name}"' for t in meta.sorted_tables if t.name != "alembic_version")
        with engine.begin() as c:
            c.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")

    return again


def _snapshot_totals(rows: list[tuple]) -> dict[tuple, tuple]:
    out: dict[tuple, list[int]] = {}
    for r in rows:
        key = (r[0], r[2], r[3], r[4])
        acc = out.setdefault(key, [0] * 7)
        for k, v in enumerate(r[5:]):
            acc[k] += v
    return {k: tuple(v) for k, v in out.items()}


def test_a_loan_entering_a_bucket_is_announced_once(engine, clock):
    """loan.overdue goes to the outbox on the day a loan enters M1 (and M2, M3, M4), in the
    batch's transaction; not on the days between."""
    from puhui.events.models import outbox

    (loan,) = make_book(engine, clock, cards=(None,))
    close(engine, clock, DUE - timedelta(1), DUE + timedelta(2))
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.key, outbox.c.payload_json).where(outbox.c.topic == "loan.overdue")
        ).all()
    assert [(k, json.loads(p)["dpd"], json.loads(p)["bucket"]) for k, p in rows] == [
        (f"loan:{loan}", 1, "M1")
    ]
