from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.core.errors import ValidationError
from puhui.core.money import check_fen, format_fen, parse_yuan, round_fen
from puhui.core.rates import format_percent, parse_rate


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.34", 1234),
        ("12.3", 1230),
        ("12", 1200),
        ("0.01", 1),
        ("1,234.50", 123450),
        ("12.340", 1234),
        (" 7.00 ", 700),
        (5, 500),
        (Decimal("3.21"), 321),
    ],
)
def test_parse_yuan(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12.345", "amount_fractional_fen"),
        ("abc", "amount_not_a_number"),
        ("", "amount_not_a_number"),
        ("1e3", "amount_not_a_number"),
        ("-1.00", "amount_negative"),
        (1.5, "amount_not_decimal"),
        ("NaN", "amount_not_a_number"),
        ("99999999999999999", "amount_too_large"),
    ],
)
def test_parse_yuan_refuses(text, code):
    with pytest.raises(ValidationError) as err:
        parse_yuan(text, field="principal")
    assert err.value.code == code and err.value.field == "principal"


def test_negative_and_zero_only_when_allowed():
    assert parse_yuan("-1.05", allow_negative=True) == -105
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_yuan("0.00", allow_zero=False)
    with pytest.raises(ValidationError, match="integer number of fen"):
        check_fen(True)


@pytest.mark.parametrize(
    ("fen", "text"), [(1234, "12.34"), (5, "0.05"), (-5, "-0.05"), (0, "0.00"), (100, "1.00")]
)
def test_format_fen(fen, text):
    assert format_fen(fen) == text
    assert format_fen(123456789, grouping=True) == "1,234,567.89"


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_format_parse_round_trip(fen):
    assert parse_yuan(format_fen(fen), allow_negative=True) == fen


def test_round_fen_is_half_up():
    assert [round_fen(Decimal(x)) for x in ("0.5", "1.5", "2.5", "-0.5", "2.4999")] == [
        1,
        2,
        3,
        -1,
        2,
    ]


def test_rates():
    assert parse_rate("0.12") == Decimal("0.12")
    assert format_percent(Decimal("0.126825")) == "12.68%"
    for bad in ("-0.01", "10.01", "x", 0.1):
        with pytest.raises(ValidationError):
            parse_rate(bad)
