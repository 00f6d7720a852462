"""Bar charts drawn on the server as SVG, so a page needs no chart script and no CDN.

The SVG is built from numbers and escaped labels only and carries no ``style`` attribute (the
pages' content-security policy allows no inline style); colours are presentation attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#2b6cb0", "#dd6b20", "#2f855a", "#c53030")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
    percent: bool = False,
) -> Markup:
    """Grouped vertical bars, one group per category, one bar per series, with a legend."""
    pad_left, pad_bottom, pad_top = 44, 36, 28
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    top = max((v for s in series for v in s.values), default=0) or 1
    group_w = plot_w / max(len(categories), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" '
        f'y2="{pad_top + plot_h}" stroke="#999"/>',
        f'<text x="{pad_left - 4}" y="{pad_top + 4}" text-anchor="end" font-size="10" '
        f'fill="#555">{_label(top, percent)}</text>',
    ]
    for i, name in enumerate(categories):
        x0 = pad_left + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else 0
            h = plot_h * value / top
            x, y = x0 + j * bar_w, pad_top + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(s.label)} {escape(name)}: '
                f"{_label(value, percent)}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - pad_bottom + 14}" '
            f'text-anchor="middle" font-size="10" fill="#333">{escape(name)}</text>'
        )
    for j, s in enumerate(series):
        x = pad_left + j * 140
        parts.append(
            f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="15" font-size="11" fill="#333">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704 - escaped labels and numbers only


def _label(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else f"{value:g}"
