"""Anti-money-laundering (反洗钱): large-value reports, suspicious-pattern monitors, cases, and
the watch list (regulation §6, AML-*).

Money reaches a customer only through the custody bank, so the monitors read completed custody
instructions (``custody_instructions``, status ``succeeded``): a deposit is money in for its
holder, a withdrawal money out, a transfer money out for the payer and in for the holder of the
credited sub-account. A customer's sub-accounts are named ``customer-{id}``. All of it is
domestic transfer (转账): the platform handles no cash and no cross-border payment, but the
thresholds keep every category of the rule (AML-LVT-02) so a channel that has them can report.

* Large-value (大额, AML-LVT-01/03): per customer, Shanghai calendar day and one direction, the
  inclusive threshold of the customer's kind; due 5 working days after the day.
* Monitors open suspicious cases (可疑, AML-STR-01): structuring (several days each just under
  the threshold), in-and-out (money straight back out the day it came in), one bank card bound
  by several customers, and repayments paid by somebody other than the borrower.
* A case is reviewed (reasoning), then confirmed or dismissed with a reason, and a confirmed
  case is filed within 5 working days of confirmation.
* A watch-list match (AML-STR-02) blocks the customer (``is_blocked``), freezes what their
  sub-accounts hold with ledger pending transfers to the custody suspense account, and opens a
  case that is confirmed at once and due immediately.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select, union_all

from puhui.compliance.calendar import CN_CALENDAR, WorkingCalendar
from puhui.compliance.models import blocks, cases, large_value_reports, watch_list
from puhui.core.clock import SHANGHAI, Clock, business_date
from puhui.core.errors import Conflict, NotFound, ValidationError
from puhui.custody.models import custody_accounts, instructions
from puhui.identity.crypto import Keyring, blind_index
from puhui.identity.identifiers import parse_resident_id
from puhui.identity.models import bank_cards, customers
from puhui.ledger.codes import TransferCode, TransferFlags
from puhui.ledger.service import Transfer, create_transfers, get_account

DAY_US = 86_400_000_000
SHANGHAI_OFFSET_US = 8 * 3_600_000_000
REF_PREFIX = "customer-"


@dataclass(frozen=True)
class Threshold:
    """One inclusive large-value threshold, in force from ``effective_from`` (AML-LVT-02)."""

    effective_from: date
    category: str  # cash | entity_transfer | person_domestic | person_crossborder
    currency: str
    amount_fen: int


#: PBoC Order 2016-3 第五条, in force 2017-07-01 (regulation §9 aml.*).
THRESHOLDS: tuple[Threshold, ...] = tuple(
    Threshold(date(2017, 7, 1), cat, cur, yuan * 100)
    for cat, cur, yuan in (
        ("cash", "CNY", 50_000),
        ("cash", "USD", 10_000),
        ("entity_transfer", "CNY", 2_000_000),
        ("entity_transfer", "USD", 200_000),
        ("person_domestic", "CNY", 500_000),
        ("person_domestic", "USD", 100_000),
        ("person_crossborder", "CNY", 200_000),
        ("person_crossborder", "USD", 10_000),
    )
)
REPORT_WORKING_DAYS = 5  # aml.report_deadline_working_days
STRUCTURING_FLOOR = (9, 10)  # a day at 90% or more of the threshold, still below it
STRUCTURING_DAYS = 2  # that many such days …
STRUCTURING_WINDOW = 7  # … within a week
IN_OUT_MIN_FEN = 100_000 * 100  # in-and-out: at least 100,000 yuan in …
IN_OUT_SHARE = (9, 10)  # … and 90% of it out the same day


def threshold(
    category: str, *, on: date, currency: str = "CNY", table: tuple[Threshold, ...] = THRESHOLDS
) -> int:
    """The threshold in force ``on`` for a category and currency."""
    found = [
        t
        for t in table
        if t.category == category and t.currency == currency and t.effective_from <= on
    ]
    if not found:
        raise ValidationError(
            "no_threshold", f"no {category}/{currency} threshold on {on}", field="category"
        )
    return max(found, key=lambda t: t.effective_from).amount_fen


def category_of(kind: str) -> str:
    return "entity_transfer" if kind == "entity" else "person_domestic"


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class LargeValueReport:
    id: int
    customer_id: int
    customer_kind: str
    business_date: date
    direction: str
    category: str
    currency: str
    total_fen: int
    txn_count: int
    threshold_fen: int
    due_date: date
    status: str
    filed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["business_date"] = self.business_date.isoformat()
        out["due_date"] = self.due_date.isoformat()
        return out


@dataclass(frozen=True)
class Case:
    id: int
    rule: str
    subject: str
    customer_ids: tuple[int, ...]
    detail: dict[str, Any]
    status: str
    reasoning: str
    decision_reason: str | None
    decided_by: str | None
    due_date: date | None
    filed_by: str | None
    opened_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "subject": self.subject,
            "customer_ids": list(self.customer_ids),
            "detail": self.detail,
            "status": self.status,
            "reasoning": self.reasoning,
            "decision_reason": self.decision_reason,
            "decided_by": self.decided_by,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "filed_by": self.filed_by,
            "opened_at": self.opened_at.isoformat(),
        }


def _us(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1_000_000)


def _day_start_us(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=SHANGHAI).timestamp() * 1_000_000)


def _report(row: Any) -> LargeValueReport:
    return LargeValueReport(
        id=row.id,
        customer_id=row.customer_id,
        customer_kind=row.customer_kind,
        business_date=row.business_date,
        direction=row.direction,
        category=row.category,
        currency=row.currency,
        total_fen=row.total_fen,
        txn_count=row.txn_count,
        threshold_fen=row.threshold_fen,
        due_date=row.due_date,
        status=row.status,
        filed_by=row.filed_by,
    )


def _case(row: Any) -> Case:
    return Case(
        id=row.id,
        rule=row.rule,
        subject=row.subject,
        customer_ids=tuple(json.loads(row.customer_ids)),
        detail=json.loads(row.detail_json),
        status=row.status,
        reasoning=row.reasoning,
        decision_reason=row.decision_reason,
        decided_by=row.decided_by,
        due_date=row.due_date,
        filed_by=row.filed_by,
        opened_at=datetime.fromtimestamp(row.opened_us / 1_000_000, tz=UTC),
    )


# ------------------------------------------------------------------------------ money flows


def customer_of(user_ref: str) -> int | None:
    """The customer id of a custody ``user_ref`` (``customer-{id}``); None for other holders."""
    return _customer_id(user_ref)


def _customer_id(user_ref: str) -> int | None:
    if user_ref.startswith(REF_PREFIX) and user_ref[len(REF_PREFIX) :].isdigit():
        return int(user_ref[len(REF_PREFIX) :])
    return None


def legs(start_us: int, end_us: int) -> Any:
    """(user_ref, direction, amount, day number, instruction id) of every completed custody
    movement in [start, end): one row per side that belongs to a user."""
    i = instructions.c
    done = and_(i.status == "succeeded", i.completed_us >= start_us, i.completed_us < end_us)
    day_no = (i.completed_us + SHANGHAI_OFFSET_US) // DAY_US
    ca = custody_accounts.c
    return union_all(
        select(
            i.user_ref.label("user_ref"),
            literal("in").label("direction"),
            i.amount.label("amount"),
            day_no.label("day_no"),
            i.id.label("instruction_id"),
        ).where(done, i.kind == "deposit"),
        select(i.user_ref, literal("out"), i.amount, day_no, i.id).where(
            done, i.kind.in_(("withdrawal", "transfer"))
        ),
        select(ca.user_ref, literal("in"), i.amount, day_no, i.id)
        .join(custody_accounts, ca.ledger_account_id == i.credit_account_id)
        .where(done, i.kind == "transfer"),
    ).subquery("legs")


def _day_of(day_no: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day_no))


def _kinds(conn: Connection, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(customers.c.id, customers.c.kind).where(customers.c.id.in_(ids)))
    return {r.id: r.kind for r in rows}


def daily_totals(conn: Connection, *, first: date, last: date, at_least: int) -> list[Any]:
    """(user_ref, direction, day_no, total, count) per user, day and direction over
    [first, last], only where the total is at least ``at_least`` fen."""
    lg = legs(_day_start_us(first), _day_start_us(last + timedelta(days=1)))
    total = func.sum(lg.c.amount)
    return conn.execute(
        select(
            lg.c.user_ref,
            lg.c.direction,
            lg.c.day_no,
            total.label("total"),
            func.count().label("n"),
        )
        .group_by(lg.c.user_ref, lg.c.direction, lg.c.day_no)
        .having(total >= at_least)
        .order_by(lg.c.user_ref, lg.c.direction, lg.c.day_no)
    ).all()


# ------------------------------------------------------------------------------ large value


def scan_large_value(
    conn: Connection, *, day: date, clock: Clock, calendar: WorkingCalendar = CN_CALENDAR
) -> list[LargeValueReport]:
    """AML-LVT-01: a report per customer and direction whose ``day`` total meets the inclusive
    threshold of the customer's kind. Rerunning a day adds nothing twice."""
    person = threshold("person_domestic", on=day)
    entity = threshold("entity_transfer", on=day)
    rows = daily_totals(conn, first=day, last=day, at_least=min(person, entity))
    ids = {cid for r in rows if (cid := _customer_id(r.user_ref)) is not None}
    kinds = _kinds(conn, ids)
    due = calendar.add_working_days(day, REPORT_WORKING_DAYS)
    made = []
    lv = large_value_reports.c
    for r in rows:
        cid = _customer_id(r.user_ref)
        if cid is None or cid not in kinds:
            continue
        category = category_of(kinds[cid])
        limit = entity if category == "entity_transfer" else person
        if int(r.total) < limit:
            continue
        exists = conn.execute(
            select(lv.id).where(
                lv.customer_id == cid,
                lv.business_date == day,
                lv.direction == r.direction,
                lv.category == category,
            )
        ).scalar()
        if exists:
            continue
        new_id = conn.execute(
            large_value_reports.insert().values(
                customer_id=cid,
                customer_kind=kinds[cid],
                business_date=day,
                direction=r.direction,
                category=category,
                currency="CNY",
                total_fen=int(r.total),
                txn_count=int(r.n),
                threshold_fen=limit,
                due_date=due,
                status="pending",
                created_us=_us(clock),
            )
        ).inserted_primary_key[0]
        made.append(get_large_value(conn, report_id=int(new_id)))
    return made


def get_large_value(conn: Connection, *, report_id: int) -> LargeValueReport:
    row = conn.execute(
        select(large_value_reports).where(large_value_reports.c.id == report_id)
    ).one_or_none()
    if row is None:
        raise NotFound("report_not_found", f"no large-value report {report_id}", field="id")
    return _report(row)


def list_large_value(
    conn: Connection, *, status: str | None = "pending", limit: int = 500
) -> list[LargeValueReport]:
    lv = large_value_reports.c
    q = select(large_value_reports).order_by(lv.business_date.desc(), lv.id.desc()).limit(limit)
    if status:
        q = q.where(lv.status == status)
    return [_report(r) for r in conn.execute(q)]


def file_large_value(
    conn: Connection, *, report_id: int, by: str, clock: Clock
) -> LargeValueReport:
    current = get_large_value(conn, report_id=report_id)
    if current.status != "pending":
        raise Conflict("report_filed", f"report {report_id} is already filed", field="status")
    conn.execute(
        large_value_reports.update()
        .where(large_value_reports.c.id == report_id)
        .values(status="filed", filed_by=by, filed_us=_us(clock))
    )
    return get_large_value(conn, report_id=report_id)


# ------------------------------------------------------------------------------ monitors


def open_case(
    conn: Connection,
    *,
    rule: str,
    subject: str,
    customer_ids: list[int],
    detail: dict[str, Any],
    clock: Clock,
    status: str = "open",
    due_date: date | None = None,
) -> tuple[Case, bool]:
    """(the case, whether it is new): one case per rule and subject."""
    c = cases.c
    found = conn.execute(select(cases).where(c.rule == rule, c.subject == subject)).one_or_none()
    if found is not None:
        return _case(found), False
    new_id = conn.execute(
        cases.insert().values(
            rule=rule,
            subject=subject[:128],
            customer_ids=json.dumps(sorted(set(customer_ids))),
            detail_json=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
            status=status,
            due_date=due_date,
            opened_us=_us(clock),
        )
    ).inserted_primary_key[0]
    return get_case(conn, case_id=int(new_id)), True


def detect_structuring(conn: Connection, *, day: date, clock: Clock) -> list[Case]:
    """STR-STRUCT: within a week, several days whose one-direction total sits just under the
    threshold (90% or more of it, never reaching it): amounts split to stay unreported."""
    first = day - timedelta(days=STRUCTURING_WINDOW - 1)
    person = threshold("person_domestic", on=day)
    entity = threshold("entity_transfer", on=day)
    floor = min(person, entity) * STRUCTURING_FLOOR[0] // STRUCTURING_FLOOR[1]
    rows = daily_totals(conn, first=first, last=day, at_least=floor)
    kinds = _kinds(conn, {cid for r in rows if (cid := _customer_id(r.user_ref)) is not None})
    near: dict[tuple[int, str], list[tuple[date, int]]] = {}
    for r in rows:
        cid = _customer_id(r.user_ref)
        if cid is None or cid not in kinds:
            continue
        limit = entity if kinds[cid] == "entity" else person
        if limit * STRUCTURING_FLOOR[0] // STRUCTURING_FLOOR[1] <= int(r.total) < limit:
            near.setdefault((cid, r.direction), []).append((_day_of(r.day_no), int(r.total)))
    out = []
    for (cid, direction), days in sorted(near.items()):
        if len(days) < STRUCTURING_DAYS:
            continue
        last = max(d for d, _ in days)
        case, new = open_case(
            conn,
            rule="STR-STRUCT",
            subject=f"customer:{cid}:{direction}:{last.isoformat()}",
            customer_ids=[cid],
            detail={
                "direction": direction,
                "days": [{"date": d.isoformat(), "total_fen": t} for d, t in sorted(days)],
            },
            clock=clock,
        )
        if new:
            out.append(case)
    return out


def detect_in_and_out(conn: Connection, *, day: date, clock: Clock) -> list[Case]:
    """STR-INOUT (快进快出): at least 100,000 yuan in on a day and 90% of it out again."""
    rows = daily_totals(conn, first=day, last=day, at_least=1)
    by: dict[int, dict[str, int]] = {}
    for r in rows:
        cid = _customer_id(r.user_ref)
        if cid is not None:
            by.setdefault(cid, {})[r.direction] = int(r.total)
    out = []
    for cid, t in sorted(by.items()):
        money_in, money_out = t.get("in", 0), t.get("out", 0)
        if money_in >= IN_OUT_MIN_FEN and money_out * IN_OUT_SHARE[1] >= money_in * IN_OUT_SHARE[0]:
            case, new = open_case(
                conn,
                rule="STR-INOUT",
                subject=f"customer:{cid}:{day.isoformat()}",
                customer_ids=[cid],
                detail={"date": day.isoformat(), "in_fen": money_in, "out_fen": money_out},
                clock=clock,
            )
            if new:
                out.append(case)
    return out


def detect_shared_cards(conn: Connection, *, clock: Clock) -> list[Case]:
    """STR-CARD: one bank card (blind index) bound by more than one customer."""
    bc = bank_cards.c
    shared = (
        select(bc.card_bidx)
        .group_by(bc.card_bidx)
        .having(func.count(func.distinct(bc.customer_id)) > 1)
        .subquery()
    )
    rows = conn.execute(
        select(bc.card_bidx, bc.customer_id)
        .join(shared, shared.c.card_bidx == bc.card_bidx)
        .order_by(bc.card_bidx, bc.customer_id)
    ).all()
    groups: dict[str, set[int]] = {}
    for r in rows:
        groups.setdefault(r.card_bidx, set()).add(r.customer_id)
    out = []
    for bidx, ids in sorted(groups.items()):
        case, new = open_case(
            conn,
            rule="STR-CARD",
            subject=f"card:{bidx[:32]}:{len(ids)}",
            customer_ids=sorted(ids),
            detail={"customers": sorted(ids)},
            clock=clock,
        )
        if new:
            out.append(case)
    return out


def detect_shared_devices(
    conn: Connection, *, day: date, clock: Clock, at_least: int = 3
) -> list[Case]:
    """STR-DEVICE: ``at_least`` customers signing in from one address and browser on a day."""
    from puhui.identity.models import sessions

    s = sessions.c
    start, end = _day_start_us(day), _day_start_us(day + timedelta(days=1))
    customer = s.principal.like("customer:%")
    rows = conn.execute(
        select(s.ip, s.user_agent, func.count(func.distinct(s.principal)).label("n"))
        .where(customer, s.created_us >= start, s.created_us < end, s.ip.is_not(None))
        .group_by(s.ip, s.user_agent)
        .having(func.count(func.distinct(s.principal)) >= at_least)
    ).all()
    out = []
    for r in rows:
        ids = sorted(
            int(p.split(":", 1)[1])
            for p in conn.execute(
                select(func.distinct(s.principal)).where(
                    customer,
                    s.ip == r.ip,
                    s.user_agent == r.user_agent,
                    s.created_us >= start,
                    s.created_us < end,
                )
            ).scalars()
            if p.split(":", 1)[1].isdigit()
        )
        device = hashlib.sha256(f"{r.ip}\x1f{r.user_agent}".encode()).hexdigest()[:24]
        case, new = open_case(
            conn,
            rule="STR-DEVICE",
            subject=f"device:{device}:{day.isoformat()}",
            customer_ids=ids,
            detail={"date": day.isoformat(), "customers": ids, "device": device},
            clock=clock,
        )
        if new:
            out.append(case)
    return out


def detect_third_party_repayments(conn: Connection, *, day: date, clock: Clock) -> list[Case]:
    """STR-3RD (代还款): a transfer into a borrower's sub-account, which repayments draw on, paid
    by somebody else — not a lender's investment or a disbursement."""
    i, ca = instructions.c, custody_accounts.c
    start, end = _day_start_us(day), _day_start_us(day + timedelta(days=1))
    rows = conn.execute(
        select(i.id, i.user_ref.label("payer"), ca.user_ref.label("payee"), i.amount)
        .join(custody_accounts, ca.ledger_account_id == i.credit_account_id)
        .where(
            i.status == "succeeded",
            i.kind == "transfer",
            i.code.not_in((int(TransferCode.INVESTMENT), int(TransferCode.DISBURSEMENT))),
            ca.role == "borrower",
            i.user_ref != ca.user_ref,
            i.completed_us >= start,
            i.completed_us < end,
        )
    ).all()
    out = []
    for r in rows:
        ids = [x for x in (_customer_id(r.payer), _customer_id(r.payee)) if x is not None]
        case, new = open_case(
            conn,
            rule="STR-3RD",
            subject=f"instruction:{r.id}",
            customer_ids=ids,
            detail={
                "instruction": r.id,
                "payer": r.payer,
                "borrower": r.payee,
                "amount_fen": r.amount,
            },
            clock=clock,
        )
        if new:
            out.append(case)
    return out


def run_monitors(conn: Connection, *, day: date, clock: Clock) -> dict[str, int]:
    """The daily AML step: large-value reports and every monitor for ``day``."""
    return {
        "large_value": len(scan_large_value(conn, day=day, clock=clock)),
        "structuring": len(detect_structuring(conn, day=day, clock=clock)),
        "in_and_out": len(detect_in_and_out(conn, day=day, clock=clock)),
        "shared_card": len(detect_shared_cards(conn, clock=clock)),
        "shared_device": len(detect_shared_devices(conn, day=day, clock=clock)),
        "third_party": len(detect_third_party_repayments(conn, day=day, clock=clock)),
    }


# ------------------------------------------------------------------------------ cases


def get_case(conn: Connection, *, case_id: int) -> Case:
    row = conn.execute(select(cases).where(cases.c.id == case_id)).one_or_none()
    if row is None:
        raise NotFound("case_not_found", f"no AML case {case_id}", field="id")
    return _case(row)


def list_cases(conn: Connection, *, status: str | None = None, limit: int = 500) -> list[Case]:
    q = select(cases).order_by(cases.c.id.desc()).limit(limit)
    if status:
        q = q.where(cases.c.status == status)
    return [_case(r) for r in conn.execute(q)]


def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"{field}_required", f"{field} is required", field=field)
    return value[:4000]


def review_case(conn: Connection, *, case_id: int, reasoning: str, by: str, clock: Clock) -> Case:
    """An analyst records the reasoning (appended, with who and when); the case is reviewing."""
    text = _text(reasoning, "reasoning")
    current = get_case(conn, case_id=case_id)
    if current.status not in ("open", "reviewing"):
        raise Conflict("case_decided", f"case {case_id} is {current.status}", field="status")
    stamp = clock.now().astimezone(SHANGHAI).isoformat(timespec="seconds")
    note = f"[{stamp} {by}] {text}"
    joined = f"{current.reasoning}\n{note}" if current.reasoning else note
    conn.execute(
        cases.update().where(cases.c.id == case_id).values(status="reviewing", reasoning=joined)
    )
    return get_case(conn, case_id=case_id)


def decide_case(
    conn: Connection,
    *,
    case_id: int,
    decision: str,
    reason: str,
    by: str,
    clock: Clock,
    calendar: WorkingCalendar = CN_CALENDAR,
) -> Case:
    """Confirm (then due for filing in 5 working days) or dismiss, with the reason stored. A
    case needs its reasoning first."""
    if decision not in ("confirm", "dismiss"):
        raise ValidationError(
            "decision_invalid", "decision is confirm or dismiss", field="decision"
        )
    text = _text(reason, "reason")
    current = get_case(conn, case_id=case_id)
    if current.status != "reviewing":
        raise Conflict(
            "case_not_reviewed",
            f"case {case_id} is {current.status}: record the reasoning first",
            field="status",
        )
    today = business_date(clock.now())
    values: dict[str, Any] = {
        "status": "confirmed" if decision == "confirm" else "dismissed",
        "decision_reason": text,
        "decided_by": by,
        "decided_us": _us(clock),
    }
    if decision == "confirm":
        values["due_date"] = calendar.add_working_days(today, REPORT_WORKING_DAYS)
    conn.execute(cases.update().where(cases.c.id == case_id).values(**values))
    return get_case(conn, case_id=case_id)


def file_case(conn: Connection, *, case_id: int, by: str, clock: Clock) -> Case:
    current = get_case(conn, case_id=case_id)
    if current.status != "confirmed":
        raise Conflict("case_not_confirmed", f"case {case_id} is {current.status}", field="status")
    conn.execute(
        cases.update()
        .where(cases.c.id == case_id)
        .values(status="filed", filed_by=by, filed_us=_us(clock))
    )
    return get_case(conn, case_id=case_id)


# ------------------------------------------------------------------------------ watch list


def is_blocked(conn: Connection, customer_id: int) -> bool:
    """AML-STR-02: whether a watch-list match blocks this customer from transacting."""
    b = blocks.c
    return (
        conn.execute(
            select(b.customer_id).where(b.customer_id == customer_id, b.released_us.is_(None))
        ).scalar()
        is not None
    )


def require_not_blocked(conn: Connection, customer_id: int) -> None:
    """For money paths: refuse a blocked customer (403-style conflict, nothing recorded)."""
    if is_blocked(conn, customer_id):
        raise Conflict(
            "customer_blocked", "this customer is blocked pending an AML report", field="customer"
        )


def _freeze(
    conn: Connection, customer_id: int, watch_id: int, clock: Clock
) -> tuple[int, list[str]]:
    """Freeze what the customer's sub-accounts hold: a ledger pending transfer of each
    available balance to the custody suspense account."""
    from puhui.custody.service import suspense_account_id

    ca = custody_accounts.c
    accounts = (
        conn.execute(
            select(ca.ledger_account_id).where(ca.user_ref == f"{REF_PREFIX}{customer_id}")
        )
        .scalars()
        .all()
    )
    if not accounts:
        return 0, []
    suspense = suspense_account_id(conn)
    batch = []
    for account_id in accounts:
        available = get_account(conn, account_id).available
        if available > 0:
            batch.append(
                Transfer(
                    id=f"aml-freeze:{watch_id}:{customer_id}:{account_id}",
                    debit_account_id=account_id,
                    credit_account_id=suspense,
                    amount=available,
                    code=int(TransferCode.INTERNAL),
                    flags=TransferFlags.PENDING,
                    reference=f"AML watch-list freeze {watch_id}",
                )
            )
    results = create_transfers(conn, batch, clock=clock)
    failed = [r for r in results if not r.ok]
    if failed:
        raise Conflict("freeze_failed", f"ledger refused the freeze: {failed[0].message}")
    return sum(t.amount or 0 for t in batch), [t.id for t in batch]


def add_to_watch_list(
    conn: Connection,
    *,
    list_name: str,
    id_number: str,
    keys: Keyring,
    by: str,
    clock: Clock,
    note: str = "",
) -> dict[str, Any]:
    """Add an ID number; a customer who already matches is blocked and frozen at once."""
    rid = parse_resident_id(id_number, today=business_date(clock.now()))
    bidx = blind_index(keys, "id_number", rid.number)
    list_name = _text(list_name, "list_name")[:64]
    w = watch_list.c
    found = conn.execute(
        select(w.id).where(w.list_name == list_name, w.id_number_bidx == bidx)
    ).scalar()
    if found is None:
        found = conn.execute(
            watch_list.insert().values(
                list_name=list_name,
                id_number_bidx=bidx,
                note=(note or "")[:200],
                added_by=by,
                added_us=_us(clock),
            )
        ).inserted_primary_key[0]
    blocked = screen(conn, clock=clock)
    return {"watch_id": int(found), "blocked": blocked}


def screen(conn: Connection, *, clock: Clock) -> list[dict[str, Any]]:
    """Match every customer against the watch list (set-based); block and freeze new matches,
    each with an immediate, confirmed case (AML-STR-02)."""
    w, cu, b = watch_list.c, customers.c, blocks.c
    rows = conn.execute(
        select(cu.id.label("customer_id"), func.min(w.id).label("watch_id"))
        .join(watch_list, w.id_number_bidx == cu.id_number_bidx)
        .outerjoin(blocks, b.customer_id == cu.id)
        .where(b.customer_id.is_(None))
        .group_by(cu.id)
        .order_by(cu.id)
    ).all()
    today = business_date(clock.now())
    out = []
    for r in rows:
        frozen, transfer_ids = _freeze(conn, r.customer_id, r.watch_id, clock)
        case, _new = open_case(
            conn,
            rule="STR-WATCH",
            subject=f"watch:{r.watch_id}:customer:{r.customer_id}",
            customer_ids=[r.customer_id],
            detail={"watch_id": r.watch_id, "frozen_fen": frozen},
            clock=clock,
            status="confirmed",
            due_date=today,
        )
        conn.execute(
            blocks.insert().values(
                customer_id=r.customer_id,
                watch_id=r.watch_id,
                case_id=case.id,
                frozen_fen=frozen,
                freeze_transfer_ids=json.dumps(transfer_ids),
                blocked_us=_us(clock),
            )
        )
        out.append({"customer_id": r.customer_id, "case_id": case.id, "frozen_fen": frozen})
    return out


# ------------------------------------------------------------------------------ export


EXPORT_SCHEMA = "puhui.aml.export/1"


def export(conn: Connection, *, start: date, end: date) -> dict[str, Any]:
    """Large-value reports and filed or confirmed suspicious cases of [start, end], in the
    format documented in docs/compliance.md (customers by id: the filing system joins the
    identity data it is entitled to)."""
    if end < start:
        raise ValidationError("range_invalid", "end is before start", field="end")
    lv, c = large_value_reports.c, cases.c
    reports = conn.execute(
        select(large_value_reports)
        .where(lv.business_date >= start, lv.business_date <= end)
        .order_by(lv.business_date, lv.customer_id, lv.direction)
    ).all()
    lo, hi = _day_start_us(start), _day_start_us(end + timedelta(days=1))
    found = conn.execute(
        select(cases)
        .where(c.status.in_(("confirmed", "filed")), c.decided_us >= lo, c.decided_us < hi)
        .order_by(c.id)
    ).all()
    watch = conn.execute(
        select(cases).where(c.rule == "STR-WATCH", c.opened_us >= lo, c.opened_us < hi)
    ).all()
    suspicious = {r.id: _case(r).as_dict() for r in [*found, *watch]}
    return {
        "schema": EXPORT_SCHEMA,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "large_value": [_report(r).as_dict() for r in reports],
        "suspicious": [suspicious[k] for k in sorted(suspicious)],
    }
