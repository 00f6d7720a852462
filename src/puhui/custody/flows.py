"""Multi-step custody work around a bank call: the only place in custody that commits.

A bank call cannot be part of a database transaction: it may be slow, it may time out with the
outcome unknown, and the bank's records are not ours to roll back. So each flow is split into
short transactions, each committed before the next bank call:

1. record the instruction and freeze the money (a pending ledger transfer) — committed, so
   the user cannot spend the money elsewhere while the bank works, and a crash after this step
   leaves a record that the poller resolves;
2. send it to the bank (no transaction open; on SQLite an open writer would block the sandbox);
3. record the answer — post the freeze on success, void it on failure, leave it frozen while
   the bank is still processing or did not answer.

A timeout is retried at once with the same instruction id (the bank answers a replay with the
original result, so nothing is paid twice). When every attempt times out the instruction stays
``unknown`` and ``settle`` later asks the bank: a ``not_found`` answer is final because the
bank marks the id dead, so the freeze can be released without risk of paying later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from puhui.compliance import aml
from puhui.core.clock import SYSTEM_CLOCK, Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.custody import authorisations, outbox, service
from puhui.custody._db import now_us
from puhui.custody.authorisations import Grant
from puhui.custody.bank import (
    AuthMethod,
    Authorisation,
    BankReply,
    BankStatus,
    BankTimeout,
    CustodyBank,
    Instruction,
)
from puhui.custody.bank import InstructionKind as Kind
from puhui.custody.service import CustodyAccount, InstructionRecord, Role, Status
from puhui.db.engine import run_in_transaction
from puhui.ledger.codes import TransferCode

SEND_ATTEMPTS = 3


def open_account(
    engine: Engine,
    bank: CustodyBank,
    *,
    user_ref: str,
    role: Role | str,
    clock: Clock = SYSTEM_CLOCK,
) -> CustodyAccount:
    """Open the user's bank sub-account, then its ledger twin. The bank call comes first and is
    idempotent per user and role, so a failure between the two steps is repaired by a rerun."""
    role = service.check_sub_account(user_ref, role)  # before the bank opens anything
    number = bank.open_sub_account(user_ref=user_ref, role=role.value)
    master = bank.master_account()

    def work(c: Connection) -> CustodyAccount:
        service.ensure_platform_accounts(c, bank_master=master, clock=clock)
        return service.record_account(
            c, user_ref=user_ref, role=role, bank_account_no=number, clock=clock
        )

    return run_in_transaction(engine, work)


def deposit(
    engine: Engine,
    bank: CustodyBank,
    *,
    user_ref: str,
    role: Role | str,
    amount: int,
    authorisation: Authorisation | None,
    instruction_id: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    attempts: int = SEND_ATTEMPTS,
) -> InstructionRecord:
    """充值: ask the bank to collect ``amount`` fen into the sub-account; the ledger credits the
    user only when the bank confirms."""
    spec = {"user_ref": user_ref, "role": role, "amount": amount}
    return _run(engine, bank, Kind.DEPOSIT, spec, instruction_id, authorisation, clock, attempts)


def withdraw(
    engine: Engine,
    bank: CustodyBank,
    *,
    user_ref: str,
    role: Role | str,
    amount: int,
    authorisation: Authorisation | None,
    instruction_id: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    attempts: int = SEND_ATTEMPTS,
) -> InstructionRecord:
    """提现: freeze, instruct the bank, then post or release on its answer."""
    spec = {"user_ref": user_ref, "role": role, "amount": amount}
    return _run(engine, bank, Kind.WITHDRAWAL, spec, instruction_id, authorisation, clock, attempts)


def transfer(
    engine: Engine,
    bank: CustodyBank,
    *,
    user_ref: str,
    role: Role | str,
    to_user_ref: str,
    to_role: Role | str,
    amount: int,
    code: TransferCode,
    authorisation: Authorisation | None,
    instruction_id: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    attempts: int = SEND_ATTEMPTS,
) -> InstructionRecord:
    """Move money between two sub-accounts on the paying user's authorisation."""
    spec = {
        "user_ref": user_ref,
        "role": role,
        "to_user_ref": to_user_ref,
        "to_role": to_role,
        "amount": amount,
        "code": code,
    }
    return _run(engine, bank, Kind.TRANSFER, spec, instruction_id, authorisation, clock, attempts)


def authorise(
    engine: Engine,
    bank: CustodyBank,
    *,
    user_ref: str,
    role: Role | str,
    authorisation: Authorisation | None,
    clock: Clock = SYSTEM_CLOCK,
) -> Grant:
    """业务授权: the holder grants the bank a standing authorisation for the platform's
    instructions out of their sub-account (with their own password or code, passed through),
    and the platform keeps the grant's id."""
    if authorisation is None or not authorisation.secret:
        raise ValidationError(
            "authorisation_required",
            "the user must authorise the grant (password or one-time code)",
            field="authorisation",
        )
    with engine.connect() as c:
        acc = service.get_account(c, user_ref=user_ref, role=role)
    if acc.bank_account_no is None:
        raise Conflict("not_a_bank_account", f"{user_ref}/{role} has no bank sub-account")
    reply = bank.authorise(
        acc.bank_account_no, authorisation, scope=authorisations.scope_of(acc.role)
    )
    if reply.status is not BankStatus.SUCCEEDED:
        raise Conflict(
            f"bank_{reply.reason or reply.status.value}",
            "the custody bank refused the authorisation",
            field="authorisation",
        )
    return run_in_transaction(
        engine,
        lambda c: authorisations.record(
            c, grant_id=reply.instruction_id, user_ref=user_ref, role=acc.role, clock=clock
        ),
    )


def revoke_authorisation(
    engine: Engine, bank: CustodyBank, *, user_ref: str, grant_id: str, clock: Clock = SYSTEM_CLOCK
) -> Grant:
    """Withdraw a grant at the bank, then here. Instructions already queued under it that the
    bank has not taken are refused by the bank and show as breaks: revoking never undoes
    money the ledger has moved, and a staff member must settle it with the user."""
    with engine.connect() as c:
        grant = authorisations.get(c, grant_id)
    if grant.user_ref != user_ref:
        raise NotFound("authorisation_not_found", f"no authorisation {grant_id}", field="id")
    bank.revoke_authorisation(grant_id)
    return run_in_transaction(
        engine,
        lambda c: authorisations.mark_revoked(c, grant_id=grant_id, user_ref=user_ref, clock=clock),
    )


@dataclass(frozen=True)
class SendSummary:
    sent: int  # accepted by the bank (processing or already done)
    refused: int  # refused or failed: the ledger moved money the bank did not (a break)
    waiting: int  # timed out or without an active grant: still queued


def send_queued(
    engine: Engine,
    bank: CustodyBank,
    *,
    clock: Clock = SYSTEM_CLOCK,
    bank_accounts: set[str] | None = None,
    limit: int | None = None,
) -> SendSummary:
    """Pass the outbox (``outbox.queue_booked``) to the bank in booking order, each under its
    payer's standing authorisation.

    An instruction that cannot go now (a timeout: resent under the same id on the next pass; a
    payer without an active grant) stays queued, and so does every later one paid from an
    account it touches, since that one may spend what the held-back one brings; the rest of
    the queue goes on."""
    with engine.connect() as c:
        records = outbox.queued(c, bank_accounts=bank_accounts, limit=limit)
        grant = authorisations.active_by_account(c, {r.bank_from or "" for r in records})
    sent = refused = waiting = 0
    held: set[str] = set()  # accounts whose later debits must wait
    for record in records:  # a concurrent sender's copy is a replay: the bank answers it alike
        iid = record.id
        payer, payee = record.bank_from or "", record.bank_to or ""
        reply: BankReply | None = None
        if payer not in held and payer in grant:
            ins = record.to_bank(Authorisation(AuthMethod.STANDING, grant[payer]))
            with contextlib.suppress(BankTimeout):  # stays queued: resent on the next pass
                reply = bank.transfer(ins)
            done = run_in_transaction(
                engine,
                lambda c, i=iid, r=reply: service.record_send(
                    c, instruction_id=i, reply=r, clock=clock
                ),
            )
            if reply is not None:
                refused += done.status is Status.FAILED
                sent += done.status is not Status.FAILED
                continue
        waiting += 1
        held.update((payer, payee))
    return SendSummary(sent, refused, waiting)


@dataclass(frozen=True)
class SettleSummary:
    checked: int
    succeeded: int
    failed: int
    pending: int


def settle(
    engine: Engine,
    bank: CustodyBank,
    *,
    clock: Clock = SYSTEM_CLOCK,
    quiet_seconds: int = 60,
) -> SettleSummary:
    """Send the outbox, then ask the bank about every unfinished instruction and apply its
    answers to the ledger.

    Safe to run at any time and as often as wished, also next to running flows: instructions
    sent in the last ``quiet_seconds`` and not yet accepted are left to their flow.
    """
    send_queued(engine, bank, clock=clock)
    cutoff = now_us(clock) - quiet_seconds * 1_000_000
    with engine.connect() as c:
        ids = service.instructions_to_poll(c, sent_before_us=cutoff)
    done = []
    for iid in ids:
        reply = bank.query(iid)
        done.append(
            run_in_transaction(
                engine,
                lambda c, r=reply: service.apply_reply(
                    c, instruction_id=r.instruction_id, reply=r, clock=clock
                ),
            )
        )
    return SettleSummary(
        checked=len(done),
        succeeded=sum(r.status is Status.SUCCEEDED for r in done),
        failed=sum(r.status is Status.FAILED for r in done),
        pending=sum(not r.status.final for r in done),
    )


def _run(
    engine: Engine,
    bank: CustodyBank,
    kind: Kind,
    spec: dict[str, Any],
    instruction_id: str | None,
    authorisation: Authorisation | None,
    clock: Clock,
    attempts: int,
) -> InstructionRecord:
    if authorisation is None or not authorisation.secret:  # CUS-INS-01: refuse before anything
        raise ValidationError(
            "authorisation_required",
            "the user must authorise the instruction (password or one-time code)",
            field="authorisation",
        )
    iid = instruction_id or service.new_instruction_id(kind)

    def begin(c: Connection) -> InstructionRecord:
        if kind is not Kind.DEPOSIT:  # AML-STR-02: a blocked customer's money stays put
            _refuse_blocked(c, spec["user_ref"])
        return service.begin_instruction(c, instruction_id=iid, kind=kind, clock=clock, **spec)

    record = run_in_transaction(engine, begin)
    if record.status.final:
        return record
    if record.bank_from:  # the bank must first see what the platform queued on this account
        send_queued(engine, bank, clock=clock, bank_accounts={record.bank_from})
    send = _sender(bank, record.kind)
    ins = record.to_bank(authorisation)
    for _ in range(max(attempts, 1)):
        reply: BankReply | None
        try:
            reply = send(ins)
        except BankTimeout:
            reply = None
        record = run_in_transaction(
            engine,
            lambda c, r=reply: service.record_send(c, instruction_id=iid, reply=r, clock=clock),
        )
        if reply is not None:
            break
    return record


def _refuse_blocked(c: Connection, user_ref: str) -> None:
    """Refuse money out of a customer sub-account (``customer-{id}``) whose owner a
    watch-list match blocked, in the transaction that would record the instruction."""
    customer_id = aml.customer_of(user_ref)
    if customer_id is not None:
        aml.require_not_blocked(c, customer_id)


def _sender(bank: CustodyBank, kind: Kind) -> Callable[[Instruction], BankReply]:
    return {
        Kind.DEPOSIT: bank.deposit,
        Kind.WITHDRAWAL: bank.withdraw,
        Kind.TRANSFER: bank.transfer,
    }[kind]
