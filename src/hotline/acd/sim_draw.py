"""What the simulator feeds the router: one :class:`CallSpec` per call.

A call is its arrival time, its talk time, its caller's patience and a
priority.  :func:`draw_calls` draws them from a forecast with a seeded
:class:`numpy.random.Generator`; a replay of recorded calls builds the same
list from history instead, and the simulator cannot tell the difference.

Random draws, per interval of each simulated day
    * arrivals: a Poisson number with mean ``calls``, placed uniformly in the
      interval (a Poisson process of constant rate within the interval);
    * talk time: the interval's ``aht_s`` is the average *handle* time (talk +
      hold + wrap-up, docs/metrics.md) and the queue adds its fixed
      ``wrap_up_s``, so talk times are drawn with mean ``aht_s - wrap_up_s``:
      lognormal with coefficient of variation ``cv`` (``σ² = ln(1 + cv²)``,
      ``μ = ln(mean) - σ²/2``), exponential, or resampled from a list of
      recorded talk times rescaled to that mean (the shape of history, the
      level of the forecast);
    * patience: exponential with mean ``patience_s``, or none (the caller
      never hangs up) when the row has no patience.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from hotline.acd.model import MAX_PRIORITY, MIN_PRIORITY
from hotline.acd.sim_input import DAY_S, Forecast, SimInputError

__all__ = [
    "MAX_SIMULATED_CALLS",
    "MAX_SIMULATED_DAYS",
    "CallSpec",
    "HandleDistribution",
    "HandleModel",
    "draw_calls",
]

MAX_SIMULATED_DAYS: Final = 366
MAX_SIMULATED_CALLS: Final = 2_000_000  # about 40 days of 50,000 calls; memory stays < 1 GB
_MAX_CV: Final = 10.0


class HandleDistribution(enum.Enum):
    """How talk times are drawn."""

    LOGNORMAL = "lognormal"
    EXPONENTIAL = "exponential"
    SAMPLES = "samples"


@dataclass(frozen=True, slots=True)
class HandleModel:
    """The talk-time distribution; ``cv`` for lognormal, ``samples`` for SAMPLES."""

    distribution: HandleDistribution = HandleDistribution.LOGNORMAL
    cv: float = 1.0
    samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cv) and 0 < self.cv <= _MAX_CV):
            raise ValueError(f"the handle-time CV must be in (0, {_MAX_CV:g}]")
        if self.distribution is HandleDistribution.SAMPLES:
            if not self.samples:
                raise ValueError("sampled handle times need at least one sample")
            if not all(math.isfinite(s) and s > 0 for s in self.samples):
                raise ValueError("handle-time samples must be finite numbers > 0")


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One call to simulate: it arrives at ``arrival_s`` (virtual seconds from day 0, 00:00).

    ``talk_s`` is the conversation once answered (the queue's wrap-up comes on
    top); ``patience_s`` how long the caller waits before hanging up (None:
    forever).
    """

    arrival_s: float
    talk_s: float
    patience_s: float | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.arrival_s) and self.arrival_s >= 0):
            raise ValueError("arrival_s must be a finite number >= 0")
        if not (math.isfinite(self.talk_s) and self.talk_s >= 0):
            raise ValueError("talk_s must be a finite number >= 0")
        if self.patience_s is not None and not (
            math.isfinite(self.patience_s) and self.patience_s >= 0
        ):
            raise ValueError("patience_s must be a finite number >= 0 or None")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be {MIN_PRIORITY}..{MAX_PRIORITY}")


def _talk_times(
    rng: np.random.Generator, model: HandleModel, mean_s: float, count: int
) -> Sequence[float]:
    if model.distribution is HandleDistribution.EXPONENTIAL:
        values = rng.exponential(mean_s, count)
    elif model.distribution is HandleDistribution.SAMPLES:
        pool = np.asarray(model.samples, dtype=np.float64)
        values = rng.choice(pool, count) * (mean_s / float(pool.mean()))
    else:
        sigma2 = math.log1p(model.cv * model.cv)
        values = rng.lognormal(math.log(mean_s) - sigma2 / 2.0, math.sqrt(sigma2), count)
    listed: list[float] = values.tolist()
    return listed


def draw_calls(
    forecast: Forecast,
    *,
    days: int,
    wrap_up_s: float,
    handle: HandleModel,
    rng: np.random.Generator,
) -> list[CallSpec]:
    """Every call of ``days`` simulated days, in arrival order (see the module docstring)."""
    if not 1 <= days <= MAX_SIMULATED_DAYS:
        raise ValueError(f"days must be 1..{MAX_SIMULATED_DAYS}")
    expected = days * sum(row.calls for row in forecast.rows)
    if expected > MAX_SIMULATED_CALLS:
        raise SimInputError(
            forecast.source, f"{expected:.0f} calls in all: more than {MAX_SIMULATED_CALLS}"
        )
    length = forecast.interval_s
    calls: list[CallSpec] = []
    for day in range(days):
        origin = day * DAY_S
        for row in forecast.rows:
            talk_mean = row.aht_s - wrap_up_s
            if talk_mean <= 0:
                raise SimInputError(
                    forecast.source,
                    f"{row.aht_s:g} s leaves no talk time after the queue's "
                    f"wrap-up of {wrap_up_s:g} s",
                    row=row.row,
                    column="aht_s",
                )
            count = int(rng.poisson(row.calls))
            if count == 0:
                continue
            start = origin + row.start_s
            arrivals: list[float] = np.sort(rng.uniform(start, start + length, count)).tolist()
            talks = _talk_times(rng, handle, talk_mean, count)
            if row.patience_s is None:
                calls.extend(CallSpec(a, t) for a, t in zip(arrivals, talks, strict=True))
            else:
                patience: list[float] = rng.exponential(row.patience_s, count).tolist()
                calls.extend(
                    CallSpec(a, t, p) for a, t, p in zip(arrivals, talks, patience, strict=True)
                )
    return calls
