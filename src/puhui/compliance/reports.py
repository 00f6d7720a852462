"""The monthly report as files: JSON, CSV, XLSX and PDF, each from one snapshot.

Every format renders the same snapshot (``publication.build_snapshot`` or a published one), so
the files and the public page agree (DIS-GEN-01). Amounts stay integer fen in JSON and CSV (a
machine reads them) and are shown as yuan in XLSX and PDF (a person does). The HTML page is
rendered by ``puhui.web.disclosure`` with the web layer's SVG charts. XLSX draws its trend with
a native Excel chart; PDF with ReportLab's own graphics and the built-in STSong-Light CID font,
so no font file is needed at run time.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from puhui.compliance.disclosure import ITEMS, MONEY_ITEMS, RATIO_ITEMS
from puhui.compliance.publication import TREND_ITEMS
from puhui.core.errors import ValidationError

FORMATS = ("html", "json", "csv", "xlsx", "pdf")
UNITS = {"fen": "分", "count": "笔/人", "ratio": "比例", "structure": ""}
TREND_NAMES = dict(ITEMS)


def unit_of(code: str) -> str:
    if code in MONEY_ITEMS:
        return "fen"
    if code in RATIO_ITEMS:
        return "ratio"
    if code in ("fee_schedule", "other_info"):
        return "structure"
    return "count"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def display(code: str, value: Any) -> str:
    """A value as a person reads it: yuan, a percentage, a count or compact JSON."""
    unit = unit_of(code)
    if unit == "fen":
        return f"¥{yuan(int(value))}"
    if unit == "ratio":
        return f"{Decimal(value) * 100:.2f}%"
    if unit == "structure":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def rows(snapshot: dict[str, Any]) -> list[tuple[int, str, str, Any, str]]:
    """(number, code, Chinese name, raw value, unit) for the 21 items, in §3.3 order."""
    items = snapshot["items"]
    return [
        (n, code, name, items.get(code), unit_of(code)) for n, (code, name) in enumerate(ITEMS, 1)
    ]


def to_json(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {**snapshot, "publication": meta}, ensure_ascii=False, sort_keys=True, indent=2
    )


def to_csv(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["no", "code", "name", "value", "unit", "period", "as_of", "version"])
    version = (meta or {}).get("version", "")
    for n, code, name, value, unit in rows(snapshot):
        raw = (
            json.dumps(value, ensure_ascii=False, sort_keys=True) if unit == "structure" else value
        )
        w.writerow([n, code, name, raw, unit, snapshot["period"], snapshot["as_of"], version])
    return out.getvalue()


def _title(snapshot: dict[str, Any]) -> str:
    return f"月度运营信息 {snapshot['period']}（截至 {snapshot['as_of']}）"


def to_xlsx(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import LineChart, Reference

    wb = Workbook()
    ws = wb.active
    ws.title = "items"
    ws.append([_title(snapshot)])
    if meta:
        ws.append([f"version {meta.get('version')}", f"sha256 {meta.get('content_sha256')}"])
    ws.append(["#", "code", "名称", "value", "unit", "display"])
    for n, code, name, value, unit in rows(snapshot):
        cell = (
            json.dumps(value, ensure_ascii=False, sort_keys=True) if unit == "structure" else value
        )
        if unit == "ratio":
            cell = float(value)  # a spreadsheet number; the exact string is in "display"
        ws.append([n, code, name, cell, unit, display(code, value)])
    trend = wb.create_sheet("trend")
    trend.append(["period", *[TREND_NAMES[k] + "（元）" for k in TREND_ITEMS]])
    for point in snapshot.get("trend", []):
        trend.append([point["period"], *[point[k] / 100 for k in TREND_ITEMS]])
    if snapshot.get("trend"):
        chart = LineChart()
        chart.title = "趋势"
        chart.y_axis.title = "元"
        n = len(snapshot["trend"])
        data = Reference(trend, min_col=2, max_col=1 + len(TREND_ITEMS), min_row=1, max_row=1 + n)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(trend, min_col=1, min_row=2, max_row=1 + n))
        trend.add_chart(chart, "G2")
    info = wb.create_sheet("institution")
    for section, values in snapshot.get("institution", {}).items():
        for key, value in values.items():
            info.append([section, key, json.dumps(value, ensure_ascii=False)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_pdf(snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> bytes:
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    body = ParagraphStyle("body", fontName=font, fontSize=8, leading=10)
    head = ParagraphStyle("head", fontName=font, fontSize=14, leading=18)
    story: list[Any] = [Paragraph(_title(snapshot), head)]
    if meta:
        story.append(
            Paragraph(f"版本 {meta.get('version')} · sha256 {meta.get('content_sha256')}", body)
        )
    story.append(Spacer(1, 6))
    table = [["#", "项目", "数值"]]
    for n, code, name, value, _unit in rows(snapshot):
        table.append([str(n), Paragraph(name, body), Paragraph(display(code, value)[:600], body)])
    t = Table(table, colWidths=[20, 170, 320])
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story.append(t)
    trend = snapshot.get("trend") or []
    if trend:
        drawing = Drawing(500, 200)
        plot = LinePlot()
        plot.x, plot.y, plot.width, plot.height = 50, 30, 420, 140
        plot.data = [[(i, point[k] / 100) for i, point in enumerate(trend)] for k in TREND_ITEMS]
        palette = (
            colors.HexColor("#2b6cb0"),
            colors.HexColor("#dd6b20"),
            colors.HexColor("#2f855a"),
            colors.HexColor("#c53030"),
        )
        for j, colour in enumerate(palette[: len(TREND_ITEMS)]):
            plot.lines[j].strokeColor = colour
        plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, max(len(trend) - 1, 1)
        plot.xValueAxis.labelTextFormat = lambda i: (
            trend[int(i)]["period"][2:] if 0 <= int(i) < len(trend) else ""
        )
        plot.xValueAxis.labels.fontSize = 6
        plot.yValueAxis.labels.fontSize = 6
        drawing.add(plot)
        for j, k in enumerate(TREND_ITEMS):
            drawing.add(
                String(
                    50 + j * 110,
                    185,
                    TREND_NAMES[k][:10],
                    fontName=font,
                    fontSize=7,
                    fillColor=palette[j],
                )
            )
        story += [Spacer(1, 10), Paragraph("趋势（元）", body), drawing]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=_title(snapshot), author="puhui", invariant=1)
    doc.build(story)
    return buf.getvalue()


def render(fmt: str, snapshot: dict[str, Any], meta: dict[str, Any] | None = None) -> bytes:
    """The report in ``fmt`` (not html: see ``puhui.web.disclosure``) as bytes."""
    if fmt == "json":
        return to_json(snapshot, meta).encode("utf-8")
    if fmt == "csv":
        return to_csv(snapshot, meta).encode("utf-8-sig")  # BOM: Excel opens Chinese text right
    if fmt == "xlsx":
        return to_xlsx(snapshot, meta)
    if fmt == "pdf":
        return to_pdf(snapshot, meta)
    raise ValidationError(
        "format_invalid", f"format is one of {', '.join(FORMATS)}", field="format"
    )
