"""The report's chart, one SVG: the month's model cost day by day, stacked by model, above
its cost by tenant. Built as an element tree by the standard library (names are escaped
by it): the report runs in the orchestrator's image, and a plotting library there would
weigh more than the rest of the image for two bar charts. Each bar carries a `<title>`
with its exact figure, which a browser shows on hover."""

from __future__ import annotations

# Only writes SVG, never parses any: the XML parser's warning does not apply.
import xml.etree.ElementTree as ET  # nosec B405
from decimal import Decimal
from pathlib import Path

from agent_common.usage.report.figures import MonthFigures

WIDTH, TREND_HEIGHT, ROW_HEIGHT = 960, 320, 22
LEFT, TOP, GAP = 140, 40, 60
TOP_TENANTS = 10
# A colour per model, in the order of the month's costliest first (the palette repeats past it).
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> None:
    element = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "font-size": "12", **attrs})
    element.text = text


def _bar(parent: ET.Element, x: float, y: float, w: float, h: float, fill: str, title: str) -> None:
    rect = ET.SubElement(
        parent, "rect", {"x": f"{x:.2f}", "y": f"{y:.2f}", "width": f"{w:.2f}", "height": f"{h:.2f}", "fill": fill}
    )
    ET.SubElement(rect, "title").text = title


def render(figures: MonthFigures) -> str:
    """The chart as SVG text."""
    tenants = figures.by_tenant[:TOP_TENANTS]
    height = TOP + TREND_HEIGHT + GAP + TOP + ROW_HEIGHT * max(len(tenants), 1) + 20
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(WIDTH),
            "height": str(height),
            "font-family": "sans-serif",
        },
    )
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "white"})
    currency = figures.currency
    colours = {m.key: PALETTE[i % len(PALETTE)] for i, m in enumerate(figures.by_model)}

    # Day by day, stacked by model.
    _text(svg, LEFT, TOP - 16, f"Model cost by day, {figures.month} ({currency})", **{"font-size": "15"})
    days = [d.key for d in figures.by_day]
    totals = [sum(figures.day_models.get(d, {}).values(), Decimal(0)) for d in days]
    peak = max(totals, default=Decimal(0)) or Decimal(1)
    slot = (WIDTH - LEFT - 20) / max(len(days), 1)
    base = TOP + TREND_HEIGHT
    ET.SubElement(
        svg, "line", {"x1": str(LEFT), "y1": str(base), "x2": str(WIDTH - 20), "y2": str(base), "stroke": "#333"}
    )
    _text(svg, LEFT - 8, TOP + 4, f"{peak.quantize(Decimal('0.0001'))}", **{"text-anchor": "end"})
    _text(svg, LEFT - 8, base, "0", **{"text-anchor": "end"})
    for index, day in enumerate(days):
        x, y = LEFT + index * slot + slot * 0.1, float(base)
        for model, cost in sorted(figures.day_models.get(day, {}).items(), key=lambda mc: list(colours).index(mc[0])):
            h = float(cost / peak) * TREND_HEIGHT
            y -= h
            _bar(svg, x, y, slot * 0.8, h, colours[model], f"{day} {model}: {cost} {currency}")
        _text(svg, x + slot * 0.4, base + 14, day[-2:], **{"text-anchor": "middle", "font-size": "10"})
    # The key, in a row under the days.
    for index, (model, colour) in enumerate(colours.items()):
        x = LEFT + index * 160
        ET.SubElement(svg, "rect", {"x": str(x), "y": str(base + 26), "width": "10", "height": "10", "fill": colour})
        _text(svg, x + 15, base + 35, model)

    # By tenant, the costliest first.
    top = TOP + TREND_HEIGHT + GAP + TOP
    _text(svg, LEFT, top - 16, f"Cost by tenant (top {TOP_TENANTS}, {currency})", **{"font-size": "15"})
    widest = max((t.cost for t in tenants), default=Decimal(0)) or Decimal(1)
    for index, tenant in enumerate(tenants):
        y = top + index * ROW_HEIGHT
        w = float(tenant.cost / widest) * (WIDTH - LEFT - 140)
        _text(svg, LEFT - 8, y + ROW_HEIGHT * 0.65, tenant.key, **{"text-anchor": "end"})
        _bar(svg, LEFT, y + 2, w, ROW_HEIGHT - 6, PALETTE[0], f"{tenant.key}: {tenant.cost} {currency}")
        _text(svg, LEFT + w + 6, y + ROW_HEIGHT * 0.65, f"{tenant.cost.quantize(Decimal('0.0001'))}")
    return ET.tostring(svg, encoding="unicode")


def draw(figures: MonthFigures, path: Path) -> None:
    path.write_text(render(figures), encoding="utf-8")
