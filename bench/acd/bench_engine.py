"""Decision latency of the ACD router under a large live load (hotline.acd).

Run: ``.venv/bin/python bench/acd/bench_engine.py [--events N] [--single-queue]``.

Set-up: 50 queues (mixed strategies, tiers on some, a 600 s wait norm,
announcements every 30 s), 1,000 operators each skilled in 5 random queues at
levels 1-10, all busy talking, and 5,000 calls waiting.  Then a random stream
of inputs keeps the line near 5,000: arrivals, abandons, answers, refusals,
call ends, early wrap-up ends and timer firings, with the virtual clock moving
10 ms per input.  Each input is timed together with reading every decision it
produced.  ``--single-queue`` puts every call and operator in one queue (the
worst case for the waiting line's lists).  Prints p50/p99/p99.9/max per input
and per kind, inputs per second, and the machine.  The maxima include the
interpreter's garbage collector and the OS scheduler; ``--gc-freeze`` moves
the set-up's objects out of the collector's way, as a long-running service may.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import (
    CallLeftQueue,
    CallQueued,
    CancelOffer,
    Decision,
    OfferCall,
    OfferFailed,
)
from hotline.acd.model import OperatorProfile, QueueConfig, RejectReason, TierRule
from hotline.acd.router import AcdEngine
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId

__all__ = ["main"]

STRATEGIES = ("longest-idle", "skills-based", "round-robin", "fewest-calls", "ring-all")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Load:
    """The router plus the bench's own view of who waits, rings and talks."""

    def __init__(self, queues: int, operators: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.engine = AcdEngine(seed=seed)
        self.now = 0.0
        self.next_call = 0
        self.queue_ids = [QueueId(f"q{i}") for i in range(queues)]
        self.waiting: dict[str, None] = {}
        self.waiting_list: list[str] = []
        self.offers: dict[str, str] = {}  # operator -> call
        self.talking: list[str] = []
        self.wrapping: list[str] = []
        self.samples: dict[str, list[int]] = defaultdict(list)
        for i, queue_id in enumerate(self.queue_ids):
            tiers = (TierRule(0.0, 6), TierRule(20.0, 1)) if i % 3 == 0 else (TierRule(0.0, 1),)
            config = QueueConfig(
                queue_id=queue_id,
                name=queue_id,
                topic=TopicId(f"topic{i}"),
                weight=i % 4,
                strategy=STRATEGIES[i % len(STRATEGIES)],
                tiers=tiers,
                max_wait_s=600.0,
                wrap_up_s=0.0 if i % 2 else 15.0,
                announce_interval_s=30.0,
            )
            self.engine.add_queue(config, 0.0)
        for i in range(operators):
            topics = self.rng.sample(range(queues), min(5, queues))
            profile = OperatorProfile(
                operator_id=OperatorId(f"op{i}"),
                skills={f"topic{t}": self.rng.randint(1, 10) for t in topics},
                position=i,
            )
            self.engine.operator_login(profile, 0.0, ready=True)
        self.absorb()

    def absorb(self, decisions: list[Decision] | None = None) -> None:
        if decisions is None:
            decisions = []
            while (decision := self.engine.next_decision()) is not None:
                decisions.append(decision)
        for d in decisions:
            if isinstance(d, CallQueued):
                if d.call_id not in self.waiting:
                    self.waiting[d.call_id] = None
                    self.waiting_list.append(d.call_id)
            elif isinstance(d, CallLeftQueue):
                self.waiting.pop(d.call_id, None)
            elif isinstance(d, OfferCall):
                self.offers[d.operator_id] = d.call_id
            elif (
                isinstance(d, CancelOffer | OfferFailed)
                and self.offers.get(d.operator_id) == d.call_id
            ):
                del self.offers[d.operator_id]

    def timed(self, kind: str, action: Callable[[], None]) -> None:
        """Time one input and the reading of its decisions; then update the view."""
        decisions: list[Decision] = []
        start = time.perf_counter_ns()
        action()
        while (decision := self.engine.next_decision()) is not None:
            decisions.append(decision)
        self.samples[kind].append(time.perf_counter_ns() - start)
        self.absorb(decisions)

    def arrive(self, queue_id: QueueId) -> None:
        call = CallId(f"c{self.next_call}")
        self.next_call += 1
        self.engine.call_arrived(call, queue_id, self.now, priority=self.rng.choice((0, 0, 0, 1)))

    def pick_waiting(self) -> str | None:
        while self.waiting_list:
            i = self.rng.randrange(len(self.waiting_list))
            call = self.waiting_list[i]
            if call in self.waiting:
                return call
            self.waiting_list[i] = self.waiting_list[-1]
            self.waiting_list.pop()
        return None


def build(queues: int, operators: int, waiting: int, seed: int) -> Load:
    load = Load(queues, operators, seed)
    engine = load.engine
    spacing = 30.0 / (operators + waiting)  # spread arrivals (and periodic timers) over 30 s
    for _ in range(operators + waiting):  # enough for everyone to be busy, then a line
        load.now += spacing
        load.arrive(load.rng.choice(load.queue_ids))
        load.absorb()
        while load.offers:  # every offer is answered at once: all operators talk
            operator, call = load.offers.popitem()
            engine.offer_answered(CallId(call), OperatorId(operator), load.now)
            load.talking.append(operator)
            load.absorb()
    return load


def run(load: Load, events: int, target_waiting: int) -> float:
    engine, rng = load.engine, load.rng
    started = time.perf_counter()
    for _ in range(events):
        load.now += 0.01
        now = load.now
        roll = rng.random()
        if roll < 0.05:
            load.timed("timer", partial(engine.handle_timer, now))
        elif load.offers and roll < 0.40:
            operator, call = next(iter(load.offers.items()))
            del load.offers[operator]
            if roll < 0.37:
                answer = partial(engine.offer_answered, CallId(call), OperatorId(operator), now)
                load.timed("answer", answer)
                load.talking.append(operator)
            else:
                busy = RejectReason.BUSY
                refuse = partial(
                    engine.offer_rejected, CallId(call), OperatorId(operator), busy, now
                )
                load.timed("reject", refuse)
        elif load.talking and roll < 0.60:
            operator = load.talking.pop(rng.randrange(len(load.talking)))
            load.timed("call_end", partial(engine.call_ended, OperatorId(operator), now))
            if engine.operator_status(OperatorId(operator)).state is OperatorState.WRAP_UP:
                load.wrapping.append(operator)
        elif load.wrapping and roll < 0.65:
            operator = load.wrapping.pop(rng.randrange(len(load.wrapping)))
            engine.handle_timer(now)  # as a driver does before acting on a state it read
            load.absorb()
            if engine.operator_status(OperatorId(operator)).state is OperatorState.WRAP_UP:
                load.timed("wrapup_done", partial(engine.wrapup_done, OperatorId(operator), now))
        elif len(load.waiting) < target_waiting:
            load.timed("arrive", partial(load.arrive, rng.choice(load.queue_ids)))
        else:
            waiting = load.pick_waiting()
            if waiting is not None:
                load.timed("abandon", partial(engine.call_abandoned, CallId(waiting), now))
    return time.perf_counter() - started


def percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--queues", type=int, default=50)
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--waiting", type=int, default=5000)
    parser.add_argument("--single-queue", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() after set-up, as a service may"
    )
    args = parser.parse_args(argv)
    queues = 1 if args.single_queue else args.queues
    setup_start = time.perf_counter()
    load = build(queues, args.operators, args.waiting, args.seed)
    setup_s = time.perf_counter() - setup_start
    waiting_before = len(load.engine.waiting_calls())
    if args.gc_freeze:
        gc.collect()
        gc.freeze()
    run(load, args.events, args.waiting)
    print(f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {sys.version.split()[0]}")
    print(
        f"load: {queues} queues, {args.operators} operators, {waiting_before} waiting at start, "
        f"{len(load.engine.waiting_calls())} at end; set-up {setup_s:.1f} s"
    )
    everything = sorted(ns for samples in load.samples.values() for ns in samples)
    busy_s = sum(everything) / 1e9
    print(
        f"all inputs: n={len(everything)} p50={percentile(everything, 0.5):.1f} us "
        f"p99={percentile(everything, 0.99):.1f} us p99.9={percentile(everything, 0.999):.1f} us "
        f"max={everything[-1] / 1000:.1f} us; {len(everything) / busy_s:,.0f} inputs/s"
    )
    for kind in sorted(load.samples):
        samples = sorted(load.samples[kind])
        print(
            f"  {kind:12s} n={len(samples):6d} p50={percentile(samples, 0.5):7.1f} us "
            f"p99={percentile(samples, 0.99):7.1f} us max={samples[-1] / 1000:8.1f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
