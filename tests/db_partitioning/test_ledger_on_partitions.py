"""The ledger, unchanged, on a journal partitioned by month: every guarantee still holds.

The book: master (custody master) funds alice 1,000.00; the clock starts on 2026-11-02 and
moves to 2026-12-15 for the second business date, so the two dates are two partitions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import FixedClock
from puhui.db.engine import is_retryable, run_in_transaction
from puhui.db.partitioning import partition_journal
from puhui.ledger import store
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode
from puhui.ledger.codes import TransferFlags as F
from puhui.ledger.models import transfers
from puhui.ledger.service import (
    Transfer,
    create_account,
    create_transfers,
    create_transfers_committed,
    get_account,
)
from puhui.ledger.verify import verify

from .conftest import TODAY

pytestmark = pytest.mark.postgresql_only
DECEMBER = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SIXTY_DAYS = 60 * 86_400


@dataclass(frozen=True)
class Book2:
    master: int
    alice: int
    bob: int
    carol: int


@pytest.fixture
def book(pg_engine: Engine, clock: FixedClock) -> Book2:
    """Partitioned first (months through January), then the accounts and alice's deposit."""
    partition_journal(pg_engine, months_ahead=2, today=TODAY)

    def setup(c: Connection) -> Book2:
        b = Book2(
            master=create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.CUSTODY_MASTER,
                flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                clock=clock,
            ),
            alice=create_account(
                c,
                book=Book.CUSTODY,
                code=AccountCode.LENDER,
                owner="alice",
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                clock=clock,
            ),
            bob=create_account(
                c, book=Book.CUSTODY, code=AccountCode.BORROWER, owner="bob", clock=clock
            ),
            carol=create_account(
                c, book=Book.CUSTODY, code=AccountCode.LENDER, owner="carol", clock=clock
            ),
        )
        seed = Transfer("seed", b.master, b.alice, 100_000, TransferCode.DEPOSIT)
        assert create_transfers(c, [seed], clock=clock)[0].result == Result.OK
        return b

    return run_in_transaction(pg_engine, setup)


def _apply(engine: Engine, clock: FixedClock, *batch: Transfer) -> list[Result]:
    results = run_in_transaction(engine, lambda c: create_transfers(c, list(batch), clock=clock))
    return [r.result for r in results]


def _homes(engine: Engine) -> dict[str, str]:
    """Each transfer's id → the partition that holds it."""
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT id, tableoid::regclass::text FROM ledger_transfers")
        return dict(rows.all())


def _copies(engine: Engine, transfer_id: str) -> int:
    with engine.connect() as c:
        return len(c.execute(select(transfers.c.id).where(transfers.c.id == transfer_id)).all())


def test_pending_post_void_and_linked_chains(
    pg_engine: Engine, clock: FixedClock, book: Book2
) -> None:
    a, b = book.alice, book.bob
    assert _apply(
        pg_engine,
        clock,
        Transfer("hold1", a, b, 10_000, TransferCode.INVESTMENT, F.PENDING),
        Transfer("hold2", a, b, 5_000, TransferCode.INVESTMENT, F.PENDING, timeout=SIXTY_DAYS),
        # A linked chain whose second member overdraws alice: neither is applied.
        Transfer("chain1", a, b, 1_000, TransferCode.INVESTMENT, F.LINKED),
        Transfer("chain2", a, b, 10_000_000, TransferCode.INVESTMENT),
    ) == [Result.OK, Result.OK, Result.LINKED_EVENT_FAILED, Result.EXCEEDS_CREDITS]

    clock.set(DECEMBER)  # the outcomes come on another business date, in another partition
    assert _apply(
        pg_engine,
        clock,
        Transfer("post1", pending_id="hold1", flags=F.POST_PENDING),
        Transfer("void2", pending_id="hold2", flags=F.VOID_PENDING),
        Transfer("chain3", a, b, 2_000, TransferCode.INVESTMENT, F.LINKED),
        Transfer("chain4", b, a, 500, TransferCode.REPAYMENT),
    ) == [Result.OK, Result.OK, Result.OK, Result.OK]
    # A second outcome for either pending transfer is refused (one outcome per pending id).
    assert _apply(
        pg_engine,
        clock,
        Transfer("post1-again", pending_id="hold1", flags=F.POST_PENDING),
        Transfer("post2", pending_id="hold2", flags=F.POST_PENDING),
    ) == [Result.PENDING_TRANSFER_ALREADY_POSTED, Result.PENDING_TRANSFER_ALREADY_VOIDED]

    with pg_engine.connect() as c:
        assert get_account(c, a).credit_balance == 100_000 - 10_000 - 2_000 + 500
        assert get_account(c, b).credit_balance == 10_000 + 2_000 - 500
        assert verify(c) == []
    assert _homes(pg_engine) == {
        "seed": "ledger_transfers_202611",
        "hold1": "ledger_transfers_202611",
        "hold2": "ledger_transfers_202611",
        "post1": "ledger_transfers_202612",
        "void2": "ledger_transfers_202612",
        "chain3": "ledger_transfers_202612",
        "chain4": "ledger_transfers_202612",
    }


def test_a_retry_on_another_date_is_answered_never_written_twice(
    pg_engine: Engine, clock: FixedClock, book: Book2
) -> None:
    t = Transfer("pay-1", book.alice, book.bob, 3_000, TransferCode.INVESTMENT)
    assert _apply(pg_engine, clock, t) == [Result.OK]

    clock.set(DECEMBER)
    assert _apply(pg_engine, clock, t) == [Result.EXISTS]
    changed = Transfer("pay-1", book.alice, book.bob, 3_001, TransferCode.INVESTMENT)
    assert _apply(pg_engine, clock, changed) == [Result.EXISTS_WITH_DIFFERENT_FIELDS]
    assert create_transfers_committed(pg_engine, [t], clock=clock)[0].result == Result.EXISTS

    assert _copies(pg_engine, "pay-1") == 1
    assert _homes(pg_engine)["pay-1"] == "ledger_transfers_202611"
    with pg_engine.connect() as c:
        assert get_account(c, book.bob).credit_balance == 3_000
        assert verify(c) == []


def test_the_database_refuses_an_id_or_pending_id_on_another_date(
    pg_engine: Engine, clock: FixedClock, book: Book2
) -> None:
    """What the registry is for: (id, business_date) alone would take both rows."""
    hold = Transfer("hold", book.alice, book.bob, 100, TransferCode.INVESTMENT, F.PENDING)
    post = Transfer("post", pending_id="hold", flags=F.POST_PENDING)
    assert _apply(pg_engine, clock, hold, post) == [Result.OK, Result.OK]
    with pg_engine.connect() as c:
        row = dict(c.execute(select(transfers).where(transfers.c.id == "post")).mappings().one())
    later = row["business_date"] + timedelta(days=40)

    for changes, constraint in (
        ({"business_date": later}, "pk_ledger_transfers"),
        ({"id": "post-b", "business_date": later}, "uq_ledger_transfers_pending_id"),
    ):
        with pytest.raises(IntegrityError) as caught, pg_engine.begin() as c:
            c.execute(insert(transfers).values({**row, **changes}))
        assert caught.value.orig.diag.constraint_name == constraint  # type: ignore[union-attr]
        assert is_retryable(caught.value)  # db/engine.py's race handling, unchanged
    assert _copies(pg_engine, "post") == 1


@pytest.mark.parametrize("api", ["caller", "committed"])
@pytest.mark.parametrize("other", ["same request", "other accounts"])
def test_two_writers_racing_on_one_id_on_two_dates(
    pg_engine: Engine, clock: FixedClock, book: Book2, api: str, other: str
) -> None:
    """The first writer inserts ``race`` on 2026-11-02 and holds its transaction open; the
    second sends the same id on 2026-12-15, which would go to December's partition.

    The same request touches the same accounts and waits on their row locks (or loses the
    entries' race), then reads the winner: ``exists``. A request with the same id on other
    accounts takes no lock the first holds: it waits on the registry's key, gets
    ``pk_ledger_transfers`` when the first commits (``db/engine._RACES``), and its retry reads
    the winner: ``exists_with_different_fields``. Without the registry the two dates'
    partitions would each have taken a row ``race``."""
    store.contended.clear()
    t = Transfer("race", book.alice, book.bob, 7_000, TransferCode.INVESTMENT)
    u = t if other == "same request" else Transfer("race", book.master, book.carol, 7_000, 1)
    later = FixedClock(DECEMBER)
    first_written = threading.Event()
    attempts: list[int] = []
    outcome: list[Result] = []

    def second() -> None:
        first_written.wait(10)
        if api == "committed":
            res = create_transfers_committed(
                pg_engine, [u], clock=later, on_attempt=lambda: attempts.append(1)
            )
        else:

            def work(c: Connection) -> list:
                attempts.append(1)
                return create_transfers(c, [u], clock=later)

            res = run_in_transaction(pg_engine, work)
        outcome.append(res[0].result)

    thread = threading.Thread(target=second)
    thread.start()
    with pg_engine.begin() as c:
        assert create_transfers(c, [t], clock=clock)[0].result == Result.OK
        first_written.set()
        # Hold the transaction until the second writer waits on a lock of ours.
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while datetime.now(UTC) < deadline and not _waiting_on_a_lock(pg_engine):
            threading.Event().wait(0.05)
        assert _waiting_on_a_lock(pg_engine)
    thread.join(30)

    if other == "same request":
        assert outcome == [Result.EXISTS]
    else:
        assert outcome == [Result.EXISTS_WITH_DIFFERENT_FIELDS]
        assert len(attempts) == 2  # the first ended in 23505 on pk_ledger_transfers
    assert _copies(pg_engine, "race") == 1
    assert _homes(pg_engine)["race"] == "ledger_transfers_202611"
    with pg_engine.connect() as c:
        assert get_account(c, book.bob).credit_balance == 7_000
        assert get_account(c, book.carol).credit_balance == 0
        assert verify(c) == []


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as c:
        n = c.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).scalar_one()
    return n > 0
