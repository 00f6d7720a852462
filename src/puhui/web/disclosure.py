"""The public disclosure column (信息披露专栏): no login, served from the published snapshot.

Every channel shows the same published snapshot (DIS-GEN-01): this page, the public API under
``/api/v1/disclosure`` and the files of ``puhui disclose`` all read ``compliance_reports``. The
page speaks the visitor's language like every page: its words are in the message catalogs, and
the 21 items keep the regulation's Chinese names (frozen in the snapshot) with an English name
beside them here. ``report_html`` renders the report body in the current language, and
``standalone_html`` a whole file for the CLI (Chinese, the default).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from puhui.compliance import events, publication, reports
from puhui.compliance.publication import TREND_ITEMS, Publication
from puhui.web import i18n, nav
from puhui.web.charts import Series, bars
from puhui.web.common import EngineDep
from puhui.web.i18n import N_
from puhui.web.nav import NavItem
from puhui.web.render import ENV, page
from puhui.web.security import MaybeCustomerDep

router = APIRouter(prefix="/m", include_in_schema=False)
nav.register("customer", NavItem("disclosure", N_("Disclosure"), "/m/disclosure", 95))

CHART_GROUPS = (
    (
        N_("Outstanding and cumulative loan amounts (10,000 yuan)"),
        ("outstanding_principal", "cum_loan_amount"),
    ),
    (N_("Overdue amounts (10,000 yuan)"), ("overdue_amount", "overdue_90_amount")),
)
#: the English names of the 21 items (§3.3); the Chinese ones travel in the snapshot
ITEM_NAMES_EN = {
    "cum_loan_amount": "Cumulative loan amount since founding",
    "cum_loan_count": "Cumulative number of loans since founding",
    "outstanding_principal": "Outstanding loan balance",
    "outstanding_count": "Number of outstanding loans",
    "outstanding_interest": "Outstanding interest",
    "cum_lenders": "Cumulative number of lenders",
    "cum_borrowers": "Cumulative number of borrowers",
    "current_lenders": "Current number of lenders",
    "current_borrowers": "Current number of borrowers",
    "top10_borrower_share": "Share of the top ten borrowers in the amount owed",
    "top1_borrower_share": "Share of the largest borrower in the amount owed",
    "related_party_outstanding": "Outstanding loans to related parties",
    "related_party_count": "Number of loans to related parties",
    "overdue_amount": "Overdue amount",
    "overdue_count": "Number of overdue loans",
    "overdue_90_amount": "Overdue more than 90 days: amount",
    "overdue_90_count": "Overdue more than 90 days: number",
    "cum_compensated_amount": "Cumulative compensation amount",
    "cum_compensated_count": "Cumulative number of compensations",
    "fee_schedule": "Fee schedule",
    "other_info": "Other operating information",
}


def item_name(code: str, chinese: str) -> str:
    """An item's name in the current language."""
    return i18n.pick(chinese, ITEM_NAMES_EN.get(code, chinese))


def meta_of(p: Publication) -> dict[str, Any]:
    return {
        "id": p.id,
        "version": p.version,
        "content_sha256": p.content_sha256,
        "published_at": p.published_at.isoformat(),
        "deadline": p.deadline.isoformat(),
        "late": p.late,
        "supersedes_id": p.supersedes_id,
        "correction_reason": p.correction_reason,
    }


def charts(snapshot: dict[str, Any]) -> list[Markup]:
    """The trend charts: server-drawn SVG bars, one group per month."""
    trend = snapshot.get("trend") or []
    names = dict(snapshot.get("item_names") or {})
    months = [t["period"][2:] for t in trend]
    out = []
    for title, codes in CHART_GROUPS:
        series = [
            Series(item_name(code, names.get(code, code)), [t[code] / 1_000_000 for t in trend])
            for code in codes
            if code in TREND_ITEMS
        ]
        out.append(bars(months, series, title=i18n.gettext(title)))
    return out


def report_html(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> Markup:
    """The report body in the current language: items, trend charts, institution
    information."""
    html = ENV.get_template("disclosure/_report.html").render(
        snap=snapshot,
        meta=meta,
        rows=reports.rows(snapshot),
        display=reports.display,
        item_name=item_name,
        charts=charts(snapshot),
    )
    return Markup(html)  # nosec B704 - rendered by the autoescaping environment


def standalone_html(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    return ENV.get_template("disclosure/file.html").render(
        snap=snapshot, body=report_html(snapshot, meta)
    )


def _page(
    request: Request, v: Any, engine: Any, period: str | None, version: int | None
) -> Response:
    with engine.connect() as c:
        periods = publication.published_periods(c)
        notices = [e.as_dict() for e in events.published_events(c, limit=20)]
        chosen: Publication | None = None
        history: list[Publication] = []
        if period is None and periods:
            period = periods[0]["period"]
        if period is not None:
            chosen = publication.latest(c, period=period, version=version)
            history = publication.versions(c, period=period)
    with i18n.using(i18n.locale_of(request)):
        body = report_html(chosen.snapshot, meta_of(chosen)) if chosen else None
    return page(
        request,
        v,
        "disclosure/page.html",
        active="disclosure",
        report=chosen,
        body=body,
        periods=periods,
        history=history,
        notices=notices,
    )


@router.get("/disclosure")
def disclosure_home(request: Request, v: MaybeCustomerDep, engine: EngineDep) -> Response:
    return _page(request, v, engine, None, None)


@router.get("/disclosure/{period}")
def disclosure_period(
    request: Request,
    period: str,
    v: MaybeCustomerDep,
    engine: EngineDep,
    version: int | None = None,
) -> Response:
    return _page(request, v, engine, period, version)
