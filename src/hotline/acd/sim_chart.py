"""A simulation's figures per interval as one self-contained HTML page of inline SVG.

No script, no style sheet or font from elsewhere (a 122 service runs in a
closed network): the page is a few hundred lines of markup that any browser
opens from disk.  Three panels share the interval axis:

1. service level SL(T) per interval (bars; red below the target) and the
   target as a dashed line;
2. the largest number of calls waiting in each interval;
3. the longest wait and ASA per interval against the service-level norm T
   and the maximum-wait norm.

Hovering a bar shows its figures (SVG ``<title>``).  Labels are Russian, as
the service's users are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from hotline.acd.sim_input import format_clock
from hotline.acd.sim_stats import IntervalResult

__all__ = ["ChartInput", "render_chart_html"]

_WIDTH: Final = 960
_PANEL_H: Final = 220
_LEFT: Final = 64
_RIGHT: Final = 24
_TOP: Final = 36
_BOTTOM: Final = 40
_OK: Final = "#3b7dd8"
_BAD: Final = "#d8453b"
_NORM: Final = "#222222"
_SECOND: Final = "#e39b2d"


@dataclass(frozen=True, slots=True)
class ChartInput:
    """What the chart needs besides the intervals."""

    title: str
    sl_target: float  # 0..1
    sl_norm_s: float
    max_wait_s: float | None


def _nice_top(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


class _Panel:
    """One chart panel: an x axis of intervals and a y axis from 0 to ``top``."""

    def __init__(self, index: int, count: int, top: float, caption: str) -> None:
        self.y0 = index * (_PANEL_H + _TOP + _BOTTOM) + _TOP
        self.count = count
        self.top = top
        self.step = (_WIDTH - _LEFT - _RIGHT) / max(count, 1)
        self.parts: list[str] = [
            f'<text x="{_LEFT}" y="{self.y0 - 12}" class="caption">{escape(caption)}</text>'
        ]

    def x(self, slot: float) -> float:
        return _LEFT + slot * self.step

    def y(self, value: float) -> float:
        return self.y0 + _PANEL_H * (1 - min(max(value, 0.0), self.top) / self.top)

    def axes(self, labels: Sequence[str], unit: str) -> None:
        bottom = self.y0 + _PANEL_H
        for k in range(5):
            value = self.top * k / 4
            y = self.y(value)
            self.parts.append(
                f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" class="grid"/>'
                f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                f"{_fmt(value)}{unit}</text>"
            )
        every = max(1, round(len(labels) / 12))
        for i, label in enumerate(labels):
            if i % every == 0:
                self.parts.append(
                    f'<text x="{self.x(i):.1f}" y="{bottom + 16}" class="tick">{escape(label)}</text>'
                )

    def bar(self, slot: int, value: float, color: str, tip: str) -> None:
        y = self.y(value)
        height = self.y0 + _PANEL_H - y
        width = max(self.step * 0.8, 1.0)
        self.parts.append(
            f'<rect x="{self.x(slot) + self.step * 0.1:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="{color}"><title>{escape(tip)}</title></rect>'
        )

    def level(self, value: float, label: str) -> None:
        y = self.y(value)
        self.parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" class="norm"/>'
            f'<text x="{_WIDTH - _RIGHT}" y="{y - 4:.1f}" class="normtext" text-anchor="end">'
            f"{escape(label)}</text>"
        )

    def line(self, values: Sequence[float | None], color: str) -> None:
        points = [
            f"{self.x(i + 0.5):.1f},{self.y(v):.1f}" for i, v in enumerate(values) if v is not None
        ]
        if points:
            self.parts.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
                f'stroke-width="2"/>'
            )


def render_chart_html(intervals: Sequence[IntervalResult], chart: ChartInput) -> str:
    """The HTML page (see the module docstring)."""
    count = len(intervals)
    labels = [format_clock(r.start_s or 0) for r in intervals]
    tips = [
        f"{label}: поступило {r.offered}, отвечено {r.answered}"
        for label, r in zip(labels, intervals, strict=True)
    ]

    sl = _Panel(0, count, 100.0, f"Уровень обслуживания SL({_fmt(chart.sl_norm_s)} с), %")
    sl.axes(labels, "%")
    for i, r in enumerate(intervals):
        value = r.service_level
        if value is not None:
            color = _OK if value >= chart.sl_target else _BAD
            sl.bar(i, value * 100, color, f"{tips[i]}; SL {value:.1%}")
    sl.level(chart.sl_target * 100, f"цель {chart.sl_target:.0%}")

    top_queue = _nice_top(max((r.max_queue for r in intervals), default=0))
    queue = _Panel(1, count, top_queue, "Наибольшая очередь, звонков")
    queue.axes(labels, "")
    for i, r in enumerate(intervals):
        queue.bar(i, r.max_queue, _OK, f"{tips[i]}; очередь до {r.max_queue}")

    norms = [chart.sl_norm_s] + ([chart.max_wait_s] if chart.max_wait_s is not None else [])
    longest = max((r.longest_wait_s for r in intervals), default=0.0)
    waits = _Panel(2, count, _nice_top(max([longest, *norms]) * 1.05), "Ожидание, с")
    waits.axes(labels, "")
    for i, r in enumerate(intervals):
        waits.bar(i, r.longest_wait_s, _OK, f"{tips[i]}; дольше всех ждал {r.longest_wait_s:.0f} с")
    waits.line([r.asa_s for r in intervals], _SECOND)
    waits.level(chart.sl_norm_s, f"норма ответа {_fmt(chart.sl_norm_s)} с")
    if chart.max_wait_s is not None:
        waits.level(chart.max_wait_s, f"предельное ожидание {_fmt(chart.max_wait_s)} с")

    height = 3 * (_PANEL_H + _TOP + _BOTTOM)
    body = "\n".join(sl.parts + queue.parts + waits.parts)
    title = escape(chart.title)
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
.caption {{ font-size: 14px; font-weight: bold; }}
.tick {{ font-size: 11px; fill: #555; }}
.grid {{ stroke: #e4e4e4; }}
.norm {{ stroke: {_NORM}; stroke-dasharray: 6 4; stroke-width: 1.5; }}
.normtext {{ font-size: 11px; fill: {_NORM}; }}
.legend {{ font-size: 12px; color: #555; }}
</style>
</head>
<body>
<h1 style="font-size:18px">{title}</h1>
<p class="legend">Столбцы: значения по интервалам (красные ниже цели); пунктир: нормы;
оранжевая линия: среднее время ответа (ASA).</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}">
{body}
</svg>
</body>
</html>
"""
