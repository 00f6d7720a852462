"""The per-loan engine: a loan's state on any business date, from its contract and history.

A loan's state is a pure function of its contract, its schedule as contracted and its
non-reversed transactions in (value_date, id) order (docs/lending.md). Servicing runs this to
post a repayment, and runs it again from the start to replay a backdated repayment or a
reversal; the end-of-day batch applies the same daily rules set-based, and a test proves the
two agree. Every money movement the engine makes is also a journal entry (debit, credit, code),
so the GL effect of any operation is the difference of two journals.

One day ``D`` of a loan: the transactions valued ``D`` (in id order), then, for a closed day,
the end-of-day rules: interest accrual (and fees charged on installments falling due), the
credit balance applied to what is due, aging, penalty and late fee, classification, provision
and write-off. A loan whose every amount is paid is settled at once: the rest of its interest
and fees are recognised and its provision released the moment it settles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from puhui.ledger.codes import AccountCode as A
from puhui.ledger.codes import TransferCode as T
from puhui.lending import allocation
from puhui.lending.allocation import COMPONENT_INDEX, COMPONENTS
from puhui.lending.dates import DayCount, add_months
from puhui.lending.schedules import (
    LoanTerms,
    Method,
    TermUnit,
    build_schedule,
    div_half_up,
)

PPB = 10**9
#: Provision rates by classification, in basis points of principal outstanding (configurable).
PROVISION_BP: Mapping[str, int] = {
    "normal": 100,
    "special_mention": 200,
    "substandard": 2_500,
    "doubtful": 5_000,
    "loss": 10_000,
}
WRITE_OFF_DPD = 180

#: The receivable each component is owed on.
RECEIVABLE = {
    "principal": A.LOANS_RECEIVABLE,
    "interest": A.INTEREST_RECEIVABLE,
    "fee": A.FEES_RECEIVABLE,
    "late_fee": A.PENALTY_RECEIVABLE,
    "penalty": A.PENALTY_RECEIVABLE,
}

#: Transaction kinds. Payments bring cash; the others change the loan without cash from the
#: borrower (``amount_fen`` of a rollover is the number of terms added).
PAYMENTS = ("repayment", "auto_debit", "prepay_full", "prepay_term", "prepay_amount", "cancel")
PREPAYMENTS = {"prepay_full": "full", "prepay_term": "shorter_term", "prepay_amount": "lower"}
KINDS = (*PAYMENTS, "disbursement", "refund", "write_off", "rollover")

Leg = tuple[A, A, T]


def bucket_of(dpd: int) -> str:
    """M0 current, M1 1–30, M2 31–60, M3 61–90, M4 beyond."""
    if dpd <= 0:
        return "M0"
    return f"M{min(4, (dpd - 1) // 30 + 1)}"


def classification_of(dpd: int) -> str:
    """五级分类 by days past due."""
    if dpd <= 0:
        return "normal"  # 正常
    if dpd <= 90:
        return "special_mention"  # 关注
    if dpd <= 180:
        return "substandard"  # 次级
    if dpd <= 360:
        return "doubtful"  # 可疑
    return "loss"  # 损失


def accrued(interest_fen: int, period_start: date, due_date: date, on: date) -> int:
    """Interest of one period accrued by the end of ``on``: cumulative and half up, so the
    daily amounts of a period sum to exactly its interest."""
    p = (due_date - period_start).days
    e = min(max((on - period_start).days, 0), p)
    return (2 * interest_fen * e + p) // (2 * p) if p > 0 else interest_fen


@dataclass(frozen=True)
class Contract:
    """What the engine needs of a loan row and its product version."""

    principal_fen: int
    annual_rate: Decimal
    rate_ppb: int
    penalty_rate_ppb: int
    year_days: int
    method: Method
    term_unit: TermUnit
    term: int
    start_date: date
    grace_days: int
    upfront_fee_fen: int
    period_fee_fen: int
    late_fee_fen: int
    allocation_rules: tuple[str, ...]
    prepayment_fee_ppb: int = 0
    write_off_dpd: int = WRITE_OFF_DPD
    provision_bp: Mapping[str, int] = field(default_factory=lambda: dict(PROVISION_BP))

    def loan_terms(self, *, principal_fen: int, term: int, start: date, **kw: object) -> LoanTerms:
        return LoanTerms(
            principal_fen=principal_fen,
            annual_rate=self.annual_rate,
            term=term,
            method=self.method,
            start=start,
            term_unit=self.term_unit,
            day_count=DayCount.ACT_360 if self.year_days == 360 else DayCount.ACT_365,
            period_fee_fen=self.period_fee_fen,
            **kw,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Txn:
    id: int
    kind: str
    value_date: date
    amount_fen: int


@dataclass
class Inst:
    """One installment: as charged and as paid (the ``lending_installments`` columns)."""

    seq: int
    period_start: date
    due_date: date
    principal_fen: int
    interest_fen: int
    fee_fen: int = 0
    late_fee_fen: int = 0
    penalty_fen: int = 0
    paid_principal_fen: int = 0
    paid_interest_fen: int = 0
    paid_fee_fen: int = 0
    paid_late_fee_fen: int = 0
    paid_penalty_fen: int = 0
    waived_fen: int = 0
    paid_date: date | None = None
    #: Interest and fee recognised (the due date has been closed, or the loan settled).
    charged: bool = False

    def owed(self, component: str) -> int:
        return getattr(self, f"{component}_fen") - getattr(self, f"paid_{component}_fen")

    def settled(self) -> bool:
        return all(self.owed(c) <= 0 for c in COMPONENTS)


@dataclass(frozen=True)
class Allocation:
    """How one transaction (``txn_id`` None: the credit balance applied) was split."""

    txn_id: int | None
    value_date: date
    principal_fen: int = 0
    interest_fen: int = 0
    fee_fen: int = 0
    late_fee_fen: int = 0
    penalty_fen: int = 0
    overpayment_fen: int = 0


@dataclass
class LoanState:
    """A loan at the end of ``accrued_through`` plus the transactions of the day after."""

    state: str
    installments: list[Inst]
    principal_outstanding_fen: int = 0
    interest_accrued_fen: int = 0
    credit_balance_fen: int = 0
    accrued_through: date | None = None
    dpd: int = 0
    bucket: str = "M0"
    classification: str = "normal"
    provision_fen: int = 0
    written_off_fen: int = 0
    recovered_fen: int = 0
    closed_date: date | None = None
    rollovers: int = 0
    allocations: list[Allocation] = field(default_factory=list)
    journal: dict[Leg, int] = field(default_factory=lambda: defaultdict(int))

    def book(self, debit: A, credit: A, code: T, amount: int) -> None:
        if amount:
            self.journal[(debit, credit, code)] += amount

    def receivables(self) -> dict[A, int]:
        """This loan's share of each control account (what ``check_subledger`` sums)."""
        out = dict.fromkeys((*set(RECEIVABLE.values()), A.LOAN_LOSS_PROVISION), 0)
        out[A.BORROWER_CREDIT_BALANCES] = self.credit_balance_fen
        if self.state not in ("disbursed", "active"):
            return out
        out[A.LOANS_RECEIVABLE] = self.principal_outstanding_fen
        out[A.INTEREST_RECEIVABLE] = self.interest_accrued_fen
        for i in self.installments:
            out[A.INTEREST_RECEIVABLE] += i.interest_fen * i.charged - i.paid_interest_fen
            out[A.FEES_RECEIVABLE] += i.fee_fen * i.charged - i.paid_fee_fen
            out[A.PENALTY_RECEIVABLE] += i.owed("penalty") + i.owed("late_fee") - i.waived_fen
        out[A.LOAN_LOSS_PROVISION] = self.provision_fen
        return out


def schedule(contract: Contract) -> list[Inst]:
    """The contracted installments: seq 0 is the upfront fee (a separate payment due at
    disbursement, RATE-FEE-01), then the schedule built from the contract."""
    built = build_schedule(
        contract.loan_terms(
            principal_fen=contract.principal_fen, term=contract.term, start=contract.start_date
        )
    )
    out = [Inst(0, contract.start_date, contract.start_date, 0, 0, contract.upfront_fee_fen)]
    out[0].charged = True
    previous = contract.start_date
    for i in built.installments:
        out.append(Inst(i.period, previous, i.due_date, i.principal_fen, i.interest_fen, i.fee_fen))
        previous = i.due_date
    return out


class Engine:
    """Runs one loan day by day. ``run`` is the entry point; the class only holds the state."""

    def __init__(self, contract: Contract) -> None:
        self.c = contract
        self.s = LoanState(state="disbursed", installments=schedule(contract))
        self.s.principal_outstanding_fen = contract.principal_fen
        self._ranks = allocation.rank_matrix(contract.allocation_rules)

    # ---------------------------------------------------------------- helpers

    def current(self, on: date) -> Inst | None:
        """The installment whose period contains ``on`` (period_start < on ≤ due_date)."""
        for i in self.s.installments:
            if i.seq and i.period_start < on <= i.due_date:
                return i
        return None

    def accrued_on(self, on: date) -> int:
        cur = self.current(on)
        if cur is None or cur.charged:
            return 0
        return accrued(cur.interest_fen, cur.period_start, cur.due_date, on)

    def owed_matrix(self, on: date) -> np.ndarray:
        """What each installment owes a payment valued ``on``: in-advance interest only as
        far as accrued by the end of ``on``."""
        rows = []
        cur = self.current(on)
        for i in self.s.installments:
            row = [i.owed(c) for c in COMPONENTS]
            pen = COMPONENT_INDEX["penalty"]
            waived_pen = min(i.waived_fen, max(row[pen], 0))
            row[pen] -= waived_pen
            row[COMPONENT_INDEX["late_fee"]] -= i.waived_fen - waived_pen
            if i.due_date > on:
                earned = accrued(i.interest_fen, i.period_start, i.due_date, on) if i is cur else 0
                row[COMPONENT_INDEX["interest"]] = max(earned - i.paid_interest_fen, 0)
            rows.append([max(v, 0) for v in row])
        return np.array(rows, dtype=np.int64).reshape(len(rows), len(COMPONENTS))

    def allocate(self, amount: int, on: date, txn_id: int | None, *, from_credit: bool) -> int:
        """Pay ``amount`` into the waterfall valued ``on``; returns what is left over."""
        insts = self.s.installments
        s = allocation.slots(
            loan=np.zeros(len(insts), dtype=np.int64),
            seq=[i.seq for i in insts],
            due=np.array([i.due_date for i in insts], dtype="datetime64[D]"),
            owed=self.owed_matrix(on),
            value_date=np.array([on], dtype="datetime64[D]"),
            rules=self._ranks,
        )
        allocated, left = allocation.waterfall(s.loan, s.owed, [amount])
        paid = allocation.paid_matrix(s, allocated, len(insts))
        totals = dict.fromkeys(COMPONENTS, 0)
        for k, inst in enumerate(insts):
            for c, name in enumerate(COMPONENTS):
                amt = int(paid[k, c])
                if amt:
                    setattr(inst, f"paid_{name}_fen", getattr(inst, f"paid_{name}_fen") + amt)
                    totals[name] += amt
            if paid[k].any() and inst.settled() and inst.paid_date is None:
                inst.paid_date = on
        debit = A.BORROWER_CREDIT_BALANCES if from_credit else A.COMPANY_CASH
        for name, amt in totals.items():
            self.s.book(debit, RECEIVABLE[name], T.REPAYMENT, amt)
        self.s.principal_outstanding_fen -= totals["principal"]
        overpay = 0 if from_credit else int(left[0])
        self.s.book(A.COMPANY_CASH, A.BORROWER_CREDIT_BALANCES, T.REPAYMENT, overpay)
        self.s.credit_balance_fen += overpay - (amount - int(left[0])) * from_credit
        self.s.allocations.append(
            Allocation(
                txn_id, on, **{f"{n}_fen": v for n, v in totals.items()}, overpayment_fen=overpay
            )
        )
        self.settle_if_paid(on)
        return int(left[0])

    def settle_if_paid(self, on: date) -> None:
        if self.s.state not in ("disbursed", "active"):
            return
        if self.s.principal_outstanding_fen or not all(i.settled() for i in self.s.installments):
            return
        for i in self.s.installments:  # recognise what the borrower paid ahead
            if not i.charged:
                self.charge(i, on)
        self.s.interest_accrued_fen = 0
        self.set_provision(0)
        self.s.dpd, self.s.bucket, self.s.classification = 0, "M0", "normal"
        self.s.state, self.s.closed_date = "settled", on

    def charge(self, inst: Inst, on: date) -> None:
        """``inst`` falls due (or the loan settles): its interest leaves the accrual, the part
        not accrued yet is recognised, and its fee is charged."""
        accrued_part = self.s.interest_accrued_fen if inst is self.current(on) else 0
        self.s.book(
            A.INTEREST_RECEIVABLE,
            A.INTEREST_INCOME,
            T.INTEREST_ACCRUAL,
            inst.interest_fen - accrued_part,
        )
        if accrued_part:
            self.s.interest_accrued_fen = 0
        self.s.book(A.FEES_RECEIVABLE, A.FEE_INCOME, T.FEE, inst.fee_fen)
        inst.charged = True

    def set_provision(self, amount: int) -> None:
        self.s.book(
            A.PROVISION_EXPENSE, A.LOAN_LOSS_PROVISION, T.PROVISION, amount - self.s.provision_fen
        )
        self.s.provision_fen = amount

    # ---------------------------------------------------------------- transactions

    def apply(self, t: Txn) -> None:
        s = self.s
        if t.kind == "disbursement":
            s.book(A.LOANS_RECEIVABLE, A.COMPANY_CASH, T.DISBURSEMENT, self.c.principal_fen)
            s.book(A.FEES_RECEIVABLE, A.FEE_INCOME, T.FEE, self.c.upfront_fee_fen)
            return
        if t.kind == "refund":
            s.credit_balance_fen -= t.amount_fen
            s.book(A.BORROWER_CREDIT_BALANCES, A.COMPANY_CASH, T.REFUND, t.amount_fen)
            s.allocations.append(Allocation(t.id, t.value_date))
            return
        if s.state == "written_off":
            if t.kind in PAYMENTS:  # 核销后收回
                s.recovered_fen += t.amount_fen
                s.book(A.COMPANY_CASH, A.RECOVERY_INCOME, T.RECOVERY, t.amount_fen)
                s.allocations.append(Allocation(t.id, t.value_date))
            return
        if s.state not in ("disbursed", "active"):  # settled: anything paid is the borrower's
            s.credit_balance_fen += t.amount_fen
            s.book(A.COMPANY_CASH, A.BORROWER_CREDIT_BALANCES, T.REPAYMENT, t.amount_fen)
            s.allocations.append(Allocation(t.id, t.value_date, overpayment_fen=t.amount_fen))
            return
        if t.kind == "write_off":
            self.write_off(t.value_date)
        elif t.kind == "rollover":
            self.rollover(t.value_date, t.amount_fen)
        elif t.kind in PREPAYMENTS or t.kind == "cancel":
            self.prepay(t)
        else:
            self.allocate(t.amount_fen, t.value_date, t.id, from_credit=False)

    def quote(self, on: date) -> tuple[int, int]:
        """(payable now, principal not yet due) for a payment valued ``on``: what is due and
        past due plus the current period's interest to date, and the principal a prepayment
        may repay."""
        owed = self.owed_matrix(on)
        principal = COMPONENT_INDEX["principal"]
        cur = self.current(on)
        payable, not_due = 0, self.s.principal_outstanding_fen
        for k, inst in enumerate(self.s.installments):
            if inst.due_date <= on:
                payable += int(owed[k].sum())
                not_due -= int(owed[k, principal])
            elif inst is cur:
                payable += int(owed[k].sum() - owed[k, principal])
        return payable, not_due

    def prepay(self, t: Txn) -> None:
        """Pay what is due, the interest to date, the prepaid principal and its fee; then the
        schedule is cut at the value date (full, or a cooling-off cancellation, 冷静期) or
        rebuilt for the principal left over the old due dates: fewer installments, or lower
        ones."""
        on = t.value_date
        fee_ppb = 0 if t.kind == "cancel" else self.c.prepayment_fee_ppb
        payable, not_due = self.quote(on)
        available = max(t.amount_fen - payable, 0)
        full_fee = div_half_up(not_due * fee_ppb, PPB)
        if t.kind in ("prepay_full", "cancel") or available >= not_due + full_fee:
            prepaid, fee = not_due, full_fee
        else:
            prepaid = available * PPB // (PPB + fee_ppb)
            fee = available - prepaid
        self.reschedule(on, not_due, prepaid, fee, PREPAYMENTS.get(t.kind, "lower"), 0)
        self.allocate(t.amount_fen, on, t.id, from_credit=False)
        if t.kind == "cancel" and self.s.state == "settled":
            self.s.state = "cancelled"

    def reschedule(
        self, on: date, not_due: int, principal: int, fee: int, mode: str, extra: int
    ) -> None:
        """End the schedule at ``on`` — the current installment falls due today with its
        interest to date, ``principal`` and ``fee`` — and spread the principal not yet due
        that is left over the old due dates (and ``extra`` more terms)."""
        s = self.s
        cur = self.current(on)
        later = [i for i in s.installments if i.due_date > on]
        old_dates = [i.due_date for i in later]
        level = later[-1].principal_fen + later[-1].interest_fen if later else 0
        s.installments = [i for i in s.installments if i.due_date <= on or i is cur]
        if cur is not None and cur.due_date > on:
            anchor = cur.period_start
            cur.interest_fen = accrued(cur.interest_fen, cur.period_start, cur.due_date, on)
            cur.due_date = on
            cur.principal_fen = cur.paid_principal_fen + principal
            cur.fee_fen += fee
            last = cur
        else:
            anchor = on
            last = max(s.installments, key=lambda i: i.seq)
            if principal or fee:
                last = Inst(last.seq + 1, on, on, principal, 0, fee)
                s.installments.append(last)
        left = not_due - principal
        if left > 0 and old_dates:
            s.installments.extend(
                self.rebuilt(left, on, anchor, old_dates, last.seq + 1, mode, level, extra)
            )

    def rebuilt(
        self,
        principal: int,
        on: date,
        anchor: date,
        old_dates: Sequence[date],
        first_seq: int,
        mode: str,
        level: int,
        extra: int,
    ) -> list[Inst]:
        """Installments for ``principal`` on the old due dates (and ``extra`` more terms):
        as many (lower installments) or as few as keep each no larger than ``level``
        (shorter term). The first runs from ``on`` and its interest is by days."""
        c = self.c
        if c.method is Method.BULLET or c.term_unit is TermUnit.DAY:
            end = old_dates[-1]
            if extra:
                end = (
                    add_months(end, extra)
                    if c.term_unit is TermUnit.MONTH
                    else end + timedelta(days=extra)
                )
            plan = [(end, principal, 0)]
        else:
            count = len(old_dates) + extra
            for n in range(1, count + 1) if mode == "shorter_term" else [count]:
                built = build_schedule(
                    c.loan_terms(
                        principal_fen=principal,
                        term=n,
                        start=anchor,
                        repayment_day=c.start_date.day,
                    )
                ).installments
                if max(i.principal_fen + i.interest_fen for i in built) <= level:
                    break
            plan = [(i.due_date, i.principal_fen, i.interest_fen) for i in built]
        out, previous = [], on
        for k, (due, part, interest) in enumerate(plan):
            if k == 0:  # from today, by days
                interest = div_half_up(principal * c.rate_ppb * (due - on).days, c.year_days * PPB)
            out.append(Inst(first_seq + k, previous, due, part, interest, c.period_fee_fen))
            previous = due
        return out

    def rollover(self, on: date, extra_terms: int) -> None:
        """展期 (RATE-ROLL-01, at most twice): the interest to date falls due today and the
        principal not yet due is rescheduled over the remaining terms plus ``extra_terms``."""
        _, not_due = self.quote(on)
        self.reschedule(on, not_due, 0, 0, "lower", extra_terms)
        self.s.rollovers += 1

    # ---------------------------------------------------------------- end of day

    def close_day(self, d: date) -> None:
        s, c = self.s, self.c
        s.accrued_through = d
        if s.state not in ("disbursed", "active"):
            return
        s.state = "active"
        # 1. interest accrual; on the due date the period's interest moves to the installment
        cur = self.current(d)
        if cur is not None and not cur.charged:
            amount = accrued(cur.interest_fen, cur.period_start, cur.due_date, d)
            s.book(
                A.INTEREST_RECEIVABLE,
                A.INTEREST_INCOME,
                T.INTEREST_ACCRUAL,
                amount - s.interest_accrued_fen,
            )
            s.interest_accrued_fen = amount
            if cur.due_date == d:
                s.interest_accrued_fen = 0
                s.book(A.FEES_RECEIVABLE, A.FEE_INCOME, T.FEE, cur.fee_fen)
                cur.charged = True
        for i in s.installments:  # installments due with no accrual days (a cut at a date)
            if i.due_date <= d and not i.charged:
                self.charge(i, d)
        # 2. the credit balance pays what is due
        if s.credit_balance_fen and any(
            i.due_date <= d and not i.settled() for i in s.installments
        ):
            self.allocate(s.credit_balance_fen, d, None, from_credit=True)
            if s.state != "active":
                return
        # 4. aging
        open_ = [i.due_date for i in s.installments if not i.settled()]
        oldest = min(open_) if open_ else None
        s.dpd = max(0, (d - oldest).days) if oldest else 0
        s.bucket = bucket_of(s.dpd)
        # 5. penalty on overdue principal, and the late fee once per installment
        for i in s.installments:
            if i.due_date >= d:
                continue
            u = i.owed("principal")
            if u > 0 and s.dpd > c.grace_days:
                amt = div_half_up(u * c.penalty_rate_ppb, c.year_days * PPB)
                i.penalty_fen += amt
                s.book(A.PENALTY_RECEIVABLE, A.PENALTY_INCOME, T.PENALTY_ACCRUAL, amt)
            if (d - i.due_date).days == c.grace_days + 1 and not i.settled() and i.seq:
                i.late_fee_fen += c.late_fee_fen
                s.book(A.PENALTY_RECEIVABLE, A.PENALTY_INCOME, T.PENALTY_ACCRUAL, c.late_fee_fen)
        # 6–7. classification and provision
        s.classification = classification_of(s.dpd)
        bp = c.provision_bp[s.classification]
        self.set_provision(div_half_up(s.principal_outstanding_fen * bp, 10_000))
        # 8. write-off
        if s.dpd > c.write_off_dpd:
            self.write_off(d)

    def write_off(self, on: date) -> None:
        """核销: every receivable leaves the books against the provision held, then expense."""
        s = self.s
        owed = s.receivables()
        cover = s.provision_fen
        total = 0
        for account in (
            A.LOANS_RECEIVABLE,
            A.INTEREST_RECEIVABLE,
            A.FEES_RECEIVABLE,
            A.PENALTY_RECEIVABLE,
        ):
            amount = owed[account]
            from_provision = min(max(cover, 0), max(amount, 0))
            cover -= from_provision
            s.book(A.LOAN_LOSS_PROVISION, account, T.WRITE_OFF, from_provision)
            s.book(A.PROVISION_EXPENSE, account, T.WRITE_OFF, amount - from_provision)
            total += amount
        # whatever provision was not used is released
        s.book(A.PROVISION_EXPENSE, A.LOAN_LOSS_PROVISION, T.PROVISION, -cover)
        s.written_off_fen = total
        s.state, s.closed_date = "written_off", on


def run(
    contract: Contract,
    transactions: Iterable[Txn],
    *,
    through: date,
    closed_through: date | None = None,
) -> LoanState:
    """The loan's state after the transactions valued up to ``through`` and the end-of-day
    rules of every day up to ``closed_through`` (default: ``through``).

    Servicing during business date ``B`` runs ``through=B, closed_through=B − 1``: every
    closed day, plus the day's own transactions. Transactions are taken in (value_date, id)
    order; the first must be the disbursement.
    """
    closed = through if closed_through is None else closed_through
    txns = sorted(transactions, key=lambda t: (t.value_date, t.id))
    engine = Engine(contract)
    by_day: dict[date, list[Txn]] = defaultdict(list)
    for t in txns:
        by_day[t.value_date].append(t)
    d = contract.start_date
    while d <= through:
        for t in by_day.get(d, ()):
            engine.apply(t)
        if d <= closed:
            engine.close_day(d)
        d += timedelta(days=1)
    return engine.s


def journal_difference(old: LoanState, new: LoanState) -> dict[Leg, int]:
    """What to post to move the GL from ``old``'s journal to ``new``'s (either sign)."""
    keys = set(old.journal) | set(new.journal)
    diff = {k: new.journal.get(k, 0) - old.journal.get(k, 0) for k in keys}
    return {k: v for k, v in sorted(diff.items(), key=lambda kv: tuple(map(int, kv[0]))) if v}


__all__ = [
    "Allocation",
    "Contract",
    "Inst",
    "LoanState",
    "Txn",
    "accrued",
    "bucket_of",
    "classification_of",
    "journal_difference",
    "run",
    "schedule",
]
