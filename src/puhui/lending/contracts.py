"""The loan contract (借款合同): its text in Chinese and English, and its SHA-256.

The text is rendered deterministically from ``ContractContent`` — fixed order, fixed number
formats, LF line ends — so the same content always gives the same bytes, and the SHA-256 of
those bytes, stored with the loan when the borrower signs, proves later that the contract shown
is the one signed (``verify_contract``). Every term the borrower agrees to is in it: the
parties (masked, as personal values are everywhere they are shown), the amount in figures and
in words, the annual rate by IRR labelled as RATE-APR-03 asks and put before the contract's
simple rate (RATE-APR-02), the schedule, fees, the penalty rate, the cooling-off window
(RATE-COOL-01) and the prepayment terms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select

from puhui.core.clock import SHANGHAI
from puhui.core.errors import NotFound
from puhui.core.money import format_fen
from puhui.core.rates import format_percent
from puhui.identity.times import from_us
from puhui.lending.models import loans
from puhui.lending.product_terms import Prepayment
from puhui.lending.schedules import Installment, Method, TermUnit

#: RATE-APR-03: the label of the IRR-based annual rate.
IRR_LABEL = "年化利率（按内部收益率法/复利计算）"
IRR_LABEL_EN = "Annual percentage rate (IRR method, compounded)"

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("仟", "佰", "拾", "")
_GROUPS = ("", "万", "亿", "万亿")
# fmt: off
_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# fmt: on
_SCALES = ("", " thousand", " million", " billion", " trillion")

_METHODS = {
    Method.EQUAL_INSTALLMENT: ("等额本息", "equal installments"),
    Method.EQUAL_PRINCIPAL: ("等额本金", "equal principal"),
    Method.INTEREST_ONLY: ("先息后本", "interest only, principal at maturity"),
    Method.BULLET: ("一次性还本付息", "principal and interest in one payment at maturity"),
}
_UNITS = {TermUnit.MONTH: ("个月", "month(s)"), TermUnit.DAY: ("天", "day(s)")}


def _group_zh(n: int) -> str:
    """0 < n < 10000 in capital numerals, a zero between digits written once."""
    out, zero = "", False
    for place, digit in zip(_PLACES, f"{n:04d}", strict=True):
        if digit == "0":
            zero = bool(out)
            continue
        out += ("零" if zero else "") + _DIGITS[int(digit)] + place
        zero = False
    return out


def yuan_in_words_zh(fen: int) -> str:
    """An amount in capital numerals (大写), as contracts and cheques write it:
    1,000,500.30 → 人民币壹佰万零伍佰元叁角整."""
    yuan, cents = divmod(fen, 100)
    jiao, fen_ = divmod(cents, 10)
    groups = []
    while yuan:
        yuan, part = divmod(yuan, 10_000)
        groups.append(part)
    words, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        part = groups[index]
        if part == 0:
            gap = bool(words)
            continue
        if words and (gap or part < 1000):
            words += "零"
        words += _group_zh(part) + _GROUPS[index]
        gap = False
    text = words + "元" if words else ""
    if jiao:
        text += _DIGITS[jiao] + "角"
    if fen_:
        text += ("零" if words and not jiao else "") + _DIGITS[fen_] + "分"
    else:
        text = (text or "零元") + "整"
    return "人民币" + text


def _below_thousand_en(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def _number_en(n: int) -> str:
    if n == 0:
        return "zero"
    parts, scale = [], 0
    while n:
        n, chunk = divmod(n, 1000)
        if chunk:
            parts.append(_below_thousand_en(chunk) + _SCALES[scale])
        scale += 1
    return " ".join(reversed(parts))


def yuan_in_words_en(fen: int) -> str:
    """1,000,500.30 → "one million five hundred yuan and thirty fen"."""
    yuan, cents = divmod(fen, 100)
    text = f"{_number_en(yuan)} yuan"
    return text + (f" and {_number_en(cents)} fen" if cents else " only")


@dataclass(frozen=True)
class ContractContent:
    """Everything the borrower signs. Party details arrive already masked."""

    application_id: int
    lender: str
    borrower_name: str
    borrower_id_number: str
    customer_id: int
    product_code: str
    product_version: int
    principal_fen: int
    term: int
    term_unit: TermUnit
    method: Method
    day_count: str
    annual_rate: Decimal
    irr_annual_rate: Decimal
    effective_annual_rate: Decimal
    penalty_rate: Decimal
    upfront_fee_fen: int
    period_fee_fen: int
    late_fee_fen: int
    grace_days: int
    schedule: tuple[Installment, ...]
    start_date: date
    maturity_date: date
    cooling_off_hours: int
    cooling_off_until_us: int
    prepayment: Prepayment
    prepayment_fee_rate: Decimal
    signed_us: int


def _instant(us: int) -> str:
    """Shanghai time to the microsecond: the stored instant exactly, so the hash covers it."""
    return from_us(us).astimezone(SHANGHAI).isoformat(sep=" ", timespec="microseconds")


def _pct(rate: Decimal) -> str:
    return format_percent(rate, places=4)


def _schedule_lines(c: ContractContent) -> list[str]:
    head = "期数 No. | 还款日 Due date | 本金 Principal | 利息 Interest | 费用 Fee | 合计 Total"
    rows = [
        f"{i.period} | {i.due_date.isoformat()} | {format_fen(i.principal_fen, grouping=True)} | "
        f"{format_fen(i.interest_fen, grouping=True)} | {format_fen(i.fee_fen, grouping=True)} | "
        f"{format_fen(i.total_fen, grouping=True)}"
        for i in c.schedule
    ]
    total = sum(i.total_fen for i in c.schedule)
    return [head, *rows, f"合计 Total: {format_fen(total, grouping=True)}"]


def _prepayment_zh(c: ContractContent) -> str:
    if c.prepayment is Prepayment.NOT_ALLOWED:
        return "本合同不支持提前还款。"
    fee = (
        f"，按提前归还本金的 {_pct(c.prepayment_fee_rate)} 收取提前还款费"
        if c.prepayment is Prepayment.ALLOWED_WITH_FEE
        else "，不收取提前还款费"
    )
    return f"借款人可随时提前归还全部或部分借款，利息计至还款日{fee}。"


def _prepayment_en(c: ContractContent) -> str:
    if c.prepayment is Prepayment.NOT_ALLOWED:
        return "This loan cannot be prepaid."
    fee = (
        f"; a prepayment fee of {_pct(c.prepayment_fee_rate)} of the principal prepaid applies"
        if c.prepayment is Prepayment.ALLOWED_WITH_FEE
        else "; no prepayment fee is charged"
    )
    return f"The borrower may prepay all or part at any time, with interest to that day{fee}."


def render(c: ContractContent) -> str:
    """The contract's text: Chinese, then English; the same content gives the same text."""
    method_zh, method_en = _METHODS[c.method]
    unit_zh, unit_en = _UNITS[c.term_unit]
    amount = format_fen(c.principal_fen, grouping=True)
    until = _instant(c.cooling_off_until_us)
    lines = [
        "借款合同",
        f"申请编号：{c.application_id}　产品：{c.product_code} 第 {c.product_version} 版",
        f"出借人：{c.lender}",
        f"借款人：{c.borrower_name}（身份证号 {c.borrower_id_number}，客户号 {c.customer_id}）",
        f"借款金额：人民币 {amount} 元（{yuan_in_words_zh(c.principal_fen)}），全额发放至借款人，"
        "不预先扣除任何利息或费用。",
        f"借款期限：{c.term} {unit_zh}，自 {c.start_date.isoformat()} 起至 "
        f"{c.maturity_date.isoformat()} 止（还款日自放款日起算）；还款方式：{method_zh}。",
        f"{IRR_LABEL}：{_pct(c.irr_annual_rate)}（实际年利率 {_pct(c.effective_annual_rate)}）",
        f"合同利率（单利）：年 {_pct(c.annual_rate)}，计息基础 {c.day_count}",
        f"逾期罚息利率：年 {_pct(c.penalty_rate)}，宽限期 {c.grace_days} 天；"
        f"每期逾期费 {format_fen(c.late_fee_fen, grouping=True)} 元；"
        "逾期利息、费用合计不超过法定利率上限。",
        f"费用：放款时服务费 {format_fen(c.upfront_fee_fen, grouping=True)} 元（另行支付）；"
        f"每期服务费 {format_fen(c.period_fee_fen, grouping=True)} 元。",
        "还款计划：",
        *_schedule_lines(c),
        f"冷静期：签署后 {c.cooling_off_hours} 小时内（至 {until}）借款人可无理由取消本合同；"
        "已放款的，退还本金并仅按实际使用天数支付利息。",
        f"提前还款：{_prepayment_zh(c)}",
        f"签署时间：{_instant(c.signed_us)}",
        "",
        "Loan Agreement",
        f"Application {c.application_id}; product {c.product_code} version {c.product_version}",
        f"Lender: {c.lender}",
        f"Borrower: {c.borrower_name} (ID {c.borrower_id_number}, customer {c.customer_id})",
        f"Amount: CNY {amount} ({yuan_in_words_en(c.principal_fen)}), paid to the borrower in "
        "full; no interest or fee is deducted in advance.",
        f"Term: {c.term} {unit_en}, from {c.start_date.isoformat()} to "
        f"{c.maturity_date.isoformat()} (due dates count from the disbursement date); "
        f"repayment: {method_en}.",
        f"{IRR_LABEL_EN}: {_pct(c.irr_annual_rate)} "
        f"(effective annual rate {_pct(c.effective_annual_rate)})",
        f"Contract rate (simple interest): {_pct(c.annual_rate)} a year, day count {c.day_count}",
        f"Penalty rate on overdue principal: {_pct(c.penalty_rate)} a year after {c.grace_days} "
        f"grace day(s); late fee {format_fen(c.late_fee_fen, grouping=True)} per overdue "
        "installment; overdue charges never take the rate above the legal cap.",
        f"Fees: {format_fen(c.upfront_fee_fen, grouping=True)} at disbursement (paid "
        f"separately); {format_fen(c.period_fee_fen, grouping=True)} with each installment.",
        f"Cooling-off: the borrower may cancel within {c.cooling_off_hours} hours of signing "
        f"(until {until}); if the loan was paid out, the borrower returns the principal and pays "
        "interest only for the days used.",
        f"Prepayment: {_prepayment_en(c)}",
        f"Signed: {_instant(c.signed_us)}",
    ]
    return "\n".join(lines) + "\n"


def sha256_of(text: str) -> str:
    """The contract's SHA-256: of its text as UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Contract:
    loan_id: int
    text: str
    sha256: str
    signed_us: int


def get_contract(conn: Connection, *, loan_id: int, customer_id: int | None = None) -> Contract:
    """A loan's signed contract (a borrower sees only their own: another's is not found)."""
    query = select(
        loans.c.contract_text, loans.c.contract_sha256, loans.c.signed_us, loans.c.customer_id
    ).where(loans.c.id == loan_id)
    row = conn.execute(query).first()
    if row is None or (customer_id is not None and row.customer_id != customer_id):
        raise NotFound("loan_not_found", f"no loan {loan_id}", field="loan_id")
    return Contract(loan_id, row.contract_text, row.contract_sha256, row.signed_us)


def verify_contract(conn: Connection, loan_id: int) -> bool:
    """Whether the stored contract text still hashes to the SHA-256 recorded at signing."""
    found = get_contract(conn, loan_id=loan_id)
    return sha256_of(found.text) == found.sha256
