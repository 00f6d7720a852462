"""The marketplace's step of the lending end of day (``eod_steps.STEPS``): its auto-debit.

A marketplace loan's borrower repays into their own custody sub-account (借款人存管子账户);
nothing is collected into company cash. This step runs the lending auto-debit
(``eod_steps.debit``, the one waterfall) over the partition's marketplace loans with the custody
balance as the channel and no GL postings, then distributes what was collected to the note
holders (``distribution.distribute_loans``) in the same transaction, so the borrower's
sub-account holds nothing the loans have taken. Set-based like the rest of the batch: one
balance query, one numpy allocation, one distribution batch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from puhui.core.clock import Clock
from puhui.ledger.models import accounts as ledger_accounts
from puhui.lending.models import installments, loans
from puhui.marketplace.models import loan_funding

if TYPE_CHECKING:  # the batch imports this module to register the step
    from puhui.lending.eod_steps import Ctx, StepResult

Ints = npt.NDArray[np.int64]


class CustodyChannel:
    """代扣 from the borrower's custody sub-account: what it holds beyond the credit balances
    of that borrower's marketplace loans (an overpayment kept there belongs to its loan) and
    beyond what they collected and have not yet passed on, served to the borrower's loans in id
    order. No money moves here: the distribution that follows
    moves it to the lenders."""

    def collect(
        self,
        conn: Connection,
        *,
        loan_ids: Ints,
        customer_ids: Ints,
        amounts: Ints,
        business_date: date,
        clock: Clock,
    ) -> Ints:
        del customer_ids, business_date, clock
        ids = np.asarray(loan_ids, dtype=np.int64)
        want = np.asarray(amounts, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        f = loan_funding.c
        account_of = dict(
            conn.execute(
                select(f.loan_id, f.borrower_account_id).where(f.loan_id.in_(ids.tolist()))
            ).all()
        )
        acc = np.array([account_of[int(i)] for i in ids], dtype=np.int64)
        uniq = np.unique(acc)
        a = ledger_accounts.c
        held = dict(
            conn.execute(
                select(a.id, a.credits_posted - a.debits_posted - a.debits_pending).where(
                    a.id.in_(uniq.tolist())
                )
            ).all()
        )
        kept = dict(
            conn.execute(
                select(f.borrower_account_id, func.sum(loans.c.credit_balance_fen))
                .select_from(loan_funding.join(loans, loans.c.id == f.loan_id))
                .where(f.borrower_account_id.in_(uniq.tolist()))
                .group_by(f.borrower_account_id)
            ).all()
        )
        # collected by a loan and not yet passed on (normally nothing): still in the account
        i = installments.c
        paid = dict(
            conn.execute(
                select(
                    f.borrower_account_id,
                    func.sum(
                        i.paid_principal_fen
                        + i.paid_interest_fen
                        + i.paid_fee_fen
                        + i.paid_late_fee_fen
                        + i.paid_penalty_fen
                    ),
                )
                .select_from(loan_funding.join(installments, i.loan_id == f.loan_id))
                .where(f.borrower_account_id.in_(uniq.tolist()))
                .group_by(f.borrower_account_id)
            ).all()
        )
        passed = dict(
            conn.execute(
                select(
                    f.borrower_account_id,
                    func.sum(
                        f.distributed_principal_fen
                        + f.distributed_interest_fen
                        + f.distributed_penalty_fen
                        + f.distributed_fee_fen
                    ),
                )
                .where(f.borrower_account_id.in_(uniq.tolist()))
                .group_by(f.borrower_account_id)
            ).all()
        )
        free = np.array(
            [
                max(
                    0,
                    int(held.get(u, 0))
                    - int(kept.get(u) or 0)
                    - (int(paid.get(u) or 0) - int(passed.get(u) or 0)),
                )
                for u in uniq.tolist()
            ],
            dtype=np.int64,
        )
        order = np.lexsort((ids, acc))  # by account, then loan id
        _, first, inverse = np.unique(acc[order], return_index=True, return_inverse=True)
        wanted = want[order]
        before = np.cumsum(wanted) - wanted
        before -= before[first][inverse]  # asked earlier of the same account
        got = np.zeros(len(ids), dtype=np.int64)
        got[order] = np.clip(free[inverse] - before, 0, wanted)
        return got


def debit(ctx: Ctx) -> StepResult:
    """代扣 of the partition's marketplace loans from their borrowers' custody sub-accounts,
    then 回款: what was collected is distributed to the notes at once."""
    from puhui.lending.eod_steps import StepResult, debit
    from puhui.marketplace import distribution

    ids = (
        ctx.conn.execute(
            select(loan_funding.c.loan_id).where(
                loan_funding.c.loan_id >= ctx.lo, loan_funding.c.loan_id < ctx.hi
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return StepResult()
    # loans are locked first (by the debit), then the funding rows (by the distribution): the
    # order a manual marketplace repayment takes, so the two cannot deadlock
    done = debit(replace(ctx, channel=CustodyChannel(), book="marketplace"))
    moved = distribution.distribute_loans(ctx.conn, clock=ctx.clock, loan_ids=ids)
    return StepResult(
        done.loans,
        done.amount_fen,
        {**done.detail, "distributed_loans": moved.loans, "distributed_notes": moved.notes},
    )
