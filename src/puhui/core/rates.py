"""Annual interest rates as ``Decimal``.

Rates never pass through float: a rate typed as "0.12" must stay exactly 0.12 so caps such as
24% compare exactly at the boundary.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from puhui.core.errors import ValidationError

#: The widest annual rate we ever accept as input (1000%); caps are checked elsewhere.
MAX_ANNUAL_RATE = Decimal(10)


def parse_rate(text: str | Decimal | int, *, field: str = "annual_rate") -> Decimal:
    """Parse an annual rate given as a fraction ("0.12" is 12%), within 0–10."""
    if isinstance(text, bool | float):
        raise ValidationError(
            "rate_not_decimal", "rate must be a decimal string, not a float", field=field
        )
    try:
        rate = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ValidationError("rate_not_a_number", f"{text!r} is not a rate", field=field) from exc
    if not rate.is_finite() or rate < 0 or rate > MAX_ANNUAL_RATE:
        raise ValidationError(
            "rate_out_of_range", "annual rate must be between 0 and 10", field=field
        )
    return rate


def format_percent(rate: Decimal, places: int = 2) -> str:
    """0.1268 → ``"12.68%"``."""
    q = Decimal(1).scaleb(-places)
    return f"{(rate * 100).quantize(q)}%"
