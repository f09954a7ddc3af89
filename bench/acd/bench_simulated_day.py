"""A simulated day of 50,000 calls and 200 operators on one core (hotline.acd.simulator).

Run: ``.venv/bin/python bench/acd/bench_simulated_day.py [--calls N] [--operators N] [--days N]``.

The day: 48 half-hour intervals with a realistic profile (a quiet night, a
morning ramp to a peak at 09:00-11:00, a lunchtime dip, an afternoon
plateau, a long evening decline; peak / mean = 1.8), scaled to ``--calls``
in all; AHT 180 s, callers' patience 120 s on average.  The staffing plan is
the Erlang C headcount for 80 % in 20 s per interval, scaled so that its
peak is ``--operators`` (196 are needed at the peak of the default day).  The queue is the demo's: a 20 s norm, 120 s maximum
wait, 10 s wrap-up, longest-idle, position announcements every 30 s.
Talk times are lognormal with CV 1.

The timed part is what ``hotline simulate`` does: drawing the calls and
running the router over them; the set-up (forecast and plan) is not timed.
Target (issue 5): under 10 s on one core.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from hotline.acd.erlang import erlang_c_headcount, traffic_erlangs
from hotline.acd.model import QueueConfig
from hotline.acd.sim_draw import HandleModel, draw_calls
from hotline.acd.sim_input import Forecast, ForecastRow, StaffingRow, format_clock
from hotline.acd.simulator import IntervalGrid, Simulation, staffing_steps
from hotline.core.ids import QueueId, TopicId

__all__ = ["main"]

# Relative call volume per half hour, 00:00 to 23:30.
PROFILE = (
    0.16, 0.13, 0.11, 0.10, 0.09, 0.09, 0.09, 0.09, 0.10, 0.12, 0.16, 0.22,  # 00-06
    0.32, 0.46, 0.62, 0.78, 0.90, 0.97, 1.00, 1.00, 1.00, 0.99, 0.97, 0.94,  # 06-12
    0.90, 0.89, 0.93, 0.96, 0.97, 0.96, 0.93, 0.90, 0.86, 0.82, 0.77, 0.71,  # 12-18
    0.65, 0.59, 0.54, 0.49, 0.44, 0.39, 0.35, 0.31, 0.27, 0.24, 0.21, 0.18,  # 18-24
)  # fmt: skip
INTERVAL_S = 1800
AHT_S = 180.0
PATIENCE_S = 120.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build(calls: int, operators: int) -> tuple[Forecast, tuple[StaffingRow, ...]]:
    """The forecast (``calls`` in all) and an Erlang C plan capped at ``operators``."""
    scale = calls / sum(PROFILE)
    rows = tuple(
        ForecastRow(i * INTERVAL_S, weight * scale, AHT_S, PATIENCE_S, i + 2)
        for i, weight in enumerate(PROFILE)
    )
    plan = []
    for row in rows:
        traffic = traffic_erlangs(row.calls, INTERVAL_S, AHT_S)
        needed = erlang_c_headcount(traffic, AHT_S, 20.0, 0.80)
        plan.append(StaffingRow(row.start_s, min(operators, needed), row.row))
    peak = max(s.operators for s in plan)
    if peak < operators:  # scale the plan so that the peak is exactly the cap
        plan = [
            StaffingRow(s.start_s, min(operators, math.ceil(s.operators * operators / peak)), s.row)
            for s in plan
        ]
    return Forecast("bench", INTERVAL_S, rows), tuple(plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    forecast, plan = build(args.calls, args.operators)
    queue = QueueConfig(queue_id=QueueId("sim"), name="sim", topic=TopicId("sim"))
    grid = IntervalGrid.from_forecast(forecast, args.days)
    steps = staffing_steps(plan, grid, "bench")

    started = time.perf_counter()
    cpu_started = time.process_time()
    drawn = draw_calls(
        forecast,
        days=args.days,
        wrap_up_s=queue.wrap_up_s,
        handle=HandleModel(cv=1.0),
        rng=np.random.default_rng(args.seed),
    )
    drawn_s = time.perf_counter() - started
    result = Simulation(queue, drawn, steps, grid, seed=args.seed).run()
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started

    totals = result.totals
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {sys.version.split()[0]}")
    peak = max(plan, key=lambda s: s.operators)
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")
    print(
        f"day: {args.days} x {len(forecast.rows)} intervals, {result.calls} calls, "
        f"plan peak {peak.operators} operators at {format_clock(peak.start_s)}"
    )
    print(
        f"outcomes: answered {totals.answered}, abandoned {totals.abandoned}, "
        f"short {totals.short_abandoned}, timed out {totals.timed_out}, "
        f"unfinished {totals.unfinished}"
    )
    sl, asa, occupancy = totals.service_level, totals.asa_s, totals.occupancy
    print(
        f"SL(20 s) {sl if sl is None else f'{sl:.3f}'}, "
        f"ASA {asa if asa is None else f'{asa:.1f} s'}, "
        f"occupancy {occupancy if occupancy is None else f'{occupancy:.3f}'}"
    )
    print(
        f"time: {elapsed:.2f} s wall, {cpu_s:.2f} s CPU ({drawn_s:.2f} s drawing the calls), "
        f"{result.calls / elapsed:,.0f} calls/s; target < 10 s per simulated day: "
        f"{'met' if elapsed / args.days < 10 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
