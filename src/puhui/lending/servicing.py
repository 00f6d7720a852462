"""Servicing one loan: disburse, repay, prepay, reverse, replay, roll over, write off, recover,
refund and cancel in the cooling-off period.

Every operation locks the loan row first (``FOR UPDATE``; SQLite's writer lock), records its
transaction, runs the engine over the loan's whole history through the business date, writes
the sub-ledger (loan and installment rows) and posts the GL: the difference between the
engine's journal before and after the transaction, with deterministic transfer ids
``ln:{loan_id}:{txn_id}``, so a retry is idempotent and the control accounts always equal the
sum of the loans. A backdated transaction or a reversal is the same code path: the replay from
the start gives the history as if it had been right all along, and everything but the cash
moves as LOAN_ADJUSTMENT. Functions never commit; the caller owns the transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from puhui import events
from puhui.compliance import aml
from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.rates import parse_rate
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ledger.codes import AccountCode, TransferCode
from puhui.lending import accounts, calendar, contract_terms, engine, eod, products, states
from puhui.lending.models import calendar as calendar_table
from puhui.lending.models import installments, loan_transactions, loans
from puhui.lending.product_terms import Prepayment
from puhui.lending.schedules import build_schedule, div_half_up

#: RATE-ROLL-01: a loan may be rolled over (展期) at most twice.
MAX_ROLLOVERS = 2
PREPAY_KINDS = {
    "full": "prepay_full",
    "shorter_term": "prepay_term",
    "lower_installment": "prepay_amount",
}
INSTALLMENT_COLUMNS = (
    "principal_fen",
    "interest_fen",
    "fee_fen",
    "late_fee_fen",
    "penalty_fen",
    "paid_principal_fen",
    "paid_interest_fen",
    "paid_fee_fen",
    "paid_late_fee_fen",
    "paid_penalty_fen",
    "waived_fen",
)
LOAN_COLUMNS = (
    "principal_outstanding_fen",
    "interest_accrued_fen",
    "credit_balance_fen",
    "accrued_through",
    "dpd",
    "bucket",
    "classification",
    "provision_fen",
    "written_off_fen",
    "recovered_fen",
    "closed_date",
    "rollovers",
)


@dataclass(frozen=True)
class Result:
    """What an operation did: its transaction, the allocation and the loan afterwards."""

    loan_id: int
    txn_id: int
    state: str
    allocation: engine.Allocation | None
    principal_outstanding_fen: int
    credit_balance_fen: int
    dpd: int


def _result(loan_id: int, txn_id: int, s: Any, allocation: engine.Allocation | None) -> Result:
    """A Result from an engine state or a loan row (both have the columns it reports)."""
    return Result(
        loan_id,
        txn_id,
        s.state,
        allocation,
        s.principal_outstanding_fen,
        s.credit_balance_fen,
        s.dpd,
    )


def _us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


# ------------------------------------------------------------------------------ reading


def lock(conn: Connection, loan_id: int) -> Any:
    """The loan row, locked for the rest of the transaction."""
    row = conn.execute(select(loans).where(loans.c.id == loan_id).with_for_update()).first()
    if row is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    today = conn.execute(select(calendar_table.c.business_date)).scalar()
    if (
        row.accrued_through is not None
        and today is not None
        and row.accrued_through >= today
        and eod.closing(conn, loan_id=loan_id, business_date=today)
    ):
        raise Conflict(
            "end_of_day_in_progress",
            f"the end-of-day batch is closing {today.isoformat()} for this loan; "
            "retry when it has finished",
            field="loan_id",
        )
    return row


def contract(conn: Connection, loan: Any) -> engine.Contract:
    """The engine's contract from a loan row and its product version."""
    terms = products.get_version(conn, version_id=loan.product_version_id).terms
    fee_ppb = (
        contract_terms.rate_ppb(terms.prepayment_fee_rate)
        if terms.prepayment is Prepayment.ALLOWED_WITH_FEE
        else 0
    )
    return engine.Contract(
        principal_fen=loan.principal_fen,
        annual_rate=parse_rate(loan.annual_rate),
        rate_ppb=loan.rate_ppb,
        penalty_rate_ppb=loan.penalty_rate_ppb,
        year_days=loan.year_days,
        method=loan.method,
        term_unit=loan.term_unit,
        term=loan.term,
        start_date=loan.start_date,
        grace_days=loan.grace_days,
        upfront_fee_fen=loan.upfront_fee_fen,
        period_fee_fen=terms.fees_fen(loan.principal_fen)[1],
        late_fee_fen=terms.late_fee_fen,
        allocation_rules=terms.allocation_rules,
        prepayment_fee_ppb=fee_ppb,
    )


def transactions(conn: Connection, loan_id: int) -> list[engine.Txn]:
    """The loan's live history: every transaction neither reversed nor a reversal."""
    t = loan_transactions.c
    rows = conn.execute(
        select(t.id, t.kind, t.value_date, t.amount_fen)
        .where(t.loan_id == loan_id, t.reversed_by_id.is_(None), t.kind != "reversal")
        .order_by(t.value_date, t.id)
    )
    return [engine.Txn(r.id, r.kind, r.value_date, r.amount_fen) for r in rows]


def state_of(
    conn: Connection, loan: Any, txns: list[engine.Txn], business_date: date
) -> engine.LoanState:
    """The engine's state of the loan during ``business_date``: every day before it closed,
    and its own transactions applied.

    While the end-of-day batch for ``business_date`` is part-way through, a loan it has
    already accrued has ``accrued_through == business_date``: that day is closed for this loan,
    so the replay closes it too, or the books would lose what the batch's steps already posted.
    """
    closed = business_date - timedelta(days=1)
    if loan.accrued_through is not None and loan.accrued_through > closed:
        closed = loan.accrued_through
    return engine.run(contract(conn, loan), txns, through=business_date, closed_through=closed)


def booked_state(conn: Connection, loan: Any, txns: list[engine.Txn]) -> engine.LoanState:
    """The state the books hold: closed through the loan's ``accrued_through`` (by servicing
    or by the end-of-day batch), with the transactions of the day after. Posting the
    difference from it also catches up any day not yet closed for this loan."""
    booked = loan.accrued_through or loan.start_date - timedelta(days=1)
    return engine.run(
        contract(conn, loan), txns, through=booked + timedelta(days=1), closed_through=booked
    )


# ------------------------------------------------------------------------------ writing


def _insert_txn(
    conn: Connection,
    *,
    loan_id: int,
    kind: str,
    value_date: date,
    booked: date,
    amount: int,
    actor: Actor,
    clock: Clock,
    external_ref: str | None = None,
    reverses_id: int | None = None,
) -> int:
    return int(
        conn.execute(
            insert(loan_transactions).values(
                loan_id=loan_id,
                kind=kind,
                value_date=value_date,
                booked_date=booked,
                amount_fen=amount,
                external_ref=external_ref,
                reverses_id=reverses_id,
                actor=actor.principal,
                created_us=_us(clock),
            )
        ).inserted_primary_key[0]
    )


def write(
    conn: Connection, *, loan: Any, new: engine.LoanState, actor: Actor, clock: Clock
) -> None:
    """Store the engine's state: the loan's columns, its installments, each transaction's
    allocation, and its state through the state machine (a replay may also undo a
    settlement, which the machine has no move for: that is recorded as a replay)."""
    now = _us(clock)
    conn.execute(
        update(loans)
        .where(loans.c.id == loan.id)
        .values(
            **{c: getattr(new, c) for c in LOAN_COLUMNS},
            version=loans.c.version + 1,
            updated_us=now,
        )
    )
    conn.execute(delete(installments).where(installments.c.loan_id == loan.id))
    conn.execute(
        insert(installments),
        [
            {
                "loan_id": loan.id,
                "seq": i.seq,
                "period_start": i.period_start,
                "due_date": i.due_date,
                "paid_date": i.paid_date,
                **{c: getattr(i, c) for c in INSTALLMENT_COLUMNS},
            }
            for i in new.installments
        ],
    )
    by_txn: dict[int, engine.Allocation] = {}
    for a in new.allocations:
        if a.txn_id is not None:
            by_txn[a.txn_id] = a
    for txn_id, a in by_txn.items():
        conn.execute(
            update(loan_transactions)
            .where(loan_transactions.c.id == txn_id)
            .values(**{k: v for k, v in asdict(a).items() if k.endswith("_fen")})
        )
    if new.state != loan.state:
        if new.state in states.LOAN_TRANSITIONS.get(loan.state, frozenset()):
            states.transition_loan(
                conn, loan_id=loan.id, to=new.state, actor=actor, reason="servicing", clock=clock
            )
        else:
            conn.execute(update(loans).where(loans.c.id == loan.id).values(state=new.state))
            audit.record(
                conn,
                actor=actor,
                event="loan.replayed_state",
                object_type="loan",
                object_id=loan.id,
                before={"state": loan.state},
                after={"state": new.state},
                clock=clock,
            )


def post_difference(
    conn: Connection,
    *,
    loan_id: int,
    txn_id: int | str,
    old: engine.LoanState,
    new: engine.LoanState,
    adjust: bool,
    clock: Clock,
) -> None:
    """Post what moved: the journal difference, cash legs under their own codes; with
    ``adjust`` (a backdated replay or a reversal) every other leg as LOAN_ADJUSTMENT. A
    marketplace loan posts nothing here: its lenders, not the company, hold it, and its money
    moves in the custody book (``puhui.marketplace``)."""
    if accounts.is_marketplace_loan(conn, loan_id):
        return
    legs = []
    for (debit, credit, code), amount in engine.journal_difference(old, new).items():
        cash = AccountCode.COMPANY_CASH in (debit, credit)
        legs.append(
            accounts.Leg(
                debit, credit, amount, code if cash or not adjust else TransferCode.LOAN_ADJUSTMENT
            )
        )
    accounts.post(conn, transfer_id=f"ln:{loan_id}:{txn_id}", legs=legs, clock=clock)


def _apply(
    conn: Connection,
    *,
    loan: Any,
    txn_id: int,
    old_txns: list[engine.Txn],
    business_date: date,
    actor: Actor,
    clock: Clock,
    event: str,
    detail: dict[str, Any],
    adjust: bool = False,
) -> Result:
    """Replay with the new history, write it, post the difference, audit."""
    old = booked_state(conn, loan, old_txns) if old_txns else _empty()
    new = state_of(conn, loan, transactions(conn, loan.id), business_date)
    write(conn, loan=loan, new=new, actor=actor, clock=clock)
    post_difference(
        conn, loan_id=loan.id, txn_id=txn_id, old=old, new=new, adjust=adjust, clock=clock
    )
    mine = [a for a in new.allocations if a.txn_id == txn_id]
    audit.record(
        conn,
        actor=actor,
        event=event,
        object_type="loan",
        object_id=loan.id,
        before=_summary(old),
        after=_summary(new),
        detail={**detail, "txn_id": txn_id, "business_date": business_date.isoformat()},
        clock=clock,
    )
    return _result(loan.id, txn_id, new, mine[-1] if mine else None)


def _empty() -> engine.LoanState:
    return engine.LoanState(state="accepted", installments=[])


def _summary(s: engine.LoanState) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "state": s.state,
                "principal_outstanding_fen": s.principal_outstanding_fen,
                "credit_balance_fen": s.credit_balance_fen,
                "dpd": s.dpd,
            }
        )
    )


# ------------------------------------------------------------------------------ checks


def _amount(amount_fen: object) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError(
            "amount_invalid", "amount is a positive whole number of fen", field="amount_fen"
        )
    return amount_fen


def _value_date(
    conn: Connection, value_date: date | None, loan: Any, clock: Clock
) -> tuple[date, date]:
    """(value date, business date): the value date defaults to the business date, and may be
    neither later than it nor before the loan started."""
    today = calendar.current(conn, clock=clock)
    value = value_date or today
    if value > today:
        raise ValidationError(
            "value_date_in_future",
            f"the value date {value.isoformat()} is after the business date {today.isoformat()}",
            field="value_date",
        )
    if loan.state != "accepted" and value < loan.start_date:
        raise ValidationError(
            "value_date_before_start",
            f"the loan started on {loan.start_date.isoformat()}",
            field="value_date",
        )
    return value, today


def _company_money(conn: Connection, loan_id: int, custody_funded: bool) -> None:
    """Refuse money for a marketplace loan that does not come from the borrower's custody
    sub-account: its lenders, not the company, are repaid."""
    if not custody_funded and accounts.is_marketplace_loan(conn, loan_id):
        raise Conflict(
            "marketplace_loan",
            f"loan {loan_id} was funded by lenders on the marketplace: it is repaid from the "
            "borrower's custody sub-account (marketplace repayment)",
            field="loan_id",
        )


def _require(loan: Any, *allowed: str) -> None:
    if loan.state not in allowed:
        raise Conflict(
            "loan_state",
            f"loan {loan.id} is {loan.state}; this needs {' or '.join(allowed)}",
            field="state",
        )


def _backdated(txns: list[engine.Txn], value: date, today: date) -> bool:
    """Earlier than the latest transaction or than the last closed day: history changes."""
    latest = max((t.value_date for t in txns), default=value)
    return value < latest or value < today


# ------------------------------------------------------------------------------ operations


def disburse(
    conn: Connection,
    *,
    loan_id: int,
    actor: Actor,
    clock: Clock,
    fee_paid: bool = True,
) -> Result:
    """放款: pay the full principal (RATE-FEE-01) on the business date, which becomes the
    start date of the schedule. The upfront fee is its own charge, due the same day; with
    ``fee_paid`` the borrower pays it straight back as a separate payment. Refused when the
    company's cash cannot cover the principal."""
    loan = lock(conn, loan_id)
    _require(loan, "accepted")
    aml.require_not_blocked(conn, loan.customer_id)  # AML-STR-02: no money to a blocked customer
    today = calendar.current(conn, clock=clock)
    version = products.get_version(conn, version_id=loan.product_version_id)
    terms = contract_terms.loan_terms(
        version,
        amount_fen=loan.principal_fen,
        term=loan.term,
        annual_rate=parse_rate(loan.annual_rate),
        start=today,
    )
    maturity = build_schedule(terms).installments[-1].due_date
    conn.execute(
        update(loans)
        .where(loans.c.id == loan_id)
        .values(
            start_date=today,
            maturity_date=maturity,
            upfront_fee_fen=terms.upfront_fee_fen,
            disbursed_us=_us(clock),
        )
    )
    loan = lock(conn, loan_id)
    txn_id = _insert_txn(
        conn,
        loan_id=loan_id,
        kind="disbursement",
        value_date=today,
        booked=today,
        amount=loan.principal_fen,
        actor=actor,
        clock=clock,
    )
    if fee_paid and terms.upfront_fee_fen:
        _insert_txn(
            conn,
            loan_id=loan_id,
            kind="repayment",
            value_date=today,
            booked=today,
            amount=terms.upfront_fee_fen,
            actor=actor,
            clock=clock,
            external_ref=f"upfront-fee:{loan_id}",
        )
    states.transition_application(
        conn,
        application_id=loan.application_id,
        to="disbursed",
        actor=actor,
        reason=f"loan {loan_id} disbursed",
        clock=clock,
    )
    result = _apply(
        conn,
        loan=loan,
        txn_id=txn_id,
        old_txns=[],
        business_date=today,
        actor=actor,
        clock=clock,
        event="loan.disburse",
        detail={"principal_fen": loan.principal_fen, "upfront_fee_fen": terms.upfront_fee_fen},
    )
    events.emit(
        conn,
        topic="loan.disbursed",
        key=events.loan_key(loan_id),
        payload={
            "loan_id": loan_id,
            "application_id": loan.application_id,
            "principal_fen": loan.principal_fen,
            "value_date": today.isoformat(),
        },
        clock=clock,
    )
    return result


def _payment(
    conn: Connection,
    *,
    loan: Any,
    kind: str,
    amount: int,
    value_date: date | None,
    actor: Actor,
    clock: Clock,
    external_ref: str | None,
    event: str,
    detail: dict[str, Any] | None = None,
) -> Result:
    value, today = _value_date(conn, value_date, loan, clock)
    if external_ref is not None:
        done = conn.execute(
            select(loan_transactions.c.id).where(
                loan_transactions.c.loan_id == loan.id,
                loan_transactions.c.external_ref == external_ref,
            )
        ).first()
        if done is not None:  # the same payment again: what it did the first time
            return result_of(conn, loan_id=loan.id, txn_id=done.id)
    old = transactions(conn, loan.id)
    txn_id = _insert_txn(
        conn,
        loan_id=loan.id,
        kind=kind,
        value_date=value,
        booked=today,
        amount=amount,
        actor=actor,
        clock=clock,
        external_ref=external_ref,
    )
    result = _apply(
        conn,
        loan=loan,
        txn_id=txn_id,
        old_txns=old,
        business_date=today,
        actor=actor,
        clock=clock,
        event=event,
        detail={"amount_fen": amount, "value_date": value.isoformat(), **(detail or {})},
        adjust=_backdated(old, value, today),
    )
    events.emit(  # in this transaction: a partner hears of the payment only if it stands
        conn,
        topic="repayment.received",
        key=events.loan_key(loan.id),
        payload={
            "loan_id": loan.id,
            "transaction_id": txn_id,
            "kind": kind,
            "amount_fen": amount,
            "value_date": value.isoformat(),
            "state": result.state,
            "principal_outstanding_fen": result.principal_outstanding_fen,
        },
        clock=clock,
    )
    return result


def result_of(conn: Connection, *, loan_id: int, txn_id: int) -> Result:
    """What a recorded transaction did, as its operation answered it (for a repeated request)."""
    loan = conn.execute(select(loans).where(loans.c.id == loan_id)).one()
    t = conn.execute(select(loan_transactions).where(loan_transactions.c.id == txn_id)).one()
    alloc = engine.Allocation(
        txn_id,
        t.value_date,
        t.principal_fen,
        t.interest_fen,
        t.fee_fen,
        t.late_fee_fen,
        t.penalty_fen,
        t.overpayment_fen,
    )
    return _result(loan_id, txn_id, loan, alloc)


def repay(
    conn: Connection,
    *,
    loan_id: int,
    amount_fen: int,
    actor: Actor,
    clock: Clock,
    value_date: date | None = None,
    external_ref: str | None = None,
    custody_funded: bool = False,
) -> Result:
    """还款: a manual or partial repayment, split by the product's waterfall; what is left
    over stays on the borrower's credit balance. A value date before the loan's latest
    transaction or before today is backdated, and the loan is replayed. A marketplace loan is
    repaid only from the borrower's custody sub-account (``custody_funded``, through
    ``puhui.marketplace.distribution``)."""
    amount = _amount(amount_fen)
    _company_money(conn, loan_id, custody_funded)
    loan = lock(conn, loan_id)
    _require(loan, "disbursed", "active", "settled")
    return _payment(
        conn,
        loan=loan,
        kind="repayment",
        amount=amount,
        value_date=value_date,
        actor=actor,
        clock=clock,
        external_ref=external_ref,
        event="loan.repay",
    )


def recover(
    conn: Connection,
    *,
    loan_id: int,
    amount_fen: int,
    actor: Actor,
    clock: Clock,
    value_date: date | None = None,
    external_ref: str | None = None,
) -> Result:
    """核销后收回: money received on a written-off loan is recovery income."""
    amount = _amount(amount_fen)
    loan = lock(conn, loan_id)
    _require(loan, "written_off")
    return _payment(
        conn,
        loan=loan,
        kind="repayment",
        amount=amount,
        value_date=value_date,
        actor=actor,
        clock=clock,
        external_ref=external_ref,
        event="loan.recover",
    )


@dataclass(frozen=True)
class Quote:
    """What settles the loan on a date: due now (including interest to date), the principal
    not yet due, the prepayment fee on all of it, and their sum."""

    payable_fen: int
    principal_fen: int
    fee_fen: int

    @property
    def total_fen(self) -> int:
        return self.payable_fen + self.principal_fen + self.fee_fen


def quote(conn: Connection, *, loan_id: int, clock: Clock, value_date: date | None = None) -> Quote:
    """提前还款试算: what a full prepayment valued ``value_date`` costs."""
    loan = conn.execute(select(loans).where(loans.c.id == loan_id)).first()
    if loan is None:
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return _quote(conn, loan, *_value_date(conn, value_date, loan, clock))


def _quote(conn: Connection, loan: Any, value: date, today: date) -> Quote:
    c = contract(conn, loan)
    run = engine.Engine(c)
    txns = transactions(conn, loan.id)
    run.s = state_of(conn, loan, [t for t in txns if t.value_date <= value], value)
    payable, principal = run.quote(value)
    return Quote(payable, principal, div_half_up(principal * c.prepayment_fee_ppb, engine.PPB))


def prepay(
    conn: Connection,
    *,
    loan_id: int,
    mode: str,
    actor: Actor,
    clock: Clock,
    amount_fen: int | None = None,
    value_date: date | None = None,
    external_ref: str | None = None,
    custody_funded: bool = False,
) -> Result:
    """提前还款: interest to date, then principal; ``mode`` ``full`` (the amount defaults to
    the quote), ``shorter_term`` (same installment, fewer of them) or ``lower_installment``
    (same dates, lower installments). A product may charge a fee on the principal prepaid,
    or forbid prepayment."""
    _company_money(conn, loan_id, custody_funded)
    if mode not in PREPAY_KINDS:
        raise ValidationError(
            "prepay_mode_invalid",
            f"mode must be one of {', '.join(PREPAY_KINDS)}",
            field="mode",
        )
    loan = lock(conn, loan_id)
    _require(loan, "disbursed", "active")
    terms = products.get_version(conn, version_id=loan.product_version_id).terms
    if terms.prepayment is Prepayment.NOT_ALLOWED:
        raise Conflict(
            "prepayment_not_allowed", "this product does not allow prepayment", field="mode"
        )
    value, today = _value_date(conn, value_date, loan, clock)
    q = _quote(conn, loan, value, today)
    amount = q.total_fen if mode == "full" and amount_fen is None else _amount(amount_fen)
    if mode == "full" and amount < q.total_fen:
        raise ValidationError(
            "amount_below_quote",
            f"a full prepayment valued {value.isoformat()} is {q.total_fen} fen",
            field="amount_fen",
        )
    if amount <= q.payable_fen:
        raise ValidationError(
            "amount_below_due",
            f"{q.payable_fen} fen is due first; a prepayment must be more than that",
            field="amount_fen",
        )
    return _payment(
        conn,
        loan=loan,
        kind=PREPAY_KINDS[mode],
        amount=amount,
        value_date=value,
        actor=actor,
        clock=clock,
        external_ref=external_ref,
        event="loan.prepay",
        detail={"mode": mode},
    )


def cancel_in_cooling_off(
    conn: Connection,
    *,
    loan_id: int,
    actor: Actor,
    clock: Clock,
    amount_fen: int | None = None,
) -> Result:
    """冷静期取消 (RATE-COOL-01): within the window the borrower returns the principal and
    pays interest only for the days used, with no prepayment fee; the loan is cancelled."""
    loan = lock(conn, loan_id)
    _require(loan, "disbursed", "active")
    if _us(clock) >= loan.cooling_off_until_us:
        raise Conflict(
            "cooling_off_over", "the cooling-off period has ended", field="cooling_off_until"
        )
    today = calendar.current(conn, clock=clock)
    q = _quote(conn, loan, today, today)
    amount = q.payable_fen + q.principal_fen if amount_fen is None else _amount(amount_fen)
    if amount < q.payable_fen + q.principal_fen:
        raise ValidationError(
            "amount_below_quote",
            f"cancelling returns {q.payable_fen + q.principal_fen} fen",
            field="amount_fen",
        )
    result = _payment(
        conn,
        loan=loan,
        kind="cancel",
        amount=amount,
        value_date=today,
        actor=actor,
        clock=clock,
        external_ref=None,
        event="loan.cancel_in_cooling_off",
    )
    states.transition_application(
        conn,
        application_id=loan.application_id,
        to="cancelled",
        actor=actor,
        reason="cancelled in the cooling-off period",
        clock=clock,
    )
    return result


def reverse(
    conn: Connection, *, loan_id: int, txn_id: int, reason: str, actor: Actor, clock: Clock
) -> Result:
    """冲正: undo a wrong payment; the loan is replayed without it, as if it never happened."""
    loan = lock(conn, loan_id)
    t = conn.execute(
        select(loan_transactions).where(
            loan_transactions.c.id == txn_id, loan_transactions.c.loan_id == loan_id
        )
    ).first()
    if t is None:
        raise NotFound("transaction_not_found", f"no transaction {txn_id} on loan {loan_id}")
    if t.reversed_by_id is not None or t.kind not in engine.PAYMENTS:
        raise Conflict(
            "not_reversible",
            f"transaction {txn_id} ({t.kind}) is already reversed or is not a payment",
            field="txn_id",
        )
    today = calendar.current(conn, clock=clock)
    old = transactions(conn, loan_id)
    rid = _insert_txn(
        conn,
        loan_id=loan_id,
        kind="reversal",
        value_date=today,
        booked=today,
        amount=t.amount_fen,
        actor=actor,
        clock=clock,
        reverses_id=txn_id,
    )
    conn.execute(
        update(loan_transactions).where(loan_transactions.c.id == txn_id).values(reversed_by_id=rid)
    )
    return _apply(
        conn,
        loan=loan,
        txn_id=rid,
        old_txns=old,
        business_date=today,
        actor=actor,
        clock=clock,
        event="loan.reverse",
        detail={"reversed_txn_id": txn_id, "reason": reason},
        adjust=True,
    )


def replay(conn: Connection, *, loan_id: int, actor: Actor, clock: Clock) -> Result:
    """Bring one loan up to the business date: the engine from its start through every
    closed day, the new state written and the GL moved by the difference from what is on the
    books (the state as of ``accrued_through``), as LOAN_ADJUSTMENT. The end-of-day batch
    does this set-based for the whole book; this is the per-loan path (and the tests')."""
    loan = lock(conn, loan_id)
    today = calendar.current(conn, clock=clock)
    txns = transactions(conn, loan_id)
    if not txns:
        raise Conflict("loan_state", f"loan {loan_id} has not been disbursed", field="state")
    booked = loan.accrued_through or loan.start_date - timedelta(days=1)
    old = booked_state(conn, loan, txns)
    new = state_of(conn, loan, txns, today)
    write(conn, loan=loan, new=new, actor=actor, clock=clock)
    post_difference(
        conn,
        loan_id=loan_id,
        txn_id=f"replay:{booked.isoformat()}:{today.isoformat()}",
        old=old,
        new=new,
        adjust=True,
        clock=clock,
    )
    audit.record(
        conn,
        actor=actor,
        event="loan.replay",
        object_type="loan",
        object_id=loan_id,
        before=_summary(old),
        after=_summary(new),
        detail={"business_date": today.isoformat()},
        clock=clock,
    )
    return _result(loan_id, txns[-1].id, new, None)


def _event(
    conn: Connection,
    *,
    loan_id: int,
    kind: str,
    amount: int,
    allowed: tuple[str, ...],
    actor: Actor,
    clock: Clock,
    detail: dict[str, Any],
) -> Result:
    loan = lock(conn, loan_id)
    _require(loan, *allowed)
    today = calendar.current(conn, clock=clock)
    old = transactions(conn, loan_id)
    txn_id = _insert_txn(
        conn,
        loan_id=loan_id,
        kind=kind,
        value_date=today,
        booked=today,
        amount=amount,
        actor=actor,
        clock=clock,
    )
    return _apply(
        conn,
        loan=loan,
        txn_id=txn_id,
        old_txns=old,
        business_date=today,
        actor=actor,
        clock=clock,
        event=f"loan.{kind}",
        detail=detail,
    )


def rollover(
    conn: Connection, *, loan_id: int, extra_terms: int, reason: str, actor: Actor, clock: Clock
) -> Result:
    """展期: the interest to date falls due today and the principal not yet due is spread over
    the remaining terms plus ``extra_terms``. RATE-ROLL-01: the third rollover is refused."""
    if (
        isinstance(extra_terms, bool)
        or not isinstance(extra_terms, int)
        or not 1 <= extra_terms <= 12
    ):
        raise ValidationError(
            "extra_terms_invalid", "extra_terms must be 1–12", field="extra_terms"
        )
    loan = lock(conn, loan_id)
    if loan.rollovers >= MAX_ROLLOVERS:
        raise Conflict(
            "rollover_limit",
            f"loan {loan_id} has been rolled over {loan.rollovers} times; at most "
            f"{MAX_ROLLOVERS} are allowed (RATE-ROLL-01)",
            field="extra_terms",
        )
    result = _event(
        conn,
        loan_id=loan_id,
        kind="rollover",
        amount=extra_terms,
        allowed=("disbursed", "active"),
        actor=actor,
        clock=clock,
        detail={"extra_terms": extra_terms, "reason": reason},
    )
    maturity = conn.execute(
        select(installments.c.due_date)
        .where(installments.c.loan_id == loan_id)
        .order_by(installments.c.due_date.desc())
        .limit(1)
    ).scalar()
    conn.execute(update(loans).where(loans.c.id == loan_id).values(maturity_date=maturity))
    return result


def write_off(conn: Connection, *, loan_id: int, reason: str, actor: Actor, clock: Clock) -> Result:
    """核销 by hand: every receivable leaves the books against the provision held; later
    payments are recoveries."""
    return _event(
        conn,
        loan_id=loan_id,
        kind="write_off",
        amount=0,
        allowed=("disbursed", "active"),
        actor=actor,
        clock=clock,
        detail={"reason": reason},
    )


def refund_credit_balance(
    conn: Connection, *, loan_id: int, actor: Actor, clock: Clock, amount_fen: int | None = None
) -> Result:
    """退款: pay the borrower's credit balance (an overpayment) back, all of it by default."""
    loan = lock(conn, loan_id)
    amount = loan.credit_balance_fen if amount_fen is None else _amount(amount_fen)
    if amount <= 0 or amount > loan.credit_balance_fen:
        raise Conflict(
            "credit_balance_insufficient",
            f"the credit balance is {loan.credit_balance_fen} fen",
            field="amount_fen",
        )
    return _event(
        conn,
        loan_id=loan_id,
        kind="refund",
        amount=amount,
        allowed=("disbursed", "active", "settled", "written_off", "cancelled"),
        actor=actor,
        clock=clock,
        detail={"amount_fen": amount},
    )
