"""Server-rendered SVG charts: valid SVG, accessible, the expected shapes for the figures given."""
from datetime import date, timedelta
from xml.etree import ElementTree

from crowdfund import charts

DAY = date(2026, 3, 1)


def test_a_line_chart_is_valid_svg_with_a_title_and_no_script_or_style():
    svg = charts.line_chart("访问量", [charts.Series("访问", [(DAY + timedelta(i), v) for i, v in enumerate([1, 4, 2])])])
    root = ElementTree.fromstring(str(svg))
    assert root.tag == f"{{{charts.SVG_NS}}}svg"
    assert root.get("role") == "img" and root.get("viewBox") == "0 0 640 260"
    title = root.find(f"{{{charts.SVG_NS}}}title")
    assert title.text == "访问量" and root.get("aria-labelledby") == title.get("id")
    assert "<script" not in svg and "<style" not in svg and " style=" not in svg


def test_each_point_is_a_vertex_higher_values_drawn_higher_and_evenly_spaced_by_day():
    values = [3, 5, 2, 8, 0]
    svg = charts.line_chart("t", [charts.Series("v", [(DAY + timedelta(i), v) for i, v in enumerate(values)])])
    (line,) = charts.lines_of(svg)
    assert len(line) == len(values)
    ys = [y for _, y in line]
    assert sorted(range(5), key=lambda i: ys[i]) == sorted(range(5), key=lambda i: -values[i])
    xs = [x for x, _ in line]
    gaps = [b - a for a, b in zip(xs, xs[1:])]
    assert min(gaps) > 0 and max(gaps) - min(gaps) < 0.2
    assert ys[4] > ys[0]  # zero sits on the baseline, below 3


def test_the_goal_is_a_horizontal_line_above_a_curve_that_has_not_reached_it():
    curve = charts.Series("raised", [(DAY, 0), (DAY + timedelta(3), 40)])
    lines = charts.lines_of(charts.line_chart("funding", [curve], goal=100, goal_label="goal"))
    raised, goal = lines
    assert goal[0][1] == goal[1][1] and goal[0][1] < min(y for _, y in raised)


def test_all_zero_figures_and_a_single_day_still_draw():
    svg = charts.line_chart("t", [charts.Series("v", [(DAY, 0)])])
    assert len(charts.lines_of(svg)[0]) == 2
    assert charts.line_chart("t", [charts.Series("v", [])]) is None


def test_bars_are_in_the_order_given_with_widths_in_proportion():
    widths = charts.bars_of(charts.bar_chart("tiers", [("早鸟", 30), ("标准", 15), ("豪华", 0)]))
    assert widths[2] == 0 and abs(widths[0] - 2 * widths[1]) < 0.5
    assert charts.bar_chart("tiers", []) is None
