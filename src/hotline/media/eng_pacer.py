"""The one 20 ms pacer of a media engine: every periodic job of every leg in one tick.

One task for the whole node, whatever the number of calls: no per-leg or
per-packet task or timer.  Deadlines are absolute (``start + n × 20 ms``), so
the pacer does not drift.  When the event loop was busy and a wake-up comes
more than a period late, the missed deadlines are skipped and counted rather
than run back to back (a burst of frames would only fill the peers' jitter
buffers; the outgoing streams show the gap as a timestamp jump with the
marker bit instead, RFC 3551 §4.1); after a tick that is less late, the next
one comes no sooner than half a period later, so the ticks catch up with the
grid without two frames leaving back to back.

A tick runs, in order: RFC 4733 senders, players, monitor mixers, player
events, DTMF end timers and the RTP inactivity monitor, recorder flushes
(handed to the writer thread as one batch), due RTCP reports (RFC 3550 §6.2:
about every ``rtcp_interval_s`` per leg, randomised ×0.5–1.5), and finally the
delivery of the events queued since the previous tick.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import secrets
from collections.abc import Callable
from typing import Final

import structlog

from hotline.media.eng_dtmf import dtmf_step
from hotline.media.eng_events import EngineConfig, MediaEvent
from hotline.media.eng_leg import FRAME_S, LegContext, MediaLeg
from hotline.media.eng_mix import MonitorSession
from hotline.media.eng_record import RecordingBook
from hotline.media.eng_rtcp import send_report
from hotline.media.player import PlayerSet

__all__ = ["MIN_TICK_GAP_S", "Pacer", "next_tick"]

log = structlog.get_logger("hotline.media.engine")

MIN_TICK_GAP_S: Final = FRAME_S / 2
"""Shortest interval between two ticks while the pacer catches up after a late one."""


def next_tick(deadline: float, now: float) -> tuple[float, float, int]:
    """After the tick due at ``deadline`` ran at ``now``: the next deadline on the 20 ms grid,
    when to wake up for it, and how many deadlines were skipped.

    Missed deadlines (``now`` a whole period or more past ``deadline``) are
    skipped, never run back to back; the wake-up is at the next deadline but no
    sooner than :data:`MIN_TICK_GAP_S` after ``now``.
    """
    behind = now - deadline
    deadline += FRAME_S
    skipped = 0
    if behind >= FRAME_S:
        skipped = int(behind // FRAME_S)
        deadline += skipped * FRAME_S
    return deadline, max(deadline, now + MIN_TICK_GAP_S), skipped


class Pacer:
    """Ticks all legs of one engine every 20 ms (shares the engine's collections)."""

    __slots__ = (
        "_config",
        "_ctx",
        "_legs",
        "_monitors",
        "_ntp",
        "_on_event",
        "_players",
        "_recordings",
        "_rng",
        "_rtcp_heap",
        "_rtcp_order",
        "dtmf_senders",
    )

    def __init__(
        self,
        ctx: LegContext,
        config: EngineConfig,
        *,
        legs: dict[str, MediaLeg],
        players: PlayerSet,
        monitors: dict[str, MonitorSession],
        recordings: RecordingBook,
        ntp: Callable[[], int],
        on_event: Callable[[MediaEvent], None] | None,
    ) -> None:
        self._ctx = ctx
        self._config = config
        self._legs = legs
        self._players = players
        self._monitors = monitors
        self._recordings = recordings
        self._ntp = ntp
        self._on_event = on_event
        self._rtcp_heap: list[tuple[float, int, MediaLeg]] = []
        self._rtcp_order = itertools.count()
        self._rng = random.Random(secrets.randbits(64))
        self.dtmf_senders: set[MediaLeg] = set()
        """Legs with RFC 4733 digits to send."""

    async def run(self) -> None:
        """Tick forever on absolute deadlines (cancel the task to stop).

        A late tick is not followed by a burst: the next one comes no sooner
        than :data:`MIN_TICK_GAP_S` after it, so a late wake-up shows as at most
        one short frame interval while the ticks catch up with the grid; more
        than a whole period late, the missed deadlines are skipped.
        """
        now_fn = self._ctx.now
        metrics = self._ctx.metrics
        late_limit = self._config.late_tick_s
        deadline = now_fn() + FRAME_S
        wake_at = deadline
        while True:
            # A zero sleep still yields: a pacer behind schedule never starves the sockets.
            await asyncio.sleep(max(wake_at - now_fn(), 0.0))
            now = now_fn()
            late = now - wake_at
            if late > late_limit:
                metrics.pacer_late_ticks += 1
            metrics.pacer_max_late_s = max(metrics.pacer_max_late_s, late)
            try:
                self.tick(now)
            except Exception as exc:
                metrics.internal_errors += 1
                log.error("media pacer tick failed", error=repr(exc), exc_info=exc)
            deadline, wake_at, skipped = next_tick(deadline, now)
            metrics.pacer_skipped_ticks += skipped

    def tick(self, now: float) -> None:
        """Everything that happens every 20 ms, for every leg."""
        self._ctx.metrics.pacer_ticks += 1
        legs = self._legs
        events = self._ctx.events
        if self.dtmf_senders:
            gap_ticks = self._config.dtmf_gap_ms // 20
            for leg in list(self.dtmf_senders):
                if leg.closed or not dtmf_step(leg, now, gap_ticks):
                    self.dtmf_senders.discard(leg)
        players = self._players
        if self._ctx.playing:
            for leg_id, payload in players.tick(now):
                target = legs.get(leg_id)
                if target is not None and not (target.dtmf_frames or target.dtmf_queue):
                    target.send(target.stream.frame(payload, now))
        for session in self._monitors.values():
            session.tick(now)
        while (played := players.next_event()) is not None:
            owner = legs.get(played.leg_id)
            if owner is not None:
                owner.update_busy()
            events.append(played)
        self._tick_timers(now)
        self._recordings.flush(now)
        self._tick_rtcp(now)
        self.dispatch()

    def _tick_timers(self, now: float) -> None:
        timers = self._ctx.dtmf_timers
        if timers:
            for leg in list(timers):
                receiver = leg.dtmf_rx
                if receiver is None or leg.closed:
                    timers.discard(leg)
                    continue
                receiver.handle_timer(now)
                while (digit := receiver.next_event()) is not None:
                    leg.on_digit(digit)
                if receiver.get_timer() is None:
                    timers.discard(leg)
        monitor = self._ctx.monitor
        due = monitor.get_timer()
        if due is not None and due <= now:
            monitor.handle_timer(now)
            while (timeout := monitor.next_event()) is not None:
                self._ctx.events.append(timeout)

    def schedule_rtcp(self, leg: MediaLeg, now: float) -> None:
        """Plan the next RTCP report of ``leg`` (RFC 3550 §6.2 randomised interval)."""
        interval = self._config.rtcp_interval_s * self._rng.uniform(0.5, 1.5)
        heapq.heappush(self._rtcp_heap, (now + interval, next(self._rtcp_order), leg))

    def _tick_rtcp(self, now: float) -> None:
        heap = self._rtcp_heap
        ntp: int | None = None
        while heap and heap[0][0] <= now:
            leg = heapq.heappop(heap)[2]
            if leg.closed:
                continue
            if ntp is None:
                ntp = self._ntp()
            if send_report(leg, now, ntp):
                self._ctx.metrics.rtcp_out += 1
            self.schedule_rtcp(leg, now)

    def dispatch(self) -> None:
        """Hand the queued events to the owner, in order; a failing handler is logged."""
        events = self._ctx.events
        handler = self._on_event
        while events:
            event = events.popleft()
            if handler is None:
                continue
            try:
                handler(event)
            except Exception as exc:
                self._ctx.metrics.event_handler_errors += 1
                log.error("media event handler failed", event=repr(event), exc_info=exc)
