"""Repayment distribution (回款): what marketplace borrowers paid, split across the notes.

The lending engine allocates each payment (principal, interest, fees, late fee, penalty) to
the installments (their ``paid_*`` columns: the sub-ledger, which also holds what a credit
balance paid later); ``mkt_loan_funding`` remembers how much of each has already been passed
on. ``distribute_loans`` moves the difference out of each borrower's custody
sub-account: principal, interest and penalty (罚息 and late fee) to the note holders pro rata by
outstanding principal, to the fen (``split``); the platform's service fee (a share of each
note's interest) and the product's fees to the platform-fee sub-account, less the configured
share that goes to the risk reserve. It works on any number of loans at once, set-based: one
query per table, one vectorised split, one ledger batch. Calling it again with nothing new does
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, bindparam, func, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound
from puhui.custody import outbox
from puhui.custody.models import custody_accounts
from puhui.custody.service import Role
from puhui.identity.audit import Actor
from puhui.ledger.codes import Result, TransferCode
from puhui.ledger.service import Transfer, create_transfers
from puhui.lending import calendar, servicing
from puhui.lending.models import installments
from puhui.marketplace import accounts
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import locked
from puhui.marketplace.models import compensations, distributions, loan_funding, notes
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig
from puhui.marketplace.split import split_grouped

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Distributed:
    """What one call passed on (fen), over every loan it touched."""

    loans: int
    principal_fen: int
    interest_fen: int
    penalty_fen: int
    service_fee_fen: int
    product_fee_fen: int
    reserve_fen: int
    notes: int


NOTHING = Distributed(0, 0, 0, 0, 0, 0, 0, 0)
#: ``mkt_distributions.lender_id`` of what goes to the risk reserve: once the reserve has
#: compensated a note (代偿), it holds the note's claim for what it paid, and recoveries go to
#: it, not to the lender again. Customer ids start at 1, so 0 names no customer.
RESERVE_HOLDER = 0


def shares_of(total: Ints, rate: Decimal) -> Ints:
    """``rate`` of each amount, half up to the fen, in integers (rates to 1 ppm)."""
    ppm = int((rate * 1_000_000).to_integral_value())
    return (total * ppm + 500_000) // 1_000_000


def _pending(conn: Connection, loan_ids: Sequence[int] | None) -> list[tuple[int, ...]]:
    """(loan, borrower account, Δprincipal, Δinterest, Δpenalty, Δfee) for every marketplace
    loan that collected more than it distributed; the funding rows locked."""
    i = installments.c
    f = loan_funding.c
    # only the marketplace loans' installments: a semi-join driven by the small funding table
    # (or the ids given), never an aggregate of the whole book
    which = i.loan_id.in_(select(f.loan_id)) if loan_ids is None else i.loan_id.in_(list(loan_ids))
    got = (
        select(
            i.loan_id,
            func.sum(i.paid_principal_fen).label("p"),
            func.sum(i.paid_interest_fen).label("i"),
            func.sum(i.paid_penalty_fen + i.paid_late_fee_fen).label("pen"),
            func.sum(i.paid_fee_fen).label("fee"),
        )
        .where(which)
        .group_by(i.loan_id)
        .subquery()
    )
    q = (
        select(
            f.loan_id,
            f.borrower_account_id,
            got.c.p - f.distributed_principal_fen,
            got.c.i - f.distributed_interest_fen,
            got.c.pen - f.distributed_penalty_fen,
            got.c.fee - f.distributed_fee_fen,
        )
        .select_from(loan_funding.join(got, got.c.loan_id == f.loan_id))
        .order_by(f.loan_id)
    )
    if loan_ids is not None:
        q = q.where(f.loan_id.in_(list(loan_ids)))
    if loan_ids is not None:
        conn.execute(locked(conn, select(f.loan_id).where(f.loan_id.in_(list(loan_ids)))))
    rows = [tuple(int(x) for x in r) for r in conn.execute(q)]
    reversed_ = [r[0] for r in rows if min(r[2:]) < 0]
    if reversed_:
        raise Conflict(
            "distribution_reversed",
            f"loans {reversed_} collected less than was already distributed (a reversal): a "
            "marketplace payment is not reversed after distribution",
        )
    return [r for r in rows if any(r[2:])]


def distribute_loans(
    conn: Connection,
    *,
    clock: Clock,
    loan_ids: Sequence[int] | None = None,
    config: MarketConfig = DEFAULT_CONFIG,
) -> Distributed:
    """Pass on whatever the borrowers of ``loan_ids`` (default: every marketplace loan) have
    paid and their lenders have not yet received."""
    todo = _pending(conn, loan_ids)
    if not todo:
        return NOTHING
    loan_col = np.array([r[0] for r in todo], dtype=np.int64)
    borrower = {r[0]: r[1] for r in todo}
    d = np.array([r[2:] for r in todo], dtype=np.int64)  # loans × (p, i, pen, fee)
    held = conn.execute(
        select(
            notes.c.id,
            notes.c.loan_id,
            notes.c.lender_id,
            notes.c.outstanding_principal_fen,
            notes.c.status,
        )
        .where(notes.c.loan_id.in_(loan_col.tolist()), notes.c.status.in_(("active", "defaulted")))
        .order_by(notes.c.loan_id, notes.c.id)
    ).all()
    note_loan = np.array([n.loan_id for n in held], dtype=np.int64)
    if set(loan_col.tolist()) - set(note_loan.tolist()):
        raise Conflict("no_notes", "a marketplace loan has no notes to distribute to")
    groups = np.searchsorted(loan_col, note_loan)
    weights = np.array([n.outstanding_principal_fen for n in held], dtype=np.int64)
    # A loan whose principal is all repaid still has penalty to share: equal weights then.
    wsum = np.bincount(groups, weights=weights, minlength=len(loan_col))
    weights = np.where(wsum[groups] == 0, 1, weights)
    principal, interest, penalty = (split_grouped(d[:, k], groups, weights) for k in range(3))
    fees = shares_of(interest, config.service_fee_rate)
    platform = np.bincount(groups, weights=fees, minlength=len(loan_col)).astype(np.int64) + d[:, 3]
    reserve = shares_of(platform, config.reserve_share)
    lender_acc = _lender_accounts(conn, {n.lender_id for n in held})
    lender_acc[RESERVE_HOLDER] = accounts.platform_account(conn, Role.RISK_RESERVE)
    owed_reserve = _owed_to_reserve(conn, [n.id for n in held if n.status == "defaulted"])
    today = calendar.current(conn, clock=clock)
    batch = uuid.uuid4().hex[:16]
    transfers: list[Transfer] = []
    rows = []
    for k, n in enumerate(held):
        share = (int(principal[k]), int(interest[k]), int(penalty[k]), int(fees[k]))
        parts = _to_reserve_first(share, owed_reserve.get(n.id, 0))
        for holder, (p, i, pen, fee) in ((RESERVE_HOLDER, parts[0]), (n.lender_id, parts[1])):
            pay = p + i + pen - fee
            recovery = holder == RESERVE_HOLDER
            tid = f"mkt-{'recover' if recovery else 'dist'}-{batch}-{n.id}"
            if pay > 0:
                transfers.append(
                    Transfer(
                        tid,
                        borrower[n.loan_id],
                        lender_acc[holder],
                        pay,
                        TransferCode.RECOVERY if recovery else TransferCode.DISTRIBUTION,
                        reference=f"loan:{n.loan_id}",
                    )
                )
            if p or i or pen:
                rows.append(
                    {
                        "note_id": n.id,
                        "loan_id": n.loan_id,
                        "lender_id": holder,
                        "business_date": today,
                        "principal_fen": p,
                        "interest_fen": i,
                        "penalty_fen": pen,
                        "fee_fen": fee,
                        "transfer_id": tid,
                    }
                )
    fee_acc = accounts.platform_account(conn, Role.PLATFORM_FEE)
    reserve_acc = lender_acc[RESERVE_HOLDER]
    for j, loan in enumerate(loan_col.tolist()):
        for amount, to, code, tag in (
            (int(platform[j] - reserve[j]), fee_acc, TransferCode.FEE, "fee"),
            (int(reserve[j]), reserve_acc, TransferCode.RISK_RESERVE, "reserve"),
        ):
            if amount > 0:
                transfers.append(
                    Transfer(
                        f"mkt-{tag}-{batch}-{loan}",
                        borrower[loan],
                        to,
                        amount,
                        code,
                        reference=f"loan:{loan}",
                    )
                )
    for r in create_transfers(conn, transfers, clock=clock):
        if r.result is Result.EXCEEDS_CREDITS:
            raise Conflict(
                "borrower_funds_insufficient",
                "the borrower's custody sub-account does not hold the repayment",
                field="amount_fen",
            )
        if not r.ok:
            raise Conflict(f"ledger_{r.result.value}", r.message)
    outbox.queue_booked(conn, [t.id for t in transfers], clock=clock)  # 回款 at the bank
    if rows:
        conn.execute(insert(distributions), rows)
        mkt_events.notes_distributed(conn, rows, clock)
    moved = [
        {"nid": n.id, "left": n.outstanding_principal_fen - int(principal[k])}
        for k, n in enumerate(held)
        if principal[k]
    ]
    if moved:
        conn.execute(
            update(notes)
            .where(notes.c.id == bindparam("nid"))
            .values(outstanding_principal_fen=bindparam("left")),
            moved,
        )
        conn.execute(
            update(notes)
            .where(
                notes.c.id.in_([m["nid"] for m in moved]), notes.c.outstanding_principal_fen == 0
            )
            .values(status="repaid")
        )
    f = loan_funding.c
    conn.execute(
        update(loan_funding)
        .where(f.loan_id == bindparam("lid"))
        .values(
            distributed_principal_fen=f.distributed_principal_fen + bindparam("p"),
            distributed_interest_fen=f.distributed_interest_fen + bindparam("i"),
            distributed_penalty_fen=f.distributed_penalty_fen + bindparam("pen"),
            distributed_fee_fen=f.distributed_fee_fen + bindparam("fee"),
        ),
        [{"lid": r[0], "p": r[2], "i": r[3], "pen": r[4], "fee": r[5]} for r in todo],
    )
    return Distributed(
        len(todo),
        int(d[:, 0].sum()),
        int(d[:, 1].sum()),
        int(d[:, 2].sum()),
        int(fees.sum()),
        int(d[:, 3].sum()),
        int(reserve.sum()),
        len(rows),
    )


def _owed_to_reserve(conn: Connection, note_ids: list[int]) -> dict[int, int]:
    """Per compensated note, what the risk reserve paid its holder (代偿) less what it has
    recovered since: the part of the note's claim the reserve now holds."""
    if not note_ids:
        return {}
    c, d = compensations.c, distributions.c
    paid = conn.execute(
        select(c.note_id, func.sum(c.amount_fen))
        .where(c.note_id.in_(note_ids), c.payer == "risk_reserve")
        .group_by(c.note_id)
    ).all()
    got = dict(
        conn.execute(
            select(
                d.note_id, func.sum(d.principal_fen + d.interest_fen + d.penalty_fen - d.fee_fen)
            )
            .where(d.note_id.in_(note_ids), d.lender_id == RESERVE_HOLDER)
            .group_by(d.note_id)
        ).all()
    )
    return {int(n): max(0, int(v) - int(got.get(n) or 0)) for n, v in paid}


Share = tuple[int, int, int, int]  # principal, interest, penalty, service fee


def _to_reserve_first(share: Share, owed: int) -> tuple[Share, Share]:
    """Split a note's share (what it pays out: p + i + pen − fee) into the reserve's part, up to
    ``owed``, and the holder's: principal first, then interest net of the service fee (the fee
    stays on the holder's part), then penalty, so both parts are exact to the fen."""
    p, i, pen, fee = share
    take = min(max(owed, 0), p + i + pen - fee)
    rp = min(p, take)
    ri = min(i - fee, take - rp)
    rpen = take - rp - ri
    return (rp, ri, rpen, 0), (p - rp, i - ri, pen - rpen, fee)


def _lender_accounts(conn: Connection, lender_ids: set[int]) -> dict[int, int]:
    """Lender customer id → ledger id of their lender sub-account, in one query."""
    refs = {accounts.custody_ref(i): i for i in lender_ids}
    found = {
        refs[r.user_ref]: r.ledger_account_id
        for r in conn.execute(
            select(custody_accounts.c.user_ref, custody_accounts.c.ledger_account_id).where(
                custody_accounts.c.user_ref.in_(list(refs)),
                custody_accounts.c.role == Role.LENDER.value,
            )
        )
    }
    missing = lender_ids - set(found)
    if missing:
        raise Conflict("lender_account_required", f"lenders {sorted(missing)} have no account")
    return found


def distribute(
    conn: Connection, *, loan_id: int, clock: Clock, config: MarketConfig = DEFAULT_CONFIG
) -> Distributed:
    """``distribute_loans`` for one loan (refused when it is not a marketplace loan)."""
    _require_marketplace(conn, loan_id)
    return distribute_loans(conn, clock=clock, loan_ids=[loan_id], config=config)


def repay(
    conn: Connection,
    *,
    loan_id: int,
    amount_fen: int,
    actor: Actor,
    clock: Clock,
    value_date: date | None = None,
    external_ref: str | None = None,
    config: MarketConfig = DEFAULT_CONFIG,
) -> servicing.Result:
    """还款 on a marketplace loan from the borrower's custody sub-account: the engine
    allocates it, then it is distributed at once. What the engine keeps as credit balance
    (an overpayment) stays in the borrower's sub-account."""
    _require_marketplace(conn, loan_id)
    result = servicing.repay(
        conn,
        loan_id=loan_id,
        amount_fen=amount_fen,
        actor=actor,
        clock=clock,
        value_date=value_date,
        external_ref=external_ref,
        custody_funded=True,
    )
    distribute_loans(conn, clock=clock, loan_ids=[loan_id], config=config)
    return result


def prepay(
    conn: Connection,
    *,
    loan_id: int,
    mode: str,
    actor: Actor,
    clock: Clock,
    amount_fen: int | None = None,
    external_ref: str | None = None,
    config: MarketConfig = DEFAULT_CONFIG,
) -> servicing.Result:
    """提前还款 on a marketplace loan from the borrower's custody sub-account, distributed at
    once: the principal prepaid goes back to the note holders pro rata."""
    _require_marketplace(conn, loan_id)
    result = servicing.prepay(
        conn,
        loan_id=loan_id,
        mode=mode,
        actor=actor,
        clock=clock,
        amount_fen=amount_fen,
        external_ref=external_ref,
        custody_funded=True,
    )
    distribute_loans(conn, clock=clock, loan_ids=[loan_id], config=config)
    return result


def _require_marketplace(conn: Connection, loan_id: int) -> None:
    found = conn.execute(
        select(loan_funding.c.loan_id).where(loan_funding.c.loan_id == loan_id)
    ).first()
    if found is None:
        raise NotFound("marketplace_loan_not_found", f"loan {loan_id} is not a marketplace loan")
