"""`switchboard costs LOG... --savings --html FILE`: the savings report as one self-contained page.

No network and no script: the four charts (spend per provider over time, saved vs spent, the strong share
over time, the cost–quality curve of the dial) are inline SVG drawn here. A charting library would have to be
inlined into every page, and these are four simple line and bar charts; every text is escaped.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

WIDTH, HEIGHT, PAD = 640, 260, 48
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _scale(values: list[float], low: float, high: float, size: float) -> list[float]:
    span = (high - low) or 1.0
    return [(value - low) / span * size for value in values]


def line_chart(chart_id: str, title: str, xs: list[float], series: dict[str, list[float | None]],
               x_label: str, y_label: str, x_format: Any = str, y_max: float | None = None) -> str:
    """A line chart: one polyline per series (gaps where a value is None), axes with end labels, a legend."""
    points = [v for values in series.values() for v in values if v is not None]
    if not xs or not points:
        return _empty(chart_id, title, "no data in this window")
    top = max(y_max if y_max is not None else max(points), 1e-12)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    px = [PAD + x for x in _scale(xs, min(xs), max(xs), inner_w)] if len(xs) > 1 else [PAD + inner_w / 2]
    lines = []
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        runs, run = [], []
        for x, value in zip(px, values, strict=True):
            if value is None:
                runs.append(run)
                run = []
                continue
            run.append(f"{x:.1f},{HEIGHT - PAD - value / top * inner_h:.1f}")
        runs.append(run)
        for segment in runs:
            if len(segment) == 1:
                x, y = segment[0].split(",")
                lines.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
            elif segment:
                lines.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                             f'points="{" ".join(segment)}"/>')
    legend = _legend(list(series))
    return _frame(chart_id, title, "".join(lines), x_label, y_label,
                  (x_format(min(xs)), x_format(max(xs))), ("0", f"{top:.4g}"), legend)


def bar_chart(chart_id: str, title: str, bars: dict[str, float], y_label: str) -> str:
    """Bars, one per label; negative values hang below the zero line."""
    if not bars:
        return _empty(chart_id, title, "no data in this window")
    high, low = max(0.0, *bars.values()), min(0.0, *bars.values())
    span = (high - low) or 1.0
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    zero = HEIGHT - PAD - (0 - low) / span * inner_h
    step = inner_w / len(bars)
    shapes = []
    for index, (label, value) in enumerate(bars.items()):
        height = abs(value) / span * inner_h
        y = zero - height if value >= 0 else zero
        x = PAD + index * step + step * 0.15
        shapes.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{max(height, 0.5):.1f}"'
                      f' fill="{COLOURS[index % len(COLOURS)]}"><title>{html.escape(label)}: ${value:.6f}</title></rect>'
                      f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle" font-size="11">'
                      f'{html.escape(label)}</text>'
                      f'<text x="{x + step * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">'
                      f'${value:.4f}</text>')
    shapes.append(f'<line x1="{PAD}" y1="{zero:.1f}" x2="{WIDTH - PAD}" y2="{zero:.1f}" stroke="#333"/>')
    return _frame(chart_id, title, "".join(shapes), "", y_label, ("", ""), ("", ""), "", axes=False)


def _legend(names: list[str]) -> str:
    items = "".join(f'<span class="key"><i style="background:{COLOURS[i % len(COLOURS)]}"></i>{html.escape(n)}</span>'
                    for i, n in enumerate(names))
    return f'<div class="legend">{items}</div>'


def _frame(chart_id: str, title: str, body: str, x_label: str, y_label: str, x_ends: tuple[str, str],
           y_ends: tuple[str, str], legend: str, axes: bool = True) -> str:
    axis = ""
    if axes:
        axis = (f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>'
                f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#333"/>'
                f'<text x="{PAD}" y="{HEIGHT - PAD + 16}" font-size="11">{html.escape(x_ends[0])}</text>'
                f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" font-size="11" text-anchor="end">'
                f'{html.escape(x_ends[1])}</text>'
                f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" font-size="11" text-anchor="end">{html.escape(y_ends[0])}</text>'
                f'<text x="{PAD - 4}" y="{PAD + 4}" font-size="11" text-anchor="end">{html.escape(y_ends[1])}</text>'
                f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle">{html.escape(x_label)}</text>')
    label = (f'<text x="12" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
             f'transform="rotate(-90 12 {HEIGHT / 2})">{html.escape(y_label)}</text>')
    return (f'<figure id="{chart_id}" class="chart"><figcaption>{html.escape(title)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">{axis}{label}{body}</svg>'
            f'{legend}</figure>')


def _empty(chart_id: str, title: str, why: str) -> str:
    return (f'<figure id="{chart_id}" class="chart empty"><figcaption>{html.escape(title)}</figcaption>'
            f'<p>{html.escape(why)}</p></figure>')


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m-%d %H:%M")


STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}.g{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{margin:0;border:1px solid #eee;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}.legend{font-size:12px}.key{margin-right:12px}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px}.note{color:#666;font-size:12px}"""


def render(report: dict[str, Any]) -> str:
    """The page for a report as `savings_report` builds it (the same figures as --json)."""
    total = report["total"]
    timeline = report["timeline"]
    xs = [float(t) for t in timeline["times"]]
    charts = [
        line_chart("spend-per-provider", "Spend per provider over time", xs, timeline["spend"],
                   f"time (UTC, {report['bucket_s']} s buckets)", "USD", _clock),
        bar_chart("saved-vs-spent", "Saved vs spent", {
            "spent": total["actual_usd"], "baseline": total["baseline_usd"],
            "saved by routing": total["saved_by_routing_usd"], "saved by cache": total["saved_by_cache_usd"],
            "failover extra": total["failover_extra_usd"], "hedge extra": total["hedge_extra_usd"]}, "USD"),
        line_chart("strong-share", "Strong share over time", xs, {"strong share": timeline["strong_share"]},
                   f"time (UTC, {report['bucket_s']} s buckets)", "share sent strong", _clock, y_max=1.0),
    ]
    curve = report["dial"]
    curve_series: dict[str, list[float | None]] = {
        "cost vs all strong": [point["cost_vs_all_strong"] for point in curve]}
    if curve and all(point["mean_rating"] is not None for point in curve):
        curve_series["mean rating (feedback)"] = [point["mean_rating"] for point in curve]
    charts.append(line_chart("cost-quality", "The cost–quality dial (classified requests)",
                             [point["strong_share"] for point in curve], curve_series, "strong share",
                             "relative cost / rating", lambda v: f"{v:.0%}", y_max=1.0))
    by = report["by"]
    columns = [*by, "requests", "answered", "actual_usd", "baseline_usd", "saved_by_routing_usd",
               "saved_by_cache_usd", "failover_extra_usd", "hedge_extra_usd", "strong_share", "estimated"]
    def cell(column: str, value: Any) -> str:
        kind = ' class="g"' if column in by else ""
        return f"<td{kind}>{html.escape(_cell(value))}</td>"

    rows = "".join("<tr>" + "".join(cell(c, group.get(c)) for c in columns) + "</tr>"
                   for group in [*report["groups"], {**total, by[0]: "TOTAL"}])
    head = "".join(f'<th{" class=g" if c in by else ""}>{html.escape(c)}</th>' for c in columns)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard savings</title>'
            f"<style>{STYLE}</style></head><body><h1>What routing and the cache saved</h1>"
            f'<p>{html.escape(report["summary"])}</p>'
            f'<p class="note">Baseline: {html.escape(report["baseline"])} (the same tokens at its prices). '
            f'Strong: targets priced at half its output price or more. {total["estimated"]} figures come from '
            f"estimated usage. Window: {html.escape(report['window'])}.</p>"
            f'<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f'<div class="charts">{"".join(charts)}</div></body></html>')


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6f}" if abs(value) < 1000 else f"{value:.2f}"
    return str(value)
