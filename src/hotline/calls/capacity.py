"""The node's capacity guard: refuse new calls cleanly instead of degrading every call.

Pure code (no I/O, no clock: ``now`` is an argument; timers are data).  Issue 6
item 11: when the node holds its configured number of concurrent calls, or when
the media loop reports that its 20 ms ticks run late, a new call must hear
"all lines are busy, please call later" and be hung up — or get 503 Service
Unavailable (RFC 3261 §21.5.4) when even that announcement cannot be afforded —
so that the calls already up keep clean audio.

Two signals feed :class:`CapacityGuard`:

* calls, counted by :class:`CapacityTicket` tokens from :meth:`CapacityGuard.admit`
  (each released exactly once when its call ends);
* lateness, the number of milliseconds a media tick started after its due
  time, given to :meth:`CapacityGuard.report_lateness`.  It is smoothed with a
  time-weighted exponential average (time constant ``lateness_tau_s``) so that
  one garbage-collection pause does not refuse calls; a signal older than
  ``stale_s`` counts as zero (an idle media loop reports nothing).

The media engine's pacer does not hand over each tick's lateness; it keeps
monotonic counters (ticks run, ticks started late, deadlines skipped).
:class:`PacerLateness` turns the counters' growth over one sampling window into
the one figure the guard takes (see :meth:`PacerLateness.sample`).

Hysteresis keeps the decision from flapping: the call limit, once reached,
holds until the count falls to ``resume_calls``; a lateness level, once
entered, holds for at least ``hold_s`` after the last report at or above
``busy_lateness_ms``, and until the smoothed lateness falls
below the level's exit threshold (``clear_lateness_ms`` for BUSY,
``busy_lateness_ms`` for OVERLOADED).

======================  ============================================
state                   a new call gets
======================  ============================================
NORMAL                  ACCEPT
BUSY                    PLAY_BUSY (REJECT past ``max_announcements``)
OVERLOADED              REJECT (503)
======================  ============================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from hotline.core.errors import ConfigurationError, LocalProtocolError

__all__ = [
    "Admission",
    "AdmissionReason",
    "CapacityGuard",
    "CapacityLimits",
    "CapacityState",
    "CapacityStats",
    "CapacityTicket",
    "Decision",
    "PacerCounters",
    "PacerLateness",
]

#: Weight of one report given at the same instant as the previous one (one 20 ms tick).
_MIN_SAMPLE_S = 0.02


class CapacityState(Enum):
    NORMAL = "normal"
    BUSY = "busy"
    OVERLOADED = "overloaded"


_SEVERITY = {CapacityState.NORMAL: 0, CapacityState.BUSY: 1, CapacityState.OVERLOADED: 2}


class Decision(Enum):
    """What to do with a new call."""

    ACCEPT = "accept"
    PLAY_BUSY = "play_busy"
    REJECT = "reject"


class AdmissionReason(Enum):
    """Why a call was not simply accepted (labels for /metrics and logs)."""

    NONE = "none"
    CALL_LIMIT = "call_limit"
    MEDIA_LATE = "media_late"
    ANNOUNCEMENTS_FULL = "announcements_full"


class _TicketKind(Enum):
    CALL = "call"
    ANNOUNCEMENT = "announcement"


@dataclass(frozen=True, slots=True)
class CapacityLimits:
    """Settings of the guard; :meth:`validate` names a bad one."""

    max_calls: int
    resume_calls: int | None = None
    max_announcements: int | None = None
    busy_lateness_ms: float = 10.0
    reject_lateness_ms: float = 40.0
    clear_lateness_ms: float = 3.0
    lateness_tau_s: float = 2.0
    hold_s: float = 10.0
    stale_s: float = 5.0
    retry_after_s: int = 60

    @property
    def resume_at(self) -> int:
        """Call count at or below which a reached limit lets calls in again."""
        if self.resume_calls is not None:
            return self.resume_calls
        return max(0, self.max_calls - max(1, self.max_calls // 20))

    @property
    def announcements(self) -> int:
        """Concurrent "all lines are busy" announcements allowed."""
        if self.max_announcements is not None:
            return self.max_announcements
        return max(1, self.max_calls // 10)

    def validate(self) -> None:
        if self.max_calls < 0:
            raise ConfigurationError("capacity.max_calls", "is negative")
        if not 0 <= self.resume_at <= self.max_calls:
            raise ConfigurationError("capacity.resume_calls", "must be 0..max_calls")
        if self.announcements < 0:
            raise ConfigurationError("capacity.max_announcements", "is negative")
        if not 0 <= self.clear_lateness_ms < self.busy_lateness_ms < self.reject_lateness_ms:
            raise ConfigurationError(
                "capacity.lateness", "need 0 <= clear < busy < reject (milliseconds)"
            )
        for name, value in (
            ("lateness_tau_s", self.lateness_tau_s),
            ("stale_s", self.stale_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"capacity.{name}", "must be a positive number")
        if not (math.isfinite(self.hold_s) and self.hold_s >= 0):
            raise ConfigurationError("capacity.hold_s", "must be zero or more")
        if self.retry_after_s < 0:
            raise ConfigurationError("capacity.retry_after_s", "is negative")


class CapacityTicket:
    """A call (or a busy announcement) counted by the guard; release it exactly once."""

    __slots__ = ("_kind", "_on_release", "_released", "serial")

    def __init__(
        self, on_release: Callable[[_TicketKind], None], kind: _TicketKind, serial: int
    ) -> None:
        self._on_release = on_release
        self._kind = kind
        self._released = False
        self.serial = serial

    @property
    def released(self) -> bool:
        return self._released

    @property
    def is_announcement(self) -> bool:
        return self._kind is _TicketKind.ANNOUNCEMENT

    def release(self) -> None:
        """The call ended; a second release is our bug (``LocalProtocolError``)."""
        if self._released:
            raise LocalProtocolError(f"capacity ticket #{self.serial} released twice")
        self._released = True
        self._on_release(self._kind)

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<CapacityTicket #{self.serial} {self._kind.value} {state}>"


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer for one new call: hold ``ticket`` until the call ends (None on REJECT)."""

    decision: Decision
    reason: AdmissionReason
    ticket: CapacityTicket | None
    retry_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class CapacityStats:
    """Figures for /metrics (``*_total`` are monotonic counters)."""

    state: CapacityState
    active_calls: int
    active_announcements: int
    max_calls: int
    lateness_ms: float
    accepted_total: int
    busy_total: int
    rejected_total: int
    state_changes_total: int


class CapacityGuard:
    """Admission control of new calls on one node (see the module docstring)."""

    def __init__(self, limits: CapacityLimits) -> None:
        limits.validate()
        self.limits = limits
        self.state = CapacityState.NORMAL
        self._media = CapacityState.NORMAL
        self._media_hold_until = 0.0
        self._calls_full = False
        self._active = 0
        self._announcing = 0
        self._serial = 0
        self._lateness = 0.0
        self._last_report: float | None = None
        self._accepted = 0
        self._busy = 0
        self._rejected = 0
        self._changes = 0
        self._last_now = -math.inf
        self._update_calls_full()
        self._settle()

    def reconfigure(self, limits: CapacityLimits) -> None:
        """New limits for new calls; calls in progress keep their tickets."""
        limits.validate()
        self.limits = limits
        self._update_calls_full()
        self._settle()

    # -- inputs ----------------------------------------------------------------------

    def report_lateness(self, lateness_ms: float, now: float) -> None:
        """One media tick started ``lateness_ms`` late (negative counts as 0)."""
        if not math.isfinite(lateness_ms):
            raise LocalProtocolError(f"capacity guard: lateness {lateness_ms!r} is not finite")
        sample = max(0.0, lateness_ms)
        last = self._last_report
        if last is None or now - last >= self.limits.stale_s:
            self._lateness = 0.0
            last = now - _MIN_SAMPLE_S
        weight = 1.0 - math.exp(-max(now - last, _MIN_SAMPLE_S) / self.limits.lateness_tau_s)
        self._lateness += (sample - self._lateness) * weight
        self._last_report = now
        if self._lateness >= self.limits.busy_lateness_ms:
            self._media_hold_until = now + self.limits.hold_s
        self._evaluate_media(now)

    def admit(self, now: float) -> Admission:
        """Decide about one new call (see the table in the module docstring)."""
        self._update_calls_full()
        self._evaluate_media(now)
        if self.state is CapacityState.NORMAL:
            self._accepted += 1
            self._active += 1
            self._update_calls_full()
            self._settle()
            return Admission(Decision.ACCEPT, AdmissionReason.NONE, self._ticket(_TicketKind.CALL))
        reason = (
            AdmissionReason.MEDIA_LATE
            if self._media is not CapacityState.NORMAL
            else AdmissionReason.CALL_LIMIT
        )
        if self.state is CapacityState.BUSY and self._announcing < self.limits.announcements:
            self._busy += 1
            self._announcing += 1
            return Admission(Decision.PLAY_BUSY, reason, self._ticket(_TicketKind.ANNOUNCEMENT))
        if self.state is CapacityState.BUSY:
            reason = AdmissionReason.ANNOUNCEMENTS_FULL
        self._rejected += 1
        return Admission(Decision.REJECT, reason, None, self.limits.retry_after_s)

    # -- timers as data --------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When the state may change without a new input: a hold ends, the signal goes stale."""
        if self._media is CapacityState.NORMAL or self._last_report is None:
            return None
        deadlines = [self._media_hold_until, self._last_report + self.limits.stale_s]
        future = [t for t in deadlines if t > self._last_now]
        return min(future) if future else None

    def handle_timer(self, now: float) -> None:
        self._evaluate_media(now)

    # -- figures -----------------------------------------------------------------------

    def lateness_ms(self, now: float) -> float:
        """The smoothed lateness as of ``now`` (0 when the signal is stale)."""
        if self._last_report is None or now - self._last_report >= self.limits.stale_s:
            return 0.0
        return self._lateness

    def stats(self, now: float) -> CapacityStats:
        return CapacityStats(
            state=self.state,
            active_calls=self._active,
            active_announcements=self._announcing,
            max_calls=self.limits.max_calls,
            lateness_ms=self.lateness_ms(now),
            accepted_total=self._accepted,
            busy_total=self._busy,
            rejected_total=self._rejected,
            state_changes_total=self._changes,
        )

    # -- internals -------------------------------------------------------------------

    def _ticket(self, kind: _TicketKind) -> CapacityTicket:
        self._serial += 1
        return CapacityTicket(self._give_back, kind, self._serial)

    def _give_back(self, kind: _TicketKind) -> None:
        if kind is _TicketKind.CALL:
            self._active -= 1
            self._update_calls_full()
        else:
            self._announcing -= 1
        self._settle()

    def _update_calls_full(self) -> None:
        if self._active >= self.limits.max_calls:
            self._calls_full = True
        elif self._active <= self.limits.resume_at:
            self._calls_full = False

    def _media_target(self, late: float) -> CapacityState:
        """The lateness level, entered at busy/reject and left below clear/busy."""
        limits, current = self.limits, self._media
        if late >= limits.reject_lateness_ms or (
            current is CapacityState.OVERLOADED and late >= limits.busy_lateness_ms
        ):
            return CapacityState.OVERLOADED
        if late >= limits.busy_lateness_ms or (
            current is not CapacityState.NORMAL and late > limits.clear_lateness_ms
        ):
            return CapacityState.BUSY
        return CapacityState.NORMAL

    def _evaluate_media(self, now: float) -> None:
        self._last_now = max(self._last_now, now)
        late = self.lateness_ms(now)
        target = self._media_target(late)
        if _SEVERITY[target] >= _SEVERITY[self._media] or now >= self._media_hold_until:
            self._media = target
        self._settle()

    def _settle(self) -> None:
        calls = CapacityState.BUSY if self._calls_full else CapacityState.NORMAL
        state = self._media if _SEVERITY[self._media] >= _SEVERITY[calls] else calls
        if state is not self.state:
            self.state = state
            self._changes += 1


@dataclass(frozen=True, slots=True)
class PacerCounters:
    """The media pacer's monotonic counters at one instant (``MediaEngineMetrics``)."""

    ticks: int
    late_ticks: int
    skipped_ticks: int


class PacerLateness:
    """The pacer's lateness over the window since the previous sample, in milliseconds.

    Over a window with ``ticks`` ticks run, ``late`` of them started more than
    ``late_tick_ms`` after their deadline and ``skipped`` deadlines missed
    altogether (each one at least a whole ``period_ms`` late), the figure is

        (skipped × period_ms + late × late_tick_ms) / ticks

    a lower bound of the mean lateness per tick: 0 on a punctual loop, the
    late-tick threshold when every tick is a little late, and a period or more
    per tick once deadlines are skipped.  The first sample, a window without a
    tick (the engine stopped) and counters that went backwards (a new engine)
    give None: nothing to report.
    """

    __slots__ = ("_last", "late_tick_ms", "period_ms")

    def __init__(self, late_tick_ms: float, period_ms: float = 20.0) -> None:
        if not (math.isfinite(late_tick_ms) and late_tick_ms >= 0):
            raise ConfigurationError("media.late_tick_s", "must be zero or more")
        if not (math.isfinite(period_ms) and period_ms > 0):
            raise ConfigurationError("media.period_ms", "must be a positive number")
        self.late_tick_ms = late_tick_ms
        self.period_ms = period_ms
        self._last: PacerCounters | None = None

    def sample(self, counters: PacerCounters) -> float | None:
        last, self._last = self._last, counters
        if last is None:
            return None
        ticks = counters.ticks - last.ticks
        late = counters.late_ticks - last.late_ticks
        skipped = counters.skipped_ticks - last.skipped_ticks
        if ticks <= 0 or late < 0 or skipped < 0:
            return None
        return (skipped * self.period_ms + min(late, ticks) * self.late_tick_ms) / ticks
