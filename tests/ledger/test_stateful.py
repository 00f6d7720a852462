"""Hypothesis stateful test: random deposits, transfers, pending/post/void, linked chains and
withdrawals against a plain model; after every step debits equal credits, no flagged account
crosses its limit, and balances equal the model and the journal."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferFlags
from puhui.ledger.models import entries
from puhui.ledger.service import Transfer, create_account, create_transfers, get_accounts
from puhui.ledger.verify import verify

USER = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
BANK = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
amounts = st.integers(min_value=1, max_value=50_000)
_ids = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    pendings = Bundle("pendings")

    def __init__(self, engine, clock) -> None:
        super().__init__()
        self.engine, self.clock = engine, clock
        self.model: dict[int, list[int]] = {}
        self.flags: dict[int, AccountFlags] = {}
        self.applied: list[tuple[Transfer, ...]] = []
        self.pending_model: dict[str, tuple[int, int, int]] = {}

    # -- helpers ------------------------------------------------------------------------
    def _new_id(self) -> str:
        return f"t{next(_ids)}"

    def _room(self, acc: int) -> int:
        dp, dpo, _cp, cpo = self.model[acc]
        return cpo - dp - dpo if self.flags[acc] & USER else 10**15

    def _credit_room(self, acc: int) -> int:
        _dp, dpo, cp, cpo = self.model[acc]
        return dpo - cp - cpo if self.flags[acc] & BANK else 10**15

    def _submit(self, *batch: Transfer) -> list:
        return run_in_transaction(
            self.engine, lambda c: create_transfers(c, list(batch), clock=self.clock)
        )

    def _expect_simple(self, dr: int, cr: int, amount: int, pending: bool) -> Result:
        if amount > self._room(dr):
            return Result.EXCEEDS_CREDITS
        if amount > self._credit_room(cr):
            return Result.EXCEEDS_DEBITS
        return Result.OK

    def _model_apply(self, dr: int, cr: int, amount: int, pending: bool) -> None:
        k = 0 if pending else 1
        self.model[dr][k] += amount
        self.model[cr][2 + k] += amount

    # -- rules --------------------------------------------------------------------------
    @initialize()
    def open_accounts(self) -> None:
        def setup(c):
            m = create_account(c, book=Book.CUSTODY, code=AccountCode.CUSTODY_MASTER, flags=BANK)
            users = [
                create_account(c, book=Book.CUSTODY, code=AccountCode.LENDER, flags=USER)
                for _ in range(4)
            ]
            fee = create_account(c, book=Book.CUSTODY, code=AccountCode.PLATFORM_FEE)
            return m, users, fee

        self.master, self.users, self.fee = run_in_transaction(self.engine, setup)
        for a in (self.master, *self.users, self.fee):
            self.model[a] = [0, 0, 0, 0]
        self.flags = {
            self.master: BANK,
            self.fee: AccountFlags.NONE,
            **dict.fromkeys(self.users, USER),
        }

    @rule(user=st.integers(0, 3), amount=amounts)
    def deposit(self, user: int, amount: int) -> None:
        t = Transfer(self._new_id(), self.master, self.users[user], amount, 1)
        assert self._submit(t)[0].result == Result.OK
        self._model_apply(self.master, self.users[user], amount, False)
        self.applied.append((t,))

    @rule(src=st.integers(0, 3), dst=st.integers(0, 4), amount=amounts)
    def transfer(self, src: int, dst: int, amount: int) -> None:
        dr = self.users[src]
        cr = self.fee if dst == 4 else self.users[dst]
        if dr == cr:
            return
        expected = self._expect_simple(dr, cr, amount, False)
        t = Transfer(self._new_id(), dr, cr, amount, 10)
        assert self._submit(t)[0].result == expected
        if expected == Result.OK:
            self._model_apply(dr, cr, amount, False)
            self.applied.append((t,))

    @rule(user=st.integers(0, 3), amount=amounts)
    def withdraw(self, user: int, amount: int) -> None:
        dr = self.users[user]
        expected = self._expect_simple(dr, self.master, amount, False)
        t = Transfer(self._new_id(), dr, self.master, amount, 2)
        assert self._submit(t)[0].result == expected
        if expected == Result.OK:
            self._model_apply(dr, self.master, amount, False)

    @rule(target=pendings, src=st.integers(0, 3), dst=st.integers(0, 3), amount=amounts)
    def freeze(self, src: int, dst: int, amount: int) -> str:
        dr, cr = self.users[src], self.users[dst]
        if dr == cr:
            cr = self.fee
        expected = self._expect_simple(dr, cr, amount, True)
        tid = self._new_id()
        assert (
            self._submit(Transfer(tid, dr, cr, amount, 10, TransferFlags.PENDING))[0].result
            == expected
        )
        if expected == Result.OK:
            self._model_apply(dr, cr, amount, True)
            self.pending_model[tid] = (dr, cr, amount)
            return tid
        return "missing"

    @rule(pid=consumes(pendings), part=st.integers(0, 100), post=st.booleans())
    def resolve(self, pid: str, part: int, post: bool) -> None:
        flags = TransferFlags.POST_PENDING if post else TransferFlags.VOID_PENDING
        if pid not in self.pending_model:
            res = self._submit(Transfer(self._new_id(), flags=flags, pending_id=pid))[0]
            assert res.result == Result.PENDING_TRANSFER_NOT_FOUND
            return
        dr, cr, amount = self.pending_model.pop(pid)
        posted = max(1, amount * part // 100) if post else 0
        res = self._submit(
            Transfer(self._new_id(), flags=flags, pending_id=pid, amount=posted if post else None)
        )[0]
        assert res.result == Result.OK
        self.model[dr][0] -= amount
        self.model[cr][2] -= amount
        self.model[dr][1] += posted
        self.model[cr][3] += posted

    @rule(
        legs=st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 4), amounts), min_size=2, max_size=4
        )
    )
    def linked_chain(self, legs: list[tuple[int, int, int]]) -> None:
        batch, plan = [], []
        trial = {k: list(v) for k, v in self.model.items()}
        saved, self.model = self.model, trial
        ok = True
        for i, (src, dst, amount) in enumerate(legs):
            dr = self.users[src]
            cr = self.fee if dst == 4 or self.users[dst] == dr else self.users[dst]
            last = i == len(legs) - 1
            batch.append(
                Transfer(
                    self._new_id(),
                    dr,
                    cr,
                    amount,
                    10,
                    TransferFlags.NONE if last else TransferFlags.LINKED,
                )
            )
            if ok and self._expect_simple(dr, cr, amount, False) == Result.OK:
                self._model_apply(dr, cr, amount, False)
                plan.append(Result.OK)
            elif ok:
                ok = False
                plan.append(self._expect_simple(dr, cr, amount, False))
            else:
                plan.append(Result.LINKED_EVENT_FAILED)
        self.model = trial if ok else saved
        results = [r.result for r in self._submit(*batch)]
        if ok:
            assert results == [Result.OK] * len(legs)
            self.applied.append(tuple(batch))
        else:
            fail = next(i for i, p in enumerate(plan) if p != Result.OK)
            expected = [Result.LINKED_EVENT_FAILED] * len(legs)
            expected[fail] = plan[fail]
            assert results == expected

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        if not self.applied:
            return
        batch = data.draw(st.sampled_from(self.applied))
        assert [r.result for r in self._submit(*batch)] == [Result.EXISTS] * len(batch)

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def balances_match_model_and_journal(self) -> None:
        if not self.model:
            return
        with self.engine.connect() as c:
            accs = get_accounts(c, self.model)
            sums = {
                r[0]: list(r[1:])
                for r in c.execute(
                    select(
                        entries.c.account_id,
                        func.sum(entries.c.debits_pending),
                        func.sum(entries.c.debits_posted),
                        func.sum(entries.c.credits_pending),
                        func.sum(entries.c.credits_posted),
                    )
                    .where(entries.c.account_id.in_(list(self.model)))
                    .group_by(entries.c.account_id)
                )
            }
        totals = [0, 0, 0, 0]
        for aid, expected in self.model.items():
            a = accs[aid]
            got = [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
            assert got == expected, aid
            assert sums.get(aid, [0, 0, 0, 0]) == got
            totals = [x + y for x, y in zip(totals, got, strict=True)]
            if a.flags & USER:
                assert a.debits_pending + a.debits_posted <= a.credits_posted
            if a.flags & BANK:
                assert a.credits_pending + a.credits_posted <= a.debits_posted
        assert totals[0] == totals[2] and totals[1] == totals[3]  # debits = credits

    def teardown(self) -> None:
        if self.model:
            with self.engine.connect() as c:
                assert verify(c) == []


def test_ledger_state_machine(engine, clock) -> None:
    run_state_machine_as_test(
        lambda: LedgerMachine(engine, clock),
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
