"""Report charts drawn on the server as SVG with matplotlib (no JavaScript, no CDN).

* :func:`interval_chart` — per interval: offered, answered, abandoned and,
  on its own bar, timed out (the decree's "not accepted: maximum wait
  exceeded", never merged into abandoned); below, the service level SL(T)
  against the target; the time axis is labelled in ``tz`` and its caption
  (``time_axis``, from the caller's catalogue) names the zone;
* :func:`bar_chart` — one figure per category (topics, operators).

matplotlib runs off-screen (the object API, no ``pyplot`` state), so it is
safe in a worker thread; texts are Russian (DejaVu Sans ships with
matplotlib and has Cyrillic).  Blocking: call in a thread.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Final

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hotline.reports.metrics_row import MetricRow

__all__ = ["MAX_BARS", "bar_chart", "interval_chart"]

MAX_BARS: Final = 40
_COLOURS: Final = {
    "offered": "#9aa5b1",
    "answered": "#3b7dd8",
    "abandoned": "#e39b2d",
    "timed_out": "#d8453b",
}
_LABELS: Final = {
    "offered": "Поступило",
    "answered": "Отвечено",
    "abandoned": "Брошено",
    "timed_out": "Не принято: превышена норма ожидания",
}


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def interval_chart(
    rows: Sequence[MetricRow],
    *,
    tz: tzinfo,
    sl_target: float = 0.8,
    title: str = "",
    time_axis: str = "",
) -> bytes:
    """Counts per interval and SL per interval, as an SVG document (times in ``tz``)."""
    rows = [r for r in rows if r.key.interval_start is not None]
    labels = [
        r.key.interval_start.astimezone(tz).strftime("%d.%m %H:%M")
        for r in rows
        if r.key.interval_start is not None
    ]
    xs = list(range(len(rows)))
    fig = Figure(figsize=(11, 6.5), dpi=100, layout="constrained")
    counts, sl = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    if title:
        fig.suptitle(title)
    width = 0.2
    for i, key in enumerate(_COLOURS):
        values = [getattr(r, key) for r in rows]
        offset = (i - 1.5) * width
        counts.bar([x + offset for x in xs], values, width, color=_COLOURS[key], label=_LABELS[key])
    counts.set_title("Звонки по интервалам")
    counts.set_ylim(bottom=0, top=max([1, *(r.offered for r in rows)]) * 1.1)
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts.legend(loc="upper left", fontsize="small")
    levels = [r.service_level * 100 if r.service_level is not None else float("nan") for r in rows]
    sl.plot(xs, levels, marker="o", color=_COLOURS["answered"], label="SL(T)")
    sl.axhline(sl_target * 100, color="black", linestyle="--", label=f"цель {sl_target:.0%}")
    sl.set_ylim(0, 100)
    sl.set_ylabel("%")
    sl.set_title("Уровень обслуживания (доля отвеченных в пределах нормы)")
    sl.legend(loc="lower left", fontsize="small")
    step = max(1, len(xs) // 16)
    sl.set_xticks(xs[::step], labels[::step], rotation=45, fontsize="small")
    if time_axis:
        sl.set_xlabel(time_axis)
    return _svg(fig)


def bar_chart(names: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str) -> bytes:
    """Grouped horizontal bars: one group per name, one bar per series (keys of ``_LABELS``)."""
    names = list(names)[:MAX_BARS]
    height = max(2.5, 0.45 * len(names) + 1.5)
    fig = Figure(figsize=(11, height), dpi=100, layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(names)))
    bar = 0.8 / max(len(series), 1)
    for i, (key, values) in enumerate(series.items()):
        shown = list(values)[: len(names)]
        ax.barh(
            [y + (i - (len(series) - 1) / 2) * bar for y in ys],
            shown,
            bar,
            color=_COLOURS.get(key, "#3b7dd8"),
            label=_LABELS.get(key, key),
        )
    ax.set_yticks(ys, names)
    top = max([1.0, *(float(v) for values in series.values() for v in values)])
    ax.set_xlim(left=0, right=top * 1.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.invert_yaxis()
    ax.set_title(title)
    if series:
        ax.legend(loc="lower right", fontsize="small")
    return _svg(fig)
