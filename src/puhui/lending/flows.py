"""Operations that span several lending calls, shared by the HTTP API and the web pages.

Each is what one request does: a borrower's application (create, submit, the automated review
and, when approved, the offer), a checker's approval with its offer, a borrower's own payment
(the servicing call and the card charge through the debit channel in the same transaction, so
a declined card undoes both), and an end-of-day run with its audit entry. Keeping them here
means ``api/lending.py`` and ``web/lending_*.py`` cannot drift apart. As everywhere in the
domain, the caller owns the transaction (except ``run_eod``, which commits step by step like
the batch it starts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

from sqlalchemy import Connection, Engine, select

from puhui.core.clock import Clock
from puhui.core.errors import ValidationError
from puhui.db.engine import run_in_transaction
from puhui.identity import audit
from puhui.identity.audit import SYSTEM, Actor
from puhui.identity.crypto import Keyring
from puhui.lending import (
    applications,
    debit_channel,
    eod,
    jobs,
    products,
    servicing,
    views,
)
from puhui.lending.debit_channel import DebitChannel
from puhui.lending.models import loan_transactions
from puhui.lending.states import AppState

#: What a borrower may do with their own money on a loan (the web form's and API's modes).
PREPAY_MODES = ("full", "shorter_term", "lower_installment")


def system_actor(actor: Actor) -> Actor:
    """The automated review and offer, made for a borrower's request (same IP and request id)."""
    return replace(actor, principal=SYSTEM.principal, roles=())


def apply(
    conn: Connection,
    *,
    customer_id: int,
    product_code: str,
    amount_fen: int,
    term: int,
    purpose: str,
    actor: Actor,
    keys: Keyring,
    clock: Clock,
    config: applications.LendingConfig = applications.DEFAULT_CONFIG,
    credit: applications.CreditServices | None = None,
    product_version: int | None = None,
    purpose_detail: str = "",
    channel: str = "web",
) -> applications.LoanApplication:
    """Apply for a loan: submitted and decided at once; when approved, the offer is on it."""
    version = products.get_product(conn, code=product_code, version=product_version)
    app = applications.create(
        conn,
        customer_id=customer_id,
        product_version_id=version.version_id,
        amount_fen=amount_fen,
        term=term,
        purpose=purpose,
        purpose_detail=purpose_detail,
        actor=actor,
        clock=clock,
        channel=channel,
    )
    applications.submit(
        conn, application_id=app.id, customer_id=customer_id, actor=actor, clock=clock
    )
    system = system_actor(actor)
    app = applications.review(
        conn,
        application_id=app.id,
        actor=system,
        keys=keys,
        clock=clock,
        config=config,
        credit=credit,
    )
    if app.state == AppState.APPROVED:
        app = applications.make_offer(
            conn, application_id=app.id, actor=system, clock=clock, config=config
        )
    return app


def approve_and_offer(
    conn: Connection,
    *,
    application_id: int,
    reason: str,
    actor: Actor,
    clock: Clock,
    config: applications.LendingConfig = applications.DEFAULT_CONFIG,
    approved_fen: int | None = None,
    annual_rate: str | None = None,
) -> applications.LoanApplication:
    """The checker's approval; the offer goes to the borrower in the same transaction."""
    applications.approve(
        conn,
        application_id=application_id,
        reason=reason,
        approved_fen=approved_fen,
        annual_rate=annual_rate,
        actor=actor,
        clock=clock,
        config=config,
    )
    return applications.make_offer(
        conn, application_id=application_id, actor=actor, clock=clock, config=config
    )


def charge_card(
    conn: Connection, channel: DebitChannel, *, loan: views.LoanDetail, amount: int, clock: Clock
) -> None:
    """Take ``amount`` from the borrower's card through the channel, or refuse (nothing moves:
    the channel works in the caller's transaction)."""
    debit_channel.charge_one(
        conn, channel, key_id=loan.id, customer_id=loan.customer_id, amount=amount, clock=clock
    )


def charged(
    conn: Connection,
    channel: DebitChannel,
    *,
    loan_id: int,
    customer_id: int,
    clock: Clock,
    operate: Callable[[Connection], tuple[servicing.Result, int]],
) -> servicing.Result:
    """A borrower's own payment on their loan: ``operate`` (the servicing call, answering its
    result and the amount it took) and the card charge for that amount, in one transaction."""
    loan = views.get_loan(conn, loan_id=loan_id, customer_id=customer_id)
    result, amount = operate(conn)
    if amount:  # 0: a repeated request that already paid
        charge_card(conn, channel, loan=loan, amount=amount, clock=clock)
    return result


def _earlier(conn: Connection, loan_id: int, external_ref: str | None) -> int | None:
    """The transaction already recorded on the loan under ``external_ref``, if any."""
    if external_ref is None:
        return None
    found = conn.execute(
        select(loan_transactions.c.id).where(
            loan_transactions.c.loan_id == loan_id,
            loan_transactions.c.external_ref == external_ref,
        )
    ).first()
    return None if found is None else int(found.id)


def borrower_pays(
    conn: Connection,
    channel: DebitChannel,
    *,
    loan_id: int,
    customer_id: int,
    mode: str,
    actor: Actor,
    clock: Clock,
    amount_fen: int | None = None,
    external_ref: str | None = None,
) -> servicing.Result:
    """A borrower's repayment (``mode`` ``repay``) or prepayment (``full``, ``shorter_term``,
    ``lower_installment``) charged to their card. With ``external_ref`` (a web form's key) the
    payment happens once: the same reference again, even racing the first, answers what the
    first did and charges nothing."""
    if mode != "repay" and mode not in PREPAY_MODES:
        raise ValidationError(
            "prepay_mode_invalid", f"mode must be repay or one of {PREPAY_MODES}", field="mode"
        )

    def operate(c: Connection) -> tuple[servicing.Result, int]:
        servicing.lock(c, loan_id)  # a duplicate waits here, then finds the first one's row
        earlier = _earlier(c, loan_id, external_ref)
        if earlier is not None:
            return servicing.result_of(c, loan_id=loan_id, txn_id=earlier), 0
        amount = amount_fen
        if amount is None and mode == "full":
            amount = servicing.quote(c, loan_id=loan_id, clock=clock).total_fen
        if amount is None:
            what = "a repayment" if mode == "repay" else "a partial prepayment"
            raise ValidationError(
                "amount_required", f"{what} states its amount", field="amount_fen"
            )
        if mode == "repay":
            done = servicing.repay(
                c,
                loan_id=loan_id,
                amount_fen=amount,
                actor=actor,
                clock=clock,
                external_ref=external_ref,
            )
        else:
            done = servicing.prepay(
                c,
                loan_id=loan_id,
                mode=mode,
                amount_fen=amount,
                actor=actor,
                clock=clock,
                external_ref=external_ref,
            )
        return done, amount

    return charged(
        conn, channel, loan_id=loan_id, customer_id=customer_id, clock=clock, operate=operate
    )


def borrower_cancels(
    conn: Connection,
    channel: DebitChannel,
    *,
    loan_id: int,
    customer_id: int,
    actor: Actor,
    clock: Clock,
) -> servicing.Result:
    """冷静期取消 (RATE-COOL-01): the principal and the interest for the days used are charged to
    the card and the loan is cancelled."""

    def operate(c: Connection) -> tuple[servicing.Result, int]:
        done = servicing.cancel_in_cooling_off(c, loan_id=loan_id, actor=actor, clock=clock)
        returned = c.execute(
            select(loan_transactions.c.amount_fen).where(loan_transactions.c.id == done.txn_id)
        ).scalar_one()
        return done, int(returned)

    return charged(
        conn, channel, loan_id=loan_id, customer_id=customer_id, clock=clock, operate=operate
    )


def run_eod(
    engine: Engine,
    *,
    actor: Actor,
    clock: Clock,
    channel: DebitChannel,
    start: date | None = None,
    through: date | None = None,
    partitions: int = 1,
) -> list[eod.DayReport]:
    """日终 started by a staff member: the audit entry is committed first (a run that dies half
    way is still on record), then the dates are closed in order; a closed date is skipped."""
    first = start or jobs.business_date(engine, clock=clock)
    run_in_transaction(
        engine,
        lambda c: audit.record(
            c,
            actor=actor,
            event="eod.run",
            object_type="business_date",
            object_id=first.isoformat(),
            detail={"through": (through or first).isoformat(), "partitions": partitions},
            clock=clock,
        ),
    )
    return jobs.run_eod(
        engine, clock=clock, start=first, through=through, partitions=partitions, channel=channel
    )
