"""Regulatory checks (`puhui compliance check`): every rule software can evaluate, on demand
and as a daily job step. A breach opens an alert for compliance staff under the rule's id.

Each check reads with set-based SQL and returns findings; ``run_checks`` raises one alert per
finding (an open alert for the same rule and subject is refreshed, not duplicated). The rule ids
are those of regulation.md where one exists:

========================  ===============================================================
P2P-CAP-01/02             a marketplace borrower's outstanding principal over 200,000 /
                          1,000,000 yuan (person / entity, 暂行办法 第十七条)
MCL-CAP-01                a licensed lender's borrower over 300,000 yuan (micro-loan draft)
RATE-CAP-01/02/03         an active loan's IRR annual rate above the cap of its profile and
                          contract date (``compliance.rate_caps``)
RATE-FEE-01               a disbursement short of the principal (upfront deduction, 砍头息)
P2P-PRO-03                a banned promise phrase in a listing or a marketing text
P2P-SEG-01                ledger verify finds a problem (fund segregation, 第二十八条)
CUS-ACC-01                an open custody break (Σ sub-accounts ≠ the bank's master)
CUS-REC-01                no custody reconciliation for yesterday
REC-RET-01                a disbursed loan without its transaction record (records kept)
DIS-PRJ-04                post-loan disclosure of an open project older than 6 months
DIS-EVT-01                a major event unpublished 48 hours after it occurred
DIS-OPS-01                last month's report unpublished past its deadline
AML-LVT-03 / AML-STR-01   a large-value report or a confirmed case not filed in time
========================  ===============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Numeric,
    case,
    cast,
    func,
    inspect,
    literal,
    select,
)

from puhui.compliance import alerts as alerts_mod
from puhui.compliance import events as events_mod
from puhui.compliance import publication
from puhui.compliance.models import cases, large_value_reports
from puhui.compliance.phrases import find_banned
from puhui.compliance.rate_caps import DEFAULT_CAP_CONFIG, CapConfig, Profile, rate_cap
from puhui.core.clock import SHANGHAI, Clock, business_date
from puhui.db.engine import run_in_transaction
from puhui.identity.models import customers
from puhui.lending.models import loan_transactions, loans, product_versions
from puhui.marketplace.models import listings

YUAN = 100
P2P_CAP_PERSON_FEN = 200_000 * YUAN
P2P_CAP_ENTITY_FEN = 1_000_000 * YUAN
MCL_CAP_PERSON_FEN = 300_000 * YUAN
STALE_POST_LOAN = timedelta(days=183)  # DIS-PRJ-04: 6 months by default [M]
LIVE_STATES = ("disbursed", "active")


@dataclass(frozen=True)
class Finding:
    rule_id: str
    subject: str
    detail: str


@dataclass(frozen=True)
class CheckResult:
    business_date: date
    findings: tuple[Finding, ...]
    new_alerts: int
    checks_run: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "business_date": self.business_date.isoformat(),
            "checks_run": list(self.checks_run),
            "findings": [f.__dict__ for f in self.findings],
            "new_alerts": self.new_alerts,
        }


def _us(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=SHANGHAI).timestamp() * 1_000_000)


def borrowing_caps(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """P2P-CAP-01/02 on marketplace loans, MCL-CAP-01 on licensed-lender loans."""
    ln, pv, cu = loans.c, product_versions.c, customers.c
    owed = func.sum(ln.principal_outstanding_fen)
    rows = conn.execute(
        select(ln.customer_id, cu.kind, pv.mode, pv.regulatory_profile, owed.label("owed"))
        .join(product_versions, pv.id == ln.product_version_id)
        .join(customers, cu.id == ln.customer_id)
        .where(ln.state.in_(LIVE_STATES))
        .group_by(ln.customer_id, cu.kind, pv.mode, pv.regulatory_profile)
        .having(owed > P2P_CAP_PERSON_FEN)
    ).all()
    found = []
    for r in rows:
        if r.mode == "marketplace":
            limit, rule = (
                (P2P_CAP_ENTITY_FEN, "P2P-CAP-02")
                if r.kind == "entity"
                else (P2P_CAP_PERSON_FEN, "P2P-CAP-01")
            )
        elif r.regulatory_profile == Profile.LICENSED_LENDER.value and r.kind == "person":
            limit, rule = MCL_CAP_PERSON_FEN, "MCL-CAP-01"
        else:
            continue
        if int(r.owed) > limit:
            found.append(
                Finding(
                    rule,
                    f"customer:{r.customer_id}",
                    f"outstanding principal {int(r.owed)} fen over the cap {limit} fen",
                )
            )
    return found


def _cap_expression(profile_col: Any, signed_col: Any, config: CapConfig) -> Any:
    """SQL for each loan's cap: by profile and the contract date (the LPR in force then)."""
    legacy_from = _us(config.new_rules_from)
    whens: list[tuple[Any, Any]] = [
        (signed_col < legacy_from, _rate(config.legacy_cap)),
        (profile_col == Profile.LICENSED_LENDER.value, _rate(config.licensed_policy_cap)),
    ]
    for fixing in sorted(config.lpr, key=lambda f: f.effective_from, reverse=True):
        start = max(fixing.effective_from, config.new_rules_from)
        cap = rate_cap(profile=Profile.PRIVATE_LENDING, contract_date=start, config=config).cap
        whens.append((signed_col >= _us(start), _rate(cap)))
    return case(*whens, else_=_rate(config.legacy_cap))


def _rate(value: Decimal) -> Any:
    """A rate as an exact SQL numeric literal (never a float)."""
    return literal(value, Numeric())


def rate_caps(
    conn: Connection, day: date, clock: Clock, *, config: CapConfig = DEFAULT_CAP_CONFIG
) -> list[Finding]:
    """RATE-CAP-*: an active loan's IRR annual rate (``lending.apr``) above its cap."""
    ln, pv = loans.c, product_versions.c
    cap = _cap_expression(pv.regulatory_profile, ln.signed_us, config)
    irr = cast(ln.irr_annual_rate, Numeric())
    # SQL narrows to the loans above their cap (SQLite compares numerics as doubles: a loan
    # within a rounding hair of its cap may come back); the decision is the Decimal one below.
    rows = conn.execute(
        select(ln.id, ln.irr_annual_rate, pv.regulatory_profile, ln.signed_us)
        .join(product_versions, pv.id == ln.product_version_id)
        .where(ln.state.in_(LIVE_STATES), irr > cap)
        .order_by(ln.id)
    ).all()
    found = []
    for r in rows:
        contract = datetime.fromtimestamp(r.signed_us / 1_000_000, tz=SHANGHAI).date()
        limit = rate_cap(profile=r.regulatory_profile, contract_date=contract, config=config)
        if Decimal(r.irr_annual_rate) > limit.cap:
            rule = (
                "RATE-CAP-03"
                if contract < config.new_rules_from
                else ("RATE-CAP-02" if limit.profile is Profile.LICENSED_LENDER else "RATE-CAP-01")
            )
            found.append(
                Finding(
                    rule,
                    f"loan:{r.id}",
                    f"IRR annual rate {r.irr_annual_rate} above the cap {limit.cap} "
                    f"({limit.basis})",
                )
            )
    return found


def upfront_deductions(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """RATE-FEE-01: the full principal is paid out; a shorter disbursement is a deduction."""
    t, ln = loan_transactions.c, loans.c
    rows = conn.execute(
        select(ln.id, ln.principal_fen, t.amount_fen)
        .join(loan_transactions, t.loan_id == ln.id)
        .where(
            t.kind == "disbursement",
            t.reversed_by_id.is_(None),
            t.amount_fen != ln.principal_fen,
        )
    ).all()
    return [
        Finding(
            "RATE-FEE-01",
            f"loan:{r.id}",
            f"disbursed {r.amount_fen} fen of a {r.principal_fen} fen principal",
        )
        for r in rows
    ]


def _marketing_texts(conn: Connection) -> list[tuple[str, str]]:
    """(subject, text) of every listing still shown and every marketing text."""
    li = listings.c
    texts = [
        (f"listing:{r.id}", f"{r.title}\n{r.description}")
        for r in conn.execute(
            select(li.id, li.title, li.description).where(li.status.in_(("draft", "open")))
        )
    ]
    if inspect(conn).has_table("ops_channels"):
        from puhui.ops.models import channels

        ch = channels.c
        texts += [
            (f"ops_channel:{r.id}", f"{r.name}\n{r.landing_text}")
            for r in conn.execute(select(ch.id, ch.name, ch.landing_text))
        ]
    return texts


def banned_phrases(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """P2P-PRO-03: 保本、保息、刚性兑付 … in a listing or marketing text."""
    out = []
    for subject, body in _marketing_texts(conn):
        hits = find_banned(body)
        if hits:
            out.append(Finding("P2P-PRO-03", subject, "banned phrases: " + ", ".join(hits)))
    return out


def fund_segregation(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """P2P-SEG-01 (ledger verify) and CUS-ACC-01 (open custody breaks at yesterday)."""
    from puhui.custody.breaks import open_breaks
    from puhui.ledger.verify import verify

    out = [
        Finding("P2P-SEG-01", f"ledger:{p.check}", str(p))
        for p in verify(conn)[:50]  # one alert per kind of problem is enough to act on
    ]
    open_ = open_breaks(conn, as_of=day - timedelta(days=1))
    if open_:
        delta = sum(b.delta for b in open_)
        out.append(
            Finding(
                "CUS-ACC-01",
                "custody:breaks",
                f"{len(open_)} open custody break(s), Δ {delta} fen, oldest from "
                f"{open_[0].business_date.isoformat()}",
            )
        )
    return out


def reconciliation(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """CUS-REC-01: yesterday's custody statement was reconciled."""
    from puhui.custody.models import recon_runs

    yesterday = day - timedelta(days=1)
    done = conn.execute(
        select(func.count()).select_from(recon_runs).where(recon_runs.c.business_date == yesterday)
    ).scalar()
    if done:
        return []
    return [
        Finding(
            "CUS-REC-01",
            f"recon:{yesterday.isoformat()}",
            f"no custody reconciliation run for {yesterday.isoformat()}",
        )
    ]


def records_retention(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """REC-RET-01: every disbursed loan keeps its disbursement record (5 years after maturity,
    P2P-OBL-01): a loan marked disbursed with none has lost part of its history."""
    t, ln = loan_transactions.c, loans.c
    has = select(literal(1)).where(t.loan_id == ln.id, t.kind == "disbursement").exists()
    rows = conn.execute(select(ln.id).where(ln.disbursed_us.is_not(None), ~has)).scalars().all()
    return [
        Finding("REC-RET-01", f"loan:{loan_id}", "disbursed loan without its disbursement record")
        for loan_id in rows
    ]


def stale_post_loan(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """DIS-PRJ-04: a funded project's post-loan information is refreshed every 6 months."""
    li, ln = listings.c, loans.c
    limit = _us(day) - int(STALE_POST_LOAN.total_seconds() * 1_000_000)
    rows = conn.execute(
        select(li.id, li.updated_at)
        .join(loans, ln.id == li.loan_id)
        .where(li.status == "funded", ln.state.in_(LIVE_STATES), li.updated_at < limit)
    ).all()
    return [
        Finding(
            "DIS-PRJ-04",
            f"listing:{r.id}",
            "post-loan disclosure last updated "
            f"{datetime.fromtimestamp(r.updated_at / 1_000_000, tz=SHANGHAI).date().isoformat()}",
        )
        for r in rows
    ]


def disclosure_deadlines(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """DIS-EVT-01 and DIS-OPS-01: major events and the monthly report on time."""
    out = [
        Finding(
            "DIS-EVT-01",
            f"event:{e.id}",
            f"major event '{e.title}' unpublished, due {e.due_at.isoformat()}",
        )
        for e in events_mod.overdue_events(conn, clock=clock)
    ]
    due = publication.due_unpublished(conn, clock=clock)
    if due and due["overdue"]:
        out.append(
            Finding(
                "DIS-OPS-01",
                f"report:{due['period']}",
                f"the {due['period']} report was due on {due['deadline'].isoformat()}",
            )
        )
    return out


def aml_deadlines(conn: Connection, day: date, clock: Clock) -> list[Finding]:
    """AML-LVT-03 and AML-STR-01: reports and confirmed cases filed within 5 working days."""
    lv, ca = large_value_reports.c, cases.c
    out = [
        Finding(
            "AML-LVT-03",
            f"large_value:{r.id}",
            f"large-value report of customer {r.customer_id} for "
            f"{r.business_date.isoformat()} due {r.due_date.isoformat()}",
        )
        for r in conn.execute(
            select(lv.id, lv.customer_id, lv.business_date, lv.due_date).where(
                lv.status == "pending", lv.due_date < day
            )
        )
    ]
    out += [
        Finding("AML-STR-01", f"aml_case:{r.id}", f"confirmed case due {r.due_date.isoformat()}")
        for r in conn.execute(
            select(ca.id, ca.due_date).where(
                ca.status == "confirmed", ca.due_date.is_not(None), ca.due_date < day
            )
        )
    ]
    return out


CHECKS: tuple[tuple[str, Callable[[Connection, date, Clock], list[Finding]]], ...] = (
    ("borrowing_caps", borrowing_caps),
    ("rate_caps", rate_caps),
    ("upfront_deductions", upfront_deductions),
    ("banned_phrases", banned_phrases),
    ("fund_segregation", fund_segregation),
    ("reconciliation", reconciliation),
    ("records_retention", records_retention),
    ("stale_post_loan", stale_post_loan),
    ("disclosure_deadlines", disclosure_deadlines),
    ("aml_deadlines", aml_deadlines),
)


def check_all(
    conn: Connection, *, day: date, clock: Clock, only: tuple[str, ...] | None = None
) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    ran = []
    for name, fn in CHECKS:
        if only and name not in only:
            continue
        findings += fn(conn, day, clock)
        ran.append(name)
    return findings, ran


def run_checks(
    engine: Engine,
    *,
    clock: Clock,
    business_date_: date | None = None,
    only: tuple[str, ...] | None = None,
) -> CheckResult:
    """Run the checks and raise their alerts, in one transaction."""
    day = business_date_ or business_date(clock.now())

    def work(conn: Connection) -> CheckResult:
        findings, ran = check_all(conn, day=day, clock=clock, only=only)
        new = 0
        for f in findings:
            _id, is_new = alerts_mod.raise_alert(
                conn, rule_id=f.rule_id, subject=f.subject, detail=f.detail, clock=clock
            )
            new += is_new
        return CheckResult(day, tuple(findings), new, tuple(ran))

    return run_in_transaction(engine, work)
