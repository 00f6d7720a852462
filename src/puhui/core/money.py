"""Money as integer fen (分).

Every amount in puhui is an ``int`` of fen: in Python, in the database (BIGINT) and in JSON.
Parsing is strict because a silently rounded third decimal is money created or destroyed.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from puhui.core.errors import ValidationError

FEN_PER_YUAN = 100
#: The largest amount we accept anywhere: fits a signed 64-bit column with room for sums.
MAX_FEN = 10**15

_AMOUNT_RE = re.compile(r"^(?P<sign>[-+]?)(?P<int>\d+)(?:\.(?P<frac>\d*))?$")


def parse_yuan(
    text: str | int | Decimal,
    *,
    field: str = "amount",
    allow_negative: bool = False,
    allow_zero: bool = True,
) -> int:
    """Parse a yuan amount such as ``"12.34"`` into fen (1234).

    Refuses a third decimal rather than rounding it, refuses negatives unless asked, and
    refuses floats outright because their binary value is not the decimal the user typed.
    """
    if isinstance(text, bool | float):
        raise ValidationError(
            "amount_not_decimal", "amount must be a decimal string, not a float", field=field
        )
    if isinstance(text, int):
        fen = text * FEN_PER_YUAN
    else:
        raw = str(text).strip().replace(",", "") if isinstance(text, str) else str(text)
        m = _AMOUNT_RE.match(raw)
        if not m:
            raise ValidationError(
                "amount_not_a_number", f"{text!r} is not an amount in yuan", field=field
            )
        frac = m.group("frac") or ""
        if len(frac.rstrip("0")) > 2:
            raise ValidationError(
                "amount_fractional_fen",
                f"{text!r} has more than two decimals (fractions of a fen)",
                field=field,
            )
        fen = int(m.group("int")) * FEN_PER_YUAN + int((frac + "00")[:2])
        if m.group("sign") == "-":
            fen = -fen
    return check_fen(fen, field=field, allow_negative=allow_negative, allow_zero=allow_zero)


def check_fen(
    value: object,
    *,
    field: str = "amount_fen",
    allow_negative: bool = False,
    allow_zero: bool = True,
) -> int:
    """Validate an amount already in fen (an ``int``, never a float or bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            "amount_not_integer_fen", "amount must be an integer number of fen", field=field
        )
    if value < 0 and not allow_negative:
        raise ValidationError("amount_negative", "amount must not be negative", field=field)
    if value == 0 and not allow_zero:
        raise ValidationError(
            "amount_must_be_positive", "amount must be greater than zero", field=field
        )
    if abs(value) > MAX_FEN:
        raise ValidationError(
            "amount_too_large", "amount is larger than any we accept", field=field
        )
    return value


def format_fen(fen: int, *, grouping: bool = False) -> str:
    """Format fen as yuan: 1234 → ``"12.34"``, -5 → ``"-0.05"``."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    whole = f"{yuan:,}" if grouping else str(yuan)
    return f"{sign}{whole}.{cents:02d}"


def to_decimal_yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def round_fen(value: Decimal) -> int:
    """Round a Decimal number of fen to a whole fen, half up (the one rounding mode we use)."""
    try:
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:  # pragma: no cover - only NaN/inf reach here
        raise ValidationError("amount_not_a_number", f"{value} is not a finite amount") from exc
