"""CSV and XLSX exports of the operations reports (for finance and the monthly review)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook

from puhui.core.errors import ValidationError
from puhui.ops.performance import Row

HEADER = (
    "subject_id",
    "rank",
    "new_investors",
    "first_investment_fen",
    "invested_fen",
    "annualised_fen",
    "aum_fen",
    "retained",
    "retention_base",
    "retention",
    "commission_fen",
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cells(r: Row) -> list[object]:
    return [
        r.subject_id,
        r.rank,
        r.new_investors,
        r.first_investment_fen,
        r.invested_fen,
        r.annualised_fen,
        r.aum_fen,
        r.retained,
        r.retention_base,
        "" if r.retention is None else str(r.retention),
        r.commission_fen,
    ]


def performance(rows: Sequence[Row], *, kind: str) -> tuple[bytes, str]:
    """The rows as a file and its media type; amounts stay integer fen, so nothing rounds."""
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(_cells(r) for r in rows)
        return out.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    if kind == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "performance"
        sheet.append(list(HEADER))
        for r in rows:
            sheet.append(_cells(r))
        buf = io.BytesIO()
        book.save(buf)
        return buf.getvalue(), XLSX
    raise ValidationError("format_invalid", "format is csv or xlsx", field="format")
