"""The bank's daily statement file (对账文件) and the checks it must pass before it is used.

The file is CSV: a header row naming the master account, the business date and its opening and
closing balances, then one line per booking with the bank's serial, the instruction id, the
sub-account, the direction, the amount in fen and the sub-account's balance after it. A file
whose lines do not lead from the opening to the closing balance is refused as a whole: matching
a broken file would invent breaks (or hide them).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

from puhui.core.errors import ValidationError
from puhui.core.money import check_fen

HEADER = ("account", "date", "opening_balance_fen", "closing_balance_fen")
LINE_HEADER = (
    "serial",
    "instruction_id",
    "sub_account",
    "direction",
    "amount_fen",
    "balance_after_fen",
)


class Direction(StrEnum):
    CREDIT = "credit"  # money into the sub-account
    DEBIT = "debit"  # money out of it


@dataclass(frozen=True)
class StatementLine:
    serial: str
    instruction_id: str | None
    sub_account: str
    direction: Direction
    amount: int
    balance_after: int

    @property
    def signed(self) -> int:
        return self.amount if self.direction is Direction.CREDIT else -self.amount

    @property
    def match_key(self) -> str:
        """What reconciliation matches on: the instruction id, or the serial for a booking the
        bank made on its own."""
        return self.instruction_id or f"serial:{self.serial}"


@dataclass(frozen=True)
class Statement:
    account: str
    business_date: date
    opening: int
    closing: int
    lines: tuple[StatementLine, ...] = ()


def write_csv(statement: Statement, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerow(
            [
                statement.account,
                statement.business_date.isoformat(),
                statement.opening,
                statement.closing,
            ]
        )
        w.writerow(LINE_HEADER)
        for ln in statement.lines:
            w.writerow(
                [
                    ln.serial,
                    ln.instruction_id or "",
                    ln.sub_account,
                    ln.direction.value,
                    ln.amount,
                    ln.balance_after,
                ]
            )
    return path


def read_csv(path: Path) -> Statement:
    """Parse a statement file; raise ``ValidationError`` naming the first bad row."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise ValidationError(
            "statement_unreadable", f"cannot read {path}: {exc.strerror}", field="statement"
        ) from None
    if len(rows) < 3 or tuple(rows[0]) != HEADER or tuple(rows[2]) != LINE_HEADER:
        raise ValidationError(
            "statement_malformed", f"{path} is not a custody statement file", field="statement"
        )
    head = rows[1]
    try:
        account, day = head[0], date.fromisoformat(head[1])
        opening, closing = _fen(head[2], allow_negative=True), _fen(head[3], allow_negative=True)
        lines = tuple(_line(r) for r in rows[3:] if r)
    except (ValueError, IndexError) as exc:
        raise ValidationError("statement_malformed", f"{path}: {exc}", field="statement") from None
    return Statement(account, day, opening, closing, lines)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_balances(statement: Statement) -> None:
    """Refuse a statement whose lines do not lead from its opening to its closing balance, or
    whose lines contradict each other (a serial twice, a sub-account balance that jumps)."""
    total = sum(ln.signed for ln in statement.lines)
    if statement.opening + total != statement.closing:
        raise ValidationError(
            "statement_does_not_balance",
            f"opening {statement.opening} + lines {total} != closing {statement.closing} fen",
            field="statement",
        )
    serials: set[str] = set()
    last: dict[str, int] = {}
    for ln in statement.lines:
        if ln.serial in serials:
            raise ValidationError(
                "statement_duplicate_serial", f"serial {ln.serial} appears twice", field="statement"
            )
        serials.add(ln.serial)
        before = last.get(ln.sub_account)
        if before is not None and before + ln.signed != ln.balance_after:
            raise ValidationError(
                "statement_balance_jump",
                f"sub-account {ln.sub_account}: {before} + {ln.signed} != {ln.balance_after} "
                f"at serial {ln.serial}",
                field="statement",
            )
        last[ln.sub_account] = ln.balance_after


def _line(r: list[str]) -> StatementLine:
    if len(r) != len(LINE_HEADER):
        raise ValueError(f"line {r!r} has {len(r)} fields, expected {len(LINE_HEADER)}")
    amount = _fen(r[4])
    if amount == 0 or not r[0] or not r[2]:
        raise ValueError(f"line {r!r} needs a serial, a sub-account and a positive amount")
    return StatementLine(
        r[0], r[1] or None, r[2], Direction(r[3]), amount, _fen(r[5], allow_negative=True)
    )


def _fen(text: str, *, allow_negative: bool = False) -> int:
    if not text.lstrip("-").isdigit():
        raise ValueError(f"{text!r} is not a whole number of fen")
    try:
        return check_fen(int(text), allow_negative=allow_negative)
    except ValidationError as exc:
        raise ValueError(f"{text!r}: {exc.message}") from None
