"""Operator-selection strategies: plug-ins chosen per queue by name.

A strategy answers one question: *this call may go to any of these idle,
qualified operators; whom do we ring?*  The router calls
:meth:`Strategy.select` only when a call meets several free operators; when
calls are waiting and one operator becomes free, the fair cross-queue order of
:mod:`hotline.acd.router` picks the call instead, and no strategy is involved.

Built-in strategies (names as in the queue configuration), with the
Asterisk/FreeSWITCH strategy they follow:

========================  ===========================================================
``ring-all``              every candidate at once; the first to answer wins (ringall)
``longest-idle``          the operator free for the longest time (longest-idle-agent)
``round-robin``           the next operator after the last one offered, by position
                          (rrmemory / round-robin with memory)
``fewest-calls``          fewest calls answered today (fewestcalls)
``least-talk-time``       least talk time today (least-talk-time)
``random``                uniform, from the router's seeded generator (random)
``weighted-random``       proportional to the operator's ``weight`` (or ``by=level``)
``linear``                the first candidate by ``position`` (linear / top-down)
``skills-based``          highest skill level for the queue, then longest idle
========================  ===========================================================

Every strategy breaks ties by ``(position, operator_id)``, and random ones
draw from candidates in that order, so the same inputs and seed always give
the same choice.  Strategies are instantiated per queue (round-robin keeps its
memory there) by a :class:`StrategyRegistry` owned by the router: no globals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from random import Random
from typing import Protocol

from hotline.acd.model import StrategyParam
from hotline.core.errors import ConfigurationError
from hotline.core.ids import OperatorId, QueueId

__all__ = [
    "FewestCalls",
    "LeastTalkTime",
    "Linear",
    "LongestIdle",
    "OperatorView",
    "RandomChoice",
    "RingAll",
    "RoundRobin",
    "SkillsBased",
    "Strategy",
    "StrategyFactory",
    "StrategyRegistry",
    "WeightedRandom",
    "default_registry",
]


class OperatorView(Protocol):
    """What a strategy may read about a candidate operator."""

    @property
    def operator_id(self) -> OperatorId: ...
    @property
    def idle_since(self) -> float: ...
    @property
    def calls_today(self) -> int: ...
    @property
    def talk_today_s(self) -> float: ...
    @property
    def position(self) -> int: ...
    @property
    def weight(self) -> float: ...
    @property
    def levels(self) -> Mapping[QueueId, int]: ...


class Strategy(Protocol):
    """Chooses whom to ring among the free, qualified operators of one queue."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        """The operators to ring (one, or several at once), taken from ``candidates``."""
        ...

    def note_offer(self, operator: OperatorView) -> None:
        """An offer in this queue went to ``operator`` (by this strategy or otherwise)."""
        ...


StrategyFactory = Callable[[Mapping[str, StrategyParam]], Strategy]


def _order(op: OperatorView) -> tuple[int, str]:
    return (op.position, op.operator_id)


class _Stateless:
    """Base for strategies that remember nothing."""

    def note_offer(self, operator: OperatorView) -> None:
        return None


class RingAll(_Stateless):
    """Ring every candidate; the router cancels the others when one answers."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return sorted(candidates, key=_order)


class LongestIdle(_Stateless):
    """The candidate free since the earliest time."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [min(candidates, key=lambda op: (op.idle_since, *_order(op)))]


class FewestCalls(_Stateless):
    """The candidate with the fewest calls today, then the longest idle."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [min(candidates, key=lambda op: (op.calls_today, op.idle_since, *_order(op)))]


class LeastTalkTime(_Stateless):
    """The candidate with the least talk time today, then the longest idle."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [min(candidates, key=lambda op: (op.talk_today_s, op.idle_since, *_order(op)))]


class Linear(_Stateless):
    """Always the first candidate in operator order (``position``, then id)."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [min(candidates, key=_order)]


class SkillsBased(_Stateless):
    """The best skill level for the queue first, then the longest idle."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [
            min(
                candidates,
                key=lambda op: (-op.levels.get(queue_id, 0), op.idle_since, *_order(op)),
            )
        ]


class RandomChoice(_Stateless):
    """A uniformly random candidate from the router's seeded generator."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [rng.choice(sorted(candidates, key=_order))]


class WeightedRandom(_Stateless):
    """A random candidate with probability proportional to its weight or level.

    All-zero weights fall back to a uniform choice.
    """

    def __init__(self, *, by_level: bool) -> None:
        self._by_level = by_level

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        ordered = sorted(candidates, key=_order)
        if self._by_level:
            weights = [float(op.levels.get(queue_id, 0)) for op in ordered]
        else:
            weights = [op.weight for op in ordered]
        if sum(weights) <= 0:
            return [rng.choice(ordered)]
        return rng.choices(ordered, weights=weights, k=1)


class RoundRobin:
    """The first candidate after the last operator offered, by position (wraps around)."""

    def __init__(self) -> None:
        self._last: tuple[int, str] | None = None

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        last = self._last
        if last is not None:
            after = [op for op in candidates if _order(op) > last]
            if after:
                return [min(after, key=_order)]
        return [min(candidates, key=_order)]

    def note_offer(self, operator: OperatorView) -> None:
        self._last = _order(operator)


def _without_params(name: str, build: Callable[[], Strategy]) -> StrategyFactory:
    def factory(params: Mapping[str, StrategyParam]) -> Strategy:
        if params:
            raise ConfigurationError("strategy_params", f"{name} takes no parameters")
        return build()

    return factory


def _weighted_random(params: Mapping[str, StrategyParam]) -> Strategy:
    unknown = set(params) - {"by"}
    if unknown:
        raise ConfigurationError("strategy_params", f"weighted-random: unknown {sorted(unknown)}")
    by = params.get("by", "weight")
    if by not in ("weight", "level"):
        raise ConfigurationError("strategy_params", "weighted-random: by must be weight or level")
    return WeightedRandom(by_level=by == "level")


class StrategyRegistry:
    """Strategy factories by name; the router owns one (see :func:`default_registry`)."""

    def __init__(self) -> None:
        self._factories: dict[str, StrategyFactory] = {}

    def register(self, name: str, factory: StrategyFactory) -> None:
        """Add a strategy; a name is registered once."""
        if name in self._factories:
            raise ConfigurationError("strategy", f"{name!r} is already registered")
        self._factories[name] = factory

    def create(self, name: str, params: Mapping[str, StrategyParam]) -> Strategy:
        """A fresh strategy instance for one queue."""
        factory = self._factories.get(name)
        if factory is None:
            raise ConfigurationError(
                "strategy", f"unknown strategy {name!r}; known: {self.names()}"
            )
        return factory(params)

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._factories))


def default_registry() -> StrategyRegistry:
    """A registry with the nine built-in strategies."""
    registry = StrategyRegistry()
    registry.register("ring-all", _without_params("ring-all", RingAll))
    registry.register("longest-idle", _without_params("longest-idle", LongestIdle))
    registry.register("round-robin", _without_params("round-robin", RoundRobin))
    registry.register("fewest-calls", _without_params("fewest-calls", FewestCalls))
    registry.register("least-talk-time", _without_params("least-talk-time", LeastTalkTime))
    registry.register("random", _without_params("random", RandomChoice))
    registry.register("weighted-random", _weighted_random)
    registry.register("linear", _without_params("linear", Linear))
    registry.register("skills-based", _without_params("skills-based", SkillsBased))
    return registry
