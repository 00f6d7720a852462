"""Hard rules and fraud-velocity rules: pure checks that each return the hits they find.

Every hit carries a stable code, what it does (reject, or send to a person), the regulation
it enforces where there is one, and a sentence in Chinese and in English for the borrower and
the staff. A decision runs them all and keeps every hit, not only the first.

===============  ========  =================================================================
code             action    fires when
===============  ========  =================================================================
HR-IDENTITY      reject    KYC has not passed or the ID number is not a valid GB 11643 number
HR-AGE           reject    age from the ID number outside the product's range (PI-AGE-01)
HR-NO-INCOME     reject    no declared or verified income (RATE-CASH-01)
HR-STUDENT       reject    a student (在校学生, RATE-CASH-01)
HR-PURPOSE       reject    a prohibited or unstated purpose (§1.2 item 11, MCL-USE-01)
HR-OVERDUE       reject    overdue now, or more overdue episodes in 6 months than allowed
HR-LENDERS       reject    more lenders at other platforms than allowed (多头借贷)
HR-DTI           reject    monthly repayments with the new loan above the share of income
HR-P2P-CAP-01    reject    marketplace: no room under 200,000 on this platform
HR-P2P-CAP-03    reject    marketplace: no room under 1,000,000 across platforms
HR-MCL-CAP-01    reject    direct lending: no room under min(300,000, income / 3)
HR-BLACKLIST     reject    the ID number, phone, card, device or IP is blacklisted
SR-INQUIRIES     review    many bureau inquiries in 30 days (credit hunger)
FR-DEVICE        review    the device was used by another applicant within 24 hours
FR-IP            review    the IP was used by more than 3 other applicants within 24 hours
FR-PHONE         reject    the phone was used by another applicant within 24 hours
FR-CARD          reject    the card was used by another applicant within 24 hours
SC-GRADE         both      the score's grade is for review (D) or below the cut-off (E)
LM-BELOW-MIN     reject    the limit for the grade and income is below the product's minimum
===============  ========  =================================================================

A cap rule fires only when not even the product's smallest loan fits under the cap; a larger
request than the room is approved for less (``limits.credit_limit``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from puhui.core.errors import ValidationError
from puhui.core.money import format_fen
from puhui.credit.application import PROHIBITED_PURPOSES, PURPOSE_WORDS, Application, ProductOffer
from puhui.credit.bureau import BureauReport
from puhui.credit.policy import Action, CreditPolicy
from puhui.identity.identifiers import parse_resident_id


@dataclass(frozen=True)
class RuleHit:
    code: str
    action: Action
    regulation: str | None
    text_zh: str
    text_en: str

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "action": self.action.value,
            "regulation": self.regulation,
            "text_zh": self.text_zh,
            "text_en": self.text_en,
        }


def _reject(code: str, regulation: str | None, zh: str, en: str) -> RuleHit:
    return RuleHit(code, Action.REJECT, regulation, zh, en)


def applicant_age(app: Application, *, today: date) -> int | None:
    """Age in completed years from the ID number; ``None`` if the number is not valid."""
    try:
        return parse_resident_id(app.id_number, today=today).age_on(today)
    except ValidationError:
        return None


def identity_rules(app: Application, offer: ProductOffer, *, today: date) -> list[RuleHit]:
    age = applicant_age(app, today=today)
    if not app.kyc_verified or age is None:
        return [
            _reject(
                "HR-IDENTITY",
                "P2P-OBL-03",
                "身份核验未通过或身份证号码无效",
                "identity not verified, or the ID number is not valid",
            )
        ]
    if not offer.min_age <= age <= offer.max_age:
        return [
            _reject(
                "HR-AGE",
                "PI-AGE-01" if age < 18 else None,
                f"年龄 {age} 岁，不在本产品要求的 {offer.min_age}–{offer.max_age} 岁之间",
                f"age {age} is outside this product's {offer.min_age}–{offer.max_age}",
            )
        ]
    return []


def income_rules(app: Application) -> list[RuleHit]:
    hits = []
    if app.annual_income_fen <= 0:
        hits.append(
            _reject(
                "HR-NO-INCOME",
                "RATE-CASH-01",
                "没有收入来源，不能借款",
                "no source of income: we cannot lend",
            )
        )
    if app.student:
        hits.append(
            _reject("HR-STUDENT", "RATE-CASH-01", "在校学生不能借款", "we do not lend to students")
        )
    return hits


def purpose_rules(app: Application) -> list[RuleHit]:
    if app.purpose not in PROHIBITED_PURPOSES:
        return []
    zh, en = PURPOSE_WORDS[app.purpose]
    return [
        _reject(
            "HR-PURPOSE",
            "RATE-CASH-01" if app.purpose.value == "unspecified" else "MCL-USE-01",
            f"借款用途「{zh}」不在可借范围内",
            f"we do not lend for {en}",
        )
    ]


def monthly_installment_fen(principal_fen: int, annual_rate: Decimal, months: int) -> int:
    """The level monthly installment of an amortising loan (an estimate for affordability)."""
    r = annual_rate / 12
    if r == 0:
        raw = Decimal(principal_fen) / months
    else:
        raw = Decimal(principal_fen) * r / (1 - (1 + r) ** -months)
    return int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def debt_to_income(app: Application, offer: ProductOffer, report: BureauReport) -> Decimal | None:
    """Monthly repayments (others', declared, and this loan's at the product's top rate) over
    monthly income; ``None`` without income."""
    if app.annual_income_fen <= 0:
        return None
    new = monthly_installment_fen(app.requested_fen, offer.max_rate, app.term_months)
    owed = report.monthly_repayment_fen + app.monthly_debt_fen + new
    return Decimal(owed * 12) / app.annual_income_fen


def bureau_rules(
    app: Application, offer: ProductOffer, report: BureauReport, policy: CreditPolicy
) -> list[RuleHit]:
    hits = []
    if report.overdue_now or report.overdue_last_6m > policy.max_overdue_6m:
        hits.append(
            _reject(
                "HR-OVERDUE",
                None,
                f"近 6 个月在其他机构有 {report.overdue_last_6m} 次逾期"
                + ("，且尚未结清" if report.overdue_now else ""),
                f"{report.overdue_last_6m} overdue episode(s) at other lenders in 6 months"
                + (", one still open" if report.overdue_now else ""),
            )
        )
    if report.other_lenders > policy.max_other_lenders:
        hits.append(
            _reject(
                "HR-LENDERS",
                None,
                f"在 {report.other_lenders} 家其他机构有未结清借款，"
                f"超过 {policy.max_other_lenders} 家",
                f"loans outstanding at {report.other_lenders} other lenders, more than "
                f"{policy.max_other_lenders}",
            )
        )
    dti = debt_to_income(app, offer, report)
    if dti is not None and dti > policy.max_debt_to_income:
        hits.append(
            _reject(
                "HR-DTI",
                "MCL-AFF-01",
                f"每月还款占收入 {dti:.0%}，超过 {policy.max_debt_to_income:.0%}",
                f"monthly repayments would be {dti:.0%} of income, above "
                f"{policy.max_debt_to_income:.0%}",
            )
        )
    if report.inquiries_last_30d > policy.max_inquiries_30d:
        hits.append(
            RuleHit(
                "SR-INQUIRIES",
                Action.REVIEW,
                None,
                f"近 30 天被 {report.inquiries_last_30d} 家机构查询征信，需人工审核",
                f"{report.inquiries_last_30d} credit inquiries in 30 days: a person will review",
            )
        )
    return hits


@dataclass(frozen=True)
class CapRoom:
    """How much more the applicant may borrow under one regulatory cap."""

    code: str
    cap_fen: int
    room_fen: int


def cap_rooms(
    *,
    marketplace: bool,
    annual_income_fen: int,
    own_outstanding_fen: int,
    other_outstanding_fen: int,
    policy: CreditPolicy,
) -> list[CapRoom]:
    """The caps that bind a natural person's loan: P2P-CAP-01/03 in marketplace mode,
    MCL-CAP-01 when the company lends its own money."""
    if marketplace:
        platform = policy.p2p_person_platform_cap_fen
        everywhere = policy.p2p_person_all_platforms_cap_fen
        return [
            CapRoom("P2P-CAP-01", platform, platform - own_outstanding_fen),
            CapRoom(
                "P2P-CAP-03",
                everywhere,
                everywhere - own_outstanding_fen - other_outstanding_fen,
            ),
        ]
    cap = min(policy.mcl_person_cap_fen, annual_income_fen // policy.mcl_income_divisor)
    return [CapRoom("MCL-CAP-01", cap, cap - own_outstanding_fen)]


def application_cap_rooms(
    app: Application, offer: ProductOffer, report: BureauReport, policy: CreditPolicy
) -> list[CapRoom]:
    return cap_rooms(
        marketplace=offer.marketplace,
        annual_income_fen=app.annual_income_fen,
        own_outstanding_fen=app.platform_outstanding_fen,
        other_outstanding_fen=report.outstanding_fen,
        policy=policy,
    )


def cap_rules(rooms: list[CapRoom], offer: ProductOffer) -> list[RuleHit]:
    return [
        _reject(
            f"HR-{room.code}",
            room.code,
            f"监管上限 {format_fen(room.cap_fen, grouping=True)} 元下剩余额度 "
            f"{format_fen(max(room.room_fen, 0), grouping=True)} 元，低于产品最低借款额",
            f"only {format_fen(max(room.room_fen, 0), grouping=True)} left under the "
            f"{format_fen(room.cap_fen, grouping=True)} regulatory cap, below the product's "
            "smallest loan",
        )
        for room in rooms
        if room.room_fen < offer.min_amount_fen
    ]


_KIND_WORDS = {
    "id_number": ("身份证号码", "ID number"),
    "phone": ("手机号", "phone number"),
    "card": ("银行卡", "bank card"),
    "device": ("设备", "device"),
    "ip": ("IP 地址", "IP address"),
}


def blacklist_rules(matched: Collection[str]) -> list[RuleHit]:
    """One hit naming every blacklisted identifier (``matched`` holds their kinds)."""
    if not matched:
        return []
    kinds = sorted(matched)
    return [
        _reject(
            "HR-BLACKLIST",
            None,
            "、".join(_KIND_WORDS[k][0] for k in kinds) + "在黑名单中",
            ", ".join(_KIND_WORDS[k][1] for k in kinds) + " on the blacklist",
        )
    ]


def velocity_rules(others: Mapping[str, int], policy: CreditPolicy) -> list[RuleHit]:
    """``others`` counts, per kind, the other applicants seen with the same identifier within
    the policy's window."""
    hours = int(policy.velocity_window.total_seconds() // 3600)
    hits = []
    for kind in ("device", "ip", "phone", "card"):
        limit, count = policy.velocity[kind], others.get(kind, 0)
        if count > limit.max_others:
            zh, en = _KIND_WORDS[kind]
            hits.append(
                RuleHit(
                    f"FR-{kind.upper()}",
                    limit.action,
                    "P2P-OBL-02",
                    f"同一{zh}在 {hours} 小时内被另外 {count} 位申请人使用",
                    f"the same {en} was used by {count} other applicant(s) within {hours} hours",
                )
            )
    return hits


def hard_rules(
    app: Application,
    offer: ProductOffer,
    report: BureauReport,
    policy: CreditPolicy,
    *,
    today: date,
    blacklisted: Collection[str] = (),
) -> list[RuleHit]:
    """Every hard rule's hits, in the table's order (without the velocity rules)."""
    return [
        *identity_rules(app, offer, today=today),
        *income_rules(app),
        *purpose_rules(app),
        *bureau_rules(app, offer, report, policy),
        *cap_rules(application_cap_rooms(app, offer, report, policy), offer),
        *blacklist_rules(blacklisted),
    ]


def score_rules(grade: str, policy: CreditPolicy) -> list[RuleHit]:
    if grade in policy.approve_grades:
        return []
    if grade in policy.review_grades:
        return [
            RuleHit(
                "SC-GRADE",
                Action.REVIEW,
                None,
                f"评分等级 {grade}，需人工审核",
                f"score grade {grade}: a person will review",
            )
        ]
    return [
        _reject(
            "SC-GRADE",
            None,
            f"评分等级 {grade}，低于准入标准",
            f"score grade {grade} is below our threshold",
        )
    ]


def limit_rules(limit_fen: int, offer: ProductOffer) -> list[RuleHit]:
    if limit_fen >= offer.min_amount_fen:
        return []
    return [
        _reject(
            "LM-BELOW-MIN",
            None,
            f"可借额度 {format_fen(limit_fen, grouping=True)} 元，低于产品最低借款额 "
            f"{format_fen(offer.min_amount_fen, grouping=True)} 元",
            f"the limit of {format_fen(limit_fen, grouping=True)} is below the product's "
            f"smallest loan of {format_fen(offer.min_amount_fen, grouping=True)}",
        )
    ]
