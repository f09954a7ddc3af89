"""PNG charts of a simulation (``hotline simulate --chart FILE.png``), drawn with matplotlib.

The same three panels as the HTML chart of :mod:`hotline.acd.sim_chart`:
SL per interval against the target, the largest queue, and the longest wait
and ASA against the norms.  Rendered off-screen (Agg), labels in Russian.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hotline.acd.sim_chart import ChartInput
from hotline.acd.sim_input import format_clock
from hotline.acd.sim_stats import IntervalResult

__all__ = ["render_chart_png"]

_OK = "#3b7dd8"
_BAD = "#d8453b"
_SECOND = "#e39b2d"


def render_chart_png(intervals: Sequence[IntervalResult], chart: ChartInput, path: Path) -> None:
    """Write the chart to ``path`` as a PNG image."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    labels = [format_clock(r.start_s or 0) for r in intervals]
    xs = list(range(len(intervals)))
    fig = Figure(figsize=(12, 10), dpi=100, layout="constrained")
    sl_ax, queue_ax, wait_ax = fig.subplots(3, 1, sharex=True)
    fig.suptitle(chart.title)

    values = [(r.service_level or 0.0) * 100 for r in intervals]
    colors = [_OK if v >= chart.sl_target * 100 else _BAD for v in values]
    sl_ax.bar(xs, values, color=colors)
    sl_ax.axhline(
        chart.sl_target * 100, color="black", linestyle="--", label=f"цель {chart.sl_target:.0%}"
    )
    sl_ax.set_ylim(0, 100)
    sl_ax.set_ylabel("%")
    sl_ax.set_title(f"Уровень обслуживания SL({chart.sl_norm_s:g} с)")
    sl_ax.legend(loc="lower right")

    queue_ax.bar(xs, [r.max_queue for r in intervals], color=_OK)
    queue_ax.set_title("Наибольшая очередь, звонков")

    wait_ax.bar(xs, [r.longest_wait_s for r in intervals], color=_OK, label="дольше всех ждал")
    wait_ax.plot(xs, [r.asa_s if r.asa_s is not None else float("nan") for r in intervals],
                 color=_SECOND, label="ASA")  # fmt: skip
    wait_ax.axhline(
        chart.sl_norm_s, color="black", linestyle="--", label=f"норма ответа {chart.sl_norm_s:g} с"
    )
    if chart.max_wait_s is not None:
        wait_ax.axhline(chart.max_wait_s, color=_BAD, linestyle=":",
                        label=f"предельное ожидание {chart.max_wait_s:g} с")  # fmt: skip
    wait_ax.set_title("Ожидание, с")
    wait_ax.legend(loc="upper right")
    step = max(1, len(xs) // 16)
    wait_ax.set_xticks(xs[::step], labels[::step], rotation=45)
    fig.savefig(path, format="png")
