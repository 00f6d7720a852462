"""The applicant attributes a scorecard can use, with the words that explain them.

The default scorecard is trained on the German credit data (``data.py``): its twenty attributes
keep the dataset's own names and category values, so a model artifact, a training run and an
application all speak the same vocabulary. Each attribute has a label in Chinese and English for
reason codes (PI-ADM-01), and, for numbers, the shape of risk the binning is held to:
``ascending`` means the bad rate rises with the value.

One attribute is derived rather than asked for: the monthly installment, the loan amount over
its months, which states affordability directly (on German credit it adds about +0.002 to the
cross-validated AUC). ``add_derived`` computes it wherever the sources are given, for one
applicant or for whole columns.

Two attributes are never scored, whatever the data says: sex and marital status, and being a
foreign worker. Scoring on them is unreasonable differentiation (PIPL Art. 24) however well it
predicts; they stay in the data only so a fairness check can look at them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np


class Kind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Feature:
    """One attribute: its name in the data, its kind, labels, and the binning's risk shape."""

    name: str
    kind: Kind
    label_zh: str
    label_en: str
    trend: str = "auto_asc_desc"  # optbinning ``monotonic_trend`` for numbers
    sources: tuple[str, ...] = ()  # for a derived attribute, what it is computed from


def _num(name: str, zh: str, en: str, trend: str = "auto_asc_desc") -> Feature:
    return Feature(name, Kind.NUMERIC, zh, en, trend)


def _cat(name: str, zh: str, en: str) -> Feature:
    # Categories are ordered by their bad rate before binning, so every categorical binning
    # is monotonic in that order by construction.
    return Feature(name, Kind.CATEGORICAL, zh, en, "auto")


FEATURES: tuple[Feature, ...] = (
    _cat("status_of_existing_checking_account", "支票账户余额", "checking account balance"),
    _num("duration_in_month", "借款期限", "loan duration", "ascending"),
    _cat("credit_history", "信用记录", "credit history"),
    _cat("purpose", "借款用途", "loan purpose"),
    # Small and very large amounts are both riskier than middling ones.
    _num("credit_amount", "借款金额", "loan amount", "valley"),
    _cat("savings_account_and_bonds", "储蓄与债券", "savings and bonds"),
    _cat("present_employment_since", "现职工作年限", "years in current employment"),
    _num(
        "installment_rate_in_percentage_of_disposable_income",
        "月供占可支配收入比例",
        "installment as a share of disposable income",
        "ascending",
    ),
    _cat("personal_status_and_sex", "婚姻状况与性别", "marital status and sex"),
    _cat("other_debtors_or_guarantors", "共同借款人或担保人", "co-applicants or guarantors"),
    _num("present_residence_since", "现住址居住年限", "years at current address"),
    _cat("property", "财产状况", "property owned"),
    # The young and the old are riskier than the middle-aged.
    _num("age_in_years", "年龄", "age", "valley"),
    _cat("other_installment_plans", "其他分期付款", "other installment plans"),
    _cat("housing", "住房情况", "housing"),
    _num("number_of_existing_credits_at_this_bank", "本机构现有借款笔数", "loans with us"),
    _cat("job", "职业类别", "occupation"),
    _num(
        "number_of_people_being_liable_to_provide_maintenance_for",
        "需供养人数",
        "number of dependants",
    ),
    _cat("telephone", "登记电话", "registered telephone"),
    _cat("foreign_worker", "外籍劳工", "foreign worker"),
    Feature(
        "monthly_installment",
        Kind.NUMERIC,
        "月供（借款金额÷期限）",
        "monthly installment (amount ÷ months)",
        sources=("credit_amount", "duration_in_month"),
    ),
)

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

#: Attributes never scored (PIPL Art. 24: no unreasonable differentiation).
PROTECTED: tuple[str, ...] = ("personal_status_and_sex", "foreign_worker")


def _per_month(amount: Any, months: Any) -> Any:
    if isinstance(months, np.ndarray) or isinstance(amount, np.ndarray):
        months = np.asarray(months, dtype=np.float64)
        safe = np.where(months > 0, months, np.nan)
        return np.asarray(amount, dtype=np.float64) / safe
    return float(amount) / float(months) if float(months) > 0 else float("nan")


_DERIVE = {"monthly_installment": _per_month}


def add_derived(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every derived attribute whose sources are present added (values given
    for a derived attribute are kept)."""
    out = dict(values)
    for f in FEATURES:
        if f.sources and f.name not in out and all(out.get(s) is not None for s in f.sources):
            out[f.name] = _DERIVE[f.name](*(out[s] for s in f.sources))
    return out
