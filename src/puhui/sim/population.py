"""Synthetic borrowers and investors as numpy columns, drawn from one seeded generator.

Everything a customer needs is generated here, vectorised, so a million people cost seconds:
names, ages, provinces, occupations and incomes from plain Chinese-market shapes; a resident
ID with its GB 11643 check character, a mobile number and a bank card with its Luhn digit,
each unique by construction (no retry loop); and for borrowers the scorecard's own attributes,
taken row by row from its training population (the German credit data), so the scores the
credit decision computes, and the defaults the simulation draws from them, are the ones the
model was built on. The same seed always gives the same people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from puhui.credit.data import load_german_credit
from puhui.credit.scoring import default_model
from puhui.identity.identifiers import ID_CHECK, ID_WEIGHTS, age_on

#: (region code of a real district, province, weight ~ its share of the population)
REGIONS: tuple[tuple[str, str, float], ...] = (
    ("440106", "广东", 12.6),
    ("370102", "山东", 10.2),
    ("410105", "河南", 9.9),
    ("320102", "江苏", 8.5),
    ("510104", "四川", 8.4),
    ("130102", "河北", 7.5),
    ("430102", "湖南", 6.6),
    ("330106", "浙江", 6.5),
    ("340102", "安徽", 6.1),
    ("420106", "湖北", 5.8),
    ("450103", "广西", 5.0),
    ("530102", "云南", 4.7),
    ("360102", "江西", 4.5),
    ("210102", "辽宁", 4.3),
    ("350102", "福建", 4.2),
    ("610102", "陕西", 4.0),
    ("500103", "重庆", 3.2),
    ("310101", "上海", 2.5),
    ("110101", "北京", 2.2),
    ("120101", "天津", 1.4),
)

#: (occupation, share of borrowers, median annual income in yuan)
OCCUPATIONS: tuple[tuple[str, float, int], ...] = (
    ("企业职员", 0.30, 90_000),
    ("制造业工人", 0.12, 60_000),
    ("个体工商户", 0.12, 110_000),
    ("销售", 0.10, 80_000),
    ("司机/快递员", 0.08, 70_000),
    ("IT工程师", 0.07, 200_000),
    ("公务员/事业单位", 0.06, 120_000),
    ("自由职业", 0.06, 75_000),
    ("教师", 0.05, 100_000),
    ("医护人员", 0.04, 130_000),
)

SURNAMES = tuple("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董")
SURNAME_WEIGHTS = np.linspace(3.0, 0.6, len(SURNAMES))
GIVEN = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红建文辉力宇浩晨欣怡婷雪")
MOBILE_PREFIXES = ("138", "139", "136", "158", "186", "150", "187", "135", "177", "199")
#: Debit-card BINs of large banks (ICBC, CCB, ABC, BOC, CMB, BoCom).
CARD_BINS = ("622202", "621700", "622848", "621661", "622588", "622262")
#: Investor suitability levels and their shares (identity.risk.LEVELS).
RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
RISK_SHARES = (0.10, 0.25, 0.35, 0.20, 0.10)
#: Scorecard attributes the application supplies itself (from the ID number).
FROM_APPLICATION = ("age_in_years",)
LOAN_TERMS = (3, 6, 12)


@dataclass(frozen=True)
class People:
    """One row per person; every field an array of the same length."""

    name: np.ndarray  # str objects
    birth: np.ndarray  # datetime64[D]
    sex: np.ndarray  # "M" / "F"
    province: np.ndarray
    id_number: np.ndarray
    phone: np.ndarray
    card: np.ndarray
    occupation: np.ndarray
    income_fen: np.ndarray  # int64, annual

    def __len__(self) -> int:
        return len(self.name)


@dataclass(frozen=True)
class Borrowers:
    """People who borrow, with the scorecard attributes of the German credit row each was
    given, the loan each would ask for, and the model's score and probability of default."""

    people: People
    features: dict[str, np.ndarray]  # scorecard vocabulary, one column per attribute
    amount_fen: np.ndarray  # what each asks for
    term: np.ndarray  # months
    score: np.ndarray
    pd: np.ndarray

    def __len__(self) -> int:
        return len(self.people)

    def features_of(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.features.items():
            value = v[i]
            out[k] = value.item() if isinstance(value, np.generic) else value
        return out


@dataclass(frozen=True)
class Investors:
    people: People
    risk_level: np.ndarray  # "C1".."C5"
    assets_fen: np.ndarray  # money each keeps ready to lend


def _scramble(index: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """A bijection of [0, modulus): distinct indexes give distinct numbers, looking random."""
    mult = 7_368_787 if modulus % 7_368_787 else 7_368_793  # prime, so coprime to 10**k
    return (index.astype(np.int64) * mult + salt) % modulus


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Each number's decimal digits, most significant first: shape (n, width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers) % 10


def _join_digits(digits: np.ndarray) -> np.ndarray:
    chars = (digits + ord("0")).astype(np.uint8)
    return np.array([bytes(r).decode() for r in chars], dtype=object)


def luhn_digits(body: np.ndarray) -> np.ndarray:
    """The Luhn check digit for each row of digits (the full number is body + check)."""
    doubled = body[:, ::-1].copy()
    doubled[:, 0::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return (10 - doubled.sum(axis=1) % 10) % 10


def id_check_chars(first17: np.ndarray) -> np.ndarray:
    """GB 11643 check characters for rows of 17 digits."""
    idx = (first17 @ np.array(ID_WEIGHTS, dtype=np.int64)) % 11
    return np.array(list(ID_CHECK), dtype=object)[idx]


def _spread_in_group(keys: np.ndarray, base: np.ndarray, width: int) -> np.ndarray:
    """A number in [0, width) per row, distinct among the rows sharing a key (up to ``width``
    of them): the group's first row's ``base`` plus the row's rank within its group."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = (base[order][group_start] + np.arange(len(keys)) - group_start) % width
    return out


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    sur = rng.choice(len(SURNAMES), size=n, p=SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum())
    two = rng.random(n) < 0.7
    g1 = rng.integers(0, len(GIVEN), size=n)
    g2 = rng.integers(0, len(GIVEN), size=n)
    return np.array(
        [
            SURNAMES[s] + GIVEN[a] + (GIVEN[b] if t else "")
            for s, a, b, t in zip(sur, g1, g2, two, strict=True)
        ],
        dtype=object,
    )


def people(
    rng: np.random.Generator,
    n: int,
    *,
    today: date,
    first_index: int,
    age_mean: float,
    age_sd: float,
    age_range: tuple[int, int],
    income_scale: float = 1.0,
    sequences: tuple[int, int] = (0, 500),
) -> People:
    """``n`` people; ``first_index`` keeps phones and cards of separate draws distinct, and
    ``sequences`` (a range of the ID's 3-digit sequence ÷ 2) their ID numbers."""
    index = np.arange(first_index, first_index + n, dtype=np.int64)
    region_w = np.array([w for _, _, w in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=region_w / region_w.sum())
    ages = np.clip(np.rint(rng.normal(age_mean, age_sd, size=n)), *age_range).astype(np.int64)
    # born between (age + 1) years and age years before today, less a day so the age is exact
    back = ages * 365 + (ages // 4) + rng.integers(1, 360, size=n)
    birth = np.datetime64(today, "D") - back.astype("timedelta64[D]")
    sex_bit = rng.integers(0, 2, size=n)  # 1 = male (odd 17th digit)
    ymd = birth.astype(object)
    birth_num = np.array([d.year * 10_000 + d.month * 100 + d.day for d in ymd], dtype=np.int64)
    region_num = np.array([int(REGIONS[r][0]) for r in region], dtype=np.int64)
    key = region_num * 100_000_000 + birth_num
    lo, hi = sequences
    seq = lo + _spread_in_group(key, rng.integers(0, hi - lo, size=n), hi - lo)
    first17 = np.hstack(
        [_digits(region_num, 6), _digits(birth_num, 8), _digits(seq * 2 + sex_bit, 3)]
    )
    ids = _join_digits(first17) + id_check_chars(first17)
    prefix = np.array(MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    phones = prefix + _join_digits(_digits(_scramble(index, 10**8, 12_345_679), 8))
    bins = np.array([[int(c) for c in b] for b in CARD_BINS])[rng.integers(0, len(CARD_BINS), n)]
    body = np.hstack([bins, _digits(_scramble(index, 10**12, 987_654_321), 12)])
    cards = _join_digits(np.hstack([body, luhn_digits(body)[:, None]]))
    occ_w = np.array([s for _, s, _ in OCCUPATIONS])
    occ = rng.choice(len(OCCUPATIONS), size=n, p=occ_w / occ_w.sum())
    median = np.array([m for _, _, m in OCCUPATIONS], dtype=np.float64)[occ] * income_scale
    age_factor = 1.0 + 0.02 * np.clip(ages - 25, 0, 20) - 0.015 * np.clip(ages - 50, 0, 20)
    income_yuan = median * age_factor * rng.lognormal(0.0, 0.45, size=n)
    return People(
        name=_names(rng, n),
        birth=birth,
        sex=np.where(sex_bit == 1, "M", "F").astype(object),
        province=np.array([REGIONS[r][1] for r in region], dtype=object),
        id_number=ids,
        phone=phones,
        card=cards,
        occupation=np.array([OCCUPATIONS[o][0] for o in occ], dtype=object),
        income_fen=(np.rint(income_yuan / 100) * 10_000).astype(np.int64),
    )


def _term_of(months: np.ndarray) -> np.ndarray:
    return np.where(months <= 9, 3, np.where(months <= 18, 6, 12)).astype(np.int64)


def borrowers(rng: np.random.Generator, n: int, *, today: date) -> Borrowers:
    """``n`` borrowers aged 22–55 (the product's age range), each with a German credit row."""
    who = people(
        rng,
        n,
        today=today,
        first_index=0,
        age_mean=33,
        age_sd=7.5,
        age_range=(22, 55),
        sequences=(0, 400),
    )
    data = load_german_credit()
    rows = rng.integers(0, len(data), size=n)
    features = {k: v[rows] for k, v in data.columns.items() if k not in FROM_APPLICATION}
    model = default_model()
    columns = dict(features)
    columns["age_in_years"] = np.array(
        [age_on(b, today) for b in birth_dates(who.birth)], dtype=np.float64
    )
    scores = model.scores(columns)
    # The loan asked for follows the row's own amount and duration (the scorecard's units are
    # the training data's: keep them as they were, so scores stay in distribution).
    yuan = np.clip(np.rint(features["credit_amount"] * 2.5 / 100) * 100, 1_000, 200_000)
    return Borrowers(
        people=who,
        features=features,
        amount_fen=(yuan * 100).astype(np.int64),
        term=_term_of(features["duration_in_month"]),
        score=scores,
        pd=model.probabilities_of_default(scores),
    )


def investors(rng: np.random.Generator, n: int, *, today: date, first_index: int) -> Investors:
    """``n`` investors aged 28–65 with a suitability level and money ready to lend."""
    who = people(
        rng,
        n,
        today=today,
        first_index=first_index,
        age_mean=42,
        age_sd=9,
        age_range=(28, 65),
        income_scale=2.0,
        sequences=(400, 500),
    )
    level = np.array(RISK_LEVELS, dtype=object)[rng.choice(5, size=n, p=RISK_SHARES)]
    assets_yuan = np.clip(rng.lognormal(np.log(80_000), 0.8, size=n), 5_000, 2_000_000)
    return Investors(who, level, (np.rint(assets_yuan / 100) * 10_000).astype(np.int64))


def birth_dates(birth: np.ndarray) -> list[date]:
    return [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in birth.astype(object)]
