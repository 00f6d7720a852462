"""Daily reconciliation with the custody bank (CUS-REC-01, CUS-ACC-01).

``reconcile`` reads the bank's statement for a business date, refuses it unless its lines lead
from the opening to the closing balance, keeps its lines, and then compares bank and ledger:

* per transaction, by instruction id: every instruction (or bank booking without one) that
  moved on the day on either side is compared over all its history up to that day, so an
  instruction the ledger books a day after the bank (or the reverse) matches once both sides
  have it; a difference becomes a break per sub-account (``rules.classify``);
* per sub-account: the bank's closing balance of every sub-account on the statement against
  the ledger's balance at the end of the day, allowing for the breaks still open then;
* in total (CUS-ACC-01): the master balance at the bank against Σ of the ledger's custody
  sub-accounts, again allowing for the open breaks.

Anything the known breaks do not explain becomes a break of its own. Breaks are keyed by what
they are about (instruction, or check and date) and sub-account, so a rerun on the same file
adds nothing; open breaks carry forward and are reported with their age.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from puhui.core.clock import Clock
from puhui.core.errors import Conflict, ValidationError
from puhui.custody._db import insert_ignore, now_us
from puhui.custody.breaks import OPEN, RESOLVED, BreakView, open_breaks
from puhui.custody.models import breaks, instructions, recon_runs, statement_lines
from puhui.custody.rules import BreakKind, LegDiff, classify
from puhui.custody.service import PLATFORM, Role, bank_numbers, get_account
from puhui.custody.statement import Statement, check_balances, file_digest, read_csv
from puhui.ledger.codes import USER_SUB_ACCOUNT_CODES, AccountCode, Book, TransferCode
from puhui.ledger.codes import TransferFlags as TF
from puhui.ledger.models import accounts, entries, transfers

_CHUNK = 500
Legs = dict[str, dict[str, int]]  # match key → sub-account → net signed amount


@dataclass(frozen=True)
class InvariantCheck:
    """CUS-ACC-01 at the end of the business date."""

    bank_master: int  # the master balance at the bank (statement closing balance)
    ledger_total: int  # Σ custody sub-accounts in the ledger
    user_total: int  # of which lender, borrower and guarantor sub-accounts
    open_difference: int  # what the breaks open at that date account for

    @property
    def holds(self) -> bool:
        return self.bank_master == self.ledger_total

    @property
    def unexplained(self) -> int:
        return self.bank_master - self.ledger_total - self.open_difference


@dataclass(frozen=True)
class ReconResult:
    run_id: int
    business_date: date
    statement_sha256: str
    lines: int
    matched: int
    late_matched: int
    breaks_added: int
    sub_accounts_checked: int
    invariant: InvariantCheck
    open_breaks: tuple[BreakView, ...]

    @property
    def clean(self) -> bool:
        """Nothing open and nothing unexplained: the day may close. (Σ sub-accounts may still
        differ from the master at that date if a break was resolved by a later entry.)"""
        return not self.open_breaks and self.invariant.unexplained == 0


def reconcile(
    conn: Connection, *, business_date: date, statement_path: Path, clock: Clock
) -> ReconResult:
    st = _accepted(conn, statement_path, business_date)
    digest = file_digest(statement_path)
    run_id = _run_id(conn, st, statement_path, digest, clock)
    _store_lines(conn, st, run_id)
    m = _Matcher(conn, business_date, run_id, clock)
    matched, late, added = _match_transactions(m, st)
    balances = m.ledger_balances()
    checked, added_on_balances = _check_sub_accounts(m, st, balances)
    inv, added_on_master = _check_master(m, st, balances)
    return ReconResult(
        run_id=run_id,
        business_date=business_date,
        statement_sha256=digest,
        lines=len(st.lines),
        matched=matched,
        late_matched=late,
        breaks_added=added + added_on_balances + added_on_master,
        sub_accounts_checked=checked,
        invariant=inv,
        open_breaks=tuple(open_breaks(conn, as_of=business_date)),
    )


def _accepted(conn: Connection, path: Path, business_date: date) -> Statement:
    """The statement, if it is for this day and this master account and adds up."""
    st = read_csv(path)
    if st.business_date != business_date:
        raise ValidationError(
            "statement_date_mismatch",
            f"the statement is for {st.business_date}, not {business_date}",
            field="statement",
        )
    check_balances(st)
    master = get_account(conn, user_ref=PLATFORM, role=Role.MASTER)
    if st.account != master.bank_account_no:
        raise ValidationError(
            "statement_wrong_account",
            f"the statement is for account {st.account}, not the custody "
            f"master {master.bank_account_no}",
            field="statement",
        )
    return st


def _match_transactions(m: _Matcher, st: Statement) -> tuple[int, int, int]:
    """Per instruction: (matched, matched late, breaks added)."""
    keys = {ln.match_key for ln in st.lines} | m.ledger_keys_of_day()
    bank_legs, ledger_legs = m.bank_legs(keys), m.ledger_legs(keys)
    matched = late = added = 0
    for key in sorted(keys):
        diffs = classify(bank_legs.get(key, {}), ledger_legs.get(key, {}))
        if diffs:
            added += sum(m.add_break(key, d) for d in diffs)
        else:
            matched += 1
            late += m.close_late(key)
    return matched, late, added


def _check_sub_accounts(m: _Matcher, st: Statement, balances: dict[int, int]) -> tuple[int, int]:
    """Per sub-account on the statement: (sub-accounts checked, breaks added)."""
    explained = m.explained()
    closing = {ln.sub_account: ln.balance_after for ln in st.lines}
    checked = added = 0
    for number, bank_closing in sorted(closing.items()):
        ledger_id = m.ledger_id.get(number)
        if ledger_id is None:
            continue  # unknown to the ledger: its lines are breaks already
        checked += 1
        expected = balances.get(ledger_id, 0) + explained.get(number, 0)
        if bank_closing != expected:
            diff = LegDiff(BreakKind.BALANCE_MISMATCH, number, bank_closing, expected)
            added += m.add_break(f"balance:{m.day}", diff)
    return checked, added


def _check_master(
    m: _Matcher, st: Statement, balances: dict[int, int]
) -> tuple[InvariantCheck, int]:
    """CUS-ACC-01; a difference the open breaks do not explain becomes a break of its own."""
    users = set(m.user_accounts())
    inv = InvariantCheck(
        bank_master=st.closing,
        ledger_total=sum(balances.values()),
        user_total=sum(v for k, v in balances.items() if k in users),
        open_difference=sum(m.explained().values()),
    )
    if not inv.unexplained:
        return inv, 0
    expected = inv.ledger_total + inv.open_difference
    diff = LegDiff(BreakKind.MASTER_MISMATCH, "master", inv.bank_master, expected)
    return inv, m.add_break(f"master:{m.day}", diff)


class _Matcher:
    """The queries of one reconciliation run, sharing its date and account mappings."""

    def __init__(self, conn: Connection, day: date, run_id: int, clock: Clock) -> None:
        self.conn, self.day, self.run_id, self.clock = conn, day, run_id, clock
        self.bank_no = bank_numbers(conn)  # ledger id → bank sub-account
        self.ledger_id = {n: a for a, n in self.bank_no.items()}
        self.masters = set(
            conn.execute(
                select(accounts.c.id).where(
                    accounts.c.book == Book.CUSTODY.value,
                    accounts.c.code == AccountCode.CUSTODY_MASTER,
                )
            ).scalars()
        )

    # -- transactions

    def ledger_keys_of_day(self) -> set[str]:
        rows = self.conn.execute(
            select(transfers.c.id, transfers.c.reference).where(
                transfers.c.business_date == self.day, *_posted()
            )
        ).all()
        known = self._known_instructions({r.reference for r in rows if r.reference})
        return {_key(r, known) for r in rows}

    def bank_legs(self, keys: set[str]) -> Legs:
        serials = {k.removeprefix("serial:") for k in keys if k.startswith("serial:")}
        ids = keys - {f"serial:{s}" for s in serials}
        sl = statement_lines.c
        legs: Legs = defaultdict(lambda: defaultdict(int))
        for column, values in ((sl.instruction_id, ids), (sl.serial, serials)):
            for part in _chunks(values):
                q = select(statement_lines).where(column.in_(part), sl.business_date <= self.day)
                for r in self.conn.execute(q):
                    key = r.instruction_id or f"serial:{r.serial}"
                    legs[key][r.sub_account] += r.amount if r.direction == "credit" else -r.amount
        return legs

    def ledger_legs(self, keys: set[str]) -> Legs:
        t = transfers.c
        rows: dict[str, Any] = {}
        for column in (t.reference, t.id):
            for part in _chunks(keys):
                q = select(
                    t.id, t.reference, t.debit_account_id, t.credit_account_id, t.amount
                ).where(column.in_(part), t.business_date <= self.day, *_posted())
                rows.update((r.id, r) for r in self.conn.execute(q))
        known = self._known_instructions({r.reference for r in rows.values() if r.reference})
        legs: Legs = defaultdict(lambda: defaultdict(int))
        for r in rows.values():
            key = _key(r, known)
            if key not in keys:
                continue
            for account, sign in ((r.debit_account_id, -1), (r.credit_account_id, 1)):
                if account not in self.masters:
                    legs[key][self.label(account)] += sign * r.amount
        return legs

    def label(self, ledger_account_id: int) -> str:
        return self.bank_no.get(ledger_account_id) or f"ledger:{ledger_account_id}"

    def _known_instructions(self, refs: set[str]) -> set[str]:
        """The references that name an instruction we sent or the bank booked."""
        known: set[str] = set()
        for part in _chunks(refs):
            known.update(
                self.conn.execute(
                    select(instructions.c.id).where(instructions.c.id.in_(part))
                ).scalars()
            )
            known.update(
                self.conn.execute(
                    select(statement_lines.c.instruction_id).where(
                        statement_lines.c.instruction_id.in_(part)
                    )
                ).scalars()
            )
        return known

    # -- breaks

    def add_break(self, key: str, diff: LegDiff) -> int:
        account = self.ledger_id.get(diff.sub_account)
        if diff.sub_account.startswith("ledger:"):
            account = int(diff.sub_account.removeprefix("ledger:"))
        return int(
            insert_ignore(
                self.conn,
                breaks,
                {
                    "run_id": self.run_id,
                    "business_date": self.day,
                    "kind": diff.kind.value,
                    "match_key": key,
                    "sub_account": diff.sub_account,
                    "ledger_account_id": account,
                    "bank_amount": diff.bank_amount,
                    "ledger_amount": diff.ledger_amount,
                    "delta": diff.delta,
                    "status": OPEN,
                    "created_us": now_us(self.clock),
                },
            )
        )

    def close_late(self, key: str) -> int:
        """Both sides now have the instruction: its earlier breaks were timing, not errors."""
        return self.conn.execute(
            update(breaks)
            .where(
                breaks.c.match_key == key,
                breaks.c.status == OPEN,
                breaks.c.business_date <= self.day,
            )
            .values(
                status=RESOLVED,
                resolution="late_match",
                resolved_on=self.day,
                resolved_us=now_us(self.clock),
            )
        ).rowcount

    def explained(self) -> dict[str, int]:
        """Per sub-account, the difference that breaks still open at the day's end account for."""
        b = breaks.c
        q = (
            select(b.sub_account, func.sum(b.delta))
            .where(
                b.business_date <= self.day, b.resolved_on.is_(None) | (b.resolved_on > self.day)
            )
            .group_by(b.sub_account)
        )
        return {s: int(v) for s, v in self.conn.execute(q)}

    # -- balances

    def ledger_balances(self) -> dict[int, int]:
        """Posted balance of every custody sub-account at the end of the day: today's balance
        less what was booked after the day (cheaper than summing all history)."""
        a = accounts.c
        now = {
            r.id: r.credits_posted - r.debits_posted
            for r in self.conn.execute(
                select(a.id, a.credits_posted, a.debits_posted).where(
                    a.book == Book.CUSTODY.value, a.code != AccountCode.CUSTODY_MASTER
                )
            )
        }
        later = self.conn.execute(
            select(
                entries.c.account_id, func.sum(entries.c.credits_posted - entries.c.debits_posted)
            )
            .join(transfers, transfers.c.id == entries.c.transfer_id)
            .where(transfers.c.business_date > self.day, transfers.c.book == Book.CUSTODY.value)
            .group_by(entries.c.account_id)
        )
        for account, amount in later:
            if account in now:
                now[account] -= int(amount)
        return now

    def user_accounts(self) -> Iterator[int]:
        q = select(accounts.c.id).where(
            accounts.c.book == Book.CUSTODY.value, accounts.c.code.in_(USER_SUB_ACCOUNT_CODES)
        )
        return iter(self.conn.execute(q).scalars())


def _posted() -> tuple[Any, ...]:
    """Custody transfers that moved posted money, adjustments aside (the bank has none)."""
    t = transfers.c
    return (
        t.book == Book.CUSTODY.value,
        t.flags.op("&")(int(TF.PENDING | TF.VOID_PENDING)) == 0,
        t.code != TransferCode.RECON_ADJUSTMENT,
    )


def _key(row: Any, known: set[str]) -> str:
    return row.reference if row.reference in known else row.id


def _run_id(conn: Connection, st: Statement, path: Path, digest: str, clock: Clock) -> int:
    found = conn.execute(
        select(recon_runs.c.id).where(
            recon_runs.c.business_date == st.business_date, recon_runs.c.statement_sha256 == digest
        )
    ).scalar()
    if found is not None:
        return int(found)
    return int(
        conn.execute(
            insert(recon_runs).values(
                business_date=st.business_date,
                statement_sha256=digest,
                statement_path=str(path)[:512],
                bank_account=st.account,
                opening=st.opening,
                closing=st.closing,
                line_count=len(st.lines),
                created_us=now_us(clock),
            )
        ).inserted_primary_key[0]
    )


def _store_lines(conn: Connection, st: Statement, run_id: int) -> None:
    """Keep the bank's lines; a serial seen before must not have changed."""
    fields = ("instruction_id", "sub_account", "direction", "amount", "balance_after")
    seen: dict[str, tuple[Any, ...]] = {}
    for part in _chunks([ln.serial for ln in st.lines]):
        q = select(statement_lines.c.serial, *(statement_lines.c[f] for f in fields)).where(
            statement_lines.c.serial.in_(part)
        )
        seen.update((r[0], tuple(r[1:])) for r in conn.execute(q))
    new = []
    for no, ln in enumerate(st.lines, start=1):
        values = (
            ln.instruction_id,
            ln.sub_account,
            ln.direction.value,
            ln.amount,
            ln.balance_after,
        )
        if ln.serial in seen:
            if seen[ln.serial] != values:
                raise Conflict(
                    "statement_conflicts",
                    f"serial {ln.serial} differs from an earlier statement",
                    field="statement",
                )
            continue
        new.append(
            {
                "serial": ln.serial,
                "run_id": run_id,
                "business_date": st.business_date,
                "line_no": no,
                **dict(zip(fields, values, strict=True)),
            }
        )
    if new:
        conn.execute(insert(statement_lines), new)


def _chunks(values: Iterable[str]) -> Iterator[Sequence[str]]:
    items = sorted(values)
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
