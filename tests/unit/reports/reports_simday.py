"""A simulated day of the ACD written as the event log a live day leaves.

The simulator (the live router on a virtual clock) runs one day of a
forecast; an observer turns what happens into events: the router's
decisions through the live :class:`~hotline.calls.ctl_events.CallEventWriter`
(queue entered, offered, answered, abandoned, timed out, operator state),
arrivals and ends of calls as the call controller writes them.  Virtual
second 0 is midnight UTC of ``DAY``; every drawn time is rounded to whole
milliseconds (the precision of stored events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from hotline.acd.decisions import Decision
from hotline.acd.model import QueueConfig
from hotline.acd.sim_config import queue_config_from_mapping
from hotline.acd.sim_draw import CallSpec, HandleModel, draw_calls
from hotline.acd.sim_facts import SimCallArrived, SimCallEnded, SimFact
from hotline.acd.sim_input import parse_forecast, parse_staffing
from hotline.acd.simulator import IntervalGrid, Simulation, SimulationResult, staffing_steps
from hotline.calls.ctl_events import CallEventWriter
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.reports.metrics_config import MetricsConfig, QueueNorms

DAY = datetime(2026, 3, 3, tzinfo=UTC)
QUEUE_ID = "q122"
TOPIC = "social"


def _forecast(calls_per_half_hour: float) -> str:
    rows = ["start,calls,aht_s,patience_s"]
    for half in range(16, 40):  # 08:00 .. 19:30
        peak = 1.6 if 20 <= half < 26 else 1.0
        rows.append(
            f"{half // 2:02d}:{30 * (half % 2):02d},{calls_per_half_hour * peak:.1f},200,150"
        )
    return "\n".join(rows) + "\n"


STAFFING = "start,operators\n08:00,8\n10:00,10\n13:00,9\n17:00,7\n"


class _SimClock:
    """The writer's clock: wall time = DAY + the virtual time being reported."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic(self) -> float:
        return self.now_s

    def utcnow(self) -> datetime:
        return DAY + timedelta(milliseconds=round(self.now_s * 1000))


class _Sink:
    def __init__(self) -> None:
        self.events: list[CallCentreEvent] = []

    def append(self, event: CallCentreEvent) -> None:
        self.events.append(event)


@dataclass(frozen=True, slots=True)
class SimulatedDay:
    result: SimulationResult
    events: list[CallCentreEvent]
    queue: QueueConfig
    config: MetricsConfig


def simulated_day(
    seed: int = 1, calls_per_half_hour: float = 60.0, staffing: str = STAFFING
) -> SimulatedDay:
    queue = queue_config_from_mapping(
        {
            "queue_id": QUEUE_ID,
            "wrap_up_s": 15,
            "announce_interval_s": None,
            "announce_on_entry": False,
        }
    )
    forecast = parse_forecast(_forecast(calls_per_half_hour), "forecast.csv")
    grid = IntervalGrid.from_forecast(forecast, 1)
    steps = staffing_steps(parse_staffing(staffing, "staffing.csv"), grid, "staffing.csv")
    drawn = draw_calls(
        forecast,
        days=1,
        wrap_up_s=queue.wrap_up_s,
        handle=HandleModel(),
        rng=np.random.default_rng(seed),
    )
    calls = [
        CallSpec(
            round(c.arrival_s, 3),
            max(round(c.talk_s, 3), 0.001),
            round(c.patience_s, 3) if c.patience_s is not None else None,
        )
        for c in drawn
    ]
    sink, clock = _Sink(), _SimClock()
    writer = CallEventWriter(sink, clock, lambda _cid: None)
    callers = np.random.default_rng(seed + 1)

    def emit(kind: EventKind, call_id: str, **payload: str) -> None:
        sink.append(
            CallCentreEvent(
                kind=kind,
                timestamp=clock.utcnow(),
                call_id=call_id,
                topic=TOPIC,
                trunk="t1",
                payload=payload,
            )
        )

    def observe(now: float, fact: SimFact) -> None:
        clock.now_s = now
        if isinstance(fact, SimCallArrived):
            caller = f"+7916{int(callers.integers(0, 3000)):07d}"
            emit(EventKind.CALL_ARRIVED, fact.call_id, caller=caller, called="122")
        elif isinstance(fact, SimCallEnded):
            who = "caller" if fact.operator_id is None else "operator"
            emit(EventKind.CALL_ENDED, fact.call_id, who_hung_up=who, cause="normal")
        else:
            decision: Decision = fact
            writer.decision(decision)

    sim = Simulation(queue, calls, steps, grid, seed=seed, observer=observe)
    result = sim.run()
    norms = QueueNorms(
        norm_s=queue.sl_norm_s, short_abandon_s=queue.short_abandon_s, max_wait_s=queue.max_wait_s
    )
    return SimulatedDay(result, sink.events, queue, MetricsConfig(queues={QUEUE_ID: norms}))
