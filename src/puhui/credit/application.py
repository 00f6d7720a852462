"""What a credit decision is asked about: the application and the product offered.

These are credit's own narrow inputs, so the decision engine does not depend on the identity
and lending tables: the caller (a loan application flow, the API, a test) fills them from
wherever it keeps customers, KYC results and products. ``ProductOffer.from_product`` reads a
lending product version.

The scorecard attributes come in ``Application.features`` in the model's vocabulary (the German
credit categories). Three are taken from the application itself when not given: the loan amount
in yuan, the term in months and the age from the ID number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from puhui.compliance.rate_caps import Profile
from puhui.core.errors import ValidationError
from puhui.core.money import check_fen


class Purpose(StrEnum):
    """What the borrower says the money is for (借款用途)."""

    CONSUMER_GOODS = "consumer_goods"
    HOME_RENOVATION = "home_renovation"
    EDUCATION = "education"
    MEDICAL = "medical"
    TRAVEL = "travel"
    WEDDING = "wedding"
    CAR = "car"
    BUSINESS = "business"
    # Never lent for: §1.2 item 11 (P2P), MCL-USE-01, the 141号 notice.
    SECURITIES = "securities"  # 股票投资
    OTC_MARGIN = "otc_margin"  # 场外配资
    FUTURES = "futures"  # 期货合约
    DERIVATIVES = "derivatives"  # 结构化产品及其他衍生品
    ASSET_MANAGEMENT = "asset_management"  # 资产管理产品
    HOME_PURCHASE = "home_purchase"  # 购房
    DOWN_PAYMENT = "down_payment"  # 首付贷
    MORTGAGE_REPAYMENT = "mortgage_repayment"  # 偿还住房抵押贷款
    UNSPECIFIED = "unspecified"  # 无指定用途 (RATE-CASH-01)


PURPOSE_WORDS: dict[Purpose, tuple[str, str]] = {
    Purpose.CONSUMER_GOODS: ("日常消费", "consumer goods"),
    Purpose.HOME_RENOVATION: ("家装", "home renovation"),
    Purpose.EDUCATION: ("教育", "education"),
    Purpose.MEDICAL: ("医疗", "medical care"),
    Purpose.TRAVEL: ("旅游", "travel"),
    Purpose.WEDDING: ("婚庆", "a wedding"),
    Purpose.CAR: ("购车", "a car"),
    Purpose.BUSINESS: ("经营周转", "business working capital"),
    Purpose.SECURITIES: ("股票投资", "investing in shares"),
    Purpose.OTC_MARGIN: ("场外配资", "off-exchange margin financing"),
    Purpose.FUTURES: ("期货", "futures"),
    Purpose.DERIVATIVES: ("衍生品", "derivatives and structured products"),
    Purpose.ASSET_MANAGEMENT: ("资管产品", "asset-management products"),
    Purpose.HOME_PURCHASE: ("购房", "buying a home"),
    Purpose.DOWN_PAYMENT: ("首付", "a home down payment"),
    Purpose.MORTGAGE_REPAYMENT: ("偿还房贷", "repaying a mortgage"),
    Purpose.UNSPECIFIED: ("未说明用途", "no stated purpose"),
}

PROHIBITED_PURPOSES: frozenset[Purpose] = frozenset(
    {
        Purpose.SECURITIES,
        Purpose.OTC_MARGIN,
        Purpose.FUTURES,
        Purpose.DERIVATIVES,
        Purpose.ASSET_MANAGEMENT,
        Purpose.HOME_PURCHASE,
        Purpose.DOWN_PAYMENT,
        Purpose.MORTGAGE_REPAYMENT,
        Purpose.UNSPECIFIED,
    }
)

MIN_AGE = 18  # PI-AGE-01: only adults sign loan contracts
MAX_TERM_MONTHS = 360


@dataclass(frozen=True)
class Application:
    """One borrowing request by a natural person.

    ``annual_income_fen`` is declared or verified income (0: none); ``monthly_debt_fen`` the
    repayments the applicant declares elsewhere; ``platform_outstanding_fen`` the principal the
    applicant still owes on this platform (P2P-CAP-01, MCL-CAP-01). ``device_id``, ``ip``,
    ``phone`` and ``card`` feed the fraud-velocity rules and the blacklist.
    """

    applicant_ref: str
    id_number: str
    kyc_verified: bool
    annual_income_fen: int
    purpose: Purpose
    requested_fen: int
    term_months: int
    features: Mapping[str, Any] = field(default_factory=dict)
    income_verified: bool = False
    student: bool = False
    monthly_debt_fen: int = 0
    platform_outstanding_fen: int = 0
    device_id: str | None = None
    ip: str | None = None
    phone: str | None = None
    card: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "purpose", _purpose(self.purpose))
        for name in ("annual_income_fen", "monthly_debt_fen", "platform_outstanding_fen"):
            check_fen(getattr(self, name), field=name)
        check_fen(self.requested_fen, field="requested_fen", allow_zero=False)
        if not 1 <= self.term_months <= MAX_TERM_MONTHS:
            raise ValidationError(
                "term_out_of_range", f"term is 1–{MAX_TERM_MONTHS} months", field="term_months"
            )
        if not self.applicant_ref or len(self.applicant_ref) > 64:
            raise ValidationError(
                "applicant_ref_invalid", "applicant_ref is 1–64 characters", field="applicant_ref"
            )


def _purpose(value: object) -> Purpose:
    try:
        return Purpose(value)
    except ValueError:
        raise ValidationError(
            "purpose_unknown",
            f"purpose must be one of {', '.join(p.value for p in Purpose)}",
            field="purpose",
        ) from None


@dataclass(frozen=True)
class ProductOffer:
    """The product's limits a decision must stay within."""

    code: str
    marketplace: bool
    profile: Profile
    min_rate: Decimal
    max_rate: Decimal
    min_amount_fen: int
    max_amount_fen: int
    min_age: int = 22
    max_age: int = 55

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", Profile(self.profile))
        if not MIN_AGE <= self.min_age <= self.max_age:
            raise ValidationError(
                "age_range_invalid",
                f"a product's age range starts at {MIN_AGE} or later (PI-AGE-01)",
                field="min_age",
            )
        if self.min_rate > self.max_rate or self.min_amount_fen > self.max_amount_fen:
            raise ValidationError("offer_range_inverted", "a range is inverted", field="offer")

    @classmethod
    def from_product(cls, version: Any, *, min_age: int = 22, max_age: int = 55) -> ProductOffer:
        """The offer of a lending ``ProductVersion`` (``lending.products``)."""
        terms = version.terms
        return cls(
            code=version.code,
            marketplace=terms.mode.value == "marketplace",
            profile=terms.regulatory_profile,
            min_rate=terms.min_annual_rate,
            max_rate=terms.max_annual_rate,
            min_amount_fen=terms.min_amount_fen,
            max_amount_fen=terms.max_amount_fen,
            min_age=min_age,
            max_age=max_age,
        )
