"""Every result code, each with proof that the failed transfer changed nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from puhui.ledger.codes import Result, TransferCode, TransferFlags
from puhui.ledger.service import Transfer, get_account, get_transfer
from puhui.ledger.verify import verify

from .conftest import apply, snapshot

P = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING
DEP = TransferCode.DEPOSIT


def bad_cases(b):
    """(transfer, expected result) for failures needing no earlier state."""
    return [
        (Transfer("", b.master, b.alice, 1, DEP), Result.ID_MUST_NOT_BE_EMPTY),
        (Transfer("x" * 65, b.master, b.alice, 1, DEP), Result.ID_TOO_LONG),
        (Transfer("t", b.alice, b.alice, 1, DEP), Result.ACCOUNTS_MUST_BE_DIFFERENT),
        (Transfer("t", 999_999, b.alice, 1, DEP), Result.ACCOUNT_NOT_FOUND),
        (Transfer("t", b.alice, 999_999, 1, DEP), Result.ACCOUNT_NOT_FOUND),
        (Transfer("t", b.alice, b.usd, 1, DEP), Result.CURRENCIES_DIFFER),
        (Transfer("t", b.alice, b.cash, 1, DEP), Result.BOOKS_DIFFER),
        (Transfer("t", b.master, b.alice, 0, DEP), Result.AMOUNT_MUST_BE_POSITIVE),
        (Transfer("t", b.master, b.alice, -5, DEP), Result.AMOUNT_MUST_BE_POSITIVE),
        (Transfer("t", b.master, b.alice, None, DEP), Result.AMOUNT_MUST_BE_POSITIVE),
        (Transfer("t", b.master, b.alice, 1.5, DEP), Result.AMOUNT_MUST_BE_INTEGER),  # type: ignore[arg-type]
        (Transfer("t", b.master, b.alice, "12.34", DEP), Result.AMOUNT_MUST_BE_INTEGER),  # type: ignore[arg-type]
        (Transfer("t", b.master, b.alice, True, DEP), Result.AMOUNT_MUST_BE_INTEGER),  # type: ignore[arg-type]
        (Transfer("t", b.master, b.alice, 1, 0), Result.CODE_MUST_NOT_BE_ZERO),
        (Transfer("t", b.alice, b.bob, 100_001, DEP), Result.EXCEEDS_CREDITS),
        (Transfer("t", b.fee, b.master, 120_001, DEP), Result.EXCEEDS_DEBITS),
        (Transfer("t", b.fee, b.cash, 1, DEP), Result.BOOKS_DIFFER),
        (Transfer("t", b.master, b.alice, 1, DEP, P | POST), Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (
            Transfer("t", b.master, b.alice, 1, DEP, POST | VOID, pending_id="p"),
            Result.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (
            Transfer("t", b.master, b.alice, 1, DEP, timeout=5),
            Result.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER,
        ),
        (
            Transfer("t", b.master, b.alice, 1, DEP, P, timeout=-1),
            Result.TIMEOUT_MUST_NOT_BE_NEGATIVE,
        ),
        (Transfer("t", b.master, b.alice, 1, DEP, pending_id="p"), Result.PENDING_ID_MUST_BE_EMPTY),
        (Transfer("t", flags=POST), Result.PENDING_ID_REQUIRED),
        (Transfer("t", flags=VOID, pending_id="t"), Result.PENDING_ID_MUST_BE_DIFFERENT),
        (Transfer("t", flags=POST, pending_id="nope"), Result.PENDING_TRANSFER_NOT_FOUND),
        (Transfer("t", flags=POST, pending_id="seed-alice"), Result.PENDING_TRANSFER_NOT_PENDING),
    ]


def test_each_bad_transfer_is_refused_with_its_code_and_changes_nothing(engine, clock, books):
    before = snapshot(engine)
    for transfer, expected in bad_cases(books):
        [res] = apply(engine, clock, transfer)
        assert res.result == expected, transfer
        assert res.message and res.amount == 0
        assert snapshot(engine) == before, transfer
    with engine.connect() as c:
        assert verify(c) == []


def test_overflow_codes(engine, clock, books):
    from puhui.db.engine import run_in_transaction
    from puhui.ledger.codes import AccountCode, Book
    from puhui.ledger.service import create_account

    a, b = run_in_transaction(
        engine,
        lambda c: (
            create_account(c, book=Book.COMPANY, code=AccountCode.EQUITY),
            create_account(c, book=Book.COMPANY, code=AccountCode.COMPANY_CASH),
        ),
    )
    big = 2**63 - 10
    assert apply(engine, clock, Transfer("o1", a, b, big, 99))[0].result == Result.OK
    before = snapshot(engine)
    assert apply(engine, clock, Transfer("o2", a, b, 100, 99))[0].result == Result.OVERFLOWS_DEBITS
    assert apply(engine, clock, Transfer("o3", a, b, 100, 99))[0].result == Result.OVERFLOWS_DEBITS
    assert apply(engine, clock, Transfer("o4", b, a, 5, 99))[0].result == Result.OK
    assert snapshot(engine) != before
    before = snapshot(engine)
    assert apply(engine, clock, Transfer("o5", a, b, 100, 99))[0].result == Result.OVERFLOWS_DEBITS
    assert snapshot(engine) == before


def test_same_id_same_fields_is_exists_and_applies_nothing(engine, clock, books):
    t = Transfer("dup", books.alice, books.bob, 500, TransferCode.INVESTMENT, reference="loan-1")
    assert apply(engine, clock, t)[0].result == Result.OK
    before = snapshot(engine)
    again = apply(engine, clock, t)[0]
    assert (again.result, again.amount) == (Result.EXISTS, 500)
    assert snapshot(engine) == before
    other = Transfer(
        "dup", books.alice, books.bob, 501, TransferCode.INVESTMENT, reference="loan-1"
    )
    assert apply(engine, clock, other)[0].result == Result.EXISTS_WITH_DIFFERENT_FIELDS
    assert snapshot(engine) == before


def test_same_id_twice_in_one_batch(engine, clock, books):
    t = Transfer("twice", books.alice, books.bob, 300, TransferCode.INVESTMENT)
    res = apply(engine, clock, t, t, Transfer("twice", books.alice, books.bob, 7, 10))
    assert [r.result for r in res] == [
        Result.OK,
        Result.EXISTS,
        Result.EXISTS_WITH_DIFFERENT_FIELDS,
    ]
    with engine.connect() as c:
        assert get_account(c, books.alice).credit_balance == 100_000 - 300


def test_pending_post_void_and_their_failures(engine, clock, books):
    b = books
    res = apply(
        engine,
        clock,
        Transfer("p1", b.alice, b.bob, 40_000, TransferCode.INVESTMENT, P, timeout=3600),
        Transfer("p2", b.alice, b.bob, 10_000, TransferCode.INVESTMENT, P),
    )
    assert [r.result for r in res] == [Result.OK, Result.OK]
    with engine.connect() as c:
        alice = get_account(c, b.alice)
        assert (alice.debits_pending, alice.available, alice.credit_balance) == (
            50_000,
            50_000,
            100_000,
        )
    before = snapshot(engine)
    for t, expected in [
        (
            Transfer("x", flags=POST, pending_id="p1", amount=40_001),
            Result.EXCEEDS_PENDING_TRANSFER_AMOUNT,
        ),
        (
            Transfer("x", flags=VOID, pending_id="p1", amount=1),
            Result.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT,
        ),
        (
            Transfer("x", b.bob, b.alice, flags=POST, pending_id="p1"),
            Result.PENDING_TRANSFER_HAS_DIFFERENT_ACCOUNTS,
        ),
        (Transfer("x", flags=POST, pending_id="p1", amount=0), Result.AMOUNT_MUST_BE_POSITIVE),
        # spending the frozen part is refused: available is 50,000
        (Transfer("x", b.alice, b.bob, 50_001, TransferCode.INVESTMENT), Result.EXCEEDS_CREDITS),
    ]:
        assert apply(engine, clock, t)[0].result == expected
        assert snapshot(engine) == before
    # partial post: 30,000 of 40,000 moves, the other 10,000 is released
    assert (
        apply(engine, clock, Transfer("p1-post", flags=POST, pending_id="p1", amount=30_000))[
            0
        ].result
        == Result.OK
    )
    assert apply(engine, clock, Transfer("p2-void", flags=VOID, pending_id="p2"))[0].result == (
        Result.OK
    )
    before = snapshot(engine)
    assert apply(engine, clock, Transfer("y", flags=POST, pending_id="p1"))[0].result == (
        Result.PENDING_TRANSFER_ALREADY_POSTED
    )
    assert apply(engine, clock, Transfer("y", flags=VOID, pending_id="p1"))[0].result == (
        Result.PENDING_TRANSFER_ALREADY_POSTED
    )
    assert apply(engine, clock, Transfer("y", flags=POST, pending_id="p2"))[0].result == (
        Result.PENDING_TRANSFER_ALREADY_VOIDED
    )
    assert snapshot(engine) == before
    with engine.connect() as c:
        alice, bob = get_account(c, b.alice), get_account(c, b.bob)
        assert (alice.debits_pending, alice.credit_balance) == (0, 70_000)
        assert (bob.credits_pending, bob.credit_balance) == (0, 50_000)
        assert get_transfer(c, "p1-post")["code"] == TransferCode.INVESTMENT
        assert verify(c) == []


def test_expired_pending_cannot_be_posted_and_is_voided_by_the_sweep(engine, clock, books):
    from puhui.db.engine import run_in_transaction
    from puhui.ledger.jobs import expire_pending
    from puhui.ledger.service import pending_status

    apply(
        engine,
        clock,
        Transfer("w", books.alice, books.master, 30_000, TransferCode.WITHDRAWAL, P, timeout=60),
    )
    clock.advance(timedelta(seconds=59))
    assert run_in_transaction(engine, lambda c: expire_pending(c, clock=clock)) == []
    clock.advance(timedelta(seconds=1))
    before = snapshot(engine)
    assert apply(engine, clock, Transfer("w-post", flags=POST, pending_id="w"))[0].result == (
        Result.PENDING_TRANSFER_EXPIRED
    )
    assert snapshot(engine) == before
    swept = run_in_transaction(engine, lambda c: expire_pending(c, clock=clock))
    assert [r.result for r in swept] == [Result.OK]
    assert run_in_transaction(engine, lambda c: expire_pending(c, clock=clock)) == []
    with engine.connect() as c:
        assert pending_status(c, "w") == "voided"
        assert get_account(c, books.alice).available == 100_000
        assert verify(c) == []


def test_balancing_debit_moves_at_most_what_is_available(engine, clock, books):
    b = books
    [r] = apply(
        engine,
        clock,
        Transfer("sweep", b.bob, b.fee, 1_000_000, TransferCode.FEE, TransferFlags.BALANCING_DEBIT),
    )
    assert (r.result, r.amount) == (Result.OK, 20_000)
    before = snapshot(engine)
    [r] = apply(
        engine,
        clock,
        Transfer("sweep2", b.bob, b.fee, 1, TransferCode.FEE, TransferFlags.BALANCING_DEBIT),
    )
    assert r.result == Result.EXCEEDS_CREDITS
    assert snapshot(engine) == before
    [r] = apply(
        engine,
        clock,
        Transfer(
            "bal-cr",
            b.alice,
            b.master,
            999_999,
            TransferCode.WITHDRAWAL,
            TransferFlags.BALANCING_CREDIT,
        ),
    )
    # master has 120,000 debits, so at most 120,000 can be credited, but alice only has 100,000
    assert r.result == Result.EXCEEDS_CREDITS
    [r] = apply(
        engine,
        clock,
        Transfer(
            "bal-cr2",
            b.alice,
            b.master,
            999_999,
            TransferCode.WITHDRAWAL,
            TransferFlags.BALANCING_CREDIT | TransferFlags.BALANCING_DEBIT,
        ),
    )
    assert (r.result, r.amount) == (Result.OK, 100_000)


@pytest.mark.parametrize("fail_at", [0, 1, 2])
def test_linked_chain_applies_wholly_or_not_at_all(engine, clock, books, fail_at):
    b = books
    L = TransferFlags.LINKED
    chain = [
        Transfer("c1", b.alice, b.bob, 1_000, 10, L),
        Transfer("c2", b.bob, b.fee, 100, 30, L),
        Transfer("c3", b.bob, b.master, 900, 2),
    ]
    bad = Transfer(
        chain[fail_at].id, b.alice, b.bob, 10**9, 10, L if fail_at < 2 else TransferFlags.NONE
    )
    chain[fail_at] = bad
    before = snapshot(engine)
    res = apply(engine, clock, *chain, Transfer("after", b.alice, b.bob, 1, 10))
    expected = [Result.LINKED_EVENT_FAILED] * 3
    expected[fail_at] = Result.EXCEEDS_CREDITS
    assert [r.result for r in res] == [*expected, Result.OK]
    after = snapshot(engine)
    assert after[1] == before[1] + 1  # only "after" applied
    with engine.connect() as c:
        assert get_account(c, b.alice).credit_balance == 100_000 - 1
        assert verify(c) == []


def test_linked_chain_success_and_open_chain(engine, clock, books):
    b = books
    L = TransferFlags.LINKED
    res = apply(
        engine,
        clock,
        Transfer("k1", b.alice, b.bob, 1_000, 10, L),
        Transfer("k2", b.bob, b.fee, 100, 30),
    )
    assert [r.result for r in res] == [Result.OK, Result.OK]
    before = snapshot(engine)
    res = apply(
        engine,
        clock,
        Transfer("o1", b.alice, b.bob, 1, 10, L),
        Transfer("o2", b.alice, b.bob, 1, 10, L),
    )
    assert [r.result for r in res] == [Result.LINKED_EVENT_FAILED, Result.LINKED_EVENT_CHAIN_OPEN]
    assert snapshot(engine) == before
    # a retried chain answers exists for each member and applies nothing
    res = apply(
        engine,
        clock,
        Transfer("k1", b.alice, b.bob, 1_000, 10, L),
        Transfer("k2", b.bob, b.fee, 100, 30),
    )
    assert [r.result for r in res] == [Result.EXISTS, Result.EXISTS]
    # a chain mixing an applied member with new ones would split it: refused whole
    res = apply(
        engine,
        clock,
        Transfer("k1", b.alice, b.bob, 1_000, 10, L),
        Transfer("k3", b.bob, b.fee, 100, 30),
    )
    assert [r.result for r in res] == [Result.EXISTS, Result.LINKED_EVENT_FAILED]
    assert snapshot(engine) == before


def test_post_of_a_pending_created_earlier_in_the_same_batch(engine, clock, books):
    b = books
    res = apply(
        engine,
        clock,
        Transfer("bp", b.alice, b.bob, 2_000, 10, P),
        Transfer("bp-post", flags=POST, pending_id="bp", amount=1_500),
        Transfer("bp-void", flags=VOID, pending_id="bp"),
    )
    assert [r.result for r in res] == [Result.OK, Result.OK, Result.PENDING_TRANSFER_ALREADY_POSTED]
    with engine.connect() as c:
        assert get_account(c, b.bob).credit_balance == 21_500
        assert verify(c) == []
