"""A sandbox custody bank that behaves like a real one, for development, tests and simulation.

It keeps its own books in its own tables (balances per sub-account and master, its own serial
numbers), refuses an instruction without the user's valid authorisation (CUS-INS-01), applies
one instruction id once and answers a replay with the original result (CUS-INS-02), queues
instructions as ``processing`` until ``settle`` completes them, and writes a daily statement.

Faults are what make it useful for testing the platform: ``inject`` makes a given instruction
fail at settlement or time out (before the bank sees it, or after it accepted it and the reply
was lost), and a seeded ``fail_rate``/``timeout_rate`` does the same at random for simulation,
deterministically per instruction id so a rerun with the same seed behaves the same.

The bank runs its own short transactions on the engine it is given; callers must not hold a
write transaction on the same SQLite database while calling it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from puhui.core.clock import SYSTEM_CLOCK, Clock, business_date
from puhui.core.errors import NotFound, ValidationError
from puhui.custody._db import first_or_raise, for_update, insert_ignore, now_us
from puhui.custody.bank import (
    AuthMethod,
    Authorisation,
    BankReply,
    BankStatus,
    BankTimeout,
    Instruction,
    InstructionKind,
)
from puhui.custody.sandbox_auth import Credentials
from puhui.custody.sandbox_faults import Fault, FaultPlan
from puhui.custody.sandbox_models import bank_accounts, bank_instructions, bank_journal
from puhui.custody.statement import Direction, Statement, StatementLine, write_csv
from puhui.db.engine import run_in_transaction

MASTER_ACCOUNT = "CM0000000001"
#: The ``kind`` of a standing-authorisation row among the bank's instructions.
AUTHORISE = "authorise"
__all__ = ["MASTER_ACCOUNT", "Fault", "SandboxBank"]


class SandboxBank:
    """The sandbox bank; satisfies ``puhui.custody.bank.CustodyBank``."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        hasher: PasswordHasher | None = None,
        fail_rate: float = 0.0,
        timeout_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.credentials = Credentials(hasher or PasswordHasher(), clock)
        self.faults = FaultPlan(fail_rate=fail_rate, timeout_rate=timeout_rate, seed=seed)

    # ---------------------------------------------------------------- accounts and credentials

    def master_account(self) -> str:
        run_in_transaction(self.engine, self._ensure_master)
        return MASTER_ACCOUNT

    def open_sub_account(self, *, user_ref: str, role: str) -> str:
        """Open the sub-account of a user in a role; opening it again returns the same one."""
        number = "SA" + hashlib.sha256(f"{user_ref}\x1f{role}".encode()).hexdigest()[:14].upper()

        def work(c: Connection) -> str:
            self._ensure_master(c)
            insert_ignore(c, bank_accounts, self._account_row(number, "sub", user_ref, role))
            row = c.execute(select(bank_accounts).where(bank_accounts.c.number == number)).one()
            if (row.user_ref, row.role) != (user_ref, role):  # pragma: no cover - 56-bit clash
                raise AssertionError(f"sub-account number {number} clashes")
            return number

        return run_in_transaction(self.engine, work)

    def set_transaction_password(self, account: str, password: str) -> None:
        """What the user does on the bank's own page: the platform never sees the password."""
        digest = self.credentials.digest(password)

        def work(c: Connection) -> None:
            self._account(c, account)
            self._update_account(c, account, password_hash=digest)

        run_in_transaction(self.engine, work)

    def issue_otp(self, account: str) -> str:
        """Send a one-time code to the account holder's phone; returned here in place of SMS."""

        def work(c: Connection) -> str:
            self._account(c, account)
            return self.credentials.issue_otp(c, account)

        return run_in_transaction(self.engine, work)

    def balance(self, account: str) -> int:
        with self.engine.connect() as c:
            return int(self._account(c, account)["balance"])

    # ------------------------------------------------------------------------- instructions

    def deposit(self, instruction: Instruction) -> BankReply:
        return self._submit(instruction, InstructionKind.DEPOSIT)

    def withdraw(self, instruction: Instruction) -> BankReply:
        return self._submit(instruction, InstructionKind.WITHDRAWAL)

    def transfer(self, instruction: Instruction) -> BankReply:
        return self._submit(instruction, InstructionKind.TRANSFER)

    def authorise(self, account: str, authorisation: Authorisation, *, scope: str) -> BankReply:
        """业务授权, on the bank's own page: the holder proves themself once (password or code) and
        the bank keeps the grant; a grant cannot itself be granted by a grant."""

        def work(c: Connection) -> BankReply:
            grant_id = "AU" + uuid.uuid4().hex
            row = (
                c.execute(
                    select(bank_accounts).where(
                        bank_accounts.c.number == account, bank_accounts.c.kind == "sub"
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                return BankReply(grant_id, BankStatus.REFUSED, reason="account_not_found")
            if not scope or len(scope) > 32:
                return BankReply(grant_id, BankStatus.REFUSED, reason="scope_invalid")
            if authorisation.method is AuthMethod.STANDING or not self.credentials.verify(
                c, account, row["password_hash"], authorisation
            ):
                return BankReply(grant_id, BankStatus.REFUSED, reason="authorisation_invalid")
            now = now_us(self.clock)
            c.execute(
                insert(bank_instructions).values(
                    instruction_id=grant_id,
                    kind=AUTHORISE,
                    from_account=account,
                    amount=0,
                    status=BankStatus.SUCCEEDED.value,
                    request_hash=hashlib.sha256(f"{account}|{scope}".encode()).hexdigest(),
                    scope=scope,
                    received_us=self._arrival(c),
                    completed_us=now,
                )
            )
            return BankReply(grant_id, BankStatus.SUCCEEDED)

        return run_in_transaction(self.engine, work)

    def revoke_authorisation(self, grant_id: str) -> BankReply:
        def work(c: Connection) -> BankReply:
            q = for_update(c, _by_id(grant_id).where(bank_instructions.c.kind == AUTHORISE))
            row = c.execute(q).mappings().first()
            if row is None:
                return BankReply(grant_id, BankStatus.NOT_FOUND)
            if row["status"] == BankStatus.SUCCEEDED.value:
                c.execute(
                    update(bank_instructions)
                    .where(bank_instructions.c.instruction_id == grant_id)
                    .values(status=BankStatus.FAILED.value, reason="revoked")
                )
            return BankReply(grant_id, BankStatus.FAILED, reason="revoked")

        return run_in_transaction(self.engine, work)

    def query(self, instruction_id: str) -> BankReply:
        """The instruction's status. Asking about an id the bank never received marks that id
        dead, so a request still on its way is refused when it arrives: after ``not_found``
        the platform may safely release the user's frozen money."""

        def work(c: Connection) -> BankReply:
            insert_ignore(
                c,
                bank_instructions,
                {
                    "instruction_id": instruction_id,
                    "kind": "",
                    "amount": 0,
                    "status": BankStatus.NOT_FOUND.value,
                    "request_hash": "",
                    "received_us": now_us(self.clock),
                },
            )
            return _reply(self._instruction(c, instruction_id))

        return run_in_transaction(self.engine, work)

    def inject(self, instruction_id: str, fault: Fault, *, times: int = 1) -> None:
        """Make the next ``times`` submissions of this id meet ``fault``."""
        self.faults.inject(instruction_id, fault, times)

    def settle(self, *, limit: int | None = None) -> list[BankReply]:
        """Complete queued instructions in arrival order, each in its own transaction."""
        q = (
            select(bank_instructions.c.instruction_id)
            .where(bank_instructions.c.status == BankStatus.PROCESSING.value)
            .order_by(bank_instructions.c.received_us, bank_instructions.c.instruction_id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            ids = list(c.execute(q).scalars())
        return [run_in_transaction(self.engine, lambda c, i=i: self._settle_one(c, i)) for i in ids]

    # ---------------------------------------------------------------------------- statement

    def statement(self, *, business_date: date) -> Statement:
        j = bank_journal
        with self.engine.connect() as c:
            rows = c.execute(
                select(j).where(j.c.business_date == business_date).order_by(j.c.id)
            ).all()
            before = c.execute(
                select(j.c.master_balance_after)
                .where(j.c.business_date < business_date)
                .order_by(j.c.id.desc())
                .limit(1)
            ).scalar()
        opening = before or 0
        lines = tuple(
            StatementLine(
                r.serial,
                r.instruction_id,
                r.account_number,
                Direction(r.direction),
                r.amount,
                r.balance_after,
            )
            for r in rows
        )
        closing = rows[-1].master_balance_after if rows else opening
        return Statement(MASTER_ACCOUNT, business_date, opening, closing, lines)

    def write_statement(self, *, business_date: date, path: Path) -> Path:
        """Write the day's statement CSV, as the bank drops it on its file server."""
        return write_csv(self.statement(business_date=business_date), path)

    # ------------------------------------------------------------------------------ internals

    def _submit(self, ins: Instruction, kind: InstructionKind) -> BankReply:
        if ins.kind is not kind:
            raise ValidationError(
                "instruction_kind_mismatch",
                f"a {ins.kind} instruction sent as a {kind}",
                field="kind",
            )
        fault = self.faults.draw(ins.instruction_id)
        if fault is Fault.TIMEOUT:
            raise BankTimeout(ins.instruction_id)
        try:
            reply = run_in_transaction(self.engine, lambda c: self._accept(c, ins, fault))
        except IntegrityError:  # the same id arrived twice at once: answer as a replay
            reply = run_in_transaction(self.engine, lambda c: self._accept(c, ins, None))
        if fault is Fault.LOST_REPLY:
            raise BankTimeout(ins.instruction_id)
        return reply

    def _accept(self, c: Connection, ins: Instruction, fault: Fault | None) -> BankReply:
        row = c.execute(for_update(c, _by_id(ins.instruction_id))).mappings().first()
        if row is not None:
            return _replay(row, ins)
        refusal = self._refusal(c, ins)
        if refusal:
            return BankReply(ins.instruction_id, BankStatus.REFUSED, reason=refusal)
        c.execute(
            insert(bank_instructions).values(
                instruction_id=ins.instruction_id,
                kind=ins.kind.value,
                from_account=ins.from_account,
                to_account=ins.to_account,
                amount=ins.amount,
                status=BankStatus.PROCESSING.value,
                request_hash=_request_hash(ins),
                fault=fault.value if fault is Fault.FAIL else None,
                received_us=self._arrival(c),
            )
        )
        return BankReply(ins.instruction_id, BankStatus.PROCESSING)

    def _arrival(self, c: Connection) -> int:
        """The arrival time, strictly after every earlier arrival: the bank settles in arrival
        order, and a platform sending a credit then the debit that spends it (under a fixed
        simulation clock, in the same microsecond) must see them applied in that order."""
        last = c.execute(select(func.max(bank_instructions.c.received_us))).scalar()
        return max(now_us(self.clock), (last or 0) + 1)

    def _refusal(self, c: Connection, ins: Instruction) -> str | None:
        """Why the bank will not accept an instruction, or None."""
        amount = ins.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return "amount_invalid"
        wants_from = ins.kind is not InstructionKind.DEPOSIT
        wants_to = ins.kind is not InstructionKind.WITHDRAWAL
        if bool(ins.from_account) != wants_from or bool(ins.to_account) != wants_to:
            return "accounts_invalid"
        if ins.from_account == ins.to_account:
            return "accounts_invalid"
        numbers = [n for n in (ins.from_account, ins.to_account) if n]
        found = (
            c.execute(
                select(bank_accounts.c.number).where(
                    bank_accounts.c.number.in_(numbers), bank_accounts.c.kind == "sub"
                )
            )
            .scalars()
            .all()
        )
        if len(found) != len(numbers):
            return "account_not_found"
        if ins.authorisation is None or not ins.authorisation.secret:
            return "authorisation_required"
        account = ins.authorising_account or ""
        if ins.authorisation.method is AuthMethod.STANDING:
            return self._standing_refusal(c, ins, account)
        digest = self._account(c, account)["password_hash"]
        if not self.credentials.verify(c, account, digest, ins.authorisation):
            return "authorisation_invalid"
        return None

    def _standing_refusal(self, c: Connection, ins: Instruction, account: str) -> str | None:
        """A grant covers platform-made transfers out of the account that granted it, until
        revoked; it never covers a withdrawal or a deposit, which the holder makes in person."""
        if ins.kind is not InstructionKind.TRANSFER:
            return "authorisation_invalid"
        assert ins.authorisation is not None
        grant = (
            c.execute(_by_id(ins.authorisation.secret).where(bank_instructions.c.kind == AUTHORISE))
            .mappings()
            .first()
        )
        if grant is None or grant["from_account"] != account:
            return "authorisation_invalid"
        if grant["status"] != BankStatus.SUCCEEDED.value:
            return "authorisation_revoked"
        return None

    def _settle_one(self, c: Connection, instruction_id: str) -> BankReply:
        row = c.execute(for_update(c, _by_id(instruction_id))).mappings().one()
        if row["status"] != BankStatus.PROCESSING.value:
            return _reply(row)
        legs = [
            (n, d)
            for n, d in (
                (row["from_account"], Direction.DEBIT),
                (row["to_account"], Direction.CREDIT),
            )
            if n
        ]
        numbers = sorted({MASTER_ACCOUNT, *(n for n, _ in legs)})
        accts = {
            r["number"]: dict(r)
            for r in c.execute(
                for_update(
                    c,
                    select(bank_accounts)
                    .where(bank_accounts.c.number.in_(numbers))
                    .order_by(bank_accounts.c.number),
                )
            ).mappings()
        }
        now = now_us(self.clock)
        amount = row["amount"]
        reason = None
        if row["fault"] == Fault.FAIL.value:
            reason = "declined_by_bank"
        elif row["from_account"] and accts[row["from_account"]]["balance"] < amount:
            reason = "insufficient_funds"
        if reason:
            done = {"status": BankStatus.FAILED.value, "reason": reason, "completed_us": now}
        else:
            serials = self._book(c, accts, legs, row, now)
            done = {"status": BankStatus.SUCCEEDED.value, "serial": serials[0], "completed_us": now}
        c.execute(
            update(bank_instructions)
            .where(bank_instructions.c.instruction_id == instruction_id)
            .values(**done)
        )
        return _reply({**row, **done})

    def _book(
        self,
        c: Connection,
        accts: dict[str, dict[str, Any]],
        legs: list[tuple[str, Direction]],
        row: Any,
        now: int,
    ) -> list[str]:
        """Write the journal lines of a settled instruction and the new balances."""
        master = accts[MASTER_ACCOUNT]
        day = business_date(self.clock.now())
        serials = []
        for number, direction in legs:
            signed = row["amount"] if direction is Direction.CREDIT else -row["amount"]
            accts[number]["balance"] += signed
            master["balance"] += signed
            master["last_serial"] += 1
            serial = f"{day:%Y%m%d}{master['last_serial']:010d}"
            serials.append(serial)
            c.execute(
                insert(bank_journal).values(
                    serial=serial,
                    instruction_id=row["instruction_id"],
                    account_number=number,
                    direction=direction.value,
                    amount=row["amount"],
                    balance_after=accts[number]["balance"],
                    master_balance_after=master["balance"],
                    business_date=day,
                    ts_us=now,
                )
            )
        for a in accts.values():
            self._update_account(c, a["number"], balance=a["balance"], last_serial=a["last_serial"])
        return serials

    def _ensure_master(self, c: Connection) -> None:
        insert_ignore(c, bank_accounts, self._account_row(MASTER_ACCOUNT, "master", None, None))

    def _account_row(
        self, number: str, kind: str, user_ref: str | None, role: str | None
    ) -> dict[str, Any]:
        return {
            "number": number,
            "kind": kind,
            "user_ref": user_ref,
            "role": role,
            "balance": 0,
            "last_serial": 0,
            "created_us": now_us(self.clock),
        }

    def _account(self, c: Connection, number: str) -> Any:
        missing = NotFound("bank_account_not_found", f"no bank account {number}", field="account")
        return first_or_raise(
            c, select(bank_accounts).where(bank_accounts.c.number == number), missing
        )

    def _update_account(self, c: Connection, number: str, **values: Any) -> None:
        c.execute(update(bank_accounts).where(bank_accounts.c.number == number).values(**values))

    def _instruction(self, c: Connection, instruction_id: str) -> Any:
        return c.execute(_by_id(instruction_id)).mappings().one()


def _by_id(instruction_id: str) -> Select[Any]:
    return select(bank_instructions).where(bank_instructions.c.instruction_id == instruction_id)


def _request_hash(ins: Instruction) -> str:
    body = f"{ins.kind}|{ins.from_account}|{ins.to_account}|{ins.amount}"
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(row: Any, ins: Instruction) -> BankReply:
    """The answer to an id the bank has seen: the original result, whatever the new call says
    (it was already authorised), unless the body differs or the id is dead."""
    if row["status"] == BankStatus.NOT_FOUND.value:
        return BankReply(ins.instruction_id, BankStatus.REFUSED, reason="instruction_expired")
    if row["request_hash"] != _request_hash(ins):
        return BankReply(ins.instruction_id, BankStatus.REFUSED, reason="instruction_id_reused")
    return _reply(row)


def _reply(row: Any) -> BankReply:
    return BankReply(row["instruction_id"], BankStatus(row["status"]), row["serial"], row["reason"])
