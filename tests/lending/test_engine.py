"""The per-loan engine's invariants over random histories (hypothesis).

Whatever a borrower pays, whenever: every fen paid is either allocated to a component no
further than it is owed, or kept as the credit balance; the journal the engine books for the
loan equals what the loan owes; a loan is settled exactly when nothing is owed; and a history
is a function of its transactions, not of the order they were recorded in.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.ledger.codes import AccountCode as A
from puhui.lending import engine
from puhui.lending.allocation import COMPONENTS, default_rules
from puhui.lending.schedules import Method, TermUnit

START = date(2026, 1, 15)
HORIZON = 260  # days: past maturity of a 6-month loan and into write-off territory


def contract(method: Method, upfront: int, late_fee: int, grace: int) -> engine.Contract:
    return engine.Contract(
        principal_fen=600_000,
        annual_rate=Decimal("0.18"),
        rate_ppb=180_000_000,
        penalty_rate_ppb=270_000_000,
        year_days=360,
        method=method,
        term_unit=TermUnit.MONTH,
        term=6,
        start_date=START,
        grace_days=grace,
        upfront_fee_fen=upfront,
        period_fee_fen=0,
        late_fee_fen=late_fee,
        allocation_rules=default_rules(COMPONENTS),
    )


payments = st.lists(
    st.tuples(st.integers(0, HORIZON), st.integers(1, 250_000)), min_size=0, max_size=12
)


def history(pays: list[tuple[int, int]]) -> list[engine.Txn]:
    txns = [engine.Txn(1, "disbursement", START, 600_000)]
    for i, (day, amount) in enumerate(pays, start=2):
        txns.append(engine.Txn(i, "repayment", START + timedelta(days=day), amount))
    return txns


def paid(inst: engine.Inst) -> int:
    return sum(getattr(inst, f"paid_{c}_fen") for c in COMPONENTS)


def net(journal: dict, account: A) -> int:
    """The loan's balance in ``account`` from its own journal, debit positive."""
    out: dict[A, int] = defaultdict(int)
    for (debit, credit, _code), amount in journal.items():
        out[debit] += amount
        out[credit] -= amount
    return out[account]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.BULLET]),
    upfront=st.sampled_from([0, 3_000]),
    late_fee=st.sampled_from([0, 5_000]),
    grace=st.integers(0, 3),
    pays=payments,
    through=st.integers(0, HORIZON),
)
def test_every_fen_is_accounted_for(method, upfront, late_fee, grace, pays, through):
    c = contract(method, upfront, late_fee, grace)
    on = START + timedelta(days=through)
    s = engine.run(c, history(pays), through=on)
    received = sum(a for d, a in pays if START + timedelta(days=d) <= on)

    allocated = sum(
        a.principal_fen + a.interest_fen + a.fee_fen + a.late_fee_fen + a.penalty_fen
        for a in s.allocations
    )
    assert sum(paid(i) for i in s.installments) == allocated
    if s.state != "written_off":
        # cash in = what went to components + what is held for the borrower
        assert received == allocated + s.credit_balance_fen
    for i in s.installments:
        for comp in COMPONENTS:
            assert 0 <= getattr(i, f"paid_{comp}_fen") <= getattr(i, f"{comp}_fen"), (i, comp)
    principal_paid = sum(i.paid_principal_fen for i in s.installments)
    if s.state in ("disbursed", "active"):
        assert s.principal_outstanding_fen == 600_000 - principal_paid
        # the engine's own journal says what the loan owes on each control account
        for account, want in s.receivables().items():
            sign = -1 if account in (A.BORROWER_CREDIT_BALANCES, A.LOAN_LOSS_PROVISION) else 1
            assert sign * net(s.journal, account) == want, account
    if s.state == "settled":
        assert all(i.settled() for i in s.installments)
        assert s.principal_outstanding_fen == 0
    assert s.state in ("disbursed", "active", "settled", "written_off")
    assert s.bucket == engine.bucket_of(s.dpd)
    assert s.classification == engine.classification_of(s.dpd)


@settings(max_examples=30, deadline=None)
@given(pays=payments, through=st.integers(30, HORIZON), data=st.data())
def test_recording_order_of_different_days_does_not_matter(pays, through, data):
    """Ids say the order within one value date only: recording the same payments in another
    order (a bank file confirming older payments late) gives the same loan."""
    c = contract(Method.EQUAL_INSTALLMENT, 0, 5_000, 1)
    on = START + timedelta(days=through)
    by_day = sorted(pays, key=lambda p: p[0])
    # one payment per day, so the only order that counts is the value dates'
    unique = list({d: (d, a) for d, a in by_day}.values())
    shuffled = data.draw(st.permutations(unique))
    a = engine.run(c, history(unique), through=on)
    b = engine.run(c, history(list(shuffled)), through=on)
    fields = ("state", "principal_outstanding_fen", "interest_accrued_fen", "credit_balance_fen")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert [vars(i) for i in a.installments] == [vars(i) for i in b.installments]
    assert dict(a.journal) == dict(b.journal)


def test_a_loan_paid_exactly_on_schedule_settles_with_its_contracted_interest():
    c = contract(Method.EQUAL_INSTALLMENT, 0, 0, 0)
    base = engine.run(c, history([]), through=START)
    pays = [
        ((i.due_date - START).days, i.principal_fen + i.interest_fen)
        for i in base.installments
        if i.seq
    ]
    s = engine.run(c, history(pays), through=base.installments[-1].due_date)
    assert s.state == "settled"
    assert s.credit_balance_fen == 0
    assert sum(i.paid_interest_fen for i in s.installments) == sum(
        i.interest_fen for i in base.installments
    )
    assert sum(i.penalty_fen + i.late_fee_fen for i in s.installments) == 0
