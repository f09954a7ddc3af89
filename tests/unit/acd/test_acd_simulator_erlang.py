"""The simulator against Erlang C and Erlang A (issue 5, R9).

The worked example: 100 calls per 30 min, AHT 180 s (A = 10 Erlangs), 13
operators, T = 20 s; Erlang C gives SL 79.6 %, P(wait) 0.285, ASA 17.1 s.

Tolerances come from the sample size, not from a lucky seed.  Waits in a
queue are strongly correlated from one caller to the next (a busy quarter of
an hour delays everybody in it), so the spread of a run's SL is far wider
than the binomial √(p(1-p)/n): measured over 200 independent runs of 6 days
(28,800 calls each) of the recursion of step 1 below, the standard deviation
of a run's SL is 1.4 points, of P(wait) 1.5 points and of ASA 12 %.  A direct
check that fits in a few
seconds therefore cannot be tighter than about ±5 points (3.5 σ).  The sharp
check comes in two steps instead:

1. on the very same calls, the router's waits equal, call by call, those of
   the first-come-first-served multi-server recursion
   ``start_i = max(arrival_i, earliest free operator)`` (Kiefer and
   Wolfowitz), which has no routing code at all;
2. that recursion over 200 days (960,000 calls; σ 0.25 points SL, 2 % ASA)
   agrees with Erlang C within ±1 point SL and P(wait), ±8 % ASA (4 σ).

Erlang A (exponential patience, mean 120 s, 12 operators; abandons counted
from the first second, so ``short_abandon_s`` is 0): 3 days (14,400 calls),
σ 1.1 points SL, 0.42 points abandon rate, 7 % ASA (150 independent runs of an
event-driven M/M/N+M queue); tolerance 4 σ.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import pytest

from hotline.acd.erlang import erlang_a, erlang_c_figures, traffic_erlangs
from hotline.acd.model import Outcome
from hotline.acd.sim_config import queue_config_from_mapping
from hotline.acd.sim_draw import CallSpec, HandleDistribution, HandleModel, draw_calls
from hotline.acd.sim_input import parse_forecast
from hotline.acd.simulator import IntervalGrid, Simulation, SimulationResult, StaffingStep

CALLS, INTERVAL_S, AHT_S, TARGET_S, OPERATORS = 100, 1800, 180.0, 20.0, 13
TRAFFIC = traffic_erlangs(CALLS, INTERVAL_S, AHT_S)
ERLANG_C = erlang_c_figures(OPERATORS, TRAFFIC, AHT_S, TARGET_S)
EXPONENTIAL = HandleModel(HandleDistribution.EXPONENTIAL)


def _stationary_forecast(patience_s: float | None = None) -> str:
    patience = "" if patience_s is None else f"{patience_s:g}"
    rows = "".join(
        f"{h:02d}:{m:02d},{CALLS},{AHT_S:g},{patience}\n" for h in range(24) for m in (0, 30)
    )
    return "start,calls,aht_s,patience_s\n" + rows


def _simulate(
    days: int, operators: int, seed: int, patience_s: float | None = None
) -> tuple[list[CallSpec], Simulation, SimulationResult]:
    forecast = parse_forecast(_stationary_forecast(patience_s), "stationary.csv")
    queue = queue_config_from_mapping(
        {
            "max_wait_s": None,
            "wrap_up_s": 0,
            "announce_interval_s": None,
            "announce_on_entry": False,
            "short_abandon_s": 0,
        }
    )
    rng = np.random.default_rng(seed)
    calls = draw_calls(forecast, days=days, wrap_up_s=0.0, handle=EXPONENTIAL, rng=rng)
    grid = IntervalGrid.from_forecast(forecast, days)
    sim = Simulation(queue, calls, [StaffingStep(0.0, operators)], grid, seed=seed)
    return calls, sim, sim.run()


def _fifo_waits(arrivals: Sequence[float], talks: Sequence[float], servers: int) -> list[float]:
    """First come, first served with ``servers`` identical operators (Kiefer-Wolfowitz)."""
    free = [0.0] * servers
    waits = []
    for arrival, talk in zip(arrivals, talks, strict=True):
        start = max(arrival, free[0])
        heapq.heapreplace(free, start + talk)
        waits.append(start - arrival)
    return waits


@pytest.fixture(scope="module")
def six_days() -> tuple[list[CallSpec], Simulation, SimulationResult]:
    return _simulate(days=6, operators=OPERATORS, seed=2024)


def test_the_router_serves_first_come_first_served_call_by_call(
    six_days: tuple[list[CallSpec], Simulation, SimulationResult],
) -> None:
    calls, sim, _ = six_days
    expected = _fifo_waits([c.arrival_s for c in calls], [c.talk_s for c in calls], OPERATORS)
    outcomes = sim.call_outcomes()
    assert {o.outcome for o in outcomes} == {Outcome.ANSWERED}
    assert [o.wait_s for o in outcomes] == pytest.approx(expected, abs=1e-9)


def test_six_simulated_days_agree_with_erlang_c(
    six_days: tuple[list[CallSpec], Simulation, SimulationResult],
) -> None:
    _, _, result = six_days
    totals = result.totals
    assert totals.offered == pytest.approx(6 * 48 * CALLS, rel=0.03)
    assert totals.answered == totals.offered
    assert totals.service_level == pytest.approx(ERLANG_C.service_level, abs=0.05)
    assert totals.p_wait == pytest.approx(ERLANG_C.p_wait, abs=0.053)
    assert totals.asa_s == pytest.approx(ERLANG_C.asa_s, rel=0.42)
    assert totals.occupancy == pytest.approx(ERLANG_C.occupancy, abs=0.026)
    # the per-interval figures add up to the totals
    assert sum(r.offered for r in result.intervals) == totals.offered
    assert sum(r.answered_within for r in result.intervals) == totals.answered_within


def test_the_fifo_recursion_over_200_days_agrees_with_erlang_c() -> None:
    rng = np.random.default_rng(7)
    days = 200
    counts = rng.poisson(CALLS, days * 48)
    starts = np.repeat(np.arange(days * 48) * float(INTERVAL_S), counts)
    arrivals = np.sort(starts + rng.uniform(0, INTERVAL_S, counts.sum()))
    talks = rng.exponential(AHT_S, counts.sum())
    waits = np.array(_fifo_waits(arrivals.tolist(), talks.tolist(), OPERATORS))
    assert (waits <= TARGET_S).mean() == pytest.approx(ERLANG_C.service_level, abs=0.01)
    assert (waits > 0).mean() == pytest.approx(ERLANG_C.p_wait, abs=0.01)
    assert waits.mean() == pytest.approx(ERLANG_C.asa_s, rel=0.08)


def test_patient_callers_agree_with_erlang_a() -> None:
    patience_s, operators = 120.0, 12
    _, sim, result = _simulate(days=3, operators=operators, seed=77, patience_s=patience_s)
    figures = erlang_a(operators, CALLS / INTERVAL_S, AHT_S, patience_s, TARGET_S)
    totals = result.totals
    assert totals.short_abandoned == 0 and totals.timed_out == 0 and totals.unfinished == 0
    assert totals.answered + totals.abandoned == totals.offered
    assert totals.service_level == pytest.approx(figures.service_level, abs=0.044)
    assert totals.abandon_rate == pytest.approx(figures.abandon_probability, abs=0.017)
    assert totals.asa_s == pytest.approx(figures.asa_s, rel=0.29)
    # Erlang C for the same staff would be far off: patience matters
    impatient = erlang_c_figures(operators, TRAFFIC, AHT_S, TARGET_S)
    assert totals.service_level is not None
    assert abs(totals.service_level - impatient.service_level) > 0.1
    waits = [o.wait_s or 0.0 for o in sim.call_outcomes() if o.outcome is Outcome.ABANDONED]
    assert np.mean(waits) < patience_s  # hang-ups are the impatient ones
