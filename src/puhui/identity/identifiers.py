"""Chinese identifiers with their check characters, and the masks every output uses.

identifiers.md and regulation.md §8 give the algorithms; PFI-MSK-01 the masks. Validators take
what a person typed, return the normalised value (or a small record), and raise
``ValidationError`` naming the field, so an API, a CLI and a batch reject input the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from puhui.core.errors import ValidationError

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[1-8]\d{16}[\dX]")

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_MOBILE = re.compile(r"1[3-9]\d{9}")
_CARD = re.compile(r"\d{16,19}")

#: Adults only may sign a loan contract (PI-AGE-01).
MIN_AGE = 18


@dataclass(frozen=True)
class ResidentId:
    """A valid resident identity number and what it says about its holder."""

    number: str
    region: str
    birth_date: date
    sex: Literal["M", "F"]

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day`` (a 29 February birthday falls on 1 March in other years)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def parse_resident_id(text: str, *, today: date, field: str = "id_number") -> ResidentId:
    """Validate a GB 11643 number: shape, check character, a real past birth date."""
    number = text.strip().upper()
    if not _ID_SHAPE.fullmatch(number):
        raise ValidationError(
            "id_number_malformed", "an ID number is 17 digits and a check character", field=field
        )
    if id_check_char(number[:17]) != number[17]:
        raise ValidationError(
            "id_number_check_failed", "the ID number's check character is wrong", field=field
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError(
            "id_number_birth_date_invalid", "the ID number has no real birth date", field=field
        ) from None
    if birth > today or birth.year < 1900:
        raise ValidationError(
            "id_number_birth_date_invalid", "the ID number's birth date is impossible", field=field
        )
    sex: Literal["M", "F"] = "M" if int(number[16]) % 2 else "F"
    return ResidentId(number=number, region=number[:6], birth_date=birth, sex=sex)


def require_adult(rid: ResidentId, *, today: date, field: str = "id_number") -> None:
    if rid.age_on(today) < MIN_AGE:
        raise ValidationError(
            "applicant_under_age", f"applicants must be at least {MIN_AGE}", field=field
        )


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def parse_uscc(text: str, *, field: str = "uscc") -> str:
    """Validate a GB 32100 unified social credit code; returns it upper-cased."""
    code = text.strip().upper()
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        raise ValidationError(
            "uscc_malformed",
            "a unified social credit code is 18 characters of 0-9 and A-Y without I O S V Z",
            field=field,
        )
    if uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(
            "uscc_check_failed", "the credit code's check character is wrong", field=field
        )
    return code


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def parse_bank_card(text: str, *, field: str = "card_number") -> str:
    """A 16–19 digit card number with a valid Luhn check digit (spaces allowed)."""
    card = re.sub(r"[\s-]", "", text)
    if not _CARD.fullmatch(card):
        raise ValidationError("card_malformed", "a card number is 16 to 19 digits", field=field)
    if not luhn_ok(card):
        raise ValidationError(
            "card_check_failed", "the card number's check digit is wrong", field=field
        )
    return card


def parse_mobile(text: str, *, field: str = "phone") -> str:
    """An 11-digit mainland mobile number (``+86`` and spaces allowed)."""
    phone = re.sub(r"[\s-]", "", text)
    phone = phone.removeprefix("+86")
    if not _MOBILE.fullmatch(phone):
        raise ValidationError(
            "phone_malformed", "a mobile number is 11 digits starting 13-19", field=field
        )
    return phone


# ------------------------------------------------------------------------------ masking

IdMaskMode = Literal["lender", "holder"]
_DOUBLE_SURNAMES = frozenset(
    [
        "欧阳",
        "太史",
        "端木",
        "上官",
        "司马",
        "东方",
        "独孤",
        "南宫",
        "万俟",
        "闻人",
        "夏侯",
        "诸葛",
        "尉迟",
        "公羊",
        "赫连",
        "澹台",
        "皇甫",
        "宗政",
        "濮阳",
        "公冶",
        "太叔",
        "申屠",
        "公孙",
        "慕容",
        "仲孙",
        "钟离",
        "长孙",
        "宇文",
        "司徒",
        "鲜于",
        "司空",
        "闾丘",
        "子车",
        "亓官",
        "司寇",
        "巫马",
        "公西",
        "颛孙",
        "壤驷",
        "公良",
        "漆雕",
        "乐正",
        "宰父",
        "谷梁",
        "拓跋",
        "夹谷",
        "轩辕",
        "令狐",
        "段干",
        "百里",
        "呼延",
        "东郭",
        "南门",
        "羊舌",
        "微生",
        "公户",
        "公玉",
        "公仪",
        "梁丘",
        "公仲",
        "公上",
        "公门",
        "公山",
        "公坚",
        "左丘",
        "公伯",
        "西门",
        "公祖",
        "第五",
        "公乘",
        "贯丘",
        "公皙",
        "南荣",
        "东里",
        "东宫",
        "仲长",
        "子书",
        "子桑",
        "即墨",
        "达奚",
        "褚师",
    ]
)


def _keep(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id(number: str, *, mode: IdMaskMode = "lender") -> str:
    """Lender and public views keep the first and last character; the holder's own view and
    staff without the PII permission keep the first 3 and last 4."""
    return _keep(number, 1, 1) if mode == "lender" else _keep(number, 3, 4)


def mask_phone(phone: str) -> str:
    return _keep(phone, 3, 4)


def mask_card(card: str) -> str:
    return _keep(card, 6, 4)


def mask_name(name: str) -> str:
    """Keep the surname (a two-character compound surname whole): 张* / 张** / 欧阳*."""
    if not name:
        return name
    surname = name[:2] if len(name) > 2 and name[:2] in _DOUBLE_SURNAMES else name[:1]
    return surname + "*" * (len(name) - len(surname))


def mask_address(address: str) -> str:
    """Keep the first six characters (province and city), hide the rest."""
    return _keep(address, min(6, len(address) // 2), 0)
