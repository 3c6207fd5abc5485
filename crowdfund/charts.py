"""Charts as SVG rendered on the server (SPEC 4.1, 4.2): small, no script, readable without JavaScript.

Drawn by leather (wireservice), which writes plain SVG with presentation attributes only — no
<style> or <script>, so a chart can sit inline in a page under the strict CSP. Each chart is an
`<svg role="img">` with a <title> and an aria-label; the page puts a table of the same figures
beside it (macros/charts.html) for screen readers and for anyone who wants the numbers.
Callers pass plain numbers (yuan, not fen: money is converted for display here, at the edge).
"""
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from xml.etree import ElementTree

import leather
from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"
ElementTree.register_namespace("", SVG_NS)

FONT = "sans-serif"  # every phone maps it to its CJK face; a longer stack repeats on every label
COLOURS = ["#d4380d", "#1d39c4", "#389e0d", "#531dab", "#d48806"]
GOAL_COLOUR = "#8c8c8c"

for _name in ("title", "legend", "axis_title", "tick"):
    setattr(leather.theme, f"{_name}_font_family", FONT)
leather.theme.title_font_size = 15
leather.theme.legend_font_size = 12
leather.theme.legend_font_char_height = 12
leather.theme.legend_font_char_width = 12  # CJK glyphs are square
leather.theme.tick_font_size = 11
leather.theme.tick_font_char_height = 11
leather.theme.tick_font_char_width = 7
leather.theme.background_color = "#ffffff"
leather.theme.default_series_colors = COLOURS
leather.theme.margin = 0.03

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:E[-+]?\d+)?")


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and (x, y) points, x a date or a number."""

    name: str
    points: list
    dashed: bool = False


def _finish(chart, title, width, height):
    """The chart as accessible inline SVG: role, title, a viewBox so it shrinks on a phone, short numbers."""
    text = chart.to_svg(width=width, height=height)
    root = ElementTree.fromstring(text)
    for element in root.iter():  # leather writes Decimals as they come ("80.000000000", "1.9E-26")
        for key in ("d", "x", "y", "x1", "x2", "y1", "y2", "width", "height", "transform"):
            if key in element.attrib:
                element.set(key, _NUMBER.sub(_short, element.get(key)))
    chart_id = f"chart-{uuid.uuid5(uuid.NAMESPACE_URL, title + text).hex[:10]}"
    for attribute in ("version",):
        root.attrib.pop(attribute, None)
    root.set("viewBox", f"0 0 {width} {height}")
    root.set("width", str(width))
    root.set("height", str(height))
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-labelledby", f"{chart_id}-title")
    label = ElementTree.Element(f"{{{SVG_NS}}}title", id=f"{chart_id}-title")
    label.text = title
    root.insert(0, label)
    return Markup(ElementTree.tostring(root, encoding="unicode", short_empty_elements=True))


def _short(match):
    value = round(float(match.group()), 1)
    return f"{value + 0.0:.1f}".removesuffix(".0")  # + 0.0 turns -0.0 into 0.0


def _y_domain(values):
    top = max([0, *values])
    return 0, top if top > 0 else 1


def _date_ticks(first, last, count=6):
    days = (last - first).days
    step = max(1, -(-days // (count - 1))) if days else 1
    ticks = [first + timedelta(days=i) for i in range(0, days + 1, step)]
    return ticks if ticks[-1] == last or days == 0 else ticks + [last]


def _short_number(value, _index=None, _count=None):
    value = float(value)
    if abs(value) >= 10_000:
        return f"{value / 10_000:g}万"
    return f"{value:g}"


def line_chart(title, series, *, goal=None, goal_label="", width=640, height=260):
    """Lines over dates or numbers; `goal` draws a dashed horizontal line (e.g. the funding goal)."""
    xs = [x for line in series for x, _ in line.points]
    if not xs:
        return None
    first, last = min(xs), max(xs)
    dated = isinstance(first, date)
    # Dates become day numbers on a linear scale (leather's temporal ticks trip over short ranges).
    position = (lambda x: (x - first).days) if dated else (lambda x: x)
    end = max(position(last), 1) if dated else (last if last != first else first + 1)
    chart = leather.Chart(title)
    chart.add_x_scale(position(first), end)
    chart.add_y_scale(*_y_domain([y for line in series for _, y in line.points] + ([goal] if goal else [])))
    if dated and len(set(xs)) > 1 and all(x.day == 1 for x in xs):  # monthly figures: ticks on months
        ticks = [(day - first).days for day in _month_ticks(first, last)]
        chart.add_x_axis(ticks=ticks, tick_formatter=lambda n, _i, _c: _month_label(first + timedelta(days=n)))
    elif dated:
        ticks = [(day - first).days for day in _date_ticks(first, first + timedelta(days=end))]
        chart.add_x_axis(ticks=ticks, tick_formatter=lambda n, _i, _c: _day_label(first + timedelta(days=n)))
    chart.add_y_axis(tick_formatter=_short_number)
    for index, line in enumerate(series):
        points = [(position(x), y) for x, y in line.points]
        chart.add_line(points if len(points) > 1 else points * 2, name=line.name,
                       stroke_color=COLOURS[index % len(COLOURS)], stroke_dasharray="6 4" if line.dashed else None)
    if goal:
        chart.add_line([(position(first), goal), (end, goal)], name=goal_label or str(goal),
                       stroke_color=GOAL_COLOUR, stroke_dasharray="6 4", width=1)
    return _finish(chart, title, width, height)


def _day_label(day):
    return f"{day.month}-{day.day}"


def _month_ticks(first, last, count=6):
    months = (last.year - first.year) * 12 + last.month - first.month
    step = max(1, -(-months // (count - 1)))
    ticks = [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
             for i in range(0, months + 1, step)]
    return ticks if ticks[-1] == last else ticks + [last]


def _month_label(day):
    return f"{day.year}-{day.month:02d}"


def bar_chart(title, rows, *, width=640, height=None):
    """Horizontal bars, one per (label, value) row, in the order given."""
    if not rows:
        return None
    height = height or 60 + 28 * len(rows)
    chart = leather.Chart(title)
    labels = [str(label) for label, _ in rows]
    chart.set_y_scale(leather.Ordinal(list(reversed(labels))))
    chart.add_x_scale(*_y_domain([value for _, value in rows]))
    chart.add_x_axis(tick_formatter=_short_number)
    chart.add_bars([(value, str(label)) for label, value in rows], fill_color=COLOURS[0])
    return _finish(chart, title, width, height)


def _shapes(svg, tag):
    root = ElementTree.fromstring(str(svg))
    return [element for element in root.iter(f"{{{SVG_NS}}}{tag}")]


def lines_of(svg):
    """Each drawn line of a chart as its list of (x, y) vertices in SVG units (y grows downwards)."""
    lines = []
    for path in _shapes(svg, "path"):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
        lines.append(list(zip(numbers[::2], numbers[1::2])))
    return lines


def bars_of(svg):
    """The widths of a bar chart's bars, top to bottom (the background and legend swatches left out)."""
    bars = [rect for rect in _shapes(svg, "rect") if rect.get("fill") == COLOURS[0] and rect.get("width") != "10"]
    return [float(rect.get("width")) for rect in sorted(bars, key=lambda rect: float(rect.get("y")))]
