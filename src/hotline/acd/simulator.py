"""A day of the contact centre in seconds: the live router on a virtual clock (R9).

:class:`Simulation` drives :class:`~hotline.acd.router.AcdEngine` (the very
code that routes live calls) with a list of :class:`~hotline.acd.sim_draw.CallSpec`
(drawn from a forecast by :func:`~hotline.acd.sim_draw.draw_calls`, or
rebuilt from recorded history) and a staffing plan, and counts every call's
outcome per interval with the definitions of docs/metrics.md
(:mod:`~hotline.acd.sim_stats`).  Sans-IO (L1): the clock is a float that
jumps from one event to the next; nothing here sleeps or reads a clock.

The simulated world
    * One queue (its :class:`~hotline.acd.model.QueueConfig`); every operator
      serves it at ``operator_level`` (10 by default, so tiers never hold a
      call back) and answers an offer at once.
    * A caller hangs up after ``patience_s`` if still waiting (the router
      decides short abandon or abandoned); the wait norm, full and empty
      rules act as configured.
    * An answered call talks ``talk_s``, then the queue's wrap-up runs on the
      router's own timer.
    * The staffing plan logs operators in (READY at once) and out: when the
      plan falls, operators leave in the order NOT_READY, READY, WRAP_UP,
      TALKING (the latest to log in first); an operator who is talking
      finishes the call and its wrap-up first, one in wrap-up finishes it.
      When the plan rises again, leaving operators stay before new ones log in.
    * Every simulated midnight the day's counters (fewest calls, least talk
      time) are reset, as the live driver does.
    * An ``observer`` (:mod:`~hotline.acd.sim_facts`) sees every router
      decision, arrival and end of call, in order: enough to write the event
      log a live day would leave (and to check the reports against the counts).

Order of simultaneous events
    Midnight, plan changes, interval boundaries, then the router's timers, then ends
    of conversations and hang-ups, then arrivals.  The same inputs and
    ``seed`` (the router's random strategies) always give the same result.

Counting
    Every call that arrives ends with exactly one outcome; a second outcome
    for one call, or a call that leaves the router without one, raises
    :class:`~hotline.core.errors.LocalProtocolError` (an engine bug).  Calls
    still waiting ``drain_s`` after the last interval (or the last arrival)
    are reported as unfinished.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import CallLeftQueue, CallQueued, OfferCall, OperatorStateChanged
from hotline.acd.model import MAX_LEVEL, MIN_LEVEL, OperatorProfile, Outcome, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.sim_draw import MAX_SIMULATED_DAYS, CallSpec
from hotline.acd.sim_facts import SimCallArrived, SimCallEnded, SimObserver
from hotline.acd.sim_input import DAY_S, Forecast, SimInputError, StaffingRow, format_clock
from hotline.acd.sim_stats import IntervalResult, Tally
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId

__all__ = [
    "SHIFT_END_REASON",
    "CallOutcome",
    "IntervalGrid",
    "Simulation",
    "SimulationResult",
    "StaffingStep",
    "staffing_steps",
]

SHIFT_END_REASON: Final = "end of shift"
_INF: Final = math.inf
_S = OperatorState
_LEAVE_ORDER: Final = {_S.NOT_READY: 0, _S.READY: 1, _S.RESERVED: 1, _S.WRAP_UP: 2}


class _Kind(enum.IntEnum):
    """Scheduled and dynamic events; the value orders simultaneous ones."""

    DAY = 0
    STAFF = 1
    SLOT = 2
    TALK_END = 3
    HANG_UP = 4


@dataclass(frozen=True, slots=True)
class StaffingStep:
    """From ``at_s`` (virtual seconds) on, the plan wants ``operators`` logged in."""

    at_s: float
    operators: int


@dataclass(frozen=True, slots=True)
class IntervalGrid:
    """The reporting intervals: ``starts_s`` of each day (equal ``interval_s``) over ``days``."""

    starts_s: tuple[int, ...]
    interval_s: int
    days: int

    def __post_init__(self) -> None:
        if not self.starts_s or self.interval_s <= 0:
            raise ValueError("a grid needs at least one interval of positive length")
        if not 1 <= self.days <= MAX_SIMULATED_DAYS:
            raise ValueError(f"days must be 1..{MAX_SIMULATED_DAYS}")
        for before, after in itertools.pairwise(self.starts_s):
            if after - before != self.interval_s:
                raise ValueError("interval starts must be equally spaced by interval_s")
        if self.starts_s[0] < 0 or self.starts_s[-1] + self.interval_s > DAY_S:
            raise ValueError("intervals must lie within a day")

    @classmethod
    def from_forecast(cls, forecast: Forecast, days: int) -> IntervalGrid:
        """The forecast's intervals over ``days`` days."""
        return cls(forecast.starts_s, forecast.interval_s, days)

    @property
    def end_s(self) -> float:
        """End of the last interval of the last day (virtual seconds)."""
        return float((self.days - 1) * DAY_S + self.starts_s[-1] + self.interval_s)

    def slot(self, at_s: float) -> tuple[int, float]:
        """The interval index at ``at_s`` (-1 outside the grid) and when that slot ends."""
        day = math.floor(at_s / DAY_S)
        first, count, length = self.starts_s[0], len(self.starts_s), self.interval_s
        origin = day * DAY_S
        if day < 0:
            return -1, float(first)
        if day >= self.days:
            return -1, _INF
        offset = at_s - origin - first
        if offset < 0:
            return -1, float(origin + first)
        index = int(offset // length)
        if index >= count:
            nxt = (day + 1) * DAY_S + first if day + 1 < self.days else _INF
            return -1, float(nxt)
        end = float(origin + first + (index + 1) * length)
        if end <= at_s:  # rounding at a boundary: the next slot
            return self.slot(end)
        return index, end


def staffing_steps(
    rows: Sequence[StaffingRow], grid: IntervalGrid, source: str
) -> list[StaffingStep]:
    """The daily plan repeated over the grid's days (it must cover the first interval)."""
    if not rows:
        raise SimInputError(source, "no rows")
    first = grid.starts_s[0]
    if rows[0].start_s > first:
        raise SimInputError(
            source,
            f"the plan starts at {format_clock(rows[0].start_s)}, after the forecast's first "
            f"interval at {format_clock(first)}",
            row=rows[0].row,
            column="start",
        )
    return [
        StaffingStep(float(day * DAY_S + row.start_s), row.operators)
        for day in range(grid.days)
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How one simulated call left the queue (None, None: still waiting at the end)."""

    outcome: Outcome | None
    wait_s: float | None


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Per-interval figures (each interval of the day summed over the days) and totals."""

    intervals: tuple[IntervalResult, ...]
    totals: IntervalResult
    days: int
    sl_norm_s: float
    calls: int  # arrived
    end_s: float  # the last event or the end of the last interval, whichever is later


class Simulation:
    """One simulated run; :meth:`run` it, or :meth:`run_until` step by step then :meth:`finish`."""

    def __init__(
        self,
        queue: QueueConfig,
        calls: Sequence[CallSpec],
        staffing: Sequence[StaffingStep],
        grid: IntervalGrid,
        *,
        seed: int = 0,
        operator_level: int = MAX_LEVEL,
        drain_s: float = float(DAY_S),
        observer: SimObserver | None = None,
    ) -> None:
        if not MIN_LEVEL <= operator_level <= MAX_LEVEL:
            raise ValueError(f"operator_level must be {MIN_LEVEL}..{MAX_LEVEL}")
        if not (math.isfinite(drain_s) and drain_s >= 0):
            raise ValueError("drain_s must be a finite number >= 0")
        for before, after in itertools.pairwise(calls):
            if after.arrival_s < before.arrival_s:
                raise ValueError("calls must be in arrival order")
        self._qid = queue.queue_id
        self._norm_s = queue.sl_norm_s
        self._observer = observer
        self._calls = calls
        self._grid = grid
        self._level = operator_level
        self._engine = AcdEngine(seed=seed)
        self._now = 0.0
        self._last_event_s = 0.0
        last_arrival = calls[-1].arrival_s if calls else 0.0
        self._horizon_s = max(grid.end_s, last_arrival) + drain_s
        self._next_call = 0
        self._seq = 0
        self._events: list[tuple[float, int, int, int, str]] = []  # time, kind, seq, call, op
        self._schedule = self._build_schedule(staffing)
        self._next_scheduled = 0
        count = len(grid.starts_s)
        self._tallies = [Tally() for _ in range(count + 1)]  # the last: outside the grid
        self._outside = count
        self._slot = count
        self._slot_of: list[int] = []
        self._outcome: list[Outcome | None] = []
        self._wait: list[float | None] = []
        self._queued = bytearray(len(calls))
        self._queue_len = 0
        self._target = 0
        self._on_shift: dict[OperatorId, None] = {}
        self._leaving: dict[OperatorId, None] = {}
        self._pool: list[OperatorId] = []
        self._profiles: dict[OperatorId, OperatorProfile] = {}
        self._state: dict[OperatorId, OperatorState] = {}
        self._since: dict[OperatorId, float] = {}
        self._span: tuple[float, float, int] = (0.0, -1.0, -1)  # the last slot looked up
        self._engine.add_queue(queue, 0.0)
        self._absorb()

    # == driving ================================================================

    @property
    def now(self) -> float:
        """The virtual time reached."""
        return self._now

    @property
    def horizon_s(self) -> float:
        """The simulation stops here: ``drain_s`` after the last interval or arrival."""
        return self._horizon_s

    @property
    def progress(self) -> float:
        """Share of the calls that have arrived (0..1)."""
        return self._next_call / len(self._calls) if self._calls else 1.0

    def run(self) -> SimulationResult:
        """Run to the end and return the figures."""
        return self.finish()

    def run_until(self, until_s: float) -> None:
        """Process every event at or before ``until_s`` (never past the horizon)."""
        until_s = min(until_s, self.horizon_s)
        engine, calls, schedule, events = self._engine, self._calls, self._schedule, self._events
        n_calls, n_scheduled = len(calls), len(schedule)
        while True:
            t_arrival = calls[self._next_call].arrival_s if self._next_call < n_calls else _INF
            t_scheduled = (
                schedule[self._next_scheduled][0] if self._next_scheduled < n_scheduled else _INF
            )
            t_event = events[0][0] if events else _INF
            timer = engine.get_timer()
            t_timer = _INF if timer is None else timer
            now = min(t_arrival, t_scheduled, t_event, t_timer)
            if now > until_s:
                break
            self._now = self._last_event_s = now
            if t_scheduled == now:
                _, kind, value = schedule[self._next_scheduled]
                self._next_scheduled += 1
                self._scheduled(kind, value, now)
            elif t_timer == now:
                engine.handle_timer(now)
                self._absorb()
            elif t_event == now:
                _, kind, _, index, operator = heapq.heappop(events)
                if kind == _Kind.TALK_END:
                    if self._observer is not None:
                        self._observer(
                            now, SimCallEnded(CallId(f"c{index}"), OperatorId(operator), now)
                        )
                    engine.call_ended(OperatorId(operator), now)
                    self._absorb()
                elif self._outcome[index] is None:  # HANG_UP of a call still waiting
                    engine.call_abandoned(CallId(f"c{index}"), now)
                    self._absorb()
                    if self._observer is not None:
                        self._observer(now, SimCallEnded(CallId(f"c{index}"), None, now))
            else:
                self._arrive(now)
        if until_s > self._now and math.isfinite(until_s):
            self._now = until_s

    def finish(self) -> SimulationResult:
        """Run to the horizon, check that every call has one outcome, and return the figures."""
        self.run_until(self._horizon_s)
        end = max(self._last_event_s, self._grid.end_s)
        for operator_id, state in self._state.items():
            self._account(operator_id, state, end)
        unfinished = [i for i, outcome in enumerate(self._outcome) if outcome is None]
        waiting = {int(call_id[1:]) for call_id in self._engine.waiting_calls()}
        if set(unfinished) != waiting:
            lost = sorted(set(unfinished) - waiting)[:5]
            raise LocalProtocolError(f"calls {lost} left the router without an outcome")
        per_slot = [0] * len(self._tallies)
        for index in unfinished:
            per_slot[self._slot_of[index]] += 1
        grid = self._grid
        intervals = tuple(
            tally.freeze(start, grid.interval_s, per_slot[i])
            for i, (start, tally) in enumerate(zip(grid.starts_s, self._tallies, strict=False))
        )
        total = Tally()
        for tally in self._tallies:
            total.add(tally)
        totals = total.freeze(None, grid.interval_s, len(unfinished))
        if totals.ended + totals.unfinished != totals.offered:
            raise LocalProtocolError("outcomes do not add up to the offered calls")
        return SimulationResult(
            intervals=intervals,
            totals=totals,
            days=grid.days,
            sl_norm_s=self._norm_s,
            calls=self._next_call,
            end_s=end,
        )

    def call_outcomes(self) -> tuple[CallOutcome, ...]:
        """Each arrived call's outcome and wait so far, in the order of ``calls``."""
        return tuple(CallOutcome(o, w) for o, w in zip(self._outcome, self._wait, strict=True))

    # == inputs =================================================================

    def _build_schedule(self, staffing: Sequence[StaffingStep]) -> list[tuple[float, int, int]]:
        grid = self._grid
        schedule: list[tuple[float, int, int]] = []
        for day in range(grid.days):
            origin = day * DAY_S
            schedule.append((float(origin), _Kind.DAY, day))
            for index, start in enumerate(grid.starts_s):
                schedule.append((float(origin + start), _Kind.SLOT, index))
            last_end = grid.starts_s[-1] + grid.interval_s
            schedule.append((float(origin + last_end), _Kind.SLOT, len(grid.starts_s)))
        for step in staffing:
            if not (math.isfinite(step.at_s) and step.at_s >= 0 and step.operators >= 0):
                raise ValueError("staffing steps need a time >= 0 and operators >= 0")
            schedule.append((step.at_s, _Kind.STAFF, step.operators))
        schedule.sort(key=lambda item: (item[0], item[1]))
        return schedule

    def _scheduled(self, kind: int, value: int, now: float) -> None:
        if kind == _Kind.SLOT:
            self._slot = value
            if value < self._outside:
                tally = self._tallies[value]
                tally.max_queue = max(tally.max_queue, self._queue_len)
                tally.operators = max(tally.operators, self._target)
        elif kind == _Kind.DAY:
            self._engine.reset_daily_counters(now)
            self._absorb()
        else:
            self._target = value
            index, _ = self._grid.slot(now)  # the interval starting now, if one does
            if index >= 0:
                tally = self._tallies[index]
                tally.operators = max(tally.operators, value)
            self._staff(value, now)

    def _arrive(self, now: float) -> None:
        index = self._next_call
        self._next_call += 1
        spec = self._calls[index]
        slot = self._slot
        self._slot_of.append(slot)
        self._outcome.append(None)
        self._wait.append(None)
        self._tallies[slot].offered += 1
        if self._observer is not None:
            self._observer(now, SimCallArrived(CallId(f"c{index}"), self._qid, now))
        self._engine.call_arrived(CallId(f"c{index}"), self._qid, now, priority=spec.priority)
        self._absorb()
        if spec.patience_s is not None and self._outcome[index] is None:
            self._seq += 1
            heapq.heappush(
                self._events, (now + spec.patience_s, _Kind.HANG_UP, self._seq, index, "")
            )

    # == the staffing plan =====================================================

    def _staff(self, target: int, now: float) -> None:
        engine = self._engine
        active = [op for op in self._on_shift if op not in self._leaving]
        if target > len(active):
            need = target - len(active)
            for operator_id in list(self._leaving)[:need]:
                del self._leaving[operator_id]
                need -= 1
            for _ in range(need):
                operator_id = self._pool.pop() if self._pool else self._new_operator()
                self._on_shift[operator_id] = None
                engine.operator_login(self._profiles[operator_id], now, ready=True)
                self._absorb()
            return
        excess = len(active) - target
        if excess <= 0:
            return
        ranked = sorted(
            range(len(active)),
            key=lambda i: (_LEAVE_ORDER.get(self._state[active[i]], 3), -i),
        )
        for i in ranked[:excess]:
            operator_id = active[i]
            state = self._state[operator_id]
            if state in (_S.READY, _S.NOT_READY, _S.RESERVED):
                engine.operator_logout(operator_id, now)
            elif state is _S.WRAP_UP:
                self._leaving[operator_id] = None
            else:
                self._leaving[operator_id] = None
                engine.set_not_ready(operator_id, SHIFT_END_REASON, now)
            self._absorb()

    def _new_operator(self) -> OperatorId:
        number = len(self._profiles)
        operator_id = OperatorId(f"op{number}")
        self._profiles[operator_id] = OperatorProfile(
            operator_id=operator_id, queue_levels={self._qid: self._level}, position=number
        )
        self._state[operator_id] = _S.LOGGED_OUT
        self._since[operator_id] = self._now
        return operator_id

    # == decisions ==============================================================

    def _absorb(self) -> None:
        engine = self._engine
        while (decision := engine.next_decision()) is not None:
            if self._observer is not None:
                self._observer(self._now, decision)
            if isinstance(decision, OperatorStateChanged):
                self._operator_changed(decision)
            elif isinstance(decision, OfferCall):
                operator_id = decision.operator_id
                if engine.operator_status(operator_id).offered_call == decision.call_id:
                    engine.offer_answered(decision.call_id, operator_id, self._now)
            elif isinstance(decision, CallQueued):
                self._queued[int(decision.call_id[1:])] = 1
                self._queue_len += 1
                tally = self._tallies[self._slot]
                tally.max_queue = max(tally.max_queue, self._queue_len)
            elif isinstance(decision, CallLeftQueue):
                self._left(decision)

    def _left(self, decision: CallLeftQueue) -> None:
        index = int(decision.call_id[1:])
        if self._outcome[index] is not None:
            raise LocalProtocolError(f"call {decision.call_id} left the queue twice")
        outcome = decision.outcome
        self._outcome[index] = outcome
        self._wait[index] = decision.wait_s
        if self._queued[index]:
            self._queue_len -= 1
        self._tallies[self._slot_of[index]].left(outcome, decision.wait_s, self._norm_s)
        if outcome is Outcome.ANSWERED and decision.operator_id is not None:
            self._seq += 1
            end = self._now + self._calls[index].talk_s
            heapq.heappush(
                self._events, (end, _Kind.TALK_END, self._seq, index, decision.operator_id)
            )

    def _operator_changed(self, change: OperatorStateChanged) -> None:
        operator_id, state = change.operator_id, change.state
        self._account(operator_id, change.previous, change.at)
        self._state[operator_id] = state
        self._since[operator_id] = change.at
        if state is _S.LOGGED_OUT:
            del self._on_shift[operator_id]
            self._leaving.pop(operator_id, None)
            self._pool.append(operator_id)
        elif operator_id in self._leaving:
            if change.previous is _S.WRAP_UP and state in (_S.READY, _S.NOT_READY):
                current = self._engine.operator_status(operator_id).state
                if current in (_S.READY, _S.NOT_READY, _S.RESERVED):
                    self._engine.operator_logout(operator_id, self._now)
        elif state is _S.NOT_READY and change.reason == SHIFT_END_REASON:
            self._engine.set_ready(operator_id, self._now)  # the plan rose again meanwhile

    def _account(self, operator_id: OperatorId, state: OperatorState, until: float) -> None:
        """Add the operator's time in ``state`` up to ``until`` to the intervals it spans."""
        start = self._since[operator_id]
        self._since[operator_id] = until
        # identity tests: hashing an enum member costs a Python-level call
        if state is _S.TALKING or state is _S.WRAP_UP or state is _S.HOLD:
            busy = True
        elif state is _S.READY or state is _S.RESERVED:
            busy = False
        else:
            return
        low, high, index = self._span
        if not (low <= start and until <= high):
            index, high = self._grid.slot(start)
            low = start
            self._span = (low, high, index)
            if until > high:  # spans a boundary: split it
                self._add_time(index, busy, high - start)
                self._account_slow(busy, high, until)
                return
        self._add_time(index, busy, until - start)

    def _account_slow(self, busy: bool, start: float, until: float) -> None:
        while start < until:
            index, end = self._grid.slot(start)
            end = min(end, until)
            self._add_time(index, busy, end - start)
            start = end

    def _add_time(self, index: int, busy: bool, seconds: float) -> None:
        if index >= 0:
            tally = self._tallies[index]
            if busy:
                tally.busy_s += seconds
            else:
                tally.idle_s += seconds
