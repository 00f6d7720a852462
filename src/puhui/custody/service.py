"""Custody accounts and instructions on the platform side, one transaction step at a time.

Nothing here calls the bank or commits: ``flows`` commits each step before and after a bank
call. The steps are built so that any of them may be repeated or interleaved with a concurrent
poller: every ledger transfer id derives from the instruction id (a repeat answers ``exists``),
and the instruction row is locked before its status moves.

Money leaving a sub-account is frozen first (a pending ledger transfer), so the user cannot
spend it twice while the bank works; the bank's success posts the freeze, its failure voids it.
Money arriving (a deposit) is booked only when the bank confirms it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.core.money import check_fen
from puhui.custody._db import first_or_raise, for_update, now_us, serialise
from puhui.custody.bank import Authorisation, BankReply, BankStatus, Instruction, InstructionKind
from puhui.custody.models import custody_accounts, instructions
from puhui.ledger import service as ledger
from puhui.ledger.codes import AccountCode, AccountFlags, Book, Result, TransferCode, TransferFlags
from puhui.ledger.service import Transfer, create_account, create_transfers

PLATFORM = "platform"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")


class Role(StrEnum):
    LENDER = "lender"
    BORROWER = "borrower"
    GUARANTOR = "guarantor"
    PLATFORM_FEE = "platform_fee"
    RISK_RESERVE = "risk_reserve"
    # the platform's own bookkeeping accounts in the custody book
    MASTER = "master"
    SUSPENSE = "suspense"


ROLE_CODES = {
    Role.LENDER: AccountCode.LENDER,
    Role.BORROWER: AccountCode.BORROWER,
    Role.GUARANTOR: AccountCode.GUARANTOR,
    Role.PLATFORM_FEE: AccountCode.PLATFORM_FEE,
    Role.RISK_RESERVE: AccountCode.RISK_RESERVE,
}


class Status(StrEnum):
    #: booked in the ledger by a domain transaction, waiting for the sender (``outbox``)
    QUEUED = "queued"
    CREATED = "created"  # recorded (and frozen), the bank not yet heard from
    PROCESSING = "processing"  # the bank accepted it
    UNKNOWN = "unknown"  # the call timed out: poll or retry with the same id
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED)


@dataclass(frozen=True)
class CustodyAccount:
    user_ref: str
    role: Role
    ledger_account_id: int
    bank_account_no: str | None


@dataclass(frozen=True)
class InstructionRecord:
    """A row of ``custody_instructions`` (CUS-REC-02)."""

    id: str
    kind: InstructionKind
    user_ref: str
    role: str
    amount: int
    code: int
    status: Status
    attempts: int
    debit_account_id: int
    credit_account_id: int
    bank_from: str | None
    bank_to: str | None
    ledger_pending_id: str | None
    ledger_transfer_id: str | None
    bank_serial: str | None
    failure_reason: str | None
    created_us: int
    sent_us: int | None
    completed_us: int | None

    def to_bank(self, authorisation: Authorisation | None) -> Instruction:
        return Instruction(
            self.id, self.kind, self.amount, self.bank_from, self.bank_to, authorisation
        )


# ------------------------------------------------------------------------------- accounts


def parse_role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            "role_invalid", f"{value!r} is not a custody role", field="role"
        ) from None


def ensure_platform_accounts(conn: Connection, *, bank_master: str, clock: Clock) -> None:
    """Create the custody master (the bank's 专用账户 in the ledger) and the reconciliation
    suspense account once."""
    if _platform_rows(conn) == {Role.MASTER, Role.SUSPENSE}:
        return
    serialise(conn, "custody_platform_accounts")
    have = _platform_rows(conn)
    if Role.MASTER not in have:
        _open(
            conn,
            PLATFORM,
            Role.MASTER,
            AccountCode.CUSTODY_MASTER,
            AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            bank_master,
            clock,
        )
    if Role.SUSPENSE not in have:
        _open(
            conn,
            PLATFORM,
            Role.SUSPENSE,
            AccountCode.RECON_SUSPENSE,
            AccountFlags.NONE,
            None,
            clock,
        )


def check_sub_account(user_ref: str, role: Role | str) -> Role:
    """Validate a user and a role a user can hold a bank sub-account in; return the role."""
    parsed = parse_role(role)
    if parsed not in ROLE_CODES:
        raise ValidationError(
            "role_invalid", f"no custody sub-account for role {role}", field="role"
        )
    if not user_ref or len(user_ref) > 64 or user_ref == PLATFORM:
        raise ValidationError(
            "user_ref_invalid", "user_ref must be 1-64 characters", field="user_ref"
        )
    return parsed


def record_account(
    conn: Connection, *, user_ref: str, role: Role | str, bank_account_no: str, clock: Clock
) -> CustodyAccount:
    """Open the ledger sub-account matching a bank sub-account; opening it again is a no-op."""
    role = check_sub_account(user_ref, role)
    serialise(conn, f"custody_account:{user_ref}:{role}")
    found = _find(conn, user_ref, role)
    if found is not None:
        if found.bank_account_no != bank_account_no:
            raise Conflict(
                "bank_account_mismatch",
                f"{user_ref}/{role} is already linked to another bank sub-account",
            )
        return found
    _open(
        conn,
        user_ref,
        role,
        ROLE_CODES[role],
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        bank_account_no,
        clock,
    )
    return get_account(conn, user_ref=user_ref, role=role)


def get_account(conn: Connection, *, user_ref: str, role: Role | str) -> CustodyAccount:
    found = _find(conn, user_ref, parse_role(role))
    if found is None:
        raise NotFound(
            "custody_account_not_found",
            f"{user_ref} has no {role} custody account",
            field="user_ref",
        )
    return found


@dataclass(frozen=True)
class SubAccountBalance:
    """A user's sub-account as the user sees it: posted balance, what is available now, and
    what is frozen (pending debits: a withdrawal or a bid the bank has not settled yet)."""

    role: Role
    bank_account_no: str | None
    balance: int
    available: int
    frozen: int


def balances(
    conn: Connection, *, user_ref: str, roles: tuple[Role, ...] = (Role.LENDER, Role.BORROWER)
) -> list[SubAccountBalance]:
    """The user's open sub-accounts among ``roles``, in that order."""
    out = []
    for role in roles:
        acc = _find(conn, user_ref, role)
        if acc is None:
            continue
        led = ledger.get_account(conn, acc.ledger_account_id)
        out.append(
            SubAccountBalance(
                role, acc.bank_account_no, led.credit_balance, led.available, led.debits_pending
            )
        )
    return out


def master_account_id(conn: Connection) -> int:
    """The ledger id of the custody master; other domains book against it through here."""
    return get_account(conn, user_ref=PLATFORM, role=Role.MASTER).ledger_account_id


def suspense_account_id(conn: Connection) -> int:
    return get_account(conn, user_ref=PLATFORM, role=Role.SUSPENSE).ledger_account_id


def bank_numbers(conn: Connection) -> dict[int, str]:
    """Ledger account id → bank sub-account number, for every linked sub-account."""
    q = select(custody_accounts.c.ledger_account_id, custody_accounts.c.bank_account_no).where(
        custody_accounts.c.bank_account_no.is_not(None), custody_accounts.c.role != Role.MASTER
    )
    return {a: n for a, n in conn.execute(q)}


def _open(
    conn: Connection,
    user_ref: str,
    role: Role,
    code: AccountCode,
    flags: AccountFlags,
    bank_account_no: str | None,
    clock: Clock,
) -> None:
    ledger_id = create_account(
        conn,
        book=Book.CUSTODY,
        code=code,
        flags=flags,
        owner=None if user_ref == PLATFORM else user_ref,
        name=f"{role} {user_ref}",
        clock=clock,
    )
    conn.execute(
        insert(custody_accounts).values(
            user_ref=user_ref,
            role=role.value,
            ledger_account_id=ledger_id,
            bank_account_no=bank_account_no,
            created_us=now_us(clock),
        )
    )


def _find(conn: Connection, user_ref: str, role: Role) -> CustodyAccount | None:
    row = conn.execute(
        select(custody_accounts).where(
            custody_accounts.c.user_ref == user_ref, custody_accounts.c.role == role.value
        )
    ).first()
    if row is None:
        return None
    return CustodyAccount(row.user_ref, Role(row.role), row.ledger_account_id, row.bank_account_no)


def _platform_rows(conn: Connection) -> set[Role]:
    q = select(custody_accounts.c.role).where(custody_accounts.c.user_ref == PLATFORM)
    return {Role(r) for r in conn.execute(q).scalars()}


# ----------------------------------------------------------------------------- instructions


def new_instruction_id(kind: InstructionKind) -> str:
    prefix = {
        InstructionKind.DEPOSIT: "DP",
        InstructionKind.WITHDRAWAL: "WD",
        InstructionKind.TRANSFER: "TR",
    }[kind]
    return prefix + uuid.uuid4().hex


def begin_instruction(
    conn: Connection,
    *,
    instruction_id: str,
    kind: InstructionKind,
    user_ref: str,
    role: Role | str,
    amount: int,
    clock: Clock,
    to_user_ref: str | None = None,
    to_role: Role | str | None = None,
    code: TransferCode | None = None,
) -> InstructionRecord:
    """Record an instruction and, for money leaving a sub-account, freeze it in the ledger.

    The same id with the same fields returns the existing record (a client retry); with other
    fields it is refused. Insufficient funds refuse it here, before the bank hears of it.
    """
    if not isinstance(instruction_id, str) or not ID_RE.match(instruction_id):
        raise ValidationError(
            "instruction_id_invalid",
            "instruction id is 1-48 letters, digits, '-' or '_'",
            field="instruction_id",
        )
    check_fen(amount, allow_zero=False)
    payer = get_account(conn, user_ref=user_ref, role=role)
    master = master_account_id(conn)
    if kind is InstructionKind.DEPOSIT:
        debit, credit, code = master, payer.ledger_account_id, TransferCode.DEPOSIT
        bank_from, bank_to = None, payer.bank_account_no
    elif kind is InstructionKind.WITHDRAWAL:
        debit, credit, code = payer.ledger_account_id, master, TransferCode.WITHDRAWAL
        bank_from, bank_to = payer.bank_account_no, None
    else:
        if to_user_ref is None or to_role is None or code is None:
            raise ValidationError(
                "transfer_incomplete", "a transfer names its payee and code", field="to_user_ref"
            )
        payee = get_account(conn, user_ref=to_user_ref, role=to_role)
        debit, credit = payer.ledger_account_id, payee.ledger_account_id
        bank_from, bank_to = payer.bank_account_no, payee.bank_account_no
    request_hash = instruction_hash(kind, debit, credit, amount, int(code))
    existing = _existing(conn, instruction_id, request_hash)
    if existing is not None:
        return existing
    freeze = None if kind is InstructionKind.DEPOSIT else f"cus-{instruction_id}-f"
    # Lock the ledger rows before this insert's foreign keys take share locks on them: the
    # other way round, two withdrawals of one user deadlock on PostgreSQL.
    if freeze is not None:
        _ledger(
            conn,
            Transfer(
                freeze,
                debit,
                credit,
                amount,
                int(code),
                flags=TransferFlags.PENDING,
                reference=instruction_id,
            ),
            clock,
        )
        existing = _existing(conn, instruction_id, request_hash)  # a concurrent twin won
        if existing is not None:
            return existing
    now = now_us(clock)
    conn.execute(
        insert(instructions).values(
            id=instruction_id,
            kind=kind.value,
            user_ref=payer.user_ref,
            role=payer.role.value,
            debit_account_id=debit,
            credit_account_id=credit,
            bank_from=bank_from,
            bank_to=bank_to,
            amount=amount,
            code=int(code),
            request_hash=request_hash,
            ledger_pending_id=freeze,
            status=Status.CREATED.value,
            attempts=0,
            created_us=now,
            updated_us=now,
        )
    )
    return get_instruction(conn, instruction_id)


def record_send(
    conn: Connection, *, instruction_id: str, reply: BankReply | None, clock: Clock
) -> InstructionRecord:
    """Count one attempt to send the instruction and apply the bank's answer to it; ``None``
    means the call timed out, leaving the instruction ``unknown`` until a retry or a poll."""
    row = _locked(conn, instruction_id)
    sent: dict[str, Any] = {"attempts": row["attempts"] + 1, "sent_us": now_us(clock)}
    # A queued instruction that timed out stays queued and is sent again under the same id:
    # polling an id the bank never received would mark it dead, and its money has moved in
    # the ledger already, so it must reach the bank.
    queued = row["status"] == Status.QUEUED.value
    if reply is None and not Status(row["status"]).final and not queued:
        sent["status"] = Status.UNKNOWN.value
    return _apply(conn, row, reply, clock, sent)


def apply_reply(
    conn: Connection, *, instruction_id: str, reply: BankReply, clock: Clock
) -> InstructionRecord:
    """Bring the ledger in line with the bank's answer: post or book on success, release the
    freeze on failure. Applying the same answer again changes nothing."""
    return _apply(conn, _locked(conn, instruction_id), reply, clock, {})


def _apply(
    conn: Connection, row: Any, reply: BankReply | None, clock: Clock, values: dict[str, Any]
) -> InstructionRecord:
    # One UPDATE of the row per transaction: PostgreSQL re-checks the foreign keys of a row
    # updated twice, and those share locks on ledger accounts would deadlock with transfers.
    iid = row["id"]
    if reply is None or Status(row["status"]).final:
        pass
    elif reply.status is BankStatus.PROCESSING:
        values["status"] = Status.PROCESSING.value
    elif reply.status is BankStatus.SUCCEEDED and row["queue_seq"] is not None:
        # booked in the ledger by the domain transaction that queued it
        values.update(
            status=Status.SUCCEEDED.value, bank_serial=reply.serial, completed_us=now_us(clock)
        )
    elif reply.status is BankStatus.SUCCEEDED:
        pending = row["ledger_pending_id"]
        if pending:
            t = Transfer(
                f"cus-{iid}-p", pending_id=pending, flags=TransferFlags.POST_PENDING, reference=iid
            )
        else:
            t = Transfer(
                f"cus-{iid}-d",
                row["debit_account_id"],
                row["credit_account_id"],
                row["amount"],
                row["code"],
                reference=iid,
            )
        _ledger(conn, t, clock)
        values.update(
            status=Status.SUCCEEDED.value,
            ledger_transfer_id=t.id,
            bank_serial=reply.serial,
            completed_us=now_us(clock),
        )
    else:
        if row["ledger_pending_id"]:
            _ledger(
                conn,
                Transfer(
                    f"cus-{iid}-v",
                    pending_id=row["ledger_pending_id"],
                    flags=TransferFlags.VOID_PENDING,
                    reference=iid,
                ),
                clock,
            )
        values.update(
            status=Status.FAILED.value,
            failure_reason=reply.reason or reply.status.value,
            completed_us=now_us(clock),
        )
    if values:
        _set(conn, iid, clock, **values)
    return get_instruction(conn, iid)


def instructions_to_poll(conn: Connection, *, sent_before_us: int) -> list[str]:
    """Instructions whose outcome the bank has not told us: every ``processing`` one, and
    ``created``/``unknown`` ones quiet since ``sent_before_us`` (younger ones may still be in
    the hands of the flow that sent them)."""
    c = instructions.c
    quiet = c.status.in_([Status.CREATED.value, Status.UNKNOWN.value]) & (
        c.updated_us < sent_before_us
    )
    q = select(c.id).where((c.status == Status.PROCESSING.value) | quiet).order_by(c.created_us)
    return list(conn.execute(q).scalars())


def get_instruction(conn: Connection, instruction_id: str) -> InstructionRecord:
    row = first_or_raise(conn, _query(instruction_id), _missing(instruction_id))
    return instruction_record(row)


def _ledger(conn: Connection, t: Transfer, clock: Clock) -> None:
    result = create_transfers(conn, [t], clock=clock)[0]
    if result.ok:
        return
    if result.result is Result.EXCEEDS_CREDITS:
        raise Conflict(
            "insufficient_funds", "the sub-account's available balance is too low", field="amount"
        )
    raise Conflict(f"ledger_{result.result.value}", f"ledger refused {t.id}: {result.message}")


def _existing(conn: Connection, instruction_id: str, request_hash: str) -> InstructionRecord | None:
    row = _row(conn, instruction_id)
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise Conflict(
            "instruction_id_reused",
            f"instruction {instruction_id} exists with other fields",
            field="instruction_id",
        )
    return instruction_record(row)


def _row(conn: Connection, instruction_id: str) -> Any:
    return conn.execute(_query(instruction_id)).mappings().first()


def _locked(conn: Connection, instruction_id: str) -> Any:
    query = for_update(conn, _query(instruction_id))
    return first_or_raise(conn, query, _missing(instruction_id))


def _query(instruction_id: str) -> Select[Any]:
    return select(instructions).where(instructions.c.id == instruction_id)


def _missing(instruction_id: str) -> NotFound:
    return NotFound(
        "instruction_not_found", f"no instruction {instruction_id}", field="instruction_id"
    )


def _set(conn: Connection, instruction_id: str, clock: Clock, **values: Any) -> None:
    conn.execute(
        update(instructions)
        .where(instructions.c.id == instruction_id)
        .values(updated_us=now_us(clock), **values)
    )


def instruction_hash(kind: InstructionKind, debit: int, credit: int, amount: int, code: int) -> str:
    """What an instruction id is bound to: a reuse of the id with other fields is refused."""
    return hashlib.sha256(f"{kind}|{debit}|{credit}|{amount}|{code}".encode()).hexdigest()


def instruction_record(row: Any) -> InstructionRecord:
    fields = {k: row[k] for k in InstructionRecord.__dataclass_fields__}
    fields["kind"] = InstructionKind(row["kind"])
    fields["status"] = Status(row["status"])
    return InstructionRecord(**fields)
