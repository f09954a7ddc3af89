"""The simulator on the router's code: replayed calls with known outcomes, staffing, draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.acd.model import Outcome, QueueConfig
from hotline.acd.sim_config import queue_config_from_mapping
from hotline.acd.sim_draw import CallSpec, HandleDistribution, HandleModel, draw_calls
from hotline.acd.sim_input import SimInputError, parse_forecast, parse_staffing
from hotline.acd.simulator import (
    CallOutcome,
    IntervalGrid,
    Simulation,
    StaffingStep,
    staffing_steps,
)

A, AB, SH, TO = Outcome.ANSWERED, Outcome.ABANDONED, Outcome.SHORT_ABANDON, Outcome.TIMED_OUT


def _queue(**fields: object) -> QueueConfig:
    base: dict[str, object] = {
        "wrap_up_s": 0,
        "announce_interval_s": None,
        "announce_on_entry": False,
    }
    return queue_config_from_mapping({**base, **fields})


HOUR = IntervalGrid((0,), 3600, 1)


# -- replay: an event list instead of random draws ------------------------------------


def test_a_replayed_day_gives_the_outcomes_worked_out_by_hand() -> None:
    calls = [
        CallSpec(10, 100),  # answered at once, talks until 110
        CallSpec(20, 50),  # waits for c0: answered at 110 (wait 90), talks until 160
        CallSpec(30, 10, 3),  # hangs up after 3 s: a short abandon
        CallSpec(40, 10, 60),  # hangs up after 60 s: abandoned
        CallSpec(50, 10),  # answered at 160 (wait 110)
        CallSpec(55, 10),  # answered at 170 (wait 115)
        CallSpec(58, 10),  # would be answered at 180, but the 120 s norm ends its wait at 178
    ]
    sim = Simulation(_queue(), calls, [StaffingStep(0, 1)], HOUR)
    result = sim.run()
    assert sim.call_outcomes() == (
        CallOutcome(A, 0.0),
        CallOutcome(A, 90.0),
        CallOutcome(SH, 3.0),
        CallOutcome(AB, 60.0),
        CallOutcome(A, 110.0),
        CallOutcome(A, 115.0),
        CallOutcome(TO, 120.0),
    )
    (hour,) = result.intervals
    totals = result.totals
    for row in (hour, totals):
        assert (row.offered, row.answered, row.abandoned, row.short_abandoned) == (7, 4, 1, 1)
        assert (row.timed_out, row.unfinished, row.answered_within) == (1, 0, 1)
        assert row.service_level == pytest.approx(1 / 6)  # short abandons are not counted
        assert row.service_level_answered_only == pytest.approx(1 / 4)
        assert row.asa_s == pytest.approx((0 + 90 + 110 + 115) / 4)
        assert row.abandon_rate == pytest.approx(1 / 6)
        assert row.timed_out_rate == pytest.approx(1 / 6)
        assert row.p_wait == pytest.approx(6 / 7)
        assert row.max_queue == 5  # c1, c3, c4, c5, c6 at 58 s
        assert row.longest_wait_s == 120.0
        # busy 10..180 s without a break, ready idle the rest of the hour
        assert row.busy_s == pytest.approx(170)
        assert row.idle_s == pytest.approx(3600 - 170)
        assert row.occupancy == pytest.approx(170 / 3600)
        assert row.operators == 1
    assert result.calls == 7 and result.days == 1 and result.sl_norm_s == 20.0


def test_wrap_up_counts_as_busy_and_delays_the_next_call() -> None:
    calls = [CallSpec(0, 60), CallSpec(10, 60)]
    sim = Simulation(_queue(wrap_up_s=30), calls, [StaffingStep(0, 1)], HOUR)
    result = sim.run()
    assert sim.call_outcomes() == (CallOutcome(A, 0.0), CallOutcome(A, 80.0))  # 60 talk + 30 wrap
    assert result.totals.busy_s == pytest.approx(180)


def test_calls_split_by_interval_of_arrival_and_time_split_at_boundaries() -> None:
    grid = IntervalGrid((0, 600), 600, 1)
    calls = [CallSpec(500, 200), CallSpec(700, 10)]
    sim = Simulation(_queue(), calls, [StaffingStep(0, 1)], grid)
    first, second = sim.run().intervals
    assert (first.offered, second.offered) == (1, 1)
    assert first.busy_s == pytest.approx(100) and second.busy_s == pytest.approx(100 + 10)
    assert first.idle_s == pytest.approx(500) and second.idle_s == pytest.approx(600 - 110)
    assert sim.call_outcomes()[1] == CallOutcome(A, 0.0)  # the operator was free at 700


def test_the_queue_length_is_carried_into_the_next_interval() -> None:
    grid = IntervalGrid((0, 100), 100, 1)
    calls = [CallSpec(10, 500), CallSpec(20, 10), CallSpec(30, 10)]
    result = Simulation(_queue(max_wait_s=None), calls, [StaffingStep(0, 1)], grid).run()
    assert [r.max_queue for r in result.intervals] == [2, 2]
    assert [r.offered for r in result.intervals] == [3, 0]


def test_calls_nobody_can_serve_are_reported_unfinished() -> None:
    calls = [CallSpec(10, 10), CallSpec(20, 10)]
    sim = Simulation(_queue(max_wait_s=None), calls, [StaffingStep(0, 0)], HOUR, drain_s=60)
    result = sim.run()
    assert result.totals.unfinished == 2 and result.totals.ended == 0
    assert result.intervals[0].p_wait is None
    assert sim.call_outcomes() == (CallOutcome(None, None), CallOutcome(None, None))
    assert result.end_s == 3600


def test_a_refusing_empty_queue_counts_left_empty() -> None:
    result = Simulation(
        _queue(when_empty="refuse"), [CallSpec(10, 10)], [StaffingStep(0, 0)], HOUR
    ).run()
    assert (result.totals.left_empty, result.totals.offered, result.totals.ended) == (1, 1, 1)
    assert result.totals.service_level is None  # 0 / 0
    assert result.totals.p_wait == 1.0


# -- staffing ----------------------------------------------------------------------------


def test_an_operator_who_must_leave_finishes_the_call_first() -> None:
    calls = [
        CallSpec(10, 100),  # op0, until 110
        CallSpec(20, 200),  # op1, until 220; op1 is told to leave at 60
        CallSpec(120, 1000),  # op0, until 1120
        CallSpec(230, 10),  # op1 is gone: nobody until 1120, so the 120 s norm ends it
    ]
    steps = [StaffingStep(0, 2), StaffingStep(60, 1)]
    sim = Simulation(_queue(), calls, steps, HOUR)
    result = sim.run()
    assert [c.outcome for c in sim.call_outcomes()] == [A, A, A, TO]
    assert result.totals.busy_s == pytest.approx(100 + 200 + 1000)
    assert result.totals.idle_s == pytest.approx((10 + 10 + 2480) + 20)  # op1: 0..20 only


def test_a_leaving_operator_stays_when_the_plan_rises_again() -> None:
    calls = [CallSpec(10, 100), CallSpec(20, 200), CallSpec(120, 1000), CallSpec(230, 10)]
    steps = [StaffingStep(0, 2), StaffingStep(60, 1), StaffingStep(100, 2)]
    sim = Simulation(_queue(), calls, steps, HOUR)
    sim.run()
    assert sim.call_outcomes()[3] == CallOutcome(A, 0.0)


def test_an_operator_in_wrap_up_leaves_when_it_ends() -> None:
    calls = [
        CallSpec(10, 20),  # op0: talk until 30, wrap-up until 60; told to leave at 40
        CallSpec(12, 1000),  # op1: busy until 1012 (+ wrap-up)
        CallSpec(50, 10),  # waits; op0 leaves at 60 instead of taking it; the norm ends it
    ]
    steps = [StaffingStep(0, 2), StaffingStep(40, 1)]
    sim = Simulation(_queue(wrap_up_s=30), calls, steps, HOUR)
    sim.run()
    assert [c.outcome for c in sim.call_outcomes()] == [A, A, TO]


def test_idle_operators_leave_at_once_and_new_ones_log_in() -> None:
    calls = [CallSpec(100, 10), CallSpec(700, 10), CallSpec(701, 10)]
    steps = [StaffingStep(0, 3), StaffingStep(600, 0), StaffingStep(650, 1)]
    grid = IntervalGrid((0, 600), 600, 1)
    sim = Simulation(_queue(), calls, steps, grid)
    result = sim.run()
    assert [c.wait_s for c in sim.call_outcomes()] == [0.0, 0.0, 9.0]
    first, second = result.intervals
    assert first.operators == 3 and second.operators == 1  # the plan at 600 s is 0, then 1
    assert first.idle_s == pytest.approx(3 * 600 - 10)
    assert second.idle_s == pytest.approx(550 - 20)


def test_the_plan_repeats_every_day_and_must_cover_the_first_interval() -> None:
    forecast = parse_forecast("start,calls,aht_s\n08:00,10,180\n08:30,10,180\n", "F.csv")
    grid = IntervalGrid.from_forecast(forecast, 2)
    plan = parse_staffing("start,operators\n07:00,3\n08:30,5\n", "S.csv")
    steps = staffing_steps(plan, grid, "S.csv")
    assert steps == [
        StaffingStep(7 * 3600, 3),
        StaffingStep(8.5 * 3600, 5),
        StaffingStep(86_400 + 7 * 3600, 3),
        StaffingStep(86_400 + 8.5 * 3600, 5),
    ]
    late = parse_staffing("start,operators\n08:15,3\n", "S.csv")
    with pytest.raises(SimInputError) as caught:
        staffing_steps(late, grid, "S.csv")
    assert (caught.value.row, caught.value.column) == (2, "start")
    assert "08:15" in str(caught.value) and "08:00" in str(caught.value)


# -- the interval grid ------------------------------------------------------------------


def test_grid_slots() -> None:
    grid = IntervalGrid((3600, 5400), 1800, 2)
    assert grid.end_s == 86_400 + 7200
    assert grid.slot(0) == (-1, 3600.0)
    assert grid.slot(3600) == (0, 5400.0)
    assert grid.slot(5399.5) == (0, 5400.0)
    assert grid.slot(5400) == (1, 7200.0)
    assert grid.slot(7200) == (-1, 86_400 + 3600.0)
    assert grid.slot(86_400 + 6000) == (1, 86_400 + 7200.0)
    assert grid.slot(86_400 + 7200) == (-1, math.inf)
    with pytest.raises(ValueError, match="equally spaced"):
        IntervalGrid((0, 100, 300), 100, 1)
    with pytest.raises(ValueError, match="within a day"):
        IntervalGrid((86_000,), 1800, 1)


def test_bad_simulation_arguments() -> None:
    with pytest.raises(ValueError, match="arrival order"):
        Simulation(_queue(), [CallSpec(20, 1), CallSpec(10, 1)], [], HOUR)
    with pytest.raises(ValueError, match="operator_level"):
        Simulation(_queue(), [], [], HOUR, operator_level=0)
    with pytest.raises(ValueError, match="staffing"):
        Simulation(_queue(), [], [StaffingStep(0, -1)], HOUR)
    with pytest.raises(ValueError):
        CallSpec(-1, 10)
    with pytest.raises(ValueError):
        CallSpec(1, 10, priority=101)


# -- random draws -----------------------------------------------------------------------


FORECAST = parse_forecast(
    "start,calls,aht_s,patience_s\n08:00,400,190,60\n08:30,0,190,60\n09:00,300,100,\n", "F.csv"
)


def test_draws_follow_the_forecast() -> None:
    calls = draw_calls(
        FORECAST, days=20, wrap_up_s=10, handle=HandleModel(), rng=np.random.default_rng(5)
    )
    arrivals = np.array([c.arrival_s for c in calls])
    assert (np.diff(arrivals) >= 0).all()
    tod = arrivals % 86_400
    first = [c for c, t in zip(calls, tod, strict=True) if 8 * 3600 <= t < 8.5 * 3600]
    third = [c for c, t in zip(calls, tod, strict=True) if 9 * 3600 <= t < 9.5 * 3600]
    assert len(first) + len(third) == len(calls)  # nothing in the empty interval
    assert len(first) / 20 == pytest.approx(400, rel=0.03)  # Poisson: sd of the mean 4.5
    assert np.mean([c.talk_s for c in first]) == pytest.approx(180, rel=0.05)  # 190 - wrap-up
    talks = np.array([c.talk_s for c in third])
    assert talks.mean() == pytest.approx(90, rel=0.05)
    assert talks.std() / talks.mean() == pytest.approx(1.0, rel=0.15)  # the lognormal CV
    assert np.mean([c.patience_s for c in first]) == pytest.approx(60, rel=0.05)
    assert {c.patience_s for c in third} == {None}


def test_exponential_and_sampled_talk_times() -> None:
    rng = np.random.default_rng(9)
    exponential = draw_calls(
        FORECAST,
        days=10,
        wrap_up_s=0,
        handle=HandleModel(HandleDistribution.EXPONENTIAL),
        rng=rng,
    )
    talks = np.array([c.talk_s for c in exponential if c.patience_s is None])
    assert talks.mean() == pytest.approx(100, rel=0.05)
    assert talks.std() / talks.mean() == pytest.approx(1.0, rel=0.1)
    sampled = draw_calls(
        FORECAST,
        days=2,
        wrap_up_s=0,
        handle=HandleModel(HandleDistribution.SAMPLES, samples=(10.0, 30.0)),
        rng=rng,
    )
    # rescaled to the interval's mean: 190 s -> {95, 285}; 100 s -> {50, 150}
    assert {round(c.talk_s, 6) for c in sampled} == {95.0, 285.0, 50.0, 150.0}


def test_the_same_seed_gives_the_same_day() -> None:
    def day(seed: int) -> tuple[list[CallSpec], tuple[CallOutcome, ...]]:
        calls = draw_calls(
            FORECAST, days=1, wrap_up_s=10, handle=HandleModel(), rng=np.random.default_rng(seed)
        )
        grid = IntervalGrid.from_forecast(FORECAST, 1)
        queue = queue_config_from_mapping({"strategy": "random"})
        sim = Simulation(queue, calls, [StaffingStep(0, 25)], grid, seed=seed)
        sim.run()
        return calls, sim.call_outcomes()

    assert day(3) == day(3)
    assert day(3) != day(4)


def test_bad_draw_arguments() -> None:
    with pytest.raises(SimInputError) as caught:
        draw_calls(
            FORECAST, days=1, wrap_up_s=100, handle=HandleModel(), rng=np.random.default_rng()
        )
    assert (caught.value.row, caught.value.column) == (4, "aht_s")  # 100 s = wrap-up
    with pytest.raises(ValueError, match="days"):
        draw_calls(FORECAST, days=0, wrap_up_s=0, handle=HandleModel(), rng=np.random.default_rng())
    with pytest.raises(ValueError, match="CV"):
        HandleModel(cv=0)
    with pytest.raises(ValueError, match="at least one sample"):
        HandleModel(HandleDistribution.SAMPLES)


# -- every call ends exactly once, whatever happens --------------------------------------

_call = st.builds(
    CallSpec,
    arrival_s=st.floats(0, 3000),
    talk_s=st.floats(0, 600),
    patience_s=st.none() | st.floats(0, 300),
    priority=st.integers(0, 3),
)


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(_call, max_size=40),
    plan=st.lists(st.tuples(st.floats(0, 3600), st.integers(0, 4)), max_size=6),
    wrap_up_s=st.sampled_from([0.0, 15.0]),
    max_wait_s=st.sampled_from([None, 60.0]),
    strategy=st.sampled_from(["longest-idle", "ring-all", "round-robin", "random"]),
)
def test_every_call_gets_exactly_one_outcome(
    calls: list[CallSpec],
    plan: list[tuple[float, int]],
    wrap_up_s: float,
    max_wait_s: float | None,
    strategy: str,
) -> None:
    calls.sort(key=lambda c: c.arrival_s)
    steps = [StaffingStep(0, 1)] + [StaffingStep(t, n) for t, n in sorted(plan)]
    queue = _queue(wrap_up_s=wrap_up_s, max_wait_s=max_wait_s, strategy=strategy)
    sim = Simulation(queue, calls, steps, HOUR, drain_s=7200)
    result = sim.run()
    outcomes = sim.call_outcomes()
    assert len(outcomes) == len(calls) == result.totals.offered
    assert result.totals.ended + result.totals.unfinished == len(calls)
    for spec, done in zip(calls, outcomes, strict=True):
        if done.outcome is None:
            assert max_wait_s is None and spec.patience_s is None
        else:
            assert done.wait_s is not None and done.wait_s >= 0
            if done.outcome is Outcome.TIMED_OUT:
                assert done.wait_s == pytest.approx(max_wait_s)
    busy, idle = result.totals.busy_s, result.totals.idle_s
    assert busy >= 0 and idle >= 0
    assert busy <= sum(c.talk_s + wrap_up_s for c in calls) + 1e-6


def test_running_in_steps_gives_the_same_result_as_one_run() -> None:
    calls = draw_calls(
        FORECAST, days=2, wrap_up_s=10, handle=HandleModel(), rng=np.random.default_rng(1)
    )
    grid = IntervalGrid.from_forecast(FORECAST, 2)
    steps = staffing_steps(parse_staffing("start,operators\n00:00,20\n", "S.csv"), grid, "S.csv")
    whole = Simulation(_queue(), calls, steps, grid, seed=1)
    expected = whole.run()
    stepped = Simulation(_queue(), calls, steps, grid, seed=1)
    progress = []
    for hour in range(1, 49):
        stepped.run_until(hour * 3600.0)
        progress.append(stepped.progress)
        assert stepped.now == hour * 3600.0
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert stepped.finish() == expected
    assert stepped.call_outcomes() == whole.call_outcomes()


def test_too_many_calls_are_refused() -> None:
    huge = parse_forecast("start,calls,aht_s\n08:00,1000000,180\n08:30,1000000,180\n", "F.csv")
    with pytest.raises(SimInputError, match="more than"):
        draw_calls(huge, days=2, wrap_up_s=0, handle=HandleModel(), rng=np.random.default_rng())
