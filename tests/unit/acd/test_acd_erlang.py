"""Erlang C and Erlang A against the worked example, limits, identities and a simulation."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from hotline.acd.erlang import (
    erlang_a,
    erlang_a_headcount,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_figures,
    erlang_c_headcount,
    erlang_c_service_level,
    occupancy,
    scheduled_headcount,
    traffic_erlangs,
)

# The worked example: 100 calls per 30 min, AHT 180 s, target 20 s.
A = traffic_erlangs(100, 1800, 180)


def test_the_worked_example_traffic_is_ten_erlangs() -> None:
    assert pytest.approx(10.0) == A


def test_the_worked_example_with_13_operators() -> None:
    figures = erlang_c_figures(13, A, 180, 20)
    assert figures.p_wait == pytest.approx(0.285, abs=5e-4)
    assert figures.service_level == pytest.approx(0.796, abs=5e-4)
    assert figures.asa_s == pytest.approx(17.1, abs=0.05)
    assert figures.occupancy == pytest.approx(10 / 13)


def test_the_worked_example_with_14_operators() -> None:
    assert erlang_c_service_level(14, A, 180, 20) == pytest.approx(0.888, abs=5e-4)


def test_headcount_for_an_80_20_target_is_14() -> None:
    assert erlang_c_headcount(A, 180, 20, 0.80) == 14
    assert erlang_c_headcount(A, 180, 20, 0.79) == 13


def test_scheduled_headcount_adds_shrinkage() -> None:
    assert scheduled_headcount(14, 0.30) == 20  # 14 / 0.7 = 20 exactly
    assert scheduled_headcount(13, 0.30) == 19  # 18.57 -> 19
    assert scheduled_headcount(13, 0.0) == 13


def test_erlang_b_matches_the_closed_form_for_small_n() -> None:
    n, a = 5, 3.0
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    assert erlang_b(n, a) == pytest.approx(terms[-1] / sum(terms), rel=1e-12)


def test_erlang_c_matches_the_formula_of_metrics_md() -> None:
    n, a = 13, 10.0
    top = a**n / math.factorial(n) * n / (n - a)
    bottom = sum(a**k / math.factorial(k) for k in range(n)) + top
    assert erlang_c(n, a) == pytest.approx(top / bottom, rel=1e-12)


def test_large_centres_are_numerically_stable() -> None:
    p_wait = erlang_c(5000, 4900.0)  # A^N and N! overflow any float
    assert 0.0 < p_wait < 1.0
    assert erlang_c_asa(5000, 4900.0, 180) < 180
    assert erlang_c_headcount(4900.0, 180, 20, 0.8) > 4900


def test_overload_is_reported_not_divided_by_zero() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c_service_level(9, 10.0, 180, 20) == 0.0
    assert erlang_c_asa(10, 12.0, 180) == math.inf
    assert occupancy(8, 10.0) == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1, 1.0),
        lambda: erlang_c(3, float("nan")),
        lambda: traffic_erlangs(10, 0, 180),
        lambda: erlang_c_headcount(10.0, 180, 20, 1.0),
        lambda: scheduled_headcount(10, 1.0),
        lambda: erlang_a(3, 0.1, 180, 0, 20),
    ],
)
def test_bad_arguments_raise_value_error(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    for n in (11, 13, 14):
        a_figures = erlang_a(n, 100 / 1800, 180, 1e7, 20)
        c_figures = erlang_c_figures(n, A, 180, 20)
        assert a_figures.p_wait == pytest.approx(c_figures.p_wait, abs=1e-4)
        assert a_figures.service_level == pytest.approx(c_figures.service_level, abs=1e-4)
        assert a_figures.asa_s == pytest.approx(c_figures.asa_s, rel=1e-3)
        assert a_figures.abandon_probability < 1e-3


def test_erlang_a_abandonment_matches_littles_law() -> None:
    # P(abandon) = θ·E[Lq]/λ, computed here from the figures' own ingredients
    lam, aht, patience, n = 100 / 1800, 180.0, 120.0, 11
    figures = erlang_a(n, lam, aht, patience, 20)
    mu, theta = 1 / aht, 1 / patience
    weights = [1.0]
    for k in range(1, 400):
        death = min(k, n) * mu + max(k - n, 0) * theta
        weights.append(weights[-1] * lam / death)
    total = sum(weights)
    mean_queue = sum(max(k - n, 0) * w for k, w in enumerate(weights)) / total
    assert figures.abandon_probability == pytest.approx(theta * mean_queue / lam, rel=1e-9)


def test_erlang_a_survives_overload() -> None:
    figures = erlang_a(8, 100 / 1800, 180, 60, 20)  # 10 Erlangs on 8 operators
    assert 0.0 < figures.service_level < 0.7
    assert figures.abandon_probability > 0.1
    assert figures.occupancy <= 1.0
    nobody = erlang_a(0, 0.1, 180, 60, 20)
    assert (nobody.service_level, nobody.abandon_probability) == (0.0, 1.0)


def test_erlang_a_headcount_is_the_smallest_that_reaches_the_target() -> None:
    lam, aht, patience = 100 / 1800, 180.0, 120.0
    n = erlang_a_headcount(lam, aht, patience, 20, 0.8)
    assert erlang_a(n, lam, aht, patience, 20).service_level >= 0.8
    assert erlang_a(n - 1, lam, aht, patience, 20).service_level < 0.8
    assert n <= erlang_c_headcount(A, aht, 20, 0.8)  # impatient callers thin the queue
    strict = erlang_a_headcount(lam, aht, patience, 20, 0.8, max_abandon=0.01)
    assert strict >= n
    assert erlang_a(strict, lam, aht, patience, 20).abandon_probability <= 0.01


def simulate_mm_n_m(
    servers: int, lam: float, aht: float, patience: float, target: float, calls: int
) -> tuple[float, float]:
    """FCFS M/M/N+M by events: (share answered within target, share abandoned)."""
    rng = random.Random(2024)
    free_at = [0.0] * servers  # heap of the times operators become free
    heapq.heapify(free_at)
    now = within = abandoned = 0
    clock = 0.0
    for _ in range(calls):
        clock += rng.expovariate(lam)
        give_up = clock + rng.expovariate(1 / patience)
        start = max(clock, free_at[0])
        if start > give_up:
            abandoned += 1
            continue
        heapq.heapreplace(free_at, start + rng.expovariate(1 / aht))
        if start - clock <= target:
            within += 1
        now += 1
    return within / calls, abandoned / calls


def test_erlang_a_agrees_with_a_simulation() -> None:
    # FCFS with a single line: an abandoning caller never holds an operator.
    lam, aht, patience, n = 100 / 1800, 180.0, 60.0, 10
    sl_sim, abandon_sim = simulate_mm_n_m(n, lam, aht, patience, 20.0, 60_000)
    figures = erlang_a(n, lam, aht, patience, 20.0)
    assert figures.service_level == pytest.approx(sl_sim, abs=0.01)
    assert figures.abandon_probability == pytest.approx(abandon_sim, abs=0.006)
