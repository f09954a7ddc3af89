"""Staffing arithmetic: Erlang C (M/M/N) and Erlang A (M/M/N+M, callers with patience).

Formulas and symbols follow docs/metrics.md: traffic ``A = λ·AHT`` Erlangs,
``N`` operators, target answer time ``t``.

Erlang C
    P(wait) comes from the Erlang B recursion
    ``B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1))`` and
    ``C = N·B / (N - A·(1 - B))``, which never forms ``Aᴺ`` or ``N!`` and is
    therefore stable for thousands of operators.  ``SL(t) = 1 - C·e^{-(N-A)t/AHT}``,
    ``ASA = C·AHT/(N-A)``, occupancy ``A/N``.  With ``N <= A`` the queue grows
    without bound: P(wait) = 1, SL = 0, ASA = ∞.

Erlang A
    Callers abandon after an exponential patience (rate ``θ = 1/patience``).
    The method is the birth–death chain of the number of callers in the
    system, solved numerically: birth rate ``λ``, death rate
    ``min(k,N)·μ + max(k-N,0)·θ``; the stationary law is built in log space
    and truncated where its tail falls below e⁻⁴⁰ of its peak (the queue
    length is doubled until it does).  An arrival that finds ``i`` callers
    waiting ahead (PASTA) moves up at rate ``a_m = N·μ + m·θ`` with ``m``
    ahead and gives up at rate ``θ``; so it is served with probability
    ``s_i = Π_{m≤i} a_m/(a_m+θ)``, its wait before service is a sum of
    exponentials of rates ``a_m + θ``, and
    ``E[W; served] = s_i·Σ 1/(a_m+θ)``.  ``SL(t) = P(served and W ≤ t)``
    (every arrival in the denominator, as in docs/metrics.md) uses the
    distribution of that sum, computed by uniformisation (a Poisson mixture of
    a discrete chain: only sums of positive terms, hence stable).  Abandon
    probability is ``1 - P(served)``; it equals ``θ·E[Lq]/λ`` (tested).

Invalid arguments raise ValueError, as the math module does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "StaffingFigures",
    "erlang_a",
    "erlang_a_headcount",
    "erlang_b",
    "erlang_c",
    "erlang_c_asa",
    "erlang_c_figures",
    "erlang_c_headcount",
    "erlang_c_service_level",
    "occupancy",
    "scheduled_headcount",
    "traffic_erlangs",
]

_LOG_TAIL: Final = -40.0  # truncate the stationary law below e^-40 of its peak
_MAX_QUEUE: Final = 1 << 20  # at most this many waiting places in the Erlang A chain
_MAX_HEADCOUNT: Final = 1_000_000

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StaffingFigures:
    """What ``servers`` operators achieve for the given traffic."""

    servers: int
    traffic_erlangs: float
    p_wait: float
    service_level: float
    asa_s: float  # mean wait of answered calls
    occupancy: float
    abandon_probability: float  # 0 in Erlang C


def _check(servers: int, traffic: float) -> None:
    if servers < 0:
        raise ValueError("servers must be >= 0")
    if not (math.isfinite(traffic) and traffic >= 0):
        raise ValueError("traffic must be a finite number of Erlangs >= 0")


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0")


def traffic_erlangs(calls: float, period_s: float, aht_s: float) -> float:
    """``A = λ·AHT``: ``calls`` arriving in ``period_s`` seconds, each handled in ``aht_s``."""
    _positive("period_s", period_s)
    _positive("aht_s", aht_s)
    if not (math.isfinite(calls) and calls >= 0):
        raise ValueError("calls must be a finite number >= 0")
    return calls / period_s * aht_s


def erlang_b(servers: int, traffic: float) -> float:
    """Blocking probability of ``servers`` lines offered ``traffic`` Erlangs (recursive)."""
    _check(servers, traffic)
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def _c_from_b(servers: int, traffic: float, blocking: float) -> float:
    if servers <= traffic:
        return 1.0
    return servers * blocking / (servers - traffic * (1.0 - blocking))


def erlang_c(servers: int, traffic: float) -> float:
    """P(wait): the probability that a caller finds every operator busy."""
    return _c_from_b(servers, traffic, erlang_b(servers, traffic))


def erlang_c_service_level(servers: int, traffic: float, aht_s: float, target_s: float) -> float:
    """SL(t) = 1 - P(wait)·e^{-(N-A)·t/AHT}."""
    _positive("aht_s", aht_s)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError("target_s must be a finite number >= 0")
    p_wait = erlang_c(servers, traffic)
    if servers <= traffic:
        return 0.0
    return 1.0 - p_wait * math.exp(-(servers - traffic) * target_s / aht_s)


def erlang_c_asa(servers: int, traffic: float, aht_s: float) -> float:
    """ASA = P(wait)·AHT/(N-A) (infinite when N <= A)."""
    _positive("aht_s", aht_s)
    p_wait = erlang_c(servers, traffic)
    if servers <= traffic:
        return math.inf
    return p_wait * aht_s / (servers - traffic)


def occupancy(servers: int, traffic: float) -> float:
    """A/N, at most 1."""
    _check(servers, traffic)
    if servers == 0:
        return 1.0 if traffic > 0 else 0.0
    return min(traffic / servers, 1.0)


def erlang_c_figures(
    servers: int, traffic: float, aht_s: float, target_s: float
) -> StaffingFigures:
    """Every Erlang C figure at once."""
    return StaffingFigures(
        servers=servers,
        traffic_erlangs=traffic,
        p_wait=erlang_c(servers, traffic),
        service_level=erlang_c_service_level(servers, traffic, aht_s, target_s),
        asa_s=erlang_c_asa(servers, traffic, aht_s),
        occupancy=occupancy(servers, traffic),
        abandon_probability=0.0,
    )


def erlang_c_headcount(traffic: float, aht_s: float, target_s: float, service_level: float) -> int:
    """The fewest operators whose SL(target_s) reaches ``service_level`` (0 < SL < 1)."""
    _check(0, traffic)
    _positive("aht_s", aht_s)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError("target_s must be a finite number >= 0")
    if not 0 < service_level < 1:
        raise ValueError("service_level must be between 0 and 1 (exclusive)")
    if traffic == 0:
        return 0
    servers = math.floor(traffic) + 1
    blocking = erlang_b(servers, traffic)
    while servers <= _MAX_HEADCOUNT:
        p_wait = _c_from_b(servers, traffic, blocking)
        sl = 1.0 - p_wait * math.exp(-(servers - traffic) * target_s / aht_s)
        if sl >= service_level:
            return servers
        servers += 1
        blocking = traffic * blocking / (servers + traffic * blocking)
    raise ValueError("no headcount up to a million reaches that service level")


def scheduled_headcount(servers: int, shrinkage: float) -> int:
    """Operators to schedule: N / (1 - shrinkage), rounded up (shrinkage in [0, 1))."""
    if servers < 0:
        raise ValueError("servers must be >= 0")
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(servers / (1.0 - shrinkage) - 1e-9)


# -- Erlang A ------------------------------------------------------------------


def _stationary(servers: int, lam: float, mu: float, theta: float) -> FloatArray:
    """The normalised stationary law of the M/M/N+M chain, truncated adaptively."""
    extra = 64
    while True:
        states = np.arange(1, servers + extra + 1, dtype=np.float64)
        deaths = np.minimum(states, servers) * mu + np.maximum(states - servers, 0.0) * theta
        log_pi = np.concatenate(([0.0], np.cumsum(np.log(lam / deaths))))
        peak = float(log_pi.max())
        if log_pi[-1] - peak < _LOG_TAIL or extra >= _MAX_QUEUE:
            break
        extra *= 2
    if log_pi[-1] - peak >= _LOG_TAIL:
        raise ValueError("patience too long for the Erlang A chain; use Erlang C")
    pi = np.exp(log_pi - peak)
    normalised: FloatArray = pi / pi.sum()
    return normalised


def _poisson_weights(mean: float, count: int) -> FloatArray:
    j = np.arange(count, dtype=np.float64)
    log_fact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, count, dtype=np.float64)))))
    weights: FloatArray = np.exp(-mean + j * math.log(mean) - log_fact)
    return weights


def _served_by(weights: FloatArray, rates: FloatArray, target_s: float) -> float:
    """Σ_i weights_i · P(sum of Exp(rates_0..rates_i) <= target_s), by uniformisation."""
    total = float(weights.sum())
    if total == 0.0 or target_s == 0.0:
        return 0.0
    uniform = float(rates.max())
    mean = uniform * target_s
    steps = math.ceil(mean + 10.0 * math.sqrt(mean) + 20.0)
    poisson = _poisson_weights(mean, steps + 1)
    move = rates / uniform
    mass = weights.copy()
    absorbed = 0.0
    result = 0.0
    for step in range(steps + 1):
        result += float(poisson[step]) * absorbed
        moved = mass * move
        mass -= moved
        mass[:-1] += moved[1:]
        absorbed += float(moved[0])
    return result + max(0.0, 1.0 - float(poisson.sum())) * absorbed


def erlang_a(
    servers: int, arrival_rate_per_s: float, aht_s: float, patience_s: float, target_s: float
) -> StaffingFigures:
    """Erlang A figures for ``servers`` operators (see the module docstring for the method)."""
    _check(servers, arrival_rate_per_s)
    _positive("aht_s", aht_s)
    _positive("patience_s", patience_s)
    if not (math.isfinite(target_s) and target_s >= 0):
        raise ValueError("target_s must be a finite number >= 0")
    traffic = arrival_rate_per_s * aht_s
    if arrival_rate_per_s == 0:
        return StaffingFigures(servers, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if servers == 0:
        return StaffingFigures(0, traffic, 1.0, 0.0, math.inf, 1.0, 1.0)
    mu, theta = 1.0 / aht_s, 1.0 / patience_s
    pi = _stationary(servers, arrival_rate_per_s, mu, theta)
    queued = pi[servers:]  # an arrival finds i = 0, 1, ... callers waiting ahead
    ahead = np.arange(len(queued), dtype=np.float64)
    advance = servers * mu + ahead * theta
    leave = advance + theta
    served_if_queued = np.exp(np.cumsum(np.log(advance / leave)))
    immediate = float(pi[:servers].sum())
    served_weights = queued * served_if_queued
    p_served = immediate + float(served_weights.sum())
    wait_served = float((served_weights * np.cumsum(1.0 / leave)).sum())
    service_level = immediate + _served_by(served_weights, leave, target_s)
    occupied = arrival_rate_per_s * p_served * aht_s
    return StaffingFigures(
        servers=servers,
        traffic_erlangs=traffic,
        p_wait=float(queued.sum()),
        service_level=min(service_level, p_served),
        asa_s=wait_served / p_served if p_served > 0 else math.inf,
        occupancy=min(occupied / servers, 1.0) if servers else 1.0,
        abandon_probability=max(0.0, 1.0 - p_served),
    )


def erlang_a_headcount(
    arrival_rate_per_s: float,
    aht_s: float,
    patience_s: float,
    target_s: float,
    service_level: float,
    max_abandon: float | None = None,
) -> int:
    """The fewest operators reaching ``service_level`` (and at most ``max_abandon``)."""
    if not 0 < service_level < 1:
        raise ValueError("service_level must be between 0 and 1 (exclusive)")
    if max_abandon is not None and not 0 < max_abandon < 1:
        raise ValueError("max_abandon must be between 0 and 1 (exclusive)")

    def enough(servers: int) -> bool:
        figures = erlang_a(servers, arrival_rate_per_s, aht_s, patience_s, target_s)
        return figures.service_level >= service_level and (
            max_abandon is None or figures.abandon_probability <= max_abandon
        )

    if arrival_rate_per_s == 0:
        return 0
    traffic = arrival_rate_per_s * aht_s
    high = max(1, math.ceil(traffic + 3.0 * math.sqrt(traffic) + 3.0))
    while not enough(high):
        if high > _MAX_HEADCOUNT:
            raise ValueError("no headcount up to a million reaches that target")
        high *= 2
    low = 0  # enough(low) is false or low is 0
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high
