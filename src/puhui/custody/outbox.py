"""The instruction outbox: custody money a domain moved on its own, on its way to the bank.

Funding a listing, distributing a repayment, selling a claim and compensating lenders are
atomic domain operations (十三不得: no half-funded loan, no note without its money), so they
book the ledger in their own transaction and cannot wait for a bank in the middle of it. In
that same transaction they queue one instruction per custody transfer here (``queue_booked``):
if the transaction rolls back, so does the queue; if it commits, the instructions are durable
and ``flows.send_queued`` passes them to the bank later, in the order they were booked, under
each payer's standing authorisation (``authorisations``). The instruction id is the ledger
transfer's id, so reconciliation matches the bank's line to the ledger transfer it came from,
and the bank's answer never books the ledger again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, text

from puhui.core.clock import Clock
from puhui.core.errors import Conflict
from puhui.custody._db import now_us
from puhui.custody.bank import InstructionKind
from puhui.custody.models import custody_accounts, instructions
from puhui.custody.service import (
    ID_RE,
    InstructionRecord,
    Role,
    Status,
    instruction_hash,
    instruction_record,
)
from puhui.db.engine import is_sqlite
from puhui.ledger.codes import Book
from puhui.ledger.codes import TransferFlags as TF
from puhui.ledger.models import transfers

_CHUNK = 2_000
_NOT_SUB_ACCOUNTS = (Role.MASTER.value, Role.SUSPENSE.value)


def queue_booked(conn: Connection, transfer_ids: Sequence[str], *, clock: Clock) -> int:
    """Queue a bank transfer instruction for each of these posted custody transfers between
    two bank sub-accounts; return how many were queued (an id queued before is skipped).

    Call it in the transaction that wrote the transfers. A transfer the bank cannot carry (a
    pending one, one to a ledger-only account, an id the bank would not take) is refused, so
    the domain operation rolls back rather than book money the bank will never move."""
    ids = list(dict.fromkeys(transfer_ids))
    if not ids:
        return 0
    bad = [i for i in ids if not ID_RE.match(i)]
    if bad:
        raise Conflict("instruction_id_invalid", f"transfer id {bad[0]} cannot name a bank order")
    rows = _transfers(conn, ids)
    missing = [i for i in ids if i not in rows]
    if missing:
        raise Conflict(
            "not_a_bank_transfer",
            f"{missing[0]} is not a posted custody transfer between bank sub-accounts",
        )
    already = set()
    for part in _chunks(ids):
        already.update(
            conn.execute(select(instructions.c.id).where(instructions.c.id.in_(part))).scalars()
        )
    todo = [rows[i] for i in ids if i not in already]
    if not todo:
        return 0
    seqs = _next_seqs(conn, len(todo))
    now = now_us(clock)
    conn.execute(
        insert(instructions),
        [
            {
                "id": r.id,
                "kind": InstructionKind.TRANSFER.value,
                "user_ref": r.user_ref,
                "role": r.role,
                "debit_account_id": r.debit_account_id,
                "credit_account_id": r.credit_account_id,
                "bank_from": r.bank_from,
                "bank_to": r.bank_to,
                "amount": r.amount,
                "code": r.code,
                "request_hash": instruction_hash(
                    InstructionKind.TRANSFER,
                    r.debit_account_id,
                    r.credit_account_id,
                    r.amount,
                    r.code,
                ),
                "ledger_transfer_id": r.id,
                "status": Status.QUEUED.value,
                "attempts": 0,
                "created_us": now,
                "updated_us": now,
                "queue_seq": seq,
            }
            for seq, r in zip(seqs, todo, strict=True)
        ],
    )
    return len(todo)


def queued(
    conn: Connection, *, bank_accounts: set[str] | None = None, limit: int | None = None
) -> list[InstructionRecord]:
    """Queued instructions in booking order; with ``bank_accounts``, only those that move
    money into or out of one of them (what must reach the bank before a withdrawal from it)."""
    c = instructions.c
    q = select(instructions).where(c.status == Status.QUEUED.value)
    if bank_accounts is not None:
        numbers = sorted(bank_accounts)
        q = q.where(or_(c.bank_from.in_(numbers), c.bank_to.in_(numbers)))
    rows = conn.execute(q.order_by(c.queue_seq).limit(limit)).mappings()
    return [instruction_record(r) for r in rows]


def _next_seqs(conn: Connection, n: int) -> list[int]:
    """``n`` increasing queue positions. PostgreSQL takes them from a sequence, so concurrent
    domain transactions never wait on one another for them: a transaction that depends on
    another's money waited for its ledger rows and so draws later numbers. SQLite has one
    writer at a time, so the highest number so far is enough."""
    if is_sqlite(conn):
        last = conn.execute(select(func.max(instructions.c.queue_seq))).scalar() or 0
        return [last + k for k in range(1, n + 1)]
    q = text("SELECT nextval('custody_outbox_seq') FROM generate_series(1, :n)")
    return sorted(int(v) for v in conn.execute(q, {"n": n}).scalars())


def _transfers(conn: Connection, ids: list[str]) -> dict[str, Any]:
    t = transfers.c
    d = custody_accounts.alias("payer")
    cr = custody_accounts.alias("payee")
    out: dict[str, Any] = {}
    for part in _chunks(ids):
        q = (
            select(
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                t.amount,
                t.code,
                d.c.user_ref,
                d.c.role,
                d.c.bank_account_no.label("bank_from"),
                cr.c.bank_account_no.label("bank_to"),
            )
            .join(d, d.c.ledger_account_id == t.debit_account_id)
            .join(cr, cr.c.ledger_account_id == t.credit_account_id)
            .where(
                t.id.in_(part),
                t.book == Book.CUSTODY.value,
                t.flags.op("&")(int(TF.PENDING | TF.VOID_PENDING)) == 0,
                d.c.bank_account_no.is_not(None),
                cr.c.bank_account_no.is_not(None),
                d.c.role.not_in(_NOT_SUB_ACCOUNTS),
                cr.c.role.not_in(_NOT_SUB_ACCOUNTS),
            )
        )
        out.update((r.id, r) for r in conn.execute(q))
    return out


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
