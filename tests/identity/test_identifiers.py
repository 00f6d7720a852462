"""Check characters (regulation.md §8, identifiers.md) and masks (PFI-MSK-01)."""

from __future__ import annotations

from datetime import date

import pytest

from puhui.core.errors import ValidationError
from puhui.identity.identifiers import (
    luhn_ok,
    mask_address,
    mask_card,
    mask_id,
    mask_name,
    mask_phone,
    parse_bank_card,
    parse_mobile,
    parse_resident_id,
    parse_uscc,
    require_adult,
)

TODAY = date(2026, 11, 2)
IDS = ["11010519491231002X", "440308199901101512", "110101199003074477"]
USCCS = ["9144030071526726XG", "91110000600037341L", "91350100M000100Y43"]
CARDS = ["6222021234567890128", "4111111111111111", "6217001234567890122"]


def one_digit_changed(value: str) -> list[str]:
    out = []
    for i, c in enumerate(value[:-1]):
        if c.isdigit():
            out.append(value[:i] + str((int(c) + 1) % 10) + value[i + 1 :])
    return out


@pytest.mark.parametrize("number", IDS)
def test_resident_id_vectors_and_every_single_digit_change(number):
    rid = parse_resident_id(number, today=TODAY)
    assert rid.number == number
    for changed in one_digit_changed(number):
        with pytest.raises(ValidationError):
            parse_resident_id(changed, today=TODAY)


def test_resident_id_fields_lower_x_and_age():
    rid = parse_resident_id("11010519491231002x", today=TODAY)
    assert (rid.number, rid.region, rid.birth_date, rid.sex) == (
        "11010519491231002X",
        "110105",
        date(1949, 12, 31),
        "F",
    )
    assert rid.age_on(date(2026, 12, 30)) == 76 and rid.age_on(date(2026, 12, 31)) == 77
    assert parse_resident_id("440308199901101512", today=TODAY).sex == "M"


def _with_check(first17: str) -> str:
    from puhui.identity.identifiers import id_check_char

    return first17 + id_check_char(first17)


@pytest.mark.parametrize(
    ("first17", "code"),
    [
        ("11010519990230123", "id_number_birth_date_invalid"),  # 30 February
        ("11010520991231123", "id_number_birth_date_invalid"),  # in the future
        ("01010519900101123", "id_number_malformed"),  # region cannot start with 0
    ],
)
def test_resident_id_needs_a_real_past_birth_date(first17, code):
    with pytest.raises(ValidationError) as err:
        parse_resident_id(_with_check(first17), today=TODAY)
    assert err.value.code == code


def test_minors_are_refused():
    teen = parse_resident_id(_with_check("11010520100101123"), today=TODAY)
    with pytest.raises(ValidationError, match="at least 18"):
        require_adult(teen, today=TODAY)
    require_adult(parse_resident_id(IDS[0], today=TODAY), today=TODAY)


@pytest.mark.parametrize("code", USCCS)
def test_uscc_vectors_and_changes(code):
    assert parse_uscc(code.lower()) == code
    for changed in one_digit_changed(code):
        with pytest.raises(ValidationError):
            parse_uscc(changed)


@pytest.mark.parametrize("bad", ["I1350100M000100Y43", "91350100M000100O43", "91350100M000100Y4"])
def test_uscc_refuses_excluded_letters_and_lengths(bad):
    with pytest.raises(ValidationError, match="18 characters"):
        parse_uscc(bad)


@pytest.mark.parametrize("card", CARDS)
def test_bank_card_luhn(card):
    assert luhn_ok(card) and parse_bank_card(card[:4] + " " + card[4:]) == card
    for changed in one_digit_changed(card):
        with pytest.raises(ValidationError, match="check digit"):
            parse_bank_card(changed)
    with pytest.raises(ValidationError, match="16 to 19"):
        parse_bank_card("4111111")


def test_mobile():
    assert parse_mobile("+86 138 0013 8000") == "13800138000"
    for bad in ("12800138000", "1380013800", "138001380000"):
        with pytest.raises(ValidationError, match="11 digits"):
            parse_mobile(bad)


def test_masks_exactly_as_pfi_msk_01():
    assert mask_card("6222021234567890123") == "622202*********0123"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_id("11010519491231002X", mode="lender") == "1****************X"
    assert mask_id("11010519491231002X", mode="holder") == "110***********002X"
    assert mask_id("11010519491231002X") == mask_id("11010519491231002X")  # deterministic


def test_name_and_address_masks():
    assert mask_name("张三") == "张*"
    assert mask_name("张三丰") == "张**"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("欧阳") == "欧*"
    assert mask_address("上海市浦东新区世纪大道100号") == "上海市浦东新" + "*" * 9
