"""The auto-debit (代扣) channel: the end-of-day batch asks it to collect what is due.

A channel takes a batch of requests — arrays of loan ids, customer ids and amounts — and answers
with the amount it collected for each (0 ≤ collected ≤ requested), all at once: a real channel
is a file exchanged with a payment company, never one call per loan. The sandbox channel keeps
its own table of the borrowers' card balances (tests and the simulation fund them); a customer
with no row there collects nothing. Several loans of one customer are served in loan-id order
until the card runs dry.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select, text

from puhui.core.clock import Clock
from puhui.core.errors import Conflict
from puhui.db.engine import is_sqlite
from puhui.lending import calendar
from puhui.lending.eod_models import debit_sandbox_accounts, stage

IntArray = npt.NDArray[np.int64]


class DebitChannel(Protocol):
    """Collects money from borrowers' cards for loans that are due."""

    def collect(
        self,
        conn: Connection,
        *,
        loan_ids: IntArray,
        customer_ids: IntArray,
        amounts: IntArray,
        business_date: date,
        clock: Clock,
    ) -> IntArray:
        """The fen collected for each request, in the order given."""
        ...


class SandboxChannel:
    """代扣 against ``lending_debit_sandbox_accounts``, in the caller's transaction, so a
    batch step that rolls back also gives the money back."""

    def collect(
        self,
        conn: Connection,
        *,
        loan_ids: IntArray,
        customer_ids: IntArray,
        amounts: IntArray,
        business_date: date,
        clock: Clock,
    ) -> IntArray:
        del business_date
        loans = np.asarray(loan_ids, dtype=np.int64)
        custs = np.asarray(customer_ids, dtype=np.int64)
        want = np.asarray(amounts, dtype=np.int64)
        if len(loans) == 0:
            return np.zeros(0, dtype=np.int64)
        order = np.lexsort((loans, custs))  # by customer, then loan id
        uniq, first, inverse = np.unique(custs[order], return_index=True, return_inverse=True)
        balance = _balances(conn, uniq)
        wanted = want[order]
        before = np.cumsum(wanted) - wanted
        before -= before[first][inverse]  # requested earlier by the same customer
        got_sorted = np.clip(balance[inverse] - before, 0, wanted)
        spent = np.zeros(len(uniq), dtype=np.int64)
        np.add.at(spent, inverse, got_sorted)
        moved = spent > 0
        if moved.any():
            table = stage(
                conn,
                "debit_spent",
                {"customer_id": uniq[moved], "spent": spent[moved]},
                key=("customer_id",),
            )
            conn.execute(
                text(
                    f"UPDATE lending_debit_sandbox_accounts SET balance_fen = balance_fen - "
                    f"s.spent, updated_us = :now FROM {table} s "
                    f"WHERE lending_debit_sandbox_accounts.customer_id = s.customer_id"
                ),
                {"now": int(clock.now().timestamp() * 1_000_000)},
            )
        got = np.empty_like(got_sorted)
        got[order] = got_sorted
        return got


def charge_one(
    conn: Connection,
    channel: DebitChannel,
    *,
    key_id: int,
    customer_id: int,
    amount: int,
    clock: Clock,
) -> None:
    """Take ``amount`` from one customer's card for one loan or credit line (``key_id``), or
    refuse with ``payment_declined``: the channel works in the caller's transaction, so a
    refusal moves nothing."""
    got = channel.collect(
        conn,
        loan_ids=np.asarray([key_id], dtype=np.int64),
        customer_ids=np.asarray([customer_id], dtype=np.int64),
        amounts=np.asarray([amount], dtype=np.int64),
        business_date=calendar.current(conn, clock=clock),
        clock=clock,
    )
    if int(got[0]) != amount:
        raise Conflict(
            "payment_declined",
            f"the card could not be charged {amount} fen; nothing was taken",
            field="amount_fen",
        )


def _balances(conn: Connection, customer_ids: IntArray) -> IntArray:
    """Each customer's card balance (0 without a row), locked on PostgreSQL; matched to the
    request by a sorted search, not a per-customer lookup in Python."""
    table = stage(conn, "debit_customers", {"customer_id": customer_ids}, key=("customer_id",))
    a = debit_sandbox_accounts
    q = select(a.c.customer_id, a.c.balance_fen).where(
        a.c.customer_id.in_(select(text("customer_id")).select_from(text(table)))
    )
    if not is_sqlite(conn):
        q = q.order_by(a.c.customer_id).with_for_update()
    rows = conn.execute(q).tuples().all()
    out = np.zeros(len(customer_ids), dtype=np.int64)
    if rows:
        found = np.asarray(rows, dtype=np.int64)
        found = found[np.argsort(found[:, 0])]
        at = np.clip(np.searchsorted(found[:, 0], customer_ids), 0, len(found) - 1)
        hit = found[at, 0] == customer_ids
        out[hit] = found[at[hit], 1]
    return out


def fund(conn: Connection, *, balances: dict[int, int], clock: Clock) -> None:
    """Set sandbox card balances (customer id → fen): what tests and the simulation use."""
    now = int(clock.now().timestamp() * 1_000_000)
    a = debit_sandbox_accounts
    for customer_id, fen in balances.items():
        done = conn.execute(
            a.update().where(a.c.customer_id == customer_id).values(balance_fen=fen, updated_us=now)
        )
        if done.rowcount == 0:
            conn.execute(
                a.insert().values(customer_id=customer_id, balance_fen=fen, updated_us=now)
            )
