"""Small trend charts as inline SVG, drawn on the server: no script is needed (or allowed) to see them.

Colours come from the stylesheet (classes `ln-fail` ...), never from inline styles (the CSP forbids those); each
chart carries a <title> and a text legend with the latest counts, so it reads without colour.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

PLOTTED = ("fail", "error", "warn", "pass")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 360, 140, 34, 8, 10, 22


def trend_svg(trend: Any) -> Markup:
    """One chart of a Trend (contract: key, points[day, counts]); an empty trend gives a labelled empty frame."""
    points = list(trend.points)
    top = max([p.counts.get(s, 0) for p in points for s in PLOTTED] + [1])
    n = len(points)
    inner_w, inner_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: int) -> float:
        return PAD_T + inner_h - inner_h * v / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
             f"<title>{escape(trend.key)}: 状態ごとのホスト数の推移 / hosts per status over time</title>",
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + inner_h}" x2="{W - PAD_R}" y2="{PAD_T + inner_h}"/>',
             f'<line class="axis" x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + inner_h}"/>',
             f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + 8}" text-anchor="end">{top}</text>',
             f'<text class="tick" x="{PAD_L - 4}" y="{PAD_T + inner_h}" text-anchor="end">0</text>']
    if points:
        parts.append(f'<text class="tick" x="{PAD_L}" y="{H - 6}">{points[0].day.isoformat()}</text>')
        parts.append(f'<text class="tick" x="{W - PAD_R}" y="{H - 6}" text-anchor="end">{points[-1].day.isoformat()}</text>')
    for status in PLOTTED:
        if not any(p.counts.get(status, 0) for p in points):
            continue
        coords = " ".join(f"{x(i):.1f},{y(p.counts.get(status, 0)):.1f}" for i, p in enumerate(points))
        parts.append(f'<polyline class="ln ln-{status}" points="{coords}"><title>{status}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated value is a number, a date or escaped
