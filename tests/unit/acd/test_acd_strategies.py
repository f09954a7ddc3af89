"""Every strategy's choice on fixed scenarios, driven through the router."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from random import Random
from typing import Any

import pytest

from hotline.acd.decisions import Decision, OfferCall
from hotline.acd.model import OperatorProfile, QueueConfig, StrategyParam
from hotline.acd.router import AcdEngine
from hotline.acd.strategies import (
    OperatorView,
    Strategy,
    StrategyRegistry,
    default_registry,
)
from hotline.core.errors import ConfigurationError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

Q1 = QueueId("q1")

# name: (position, level, ready at (idle since), calls today, talk today, weight)
TEAM = {
    "a": (3, 5, 2.0, 3, 100.0, 0.0),
    "b": (1, 9, 4.0, 1, 300.0, 1.0),
    "c": (4, 7, 1.0, 2, 50.0, 0.0),
    "d": (2, 9, 3.0, 1, 200.0, 3.0),
}


def drain(engine: AcdEngine) -> list[Decision]:
    out: list[Decision] = []
    while (decision := engine.next_decision()) is not None:
        out.append(decision)
    return out


def offers(engine: AcdEngine) -> list[str]:
    return [d.operator_id for d in drain(engine) if isinstance(d, OfferCall)]


def team_engine(strategy: str, seed: int = 3, **params: StrategyParam) -> AcdEngine:
    engine = AcdEngine(seed=seed)
    config = QueueConfig(
        queue_id=Q1,
        name="q1",
        topic=TopicId("social"),
        strategy=strategy,
        strategy_params=params,
        wrap_up_s=0.0,
        announce_interval_s=None,
    )
    engine.add_queue(config, 0.0)
    for name in sorted(TEAM, key=lambda n: TEAM[n][2]):
        position, level, ready_at, calls, talk, weight = TEAM[name]
        engine.operator_login(
            OperatorProfile(
                operator_id=OperatorId(name),
                skills={"social": level},
                position=position,
                weight=weight,
            ),
            ready_at,
            ready=True,
            calls_today=calls,
            talk_today_s=talk,
        )
    drain(engine)
    return engine


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("longest-idle", ["c"]),  # ready since t=1
        ("linear", ["b"]),  # position 1
        ("fewest-calls", ["d"]),  # b and d have 1 call; d idle longer
        ("least-talk-time", ["c"]),  # 50 s
        ("skills-based", ["d"]),  # b and d at level 9; d idle longer
        ("round-robin", ["b"]),  # no memory yet: the first by position
        ("ring-all", ["b", "d", "a", "c"]),  # everyone, in operator order
    ],
)
def test_first_choice_of_each_strategy(strategy: str, expected: list[str]) -> None:
    engine = team_engine(strategy)
    engine.call_arrived(CallId("c1"), Q1, 10.0)
    assert offers(engine) == expected


def serve_calls(engine: AcdEngine, count: int, start: float = 10.0) -> list[str]:
    """Offer ``count`` calls one by one; each is answered and ended at once."""
    chosen = []
    now = start
    for i in range(count):
        engine.call_arrived(CallId(f"c{i}"), Q1, now)
        operator = offers(engine)[0]
        chosen.append(operator)
        engine.offer_answered(CallId(f"c{i}"), OperatorId(operator), now + 0.1)
        engine.call_ended(OperatorId(operator), now + 0.2)
        drain(engine)
        now += 1.0
    return chosen


def test_round_robin_remembers_where_it_stopped() -> None:
    assert serve_calls(team_engine("round-robin"), 6) == ["b", "d", "a", "c", "b", "d"]


def test_round_robin_skips_busy_operators() -> None:
    engine = team_engine("round-robin")
    engine.set_not_ready(OperatorId("d"), "break", 5.0)
    assert serve_calls(engine, 4) == ["b", "a", "c", "b"]


def test_longest_idle_rotates_through_the_team() -> None:
    # each served operator becomes the most recently idle
    assert serve_calls(team_engine("longest-idle"), 5) == ["c", "a", "d", "b", "c"]


def test_fewest_calls_counts_todays_calls() -> None:
    # calls today: a3 b1 c2 d1 -> d(2) -> b(2) -> then c, d, b all at 2: c idles longest
    assert serve_calls(team_engine("fewest-calls"), 4) == ["d", "b", "c", "d"]


def test_linear_always_tries_the_top_operator_first() -> None:
    assert serve_calls(team_engine("linear"), 3) == ["b", "b", "b"]


def test_random_is_seeded_and_covers_everyone() -> None:
    first = serve_calls(team_engine("random", seed=11), 200)
    assert first == serve_calls(team_engine("random", seed=11), 200)
    assert first != serve_calls(team_engine("random", seed=12), 200)
    counts = Counter(first)
    assert set(counts) == {"a", "b", "c", "d"}
    assert all(30 <= n <= 70 for n in counts.values())


def test_weighted_random_follows_the_weights() -> None:
    counts = Counter(serve_calls(team_engine("weighted-random", seed=5), 400))
    assert set(counts) == {"b", "d"}  # a and c weigh 0
    assert 2.0 <= counts["d"] / counts["b"] <= 4.5  # weights 3:1


def test_weighted_random_by_level() -> None:
    counts = Counter(serve_calls(team_engine("weighted-random", seed=5, by="level"), 600))
    assert set(counts) == {"a", "b", "c", "d"}
    assert counts["b"] > counts["a"] and counts["d"] > counts["a"]  # 9 vs 5


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("nonexistent", {}), ("longest-idle", {"x": 1}), ("weighted-random", {"by": "age"})],
)
def test_bad_strategies_are_configuration_errors(
    strategy: str, params: Mapping[str, StrategyParam]
) -> None:
    engine = AcdEngine()
    config = QueueConfig(
        queue_id=Q1, name="q", topic=TopicId("t"), strategy=strategy, strategy_params=params
    )
    with pytest.raises(ConfigurationError):
        engine.add_queue(config, 0.0)


class YoungestFirst:
    """A plug-in strategy: the operator who became idle last."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [max(candidates, key=lambda op: op.idle_since)]

    def note_offer(self, operator: OperatorView) -> None:
        return None


class Impostor(YoungestFirst):
    """A broken plug-in that names someone who is not a candidate."""

    def select(
        self, queue_id: QueueId, candidates: Sequence[OperatorView], rng: Random
    ) -> Sequence[OperatorView]:
        return [Fake()]


class Fake:
    operator_id = OperatorId("ghost")
    idle_since = 0.0
    calls_today = 0
    talk_today_s = 0.0
    position = 0
    weight = 1.0
    levels: Mapping[QueueId, int] = {}


def registry_with(name: str, strategy: type[YoungestFirst]) -> StrategyRegistry:
    registry = default_registry()

    def factory(params: Mapping[str, Any]) -> Strategy:
        return strategy()

    registry.register(name, factory)
    return registry


def test_plug_in_strategies_are_registered_by_name() -> None:
    registry = registry_with("youngest", YoungestFirst)
    assert "youngest" in registry.names() and "ring-all" in registry.names()
    engine = AcdEngine(registry=registry)
    engine.add_queue(
        QueueConfig(queue_id=Q1, name="q", topic=TopicId("social"), strategy="youngest"), 0.0
    )
    for i, name in enumerate("xyz"):
        engine.operator_login(
            OperatorProfile(operator_id=OperatorId(name), skills={"social": 1}),
            float(i),
            ready=True,
        )
    engine.call_arrived(CallId("c"), Q1, 5.0)
    assert offers(engine) == ["z"]
    with pytest.raises(ConfigurationError, match="already"):
        registry.register("youngest", lambda params: YoungestFirst())


def test_a_strategy_that_picks_a_stranger_is_caught() -> None:
    engine = AcdEngine(registry=registry_with("broken", Impostor))
    engine.add_queue(
        QueueConfig(queue_id=Q1, name="q", topic=TopicId("social"), strategy="broken"), 0.0
    )
    engine.operator_login(
        OperatorProfile(operator_id=OperatorId("x"), skills={"social": 1}), 0.0, ready=True
    )
    with pytest.raises(LocalProtocolError, match="non-candidate"):
        engine.call_arrived(CallId("c"), Q1, 1.0)


def test_the_default_registry_has_the_nine_strategies() -> None:
    assert default_registry().names() == (
        "fewest-calls",
        "least-talk-time",
        "linear",
        "longest-idle",
        "random",
        "ring-all",
        "round-robin",
        "skills-based",
        "weighted-random",
    )
