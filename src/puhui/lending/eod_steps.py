"""The end-of-day steps: the daily rules of docs/lending.md, set-based over one loan range.

Each step is one function of a ``Ctx`` (the connection, the business date ``D``, the loan id
range of one partition) that changes the loan tables with ``UPDATE … FROM`` / ``INSERT …
SELECT`` statements — or, for the auto-debit's waterfall, numpy over columns — and posts its GL
effect as one aggregated transfer per code pair, with the id ``eod:{D}:{step}:{partition}``
(``accounts.post`` numbers the legs). None of them loops over loans in Python. The rules are
the per-loan engine's (``engine.Engine.close_day``) written for a million loans at once; a test
proves the two agree.

The SQL runs on SQLite (≥ 3.33 for ``UPDATE … FROM``) and PostgreSQL; the only difference is
how a number of days between two dates is written (``_days``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, text

from puhui import events
from puhui.core.clock import Clock
from puhui.db.engine import is_sqlite
from puhui.identity import audit
from puhui.ledger import jobs as ledger_jobs
from puhui.ledger.codes import AccountCode as A
from puhui.ledger.codes import TransferCode as T
from puhui.lending import accounts, allocation, applications, products
from puhui.lending.accounts import Leg
from puhui.lending.allocation import BUCKETS, COMPONENT_INDEX, COMPONENTS
from puhui.lending.credit_line import jobs as credit_line_jobs
from puhui.lending.debit_channel import DebitChannel
from puhui.lending.engine import PROVISION_BP, WRITE_OFF_DPD
from puhui.lending.eod_models import UNPAID, snapshots, stage
from puhui.marketplace import eod as marketplace_eod

LIVE = "l.state IN ('disbursed', 'active')"
#: What an installment still owes, every component charged or not (the engine's
#: ``Inst.settled`` is this being zero or less).
OWED = (
    "(i.principal_fen - i.paid_principal_fen + i.interest_fen - i.paid_interest_fen"
    " + i.fee_fen - i.paid_fee_fen + i.late_fee_fen - i.paid_late_fee_fen"
    " + i.penalty_fen - i.paid_penalty_fen)"
)
BUCKET = (
    "CASE WHEN {dpd} <= 0 THEN 'M0' WHEN {dpd} <= 30 THEN 'M1' WHEN {dpd} <= 60 THEN 'M2'"
    " WHEN {dpd} <= 90 THEN 'M3' ELSE 'M4' END"
)
CLASSIFICATION = (
    "CASE WHEN l.dpd <= 0 THEN 'normal' WHEN l.dpd <= 90 THEN 'special_mention'"
    " WHEN l.dpd <= 180 THEN 'substandard' WHEN l.dpd <= 360 THEN 'doubtful' ELSE 'loss' END"
)
#: A loan funded by lenders on the marketplace (网络借贷, ``mkt_loan_funding``): its rows age,
#: accrue and are classified like any other, but its money is in the custody book, so no GL sum
#: counts it and the company's auto-debit leaves it to the marketplace's (``book``). A probe
#: of the funding table's key: a hash anti-join of a small table on PostgreSQL.
MARKETPLACE = "EXISTS (SELECT 1 FROM mkt_loan_funding f WHERE f.loan_id = l.id)"
COMPANY = f"NOT {MARKETPLACE}"


@dataclass(frozen=True)
class EodConfig:
    """The batch's policy: provision rates (basis points of principal by classification) and
    the days past due after which a loan is written off (核销)."""

    provision_bp: Mapping[str, int] = field(default_factory=lambda: dict(PROVISION_BP))
    write_off_dpd: int = WRITE_OFF_DPD


@dataclass(frozen=True)
class Ctx:
    """One step's world: the date, the partition's loan ids ``lo ≤ id < hi``, the channel."""

    conn: Connection
    business_date: date
    partition: int
    lo: int
    hi: int
    clock: Clock
    channel: DebitChannel
    config: EodConfig
    #: ``company``, or ``marketplace`` for the marketplace's auto-debit: its loans, no GL.
    book: str = "company"

    @property
    def params(self) -> dict[str, Any]:
        d = self.business_date
        return {"d": d.isoformat() if is_sqlite(self.conn) else d, "lo": self.lo, "hi": self.hi}

    @property
    def now_us(self) -> int:
        return int(self.clock.now().timestamp() * 1_000_000)

    def days(self, a: str, b: str) -> str:
        """SQL for the whole days from date ``b`` to date ``a``."""
        if is_sqlite(self.conn):
            return f"CAST(julianday({a}) - julianday({b}) AS INTEGER)"
        return f"({a} - {b})"

    def sql(self, statement: str, extra: Mapping[str, Any] | None = None) -> Any:
        """Run ``statement`` with ``:d``, ``:lo``, ``:hi`` (and ``extra``) bound."""
        return self.conn.execute(text(statement), {**self.params, **(extra or {})})

    def post(self, step: str, legs: Sequence[Leg]) -> None:
        """The step's GL effect: one linked transfer per code pair, ids fixed per step and
        partition, so a rerun cannot post twice. The marketplace book posts nothing here."""
        if self.book != "company":
            return
        accounts.post(
            self.conn,
            transfer_id=f"eod:{self.business_date.isoformat()}:{step}:{self.partition}",
            legs=legs,
            clock=self.clock,
            reference=f"eod {self.business_date.isoformat()}",
        )


@dataclass(frozen=True)
class StepResult:
    """What a step did: loans touched, the fen it moved, and anything else worth reporting."""

    loans: int = 0
    amount_fen: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)

    def detail_json(self) -> str:
        return json.dumps(dict(self.detail), sort_keys=True, default=str)


RANGE = "l.id >= :lo AND l.id < :hi"
#: The partition's range over the installments searched by due date in the unpaid index. The
#: unary ``+`` keeps SQLite from walking the index by loan id instead (a skip-scan over every
#: due date, 6× slower at 100,000 loans, measured); a partition is a wide range of loans but
#: only a few days of due dates.
UNPAID_RANGE = "+i.loan_id >= :lo AND +i.loan_id < :hi"


def _unpaid_table(ctx: Ctx) -> str:
    """``lending_installments i`` read through the unpaid index. SQLite is told to: for a
    ``GROUP BY loan_id`` it would rather walk the whole table in key order (15 s of the 1M
    bench's aging, measured) than sort the few rows the index range gives."""
    if is_sqlite(ctx.conn):
        return "lending_installments i INDEXED BY ix_lending_installments_unpaid"
    return "lending_installments i"


def _scalar_row(ctx: Ctx, statement: str, extra: Mapping[str, Any] | None = None) -> list[int]:
    return [int(v or 0) for v in ctx.sql(statement, extra).one()]


def _audit(ctx: Ctx, event: str, loan_ids: Sequence[int], before: str, after: str) -> None:
    """One audit entry for a set-based state change: the loans moved, by the batch."""
    if not loan_ids:
        return
    audit.record(
        ctx.conn,
        actor=audit.SYSTEM,
        event=event,
        object_type="eod_run",
        object_id=f"{ctx.business_date.isoformat()}:{ctx.partition}",
        before={"state": before},
        after={"state": after},
        detail={"loan_ids": sorted(loan_ids)},
        clock=ctx.clock,
    )


# --- 0. expire -------------------------------------------------------------------------------


def expire(ctx: Ctx) -> StepResult:
    """Void pending ledger transfers past their timeout and expire stale offers: global work,
    done by partition 0 only."""
    if ctx.partition != 0:
        return StepResult()
    voided = sum(1 for r in ledger_jobs.expire_pending(ctx.conn, clock=ctx.clock) if r.ok)
    offers = applications.expire_stale(ctx.conn, now_us=ctx.now_us, clock=ctx.clock)
    return StepResult(voided + offers, 0, {"pending_voided": voided, "offers_expired": offers})


# --- 1. accrue -------------------------------------------------------------------------------

#: How far past ``D`` the accrual looks for the current installment through the due-date
#: index: a month and a day covers monthly, weekly and daily schedules. A loan whose current
#: period is longer (a bullet loan of months) is found by its own key afterwards, so the bound
#: only decides which path finds the installment, never whether it is found.
WINDOW_DAYS = 32


def accrue(ctx: Ctx) -> StepResult:
    """计提利息: the current period's interest accrued cumulatively, half up, so a period's days
    sum to its interest; on the due date it moves into the installment (no GL move) and the
    installment's fee is charged. Also marks every live loan closed through ``D``.

    Every live loan changes, so the work is one pass of ``UPDATE``: the current installments
    come from a range of the due-date index (``D ≤ due_date < D + WINDOW_DAYS``), not from a
    join with every installment. The GL total is the loans' accrued interest after the pass
    less before it, plus what moved into installments falling due: sums over the same rows
    the pass changes, not a second join."""
    e = ctx.days(":d", "i.period_start")
    p = ctx.days("i.due_date", "i.period_start")
    cum = f"((2 * i.interest_fen * {e} + {p}) / (2 * {p}))"
    live = f"{LIVE} AND {RANGE}"
    is_open = "(l.accrued_through IS NULL OR l.accrued_through < :d)"
    open_loans = f"{live} AND {is_open}"
    current = "i.seq > 0 AND i.period_start < :d AND i.due_date >= :d"
    since = "COALESCE(l.accrued_through, l.start_date)"
    before_open, before_closed, loans = _scalar_row(
        ctx,
        f"SELECT SUM(CASE WHEN {is_open} THEN l.interest_accrued_fen ELSE 0 END), "
        f"SUM(CASE WHEN l.accrued_through = :d THEN l.interest_accrued_fen ELSE 0 END), "
        f"SUM(CASE WHEN {is_open} THEN 1 ELSE 0 END) FROM lending_loans l "
        f"WHERE {live} AND {COMPANY}",
    )
    # None when no loan is open: the range below is then empty.
    first_since = ctx.sql(f"SELECT MIN({since}) FROM lending_loans l WHERE {open_loans}").scalar()
    # Installments falling due since the loan was last closed: their fee is charged, the
    # interest of the current one moves out of the accrual into the installment, and one that
    # no period runs into (a schedule cut at a date) is charged whole. A range of the due-date
    # index from the earliest such date, usually just D.
    fee, moved, cut_interest = _scalar_row(
        ctx,
        f"SELECT SUM(i.fee_fen), "
        f"SUM(CASE WHEN i.due_date = :d AND i.period_start < :d THEN i.interest_fen ELSE 0 END), "
        f"SUM(CASE WHEN i.period_start < :d THEN 0 ELSE i.interest_fen END) "
        f"FROM lending_installments i JOIN lending_loans l ON l.id = i.loan_id "
        f"WHERE i.due_date > :since AND i.due_date <= :d AND i.seq > 0 "
        f"AND i.due_date > {since} AND {open_loans} AND {COMPANY}",
        {"since": first_since},
    )
    window = (
        f"SELECT i.loan_id, i.due_date, {cum} AS cum FROM lending_installments i "
        f"WHERE i.due_date >= :d AND i.due_date < :window AND {current} "
    )
    if is_sqlite(ctx.conn):
        # SQLite would flatten the subquery and walk the loans probing each one's schedule;
        # materialised (the range bound kept off the key index by ``+``) and sorted by loan,
        # it is one range of the covering index and the loans are written in key order.
        update = (
            f"WITH c AS MATERIALIZED ({window} AND +i.loan_id >= :lo AND +i.loan_id < :hi "
            f"ORDER BY i.loan_id) UPDATE lending_loans AS l SET interest_accrued_fen = "
            f"CASE WHEN c.due_date = :d THEN 0 ELSE c.cum END, accrued_through = :d "
            f"FROM c WHERE l.id = c.loan_id AND {open_loans}"
        )
    else:
        update = (
            f"UPDATE lending_loans AS l SET interest_accrued_fen = "
            f"CASE WHEN c.due_date = :d THEN 0 ELSE c.cum END, accrued_through = :d "
            f"FROM ({window} AND i.loan_id >= :lo AND i.loan_id < :hi) AS c "
            f"WHERE l.id = c.loan_id AND {open_loans}"
        )
    ctx.sql(update, {"window": _plus_days(ctx, WINDOW_DAYS)})
    # The rest: loans whose current period is longer than the window (by key), and loans with
    # no current period (before the first, after the last), which keep their accrual.
    ctx.sql(
        f"UPDATE lending_loans AS l SET interest_accrued_fen = COALESCE("
        f"(SELECT CASE WHEN i.due_date = :d THEN 0 ELSE {cum} END FROM lending_installments i "
        f"WHERE i.loan_id = l.id AND {current}), l.interest_accrued_fen), accrued_through = :d "
        f"WHERE {open_loans}"
    )
    (after,) = _scalar_row(
        ctx,
        f"SELECT SUM(l.interest_accrued_fen) FROM lending_loans l "
        f"WHERE {live} AND l.accrued_through = :d AND {COMPANY}",
    )
    interest = after - before_closed - before_open + moved
    activated = ctx.sql(
        f"UPDATE lending_loans AS l SET state = 'active', version = version + 1, "
        f"updated_us = :now WHERE l.state = 'disbursed' AND {RANGE} RETURNING id",
        {"now": ctx.now_us},
    ).scalars()
    _audit(ctx, "loan.active", list(activated), "disbursed", "active")
    ctx.post(
        "accrue",
        [
            Leg(
                A.INTEREST_RECEIVABLE,
                A.INTEREST_INCOME,
                interest + cut_interest,
                T.INTEREST_ACCRUAL,
            ),
            Leg(A.FEES_RECEIVABLE, A.FEE_INCOME, fee, T.FEE),
        ],
    )
    return StepResult(loans, interest + cut_interest, {"interest_fen": interest, "fee_fen": fee})


def _plus_days(ctx: Ctx, days: int) -> Any:
    d = ctx.business_date + timedelta(days=days)
    return d.isoformat() if is_sqlite(ctx.conn) else d


# --- 2. auto-debit ---------------------------------------------------------------------------

_COLS = ", ".join(f"i.{c}_fen, i.paid_{c}_fen" for c in COMPONENTS)
#: Columns of a loan row read by the auto-debit, in this order.
_LOAN_COLS = (
    "l.id, l.customer_id, l.product_version_id, l.credit_balance_fen, "
    "l.principal_outstanding_fen, l.interest_accrued_fen, l.provision_fen"
)


def debit(ctx: Ctx) -> StepResult:
    """代扣: for loans with anything due, the credit balance first, then the debit channel for
    the rest; what comes in is allocated with the product's waterfall (allocation.py, the one
    implementation). The loans are locked in id order as they are read, so a manual
    repayment racing this step waits and then sees what the batch paid.

    The loans come from one short range of the unpaid-installments index, read once with
    their lock; only their unpaid installments due by ``D`` are read (and, for a product
    whose waterfall pays ahead, the later ones), not their whole schedules."""
    due = (
        f"SELECT i.loan_id FROM {_unpaid_table(ctx)} WHERE {UNPAID} AND i.due_date <= :d "
        f"AND {OWED} > 0 AND {UNPAID_RANGE}"
    )
    lock = "" if is_sqlite(ctx.conn) else " FOR UPDATE"
    head = _int_matrix(
        ctx,
        f"SELECT {_LOAN_COLS} FROM lending_loans l WHERE {LIVE} AND l.id IN ({due}) "
        f"AND {COMPANY if ctx.book == 'company' else MARKETPLACE} ORDER BY l.id{lock}",
        7,
    )
    if not len(head):
        return StepResult()
    loan_ids, customer, version, credit = head[:, 0], head[:, 1], head[:, 2], head[:, 3]
    outstanding, accrued_now, provision = head[:, 4], head[:, 5], head[:, 6]
    ranks = _ranks(ctx.conn, version)
    inst_cols = (
        f"SELECT i.loan_id, i.seq, {ctx.days('i.due_date', ':d')}, "
        f"{ctx.days(':d', 'i.period_start')}, {ctx.days('i.due_date', 'i.period_start')}, "
        f"i.waived_fen, {_COLS} FROM lending_installments i "
    )
    ids_sql, ids_param = _id_list(ctx, loan_ids)
    parts = [
        _int_matrix(
            ctx,
            f"{inst_cols} WHERE {UNPAID} AND i.due_date <= :d AND i.loan_id IN {ids_sql}",
            16,
            {"ids": ids_param},
        )
    ]
    ahead = (ranks[:, BUCKETS.index("in_advance"), :] >= 0).any(axis=1)
    if ahead.any():
        ahead_sql, ahead_param = _id_list(ctx, loan_ids[ahead])
        parts.append(
            _int_matrix(
                ctx,
                f"{inst_cols} WHERE {UNPAID} AND i.due_date > :d AND i.loan_id IN {ahead_sql}",
                16,
                {"ids": ahead_param},
            )
        )
    m = np.concatenate(parts)
    m = m[np.lexsort((m[:, 1], m[:, 0]))]
    loan = np.searchsorted(loan_ids, m[:, 0])
    seq, due_in, elapsed, length, waived = m[:, 1], m[:, 2], m[:, 3], m[:, 4], m[:, 5]
    charged = m[:, 6::2]  # (installments, 5) in COMPONENTS order
    paid = m[:, 7::2]
    owed = _owed(charged - paid, waived, due_in, elapsed, length, charged, paid)
    is_due = due_in <= 0
    due_total = np.zeros(len(loan_ids), dtype=np.int64)
    np.add.at(due_total, loan, np.where(is_due[:, None], owed, 0).sum(axis=1))
    from_credit = np.minimum(credit, due_total)
    want = due_total - from_credit
    asking = want > 0
    collected = np.zeros(len(loan_ids), dtype=np.int64)
    collected[asking] = ctx.channel.collect(
        ctx.conn,
        loan_ids=loan_ids[asking],
        customer_ids=customer[asking],
        amounts=want[asking],
        business_date=ctx.business_date,
        clock=ctx.clock,
    )
    # Cash first, then the credit balance: the engine's order (a transaction valued D, then
    # the day's end applying the balance); one waterfall over the sum splits the same way.
    s = allocation.slots(
        loan=loan,
        seq=seq,
        due=due_in,
        owed=owed,
        value_date=np.zeros(len(loan_ids), dtype=np.int64),
        rules=ranks,
    )
    cash_alloc, _ = allocation.waterfall(s.loan, s.owed, collected)
    all_alloc, left = allocation.waterfall(s.loan, s.owed, collected + credit)
    cash_paid = allocation.paid_matrix(s, cash_alloc, len(m))
    all_paid = allocation.paid_matrix(s, all_alloc, len(m))
    credit_used = credit - left  # cash goes first and is all owed, so only credit is left
    new_credit = left
    principal = COMPONENT_INDEX["principal"]
    paid_principal = np.zeros(len(loan_ids), dtype=np.int64)
    np.add.at(paid_principal, loan, all_paid[:, principal])
    still = (charged - paid - all_paid).sum(axis=1) > 0
    open_count = np.zeros(len(loan_ids), dtype=np.int64)
    np.add.at(open_count, loan, still)
    # Whether a loan is settled also depends on the installments not read (paid ones owe
    # nothing; later ones usually do): asked of the tables after the payments are written.
    maybe_settles = (outstanding - paid_principal == 0) & (open_count == 0)

    _write_installments(ctx, m, all_paid, still)
    _write_loans(ctx, loan_ids, paid_principal, new_credit, collected, cash_paid, loan)
    legs = _payment_legs(cash_paid, all_paid - cash_paid, collected, credit_used, new_credit)
    settled_ids = np.zeros(0, dtype=np.int64)
    if maybe_settles.any():
        settled_ids, settle_legs = _settle(
            ctx, loan_ids[maybe_settles], accrued_now[maybe_settles], provision[maybe_settles]
        )
        legs += settle_legs
    ctx.post("debit", legs)
    return StepResult(
        int((collected + credit_used > 0).sum()),
        int(collected.sum() + credit_used.sum()),
        {
            "requested_fen": int(want.sum()),
            "collected_fen": int(collected.sum()),
            "credit_applied_fen": int(credit_used.sum()),
            "settled": len(settled_ids),
        },
    )


def _int_matrix(
    ctx: Ctx, statement: str, width: int, extra: Mapping[str, Any] | None = None
) -> np.ndarray:
    """A query's rows as an int64 matrix, fetched through the driver's cursor (tuples, not
    result rows: at a hundred thousand rows the difference is seconds)."""
    rows = ctx.sql(statement, extra).cursor.fetchall()
    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    return np.asarray(rows, dtype=np.int64)


def _id_list(ctx: Ctx, ids: np.ndarray) -> tuple[str, str | list[int]]:
    """SQL for ``IN`` a list of ids bound as one parameter ``:ids`` (a JSON array on SQLite, an
    array on PostgreSQL): no staging table, no statement as long as the list."""
    values = np.asarray(ids, dtype=np.int64).tolist()
    if is_sqlite(ctx.conn):
        return "(SELECT value FROM json_each(:ids))", json.dumps(values)
    return "(SELECT unnest(CAST(:ids AS BIGINT[])))", values


def _owed(
    owed: np.ndarray,
    waived: np.ndarray,
    due_in: np.ndarray,
    elapsed: np.ndarray,
    length: np.ndarray,
    charged: np.ndarray,
    paid: np.ndarray,
) -> np.ndarray:
    """What a payment valued D may settle (the engine's ``owed_matrix``): waivers off the
    penalty then the late fee; a later installment's interest only as far as accrued."""
    out = owed.copy()
    pen, late, interest = (COMPONENT_INDEX[c] for c in ("penalty", "late_fee", "interest"))
    off_pen = np.minimum(waived, np.maximum(out[:, pen], 0))
    out[:, pen] -= off_pen
    out[:, late] -= waived - off_pen
    later = due_in > 0
    current = later & (elapsed > 0)
    p = np.maximum(length, 1)
    e = np.clip(elapsed, 0, p)
    earned = np.where(current, (2 * charged[:, interest] * e + p) // (2 * p), 0)
    out[:, interest] = np.where(later, earned - paid[:, interest], out[:, interest])
    return np.maximum(out, 0)


def _ranks(conn: Connection, version_ids: np.ndarray) -> np.ndarray:
    """Each loan's waterfall as a rank matrix, from its product version's rules."""
    uniq, inverse = np.unique(version_ids, return_inverse=True)
    stack = np.stack(
        [
            allocation.rank_matrix(
                products.get_version(conn, version_id=int(v)).terms.allocation_rules
            )
            for v in uniq
        ]
    )
    return stack[inverse]


def _write_installments(ctx: Ctx, m: np.ndarray, paid: np.ndarray, still: np.ndarray) -> None:
    touched = paid.any(axis=1)
    if not touched.any():
        return
    cols = {"loan_id": m[touched, 0], "seq": m[touched, 1]}
    cols |= {c: paid[touched, k] for k, c in enumerate(COMPONENTS)}
    cols["closes"] = (~still[touched]).astype(np.int64)
    table = stage(ctx.conn, "debit_installments", cols, key=("loan_id", "seq"))
    sets = ", ".join(f"paid_{c}_fen = paid_{c}_fen + s.{c}" for c in COMPONENTS)
    ctx.sql(
        f"UPDATE lending_installments AS i SET {sets}, "
        f"paid_date = CASE WHEN s.closes = 1 AND i.paid_date IS NULL THEN :d ELSE i.paid_date END "
        f"FROM {table} s WHERE i.loan_id = s.loan_id AND i.seq = s.seq"
    )


def _write_loans(
    ctx: Ctx,
    loan_ids: np.ndarray,
    paid_principal: np.ndarray,
    new_credit: np.ndarray,
    collected: np.ndarray,
    cash_paid: np.ndarray,
    loan: np.ndarray,
) -> None:
    cash = np.zeros((len(loan_ids), len(COMPONENTS)), dtype=np.int64)
    np.add.at(cash, loan, cash_paid)
    cols = {
        "loan_id": loan_ids,
        "principal_paid": paid_principal,
        "credit": new_credit,
        "collected": collected,
    }
    cols |= {c: cash[:, k] for k, c in enumerate(COMPONENTS)}
    table = stage(ctx.conn, "debit_loans", cols, key=("loan_id",))
    ctx.sql(
        f"UPDATE lending_loans AS l SET principal_outstanding_fen = "
        f"principal_outstanding_fen - s.principal_paid, credit_balance_fen = s.credit, "
        f"version = version + 1, updated_us = :now FROM {table} s "
        f"WHERE l.id = s.loan_id AND (s.principal_paid <> 0 OR s.credit <> l.credit_balance_fen)",
        {"now": ctx.now_us},
    )
    # The money the channel brought is a transaction valued D: a replay applies it as cash.
    ctx.sql(
        f"INSERT INTO lending_loan_transactions (loan_id, kind, value_date, booked_date, "
        f"amount_fen, principal_fen, interest_fen, fee_fen, late_fee_fen, penalty_fen, "
        f"overpayment_fen, external_ref, actor, created_us) "
        f"SELECT s.loan_id, 'auto_debit', :d, :d, s.collected, s.principal, s.interest, s.fee, "
        f"s.late_fee, s.penalty, 0, :ref, 'system', :now FROM {table} s WHERE s.collected > 0",
        {"ref": f"eod:{ctx.business_date.isoformat()}", "now": ctx.now_us},
    )


def _payment_legs(
    cash_paid: np.ndarray,
    credit_paid: np.ndarray,
    collected: np.ndarray,
    credit_used: np.ndarray,
    new_credit: np.ndarray,
) -> list[Leg]:
    """Cash and the credit balance each settle receivables (REPAYMENT); cash beyond what was
    owed (none, since the channel is asked for no more) would stay on the balance."""
    del credit_used, new_credit
    legs = []
    for source, paid in ((A.COMPANY_CASH, cash_paid), (A.BORROWER_CREDIT_BALANCES, credit_paid)):
        sums = paid.sum(axis=0)
        by_account: dict[A, int] = {}
        for k, name in enumerate(COMPONENTS):
            account = _RECEIVABLE[name]
            by_account[account] = by_account.get(account, 0) + int(sums[k])
        legs += [Leg(source, acc, amt, T.REPAYMENT) for acc, amt in by_account.items()]
    over = int(collected.sum() - cash_paid.sum())
    legs.append(Leg(A.COMPANY_CASH, A.BORROWER_CREDIT_BALANCES, over, T.REPAYMENT))
    return legs


_RECEIVABLE = {
    "penalty": A.PENALTY_RECEIVABLE,
    "late_fee": A.PENALTY_RECEIVABLE,
    "fee": A.FEES_RECEIVABLE,
    "interest": A.INTEREST_RECEIVABLE,
    "principal": A.LOANS_RECEIVABLE,
}


def _settle(
    ctx: Ctx, candidates: np.ndarray, accrued_now: np.ndarray, provision: np.ndarray
) -> tuple[np.ndarray, list[Leg]]:
    """结清: of the loans whose principal is all paid and whose installments read are paid,
    those with nothing owed on any installment (asked after the payments are written) are
    settled: what the borrower paid ahead is recognised, the accrual and provision released.
    Returns the settled ids and the GL legs."""
    ids_sql, ids_param = _id_list(ctx, candidates)
    rows = _int_matrix(
        ctx,
        f"SELECT i.loan_id, SUM(CASE WHEN {OWED} > 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN i.due_date > :d THEN i.interest_fen ELSE 0 END), "
        f"SUM(CASE WHEN i.due_date > :d THEN i.fee_fen ELSE 0 END) "
        f"FROM lending_installments i WHERE i.loan_id IN {ids_sql} GROUP BY i.loan_id",
        4,
        {"ids": ids_param},
    )
    at = np.searchsorted(candidates, rows[:, 0])
    owing = np.zeros(len(candidates), dtype=np.int64)
    later_interest = np.zeros(len(candidates), dtype=np.int64)
    later_fee = np.zeros(len(candidates), dtype=np.int64)
    owing[at], later_interest[at], later_fee[at] = rows[:, 1], rows[:, 2], rows[:, 3]
    settles = owing == 0
    settled_ids = candidates[settles]
    if not len(settled_ids):
        return settled_ids, []
    # The current period's accrual is already booked; installments after it were not.
    ahead_interest = int(later_interest[settles].sum()) - int(accrued_now[settles].sum())
    ahead_fee = int(later_fee[settles].sum())
    settled_sql, settled_param = _id_list(ctx, settled_ids)
    ctx.sql(
        f"UPDATE lending_loans AS l SET state = 'settled', closed_date = :d, "
        f"interest_accrued_fen = 0, provision_fen = 0, dpd = 0, bucket = 'M0', "
        f"classification = 'normal', updated_us = :now WHERE l.id IN {settled_sql}",
        {"now": ctx.now_us, "ids": settled_param},
    )
    _audit(ctx, "loan.settled", settled_ids.tolist(), "active", "settled")
    return settled_ids, [
        Leg(A.INTEREST_RECEIVABLE, A.INTEREST_INCOME, ahead_interest, T.INTEREST_ACCRUAL),
        Leg(A.FEES_RECEIVABLE, A.FEE_INCOME, ahead_fee, T.FEE),
        Leg(
            A.PROVISION_EXPENSE,
            A.LOAN_LOSS_PROVISION,
            -int(provision[settles].sum()),
            T.PROVISION,
        ),
    ]


# --- 3. age ----------------------------------------------------------------------------------


def age(ctx: Ctx) -> StepResult:
    """逾期账龄: days past due from the oldest installment not fully paid, and the bucket
    M0 (current), M1 1–30, M2 31–60, M3 61–90, M4 beyond."""
    overdue = f"{UNPAID} AND i.due_date < :d AND {OWED} > 0"
    cured = ctx.sql(
        f"UPDATE lending_loans AS l SET dpd = 0, bucket = 'M0' WHERE {LIVE} AND {RANGE} "
        f"AND l.dpd <> 0 AND NOT EXISTS (SELECT 1 FROM lending_installments i "
        f"WHERE i.loan_id = l.id AND {overdue})"
    ).rowcount
    dpd = ctx.days(":d", "o.oldest")
    aged = ctx.sql(
        f"UPDATE lending_loans AS l SET dpd = {dpd}, bucket = {BUCKET.format(dpd=dpd)} "
        f"FROM (SELECT i.loan_id, MIN(i.due_date) AS oldest FROM {_unpaid_table(ctx)} "
        f"WHERE {UNPAID_RANGE} AND {overdue} "
        f"GROUP BY i.loan_id) o WHERE l.id = o.loan_id AND {LIVE} AND l.dpd <> {dpd}"
    ).rowcount
    (overdue_loans,) = _scalar_row(
        ctx, f"SELECT COUNT(*) FROM lending_loans l WHERE {LIVE} AND {RANGE} AND l.dpd > 0"
    )
    # loan.overdue for partners: once per bucket entered (day 1, 31, 61, 91), not every day
    entered = ctx.sql(
        f"SELECT l.id, l.dpd, l.bucket FROM lending_loans l WHERE {LIVE} AND {RANGE} "
        f"AND l.dpd IN (1, 31, 61, 91) ORDER BY l.id"
    ).all()
    if entered:
        events.emit_many(
            ctx.conn,
            topic="loan.overdue",
            events=[
                (
                    events.loan_key(r.id),
                    {
                        "loan_id": r.id,
                        "dpd": r.dpd,
                        "bucket": r.bucket,
                        "business_date": ctx.business_date.isoformat(),
                    },
                )
                for r in entered
            ],
            clock=ctx.clock,
        )
    return StepResult(
        overdue_loans, 0, {"cured": cured, "aged": aged, "entered_bucket": len(entered)}
    )


# --- 4. penalty ------------------------------------------------------------------------------


def penalty(ctx: Ctx) -> StepResult:
    """罚息 on overdue principal past the grace days, half up per installment per day, and the
    late fee (滞纳金) once per installment on the first day its days past due exceed the grace
    days."""
    unpaid = "(i.principal_fen - i.paid_principal_fen)"
    daily = (
        f"((2 * {unpaid} * l.penalty_rate_ppb + CAST(l.year_days AS BIGINT) * 1000000000) "
        f"/ (2 * CAST(l.year_days AS BIGINT) * 1000000000))"
    )
    late = f"i.seq > 0 AND {ctx.days(':d', 'i.due_date')} = l.grace_days + 1 AND {OWED} > 0"
    over = f"{LIVE} AND {RANGE} AND l.dpd > l.grace_days"
    # Both the penalty (unpaid principal) and the late fee (still owed) fall on installments
    # that owe something: the unpaid-installments index finds them without a loan scan.
    overdue = f"{UNPAID} AND i.due_date < :d"
    fees = _late_fees(ctx.conn)
    fee_of = (
        "CASE l.product_version_id "
        + " ".join(f"WHEN {v} THEN {f}" for v, f in fees.items())
        + " ELSE 0 END"
        if fees
        else "0"
    )
    # Both totals before either update: the late fee's "still owed" sees the day's penalty
    # only on installments with unpaid principal, which are owed anyway.
    pen, late_total, rows = _scalar_row(
        ctx,
        f"SELECT COALESCE(SUM(CASE WHEN i.due_date < :d AND {unpaid} > 0 THEN {daily} "
        f"ELSE 0 END), 0), COALESCE(SUM(CASE WHEN {late} THEN {fee_of} ELSE 0 END), 0), "
        f"COUNT(DISTINCT l.id) "
        f"FROM lending_loans l JOIN lending_installments i ON i.loan_id = l.id "
        f"WHERE {over} AND {overdue} AND {COMPANY}",
    )
    ctx.sql(
        f"UPDATE lending_installments AS i SET penalty_fen = penalty_fen + {daily} "
        f"FROM lending_loans l WHERE i.loan_id = l.id AND {over} AND {overdue} "
        f"AND {unpaid} > 0"
    )
    if fees and late_total:
        ctx.sql(
            f"UPDATE lending_installments AS i SET late_fee_fen = late_fee_fen + {fee_of} "
            f"FROM lending_loans l WHERE i.loan_id = l.id AND {over} AND {overdue} "
            f"AND {late}"
        )
    ctx.post(
        "penalty",
        [Leg(A.PENALTY_RECEIVABLE, A.PENALTY_INCOME, pen + late_total, T.PENALTY_ACCRUAL)],
    )
    return StepResult(rows, pen + late_total, {"penalty_fen": pen, "late_fee_fen": late_total})


def _late_fees(conn: Connection) -> dict[int, int]:
    ids = conn.execute(text("SELECT id FROM lending_product_versions ORDER BY id")).scalars()
    fees = {int(v): products.get_version(conn, version_id=int(v)).terms.late_fee_fen for v in ids}
    return {v: f for v, f in fees.items() if f}


# --- 5. classify, 6. provision ---------------------------------------------------------------


def classify(ctx: Ctx) -> StepResult:
    """五级分类 by days past due: 正常 normal, 关注 special mention (1–90), 次级 substandard
    (91–180), 可疑 doubtful (181–360), 损失 loss (beyond)."""
    moved = ctx.sql(
        f"UPDATE lending_loans AS l SET classification = {CLASSIFICATION} "
        f"WHERE {LIVE} AND {RANGE} AND l.classification <> {CLASSIFICATION}"
    ).rowcount
    return StepResult(moved)


def provision(ctx: Ctx) -> StepResult:
    """拨备: principal outstanding × the classification's rate, half up; the GL moves by the
    difference, either way."""
    bp = ctx.config.provision_bp
    rate = (
        "CASE l.classification "
        + " ".join(f"WHEN '{k}' THEN {int(v)}" for k, v in sorted(bp.items()))
        + " ELSE 0 END"
    )
    new = f"((2 * l.principal_outstanding_fen * {rate} + 10000) / 20000)"
    where = f"{LIVE} AND {RANGE} AND l.provision_fen <> {new}"
    delta, loans = _scalar_row(
        ctx,
        f"SELECT COALESCE(SUM({new} - l.provision_fen), 0), COUNT(*) "
        f"FROM lending_loans l WHERE {where} AND {COMPANY}",
    )
    ctx.sql(f"UPDATE lending_loans AS l SET provision_fen = {new} WHERE {where}")
    ctx.post("provision", [Leg(A.PROVISION_EXPENSE, A.LOAN_LOSS_PROVISION, delta, T.PROVISION)])
    return StepResult(loans, delta)


# --- 7. write off ----------------------------------------------------------------------------


def write_off(ctx: Ctx) -> StepResult:
    """核销 past ``write_off_dpd``: every receivable leaves the books, against the provision
    held and then as expense; later payments are recoveries."""
    where = f"{LIVE} AND {RANGE} AND l.dpd > :wo"
    extra = {"wo": ctx.config.write_off_dpd, "now": ctx.now_us}
    it, fe, pe = (
        f"COALESCE((SELECT SUM({x}) FROM lending_installments i WHERE i.loan_id = l.id), 0)"
        for x in _RECEIVABLE_SQL
    )
    # the GL sums count company loans only; every loan past the days is written off
    gl = "CASE WHEN NOT l.marketplace THEN {} ELSE 0 END".format
    p, acc, prov, interest, fee, pen, n = _scalar_row(
        ctx,
        f"SELECT COALESCE(SUM({gl('l.principal_outstanding_fen')}), 0), "
        f"COALESCE(SUM({gl('l.interest_accrued_fen')}), 0), "
        f"COALESCE(SUM({gl('l.provision_fen')}), 0), COALESCE(SUM({gl(it)}), 0), "
        f"COALESCE(SUM({gl(fe)}), 0), COALESCE(SUM({gl(pe)}), 0), COUNT(*) "
        f"FROM (SELECT l.*, {MARKETPLACE} AS marketplace FROM lending_loans l WHERE {where}) l",
        extra,
    )
    if not n:
        return StepResult()
    ids = ctx.sql(
        f"UPDATE lending_loans AS l SET state = 'written_off', closed_date = :d, "
        f"written_off_fen = l.principal_outstanding_fen + l.interest_accrued_fen "
        f"+ {it} + {fe} + {pe}, version = version + 1, updated_us = :now "
        f"WHERE {where} RETURNING id",
        extra,
    ).scalars()
    _audit(ctx, "loan.written_off", list(ids), "active", "written_off")
    total = p + acc + interest + fee + pen
    ctx.post(
        "write_off",
        [
            Leg(A.PROVISION_EXPENSE, A.LOANS_RECEIVABLE, p, T.WRITE_OFF),
            Leg(A.PROVISION_EXPENSE, A.INTEREST_RECEIVABLE, acc + interest, T.WRITE_OFF),
            Leg(A.PROVISION_EXPENSE, A.FEES_RECEIVABLE, fee, T.WRITE_OFF),
            Leg(A.PROVISION_EXPENSE, A.PENALTY_RECEIVABLE, pen, T.WRITE_OFF),
            Leg(A.LOAN_LOSS_PROVISION, A.PROVISION_EXPENSE, prov, T.WRITE_OFF),
        ],
    )
    return StepResult(n, total, {"provision_used_fen": prov})


#: Per installment, what is receivable of interest, fees and penalties (charged = its due date
#: has been closed), as ``accounts.subledger_totals`` counts it.
_RECEIVABLE_SQL = (
    "CASE WHEN i.due_date <= l.accrued_through THEN i.interest_fen ELSE 0 END"
    " - i.paid_interest_fen",
    "CASE WHEN i.due_date <= l.accrued_through THEN i.fee_fen ELSE 0 END - i.paid_fee_fen",
    "i.penalty_fen + i.late_fee_fen - i.paid_penalty_fen - i.paid_late_fee_fen - i.waived_fen",
)


# --- 8. snapshot -----------------------------------------------------------------------------


def snapshot(ctx: Ctx) -> StepResult:
    """The day's portfolio, aggregated by product version × bucket × classification.

    The installments' receivables are summed straight into the groups (one pass over the
    installments joined to their loan), and the loans' own columns in a second, loans-only
    aggregate: no per-loan intermediate result, which is what a million loans make slow."""
    it, fe, pe = _RECEIVABLE_SQL
    group = "l.product_version_id, l.bucket, l.classification"
    receivable = (
        f"SELECT {group}, SUM({it}) AS it, SUM({fe}) AS fe, SUM({pe}) AS pe "
        f"FROM lending_installments i "
        f"JOIN lending_loans l ON l.id = i.loan_id WHERE {LIVE} AND {RANGE} "
        f"AND (i.due_date <= l.accrued_through OR i.paid_interest_fen + i.paid_fee_fen > 0) "
        f"GROUP BY {group}"
    )
    own = (
        f"SELECT {group}, COUNT(*) AS n, SUM(l.principal_outstanding_fen) AS p, "
        f"SUM(l.interest_accrued_fen) AS acc, SUM(l.provision_fen) AS prov, "
        f"SUM(l.credit_balance_fen) AS cr FROM lending_loans l WHERE {LIVE} AND {RANGE} "
        f"GROUP BY {group}"
    )
    cols = ", ".join(c.name for c in snapshots.columns)
    done = ctx.sql(
        f"INSERT INTO lending_eod_snapshots ({cols}) "
        f"SELECT :d, :part, o.product_version_id, o.bucket, o.classification, o.n, o.p, "
        f"o.acc + COALESCE(x.it, 0), COALESCE(x.fe, 0), COALESCE(x.pe, 0), o.prov, o.cr "
        f"FROM ({own}) o LEFT JOIN ({receivable}) x ON x.product_version_id = "
        f"o.product_version_id AND x.bucket = o.bucket AND x.classification = o.classification",
        {"part": ctx.partition},
    ).rowcount
    (loans,) = _scalar_row(
        ctx,
        "SELECT COALESCE(SUM(loans), 0) FROM lending_eod_snapshots "
        "WHERE business_date = :d AND part = :part",
        {"part": ctx.partition},
    )
    return StepResult(loans, 0, {"rows": done})


#: The per-partition steps, in order.
STEPS: tuple[tuple[str, Callable[[Ctx], StepResult]], ...] = (
    ("expire", expire),
    ("accrue", accrue),
    ("debit", debit),
    ("mkt_debit", marketplace_eod.debit),  # marketplace loans: custody, then to the notes
    ("age", age),
    ("penalty", penalty),
    ("classify", classify),
    ("provision", provision),
    ("write_off", write_off),
    ("snapshot", snapshot),
    *credit_line_jobs.STEPS,  # the credit line's steps (消费信贷), over line ids
)
