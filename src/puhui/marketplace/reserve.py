"""The risk reserve (风险备付金) and compensation (代偿).

The reserve is a custody sub-account funded by a share of the platform's fees
(``distribution``). Under its published rule — never a guarantee — it compensates the note
holders of a loan past ``COMPENSATE_AFTER_DPD`` days: each active note's outstanding principal,
scaled down pro rata (largest remainder) when the reserve holds less. A third party or a
guarantor paying for the borrower is recorded the same way, note by note, for disclosure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.custody import authorisations, outbox
from puhui.custody.service import Role
from puhui.identity import audit
from puhui.identity.audit import Actor
from puhui.ledger.codes import Result, TransferCode
from puhui.ledger.service import Transfer, create_transfers, get_account
from puhui.lending import calendar
from puhui.lending.models import loans
from puhui.marketplace import accounts, distribution
from puhui.marketplace import events as mkt_events
from puhui.marketplace._db import locked
from puhui.marketplace.models import compensations, distributions, loan_funding, notes
from puhui.marketplace.rules import DEFAULT_CONFIG, MarketConfig
from puhui.marketplace.split import split

#: The published rule: the reserve compensates a loan this many days past due.
COMPENSATE_AFTER_DPD = 90
RULE_TEXT = (
    "风险备付金不构成担保：借款逾期超过90天时，按备付金余额对出借人未收回本金按比例代偿。"
    " The risk reserve is not a guarantee: after 90 days past due it pays lenders' outstanding "
    "principal pro rata, as far as its balance goes."
)


@dataclass(frozen=True)
class Compensated:
    loan_id: int
    paid_fen: int
    owed_fen: int
    notes: int


def compensate_from_reserve(
    conn: Connection, *, loan_id: int, actor: Actor, clock: Clock
) -> Compensated:
    """代偿 from the reserve under the published rule; the notes become ``defaulted``."""
    loan = conn.execute(locked(conn, select(loans).where(loans.c.id == loan_id))).first()
    if (
        loan is None
        or conn.execute(
            select(loan_funding.c.loan_id).where(loan_funding.c.loan_id == loan_id)
        ).first()
        is None
    ):
        raise NotFound("marketplace_loan_not_found", f"loan {loan_id} is not a marketplace loan")
    if loan.dpd <= COMPENSATE_AFTER_DPD and loan.state != "written_off":
        raise Conflict(
            "not_defaulted",
            f"the reserve compensates after {COMPENSATE_AFTER_DPD} days past due "
            f"(loan {loan_id} is {loan.dpd})",
            field="loan_id",
        )
    held = conn.execute(
        locked(
            conn,
            select(notes)
            .where(notes.c.loan_id == loan_id, notes.c.status == "active")
            .order_by(notes.c.id),
        )
    ).all()
    owed = sum(n.outstanding_principal_fen for n in held)
    if not held or owed == 0:
        raise Conflict("nothing_to_compensate", f"loan {loan_id} has no active note")
    reserve_acc = accounts.platform_account(conn, Role.RISK_RESERVE)
    authorisations.require(conn, user_ref=accounts.PLATFORM_REF, role=Role.RISK_RESERVE)
    available = get_account(conn, reserve_acc).available
    total = min(owed, available)
    parts = split(total, [n.outstanding_principal_fen for n in held]) if total else [0] * len(held)
    batch = uuid.uuid4().hex[:16]
    today = calendar.current(conn, clock=clock)
    transfers, rows = [], []
    for n, amount in zip(held, parts, strict=True):
        if amount <= 0:
            continue
        tid = f"mkt-comp-{batch}-{n.id}"
        transfers.append(
            Transfer(
                tid,
                reserve_acc,
                accounts.user_account(conn, n.lender_id, Role.LENDER),
                amount,
                TransferCode.COMPENSATION,
                reference=f"loan:{loan_id}",
            )
        )
        rows.append(
            {
                "loan_id": loan_id,
                "note_id": n.id,
                "lender_id": n.lender_id,
                "payer": "risk_reserve",
                "amount_fen": amount,
                "business_date": today,
                "reason": f"dpd {loan.dpd} > {COMPENSATE_AFTER_DPD}",
                "transfer_id": tid,
            }
        )
    for r in create_transfers(conn, transfers, clock=clock):
        if not r.ok:
            raise Conflict(f"ledger_{r.result.value}", r.message)
    outbox.queue_booked(conn, [t.id for t in transfers], clock=clock)
    if rows:
        conn.execute(insert(compensations), rows)
    conn.execute(
        update(notes).where(notes.c.id.in_([n.id for n in held])).values(status="defaulted")
    )
    audit.record(
        conn,
        actor=actor,
        event="marketplace.compensated",
        object_type="loan",
        object_id=loan_id,
        detail={"paid_fen": total, "owed_fen": owed, "notes": len(rows)},
        clock=clock,
    )
    mkt_events.for_loan(
        conn, "loan.compensated", loan_id, clock, paid_fen=total, owed_fen=owed, notes=len(rows)
    )
    return Compensated(loan_id, total, owed, len(rows))


def repay_on_behalf(
    conn: Connection,
    *,
    loan_id: int,
    payer_id: int,
    payer: str,
    amount_fen: int,
    reason: str,
    actor: Actor,
    clock: Clock,
    config: MarketConfig = DEFAULT_CONFIG,
) -> Compensated:
    """A guarantor or another third party pays the borrower's instalment: the money moves
    from the payer's guarantor sub-account into the borrower's, is repaid and distributed,
    and each note's share is recorded as compensation by that payer (for disclosure)."""
    if payer not in ("third_party", "guarantor"):
        raise ValidationError("payer_invalid", "payer is third_party or guarantor", field="payer")
    fund = conn.execute(select(loan_funding).where(loan_funding.c.loan_id == loan_id)).first()
    if fund is None:
        raise NotFound("marketplace_loan_not_found", f"loan {loan_id} is not a marketplace loan")
    source = accounts.user_account(conn, payer_id, Role.GUARANTOR)
    accounts.require_grant(conn, payer_id, Role.GUARANTOR)
    [r] = create_transfers(
        conn,
        [
            Transfer(
                f"mkt-behalf-{uuid.uuid4().hex[:20]}",
                source,
                fund.borrower_account_id,
                amount_fen,
                TransferCode.COMPENSATION,
                reference=f"loan:{loan_id}",
            )
        ],
        clock=clock,
    )
    if r.result is Result.EXCEEDS_CREDITS:
        raise Conflict("insufficient_funds", "the payer's custody balance does not cover it")
    if not r.ok:
        raise Conflict(f"ledger_{r.result.value}", r.message)
    outbox.queue_booked(conn, [r.id], clock=clock)
    last = (
        conn.execute(
            select(distributions.c.id).order_by(distributions.c.id.desc()).limit(1)
        ).scalar()
        or 0
    )
    distribution.repay(
        conn, loan_id=loan_id, amount_fen=amount_fen, actor=actor, clock=clock, config=config
    )
    paid = conn.execute(
        select(distributions).where(
            distributions.c.loan_id == loan_id,
            distributions.c.id > last,
            distributions.c.lender_id != distribution.RESERVE_HOLDER,
        )
    ).all()
    rows = [
        {
            "loan_id": loan_id,
            "note_id": d.note_id,
            "lender_id": d.lender_id,
            "payer": payer,
            "amount_fen": d.principal_fen + d.interest_fen + d.penalty_fen - d.fee_fen,
            "business_date": d.business_date,
            "reason": reason[:200],
            "transfer_id": d.transfer_id,
        }
        for d in paid
    ]
    if rows:
        conn.execute(insert(compensations), rows)
    return Compensated(loan_id, sum(x["amount_fen"] for x in rows), amount_fen, len(rows))
