"""The monthly operating report (月度运营信息): the 21 items of regulation §3.3.

Every figure is "as at 23:59:59 of the month's last day" (Asia/Shanghai), rebuilt from history
rather than read from today's balances, so a report for an old month comes out the same
whenever it is run: a loan counts once its disbursement is valued on or before that day;
repayments count by value date; an installment is unpaid at the cut-off while it has no
``paid_date`` on or before it; notes count from their ``acquired_at``. Reversed transactions
and reversals are left out (the live history, as in ``lending.servicing.transactions``).

Definitions chosen where the guideline is silent (regulation §10 item 1), all documented in
docs/compliance.md:

* Loans are every disbursed loan of the platform, own-capital or marketplace.
* A written-off loan (核销) leaves the outstanding book on its write-off date.
* 借贷余额 and the ratios use outstanding principal (DIS-OPS-02); 利息余额 is the scheduled
  interest on outstanding loans not yet paid.
* A borrower is one identity customer: identity keeps one customer per ID number or credit
  code (``id_number_bidx`` and ``uscc`` are unique), so grouping by customer groups by
  identity and one borrower with three loans counts once.
* Overdue: the oldest unpaid installment's due date is before the cut-off; 逾期金额 is those
  loans' outstanding principal. Over 90 days is strictly more than 90 days past due
  (DIS-OPS-03): day 90 is out, day 91 in.
* 当期出借人 holds a note on a loan outstanding at the cut-off that was not sold on nor fully
  compensated by then. 累计代偿笔数 counts compensated loans.

All aggregation is set-based SQL that runs the same on SQLite and PostgreSQL. The figures
can also be computed in partitions (``partial_figures``, merged by ``merge_partials``), which
``puhui.tasks.disclosure`` hands to task workers: a partition takes whole borrowers, whole
lenders and whole compensated loans, so its distinct counts add up exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from puhui.compliance.calendar import month_end
from puhui.compliance.models import related_parties
from puhui.core.clock import SHANGHAI
from puhui.core.errors import ValidationError
from puhui.lending.engine import PAYMENTS
from puhui.lending.models import installments, loan_transactions, loans, product_versions, products
from puhui.marketplace.models import compensations, notes

MAX_PARTITIONS = 1024
OVERDUE_BUCKET_DAYS = 90  # regulation §9 disclosure.overdue_bucket_days_exclusive
RATIO_PLACES = Decimal("0.000001")

#: The 21 items in the order of §3.3, with their Chinese names.
ITEMS: tuple[tuple[str, str], ...] = (
    ("cum_loan_amount", "自成立以来累计借贷金额"),
    ("cum_loan_count", "自成立以来累计借贷笔数"),
    ("outstanding_principal", "借贷余额"),
    ("outstanding_count", "借贷余额笔数"),
    ("outstanding_interest", "利息余额"),
    ("cum_lenders", "累计出借人数量"),
    ("cum_borrowers", "累计借款人数量"),
    ("current_lenders", "当期出借人数量"),
    ("current_borrowers", "当期借款人数量"),
    ("top10_borrower_share", "前十大借款人待还金额占比"),
    ("top1_borrower_share", "最大单一借款人待还金额占比"),
    ("related_party_outstanding", "关联关系借款余额"),
    ("related_party_count", "关联关系借款笔数"),
    ("overdue_amount", "逾期金额"),
    ("overdue_count", "逾期笔数"),
    ("overdue_90_amount", "逾期90天（不含）以上金额"),
    ("overdue_90_count", "逾期90天（不含）以上笔数"),
    ("cum_compensated_amount", "累计代偿金额"),
    ("cum_compensated_count", "累计代偿笔数"),
    ("fee_schedule", "收费标准"),
    ("other_info", "其他经营信息"),
)
ITEM_CODES = tuple(code for code, _ in ITEMS)
#: Items that are amounts in fen (the others are counts, ratios or structures).
MONEY_ITEMS = frozenset(
    {
        "cum_loan_amount",
        "outstanding_principal",
        "outstanding_interest",
        "related_party_outstanding",
        "overdue_amount",
        "overdue_90_amount",
        "cum_compensated_amount",
    }
)
RATIO_ITEMS = frozenset({"top10_borrower_share", "top1_borrower_share"})


@dataclass(frozen=True)
class MonthlyFigures:
    """The report's figures for ``period``; ``items`` maps every code of ``ITEMS`` to its value
    (fen as int, counts as int, ratios as decimal strings, fees and other info as dicts)."""

    period: str
    as_of: str
    items: dict[str, Any]


def cut_off(period: str) -> tuple[date, int]:
    """The month's last day and the instant 23:59:59.999999 Shanghai time, in µs UTC."""
    day = month_end(period)
    instant = datetime.combine(day, time(23, 59, 59, 999_999), tzinfo=SHANGHAI)
    return day, int(instant.timestamp() * 1_000_000)


def as_of_text(period: str) -> str:
    return datetime.combine(month_end(period), time(23, 59, 59), tzinfo=SHANGHAI).isoformat()


def _ratio(part: int, whole: int) -> str:
    if whole <= 0:
        return "0.000000"
    return str((Decimal(part) / Decimal(whole)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP))


def loan_positions(day: date, *, among: Any | None = None) -> Any:
    """One row per loan disbursed by ``day``: its borrower, principal, outstanding principal and
    interest, and the due date of its oldest installment unpaid at the end of ``day``.

    ``among`` (a select of loan ids) keeps only those loans, and keeps them inside every
    aggregate too, so a partition of the report groups its own rows, not the whole book's."""
    t = loan_transactions.c
    live = and_(t.reversed_by_id.is_(None), t.kind != "reversal", t.value_date <= day)
    if among is not None:
        live = and_(live, t.loan_id.in_(among))
    disbursed = (
        select(t.loan_id).where(live, t.kind == "disbursement").group_by(t.loan_id).subquery("d")
    )
    paid = (
        select(
            t.loan_id,
            func.sum(t.principal_fen).label("principal"),
            func.sum(t.interest_fen).label("interest"),
        )
        .where(live, t.kind.in_(PAYMENTS))
        .group_by(t.loan_id)
        .subquery("p")
    )
    written_off = (
        select(t.loan_id).where(live, t.kind == "write_off").group_by(t.loan_id).subquery("w")
    )
    i = installments.c
    # An installment with nothing due (the disbursement-day row) is never overdue.
    unpaid = and_(
        or_(i.paid_date.is_(None), i.paid_date > day),
        i.principal_fen + i.interest_fen + i.fee_fen > 0,
    )
    sched_rows = select(
        i.loan_id,
        func.sum(i.interest_fen).label("interest"),
        func.min(case((and_(i.due_date < day, unpaid), i.due_date))).label("oldest_due"),
    )
    if among is not None:
        sched_rows = sched_rows.where(i.loan_id.in_(among))
    sched = sched_rows.group_by(i.loan_id).subquery("s")
    ln = loans.c
    remaining = ln.principal_fen - func.coalesce(paid.c.principal, 0)
    outstanding = case(
        (written_off.c.loan_id.is_not(None), literal(0)),
        (remaining > 0, remaining),
        else_=literal(0),
    )
    interest_left = func.coalesce(sched.c.interest, 0) - func.coalesce(paid.c.interest, 0)
    return (
        select(
            ln.id.label("loan_id"),
            ln.customer_id.label("customer_id"),
            ln.principal_fen.label("principal"),
            outstanding.label("outstanding"),
            case((and_(outstanding > 0, interest_left > 0), interest_left), else_=literal(0)).label(
                "interest"
            ),
            sched.c.oldest_due.label("oldest_due"),
        )
        .select_from(loans)
        .join(disbursed, disbursed.c.loan_id == ln.id)
        .outerjoin(paid, paid.c.loan_id == ln.id)
        .outerjoin(written_off, written_off.c.loan_id == ln.id)
        .outerjoin(sched, sched.c.loan_id == ln.id)
        .subquery("pos")
    )


def _loan_figures(conn: Connection, day: date, as_of_us: int) -> dict[str, Any]:
    figures, top = _loan_sums(conn, day)
    return _with_top(figures, top)


def _with_top(sums: Mapping[str, int], top: Sequence[int]) -> dict[str, Any]:
    """The loan figures with the concentration of the largest borrowers (``top``, largest
    first) derived from them: for the one-process and the partitioned path alike."""
    top = list(top)[:TOP_BORROWERS]
    whole = sums["outstanding_principal"]
    return {
        **sums,
        "top10_borrower_share": _ratio(sum(top), whole),
        "top1_borrower_share": _ratio(top[0] if top else 0, whole),
        "_top10_fen": sum(top),
        "_top1_fen": top[0] if top else 0,
    }


def _loan_sums(
    conn: Connection, day: date, among: Any | None = None
) -> tuple[dict[str, int], list[int]]:
    """The loan figures that add up over borrowers, and the ten largest borrowers' outstanding
    principal, largest first: over the whole book, or over the loans ``among`` selects."""
    pos = loan_positions(day, among=among)
    out = pos.c.outstanding > 0
    overdue = and_(out, pos.c.oldest_due < day)
    overdue_90 = and_(out, pos.c.oldest_due < day - timedelta(days=OVERDUE_BUCKET_DAYS))
    rp = related_parties.c
    # Related status as known now: a party found later belongs in a corrected version.
    related = pos.c.customer_id.in_(select(rp.customer_id))

    def total(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, pos.c.outstanding), else_=literal(0))), 0)

    def count(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, literal(1)), else_=literal(0))), 0)

    row = conn.execute(
        select(
            func.coalesce(func.sum(pos.c.principal), 0).label("cum_loan_amount"),
            func.count().label("cum_loan_count"),
            total(out).label("outstanding_principal"),
            count(out).label("outstanding_count"),
            func.coalesce(func.sum(pos.c.interest), 0).label("outstanding_interest"),
            func.count(func.distinct(pos.c.customer_id)).label("cum_borrowers"),
            func.count(func.distinct(case((out, pos.c.customer_id)))).label("current_borrowers"),
            total(and_(out, related)).label("related_party_outstanding"),
            count(and_(out, related)).label("related_party_count"),
            total(overdue).label("overdue_amount"),
            count(overdue).label("overdue_count"),
            total(overdue_90).label("overdue_90_amount"),
            count(overdue_90).label("overdue_90_count"),
        )
    ).one()
    figures = {k: int(v) for k, v in row._mapping.items()}
    by_borrower = (
        select(func.sum(pos.c.outstanding).label("owed"))
        .where(out)
        .group_by(pos.c.customer_id)
        .order_by(func.sum(pos.c.outstanding).desc())
        .limit(10)
    )
    top = [int(v) for v in conn.execute(by_borrower).scalars()]
    return figures, top


def _lender_figures(
    conn: Connection,
    day: date,
    as_of_us: int,
    lenders: Any | None = None,
    compensated_loans: Any | None = None,
) -> dict[str, int]:
    """The lender and compensation figures: over the whole book, or (a partition) over the
    notes whose lender ``lenders`` accepts and the compensations of the loans
    ``compensated_loans`` accepts (both conditions on an id column)."""
    n = notes.c
    # Only the loans these lenders hold notes on need a position.
    among = None if lenders is None else select(n.loan_id).where(lenders(n.lender_id))
    pos = loan_positions(day, among=among)
    held = n.acquired_at <= as_of_us
    child = notes.alias("child")
    sold_on = (
        select(literal(1))
        .where(child.c.parent_note_id == n.id, child.c.acquired_at <= as_of_us)
        .exists()
    )
    comp = compensations.c
    compensated = select(literal(1)).where(comp.note_id == n.id, comp.business_date <= day).exists()
    outstanding_loan = n.loan_id.in_(select(pos.c.loan_id).where(pos.c.outstanding > 0))
    lender_rows = select(
        func.count(func.distinct(case((held, n.lender_id)))).label("cum_lenders"),
        func.count(
            func.distinct(case((and_(held, outstanding_loan, ~sold_on, ~compensated), n.lender_id)))
        ).label("current_lenders"),
    )
    if lenders is not None:
        lender_rows = lender_rows.where(lenders(n.lender_id))
    row = conn.execute(lender_rows).one()
    comp_rows = select(
        func.coalesce(func.sum(comp.amount_fen), 0).label("cum_compensated_amount"),
        func.count(func.distinct(comp.loan_id)).label("cum_compensated_count"),
    ).where(comp.business_date <= day)
    if compensated_loans is not None:
        comp_rows = comp_rows.where(compensated_loans(comp.loan_id))
    comp_row = conn.execute(comp_rows).one()
    return {
        **{k: int(v) for k, v in row._mapping.items()},
        **{k: int(v) for k, v in comp_row._mapping.items()},
    }


FEE_KEYS = (
    "upfront_fee_rate",
    "upfront_fee_fen",
    "period_fee_rate",
    "period_fee_fen",
    "late_fee_fen",
    "penalty_rate_multiplier",
    "prepayment_fee_rate",
)


def fee_schedule(conn: Connection, day: date) -> dict[str, Any]:
    """收费标准: each product's fee terms in force on ``day`` (the latest version by then)."""
    pv = product_versions.c
    latest = (
        select(pv.product_id, func.max(pv.version).label("version"))
        .where(pv.effective_from <= day)
        .group_by(pv.product_id)
        .subquery()
    )
    rows = conn.execute(
        select(products.c.code, products.c.name, pv.version, pv.mode, pv.terms_json)
        .join(products, products.c.id == pv.product_id)
        .join(latest, and_(latest.c.product_id == pv.product_id, latest.c.version == pv.version))
        .order_by(products.c.code)
    ).all()
    schedule = []
    for r in rows:
        terms = json.loads(r.terms_json)
        schedule.append(
            {
                "product": r.code,
                "name": r.name,
                "version": r.version,
                "mode": r.mode,
                "fees": {k: terms[k] for k in FEE_KEYS if k in terms},
            }
        )
    return {"borrower": schedule, "lender": {"investment_fee": "0"}}


def monthly_figures(conn: Connection, *, period: str) -> MonthlyFigures:
    """The 21 items for ``period`` ("YYYY-MM")."""
    day, as_of_us = cut_off(period)
    loan = _loan_figures(conn, day, as_of_us)
    lender = _lender_figures(conn, day, as_of_us)
    return _assemble(conn, period, day, loan, lender)


#: The figures a partition adds up (puhui.tasks.disclosure): sums and counts of its own rows.
#: Distinct borrowers add up because a partition holds whole borrowers, distinct lenders because
#: it holds whole lenders, compensated loans because it holds whole loans.
ADDITIVE = (
    "cum_loan_amount",
    "cum_loan_count",
    "outstanding_principal",
    "outstanding_count",
    "outstanding_interest",
    "cum_borrowers",
    "current_borrowers",
    "related_party_outstanding",
    "related_party_count",
    "overdue_amount",
    "overdue_count",
    "overdue_90_amount",
    "overdue_90_count",
    "cum_lenders",
    "current_lenders",
    "cum_compensated_amount",
    "cum_compensated_count",
)
#: How many of a partition's largest borrowers it reports: the whole book's top ten are among
#: the partitions' top tens, since every borrower's loans are in one partition.
TOP_BORROWERS = 10


def in_partition(partitions: int, partition: int) -> Any:
    """A condition on an id column: the id belongs to ``partition`` of ``partitions``.

    Ids are dealt out by remainder, not cut into ranges, so a partition is the same set of
    ids however the book grows, with nothing to record between a dispatcher and its tasks."""
    if not 1 <= partitions <= MAX_PARTITIONS or not 0 <= partition < partitions:
        raise ValidationError(
            "disclosure_partition_invalid",
            f"partition {partition} of {partitions}: partitions must be 1–{MAX_PARTITIONS} "
            "and the partition 0 to partitions − 1",
            field="partition",
        )
    return lambda column: column % partitions == partition


def partial_figures(
    conn: Connection, *, period: str, partitions: int, partition: int
) -> dict[str, Any]:
    """One partition's share of ``period``'s figures: every ``ADDITIVE`` figure over the
    borrowers, lenders and compensated loans whose id falls in the partition, and
    ``top_borrowers_fen``, its largest borrowers' outstanding principal, largest first.
    ``merge_partials`` of all the partitions equals ``monthly_figures``."""
    owns = in_partition(partitions, partition)
    day, as_of_us = cut_off(period)
    among = select(loans.c.id).where(owns(loans.c.customer_id))
    sums, top = _loan_sums(conn, day, among)
    lender = _lender_figures(conn, day, as_of_us, lenders=owns, compensated_loans=owns)
    return {**sums, **lender, "top_borrowers_fen": top[:TOP_BORROWERS]}


def merge_partials(
    conn: Connection, *, period: str, partials: Sequence[Mapping[str, Any]]
) -> MonthlyFigures:
    """The 21 items from every partition's ``partial_figures`` (one per partition, in any
    order); the fee schedule is read here, as it is no partition's."""
    day, _ = cut_off(period)
    total = {k: sum(int(p[k]) for p in partials) for k in ADDITIVE}
    top = sorted((int(v) for p in partials for v in p["top_borrowers_fen"]), reverse=True)
    return _assemble(conn, period, day, _with_top(total, top), {})


def _assemble(
    conn: Connection, period: str, day: date, loan: dict[str, Any], lender: dict[str, Any]
) -> MonthlyFigures:
    """The report from its loan and lender figures: the ratios, averages and fee schedule are
    derived here, once, for both the one-process and the partitioned path."""
    outstanding = loan["outstanding_principal"]
    other = {
        "project_overdue_rate": _ratio(loan["overdue_count"], loan["outstanding_count"]),
        "amount_overdue_rate": _ratio(loan["overdue_amount"], outstanding),
        "average_loan_fen": (
            loan["cum_loan_amount"] // loan["cum_loan_count"] if loan["cum_loan_count"] else 0
        ),
        "top10_outstanding_fen": loan["_top10_fen"],
        "top1_outstanding_fen": loan["_top1_fen"],
    }
    merged: dict[str, Any] = {**loan, **lender}
    merged["fee_schedule"] = fee_schedule(conn, day)
    merged["other_info"] = other
    items = {code: merged[code] for code in ITEM_CODES}
    return MonthlyFigures(period=period, as_of=as_of_text(period), items=items)


def missing_items(items: dict[str, Any]) -> list[str]:
    """The item codes absent or null (DIS-OPS-04: publication refuses any)."""
    return [code for code in ITEM_CODES if items.get(code) is None or items.get(code) == ""]
