"""The media engine: the asyncio driver of the media cores for one event loop.

:class:`MediaEngine` owns the RTP/RTCP sockets of every call leg of the node
(a :class:`~hotline.media.eng_leg.MediaLeg` each, ports from a
:class:`~hotline.media.ports.RtpPortPool`) and drives the sans-IO cores:

- incoming packets are handled in the socket callbacks, on the cheapest path
  (:meth:`~hotline.media.eng_leg.MediaLeg.on_rtp`): latch, header peek,
  payload-type dispatch, then relay to the bridged leg (A-law ↔ µ-law by a
  table when the codecs differ), recorder, mixer and DTMF receivers;
- one pacer task ticks every 20 ms for *all* legs on absolute deadlines (no
  drift; when late it skips the missed deadlines instead of bursting, and
  counts them): players, DTMF senders, monitor mixers, recorder flushes
  (written by one worker thread), DTMF and inactivity timers, RTCP reports
  (RFC 3550 §6.2, about every 5 s per leg), then the events;
- events (:data:`~hotline.media.eng_events.MediaEvent`, frozen dataclasses)
  go to one callback, in order, from the pacer task;
- an audio tap (:meth:`MediaEngine.tap_audio`) hands a leg's received audio,
  decoded to 16-bit PCM, to a consumer such as the voice assistant.

Commands are plain method calls keyed by leg id; the call layer subscribes to
the events and never sees a socket.  A leg releases its ports when it is
closed, whatever the reason; :meth:`MediaEngine.close` closes them all.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Final

import structlog

from hotline.core.ids import new_leg_id
from hotline.media.codecs import get_codec
from hotline.media.dtmf import digit_to_event
from hotline.media.eng_dtmf import inband_dtmf_item
from hotline.media.eng_events import (
    EngineClock,
    EngineConfig,
    EngineState,
    LegClosed,
    LegCloseReason,
    LegInfo,
    LegStats,
    MediaEngineError,
    MediaEngineMetrics,
    MediaEvent,
    UnknownLegError,
    check_address,
)
from hotline.media.eng_leg import (
    FRAME_S,
    LegContext,
    MediaLeg,
)
from hotline.media.eng_mix import MonitorSession
from hotline.media.eng_pacer import Pacer
from hotline.media.eng_record import RecordingBook
from hotline.media.eng_rtcp import RtcpProtocol, send_report
from hotline.media.latch import Address
from hotline.media.mixer import MonitorMode
from hotline.media.player import PlaybackItem, PlayerSet
from hotline.media.ports import PortSpan, RtpPortPool
from hotline.media.rtcp import ntp_from_unix
from hotline.media.timeouts import RtpInactivityMonitor

__all__ = ["TICK_S", "EngineClock", "EngineState", "MediaEngine"]
# EngineClock and EngineState live in eng_events; re-exported here for the owner.

log = structlog.get_logger("hotline.media.engine")

TICK_S: Final = FRAME_S
"""The pacer period: one 20 ms frame (RFC 3551 §4.5: the default packetisation)."""
_DTMF_MS: Final = (40, 2000)
_MAX_QUEUED_DIGITS: Final = 64


class MediaEngine:
    """All media legs of one event loop: their sockets, one pacer, events to one callback."""

    name = "media"

    def __init__(
        self,
        clock: EngineClock,
        port_range: PortSpan,
        host: str,
        recordings_dir: str | os.PathLike[str],
        *,
        on_event: Callable[[MediaEvent], None] | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self._clock = clock
        self._now = clock.monotonic
        self.host = host
        self.recordings_dir = Path(recordings_dir)
        self.config = config or EngineConfig()
        self.metrics = MediaEngineMetrics()
        self.ports = RtpPortPool.from_span(port_range, quarantine_s=self.config.quarantine_s)
        self._monitor = RtpInactivityMonitor(timeout_s=self.config.rtp_timeout_s)
        self._players = PlayerSet()
        self._ctx = LegContext(
            metrics=self.metrics,
            now=self._now,
            monitor=self._monitor,
            cname=f"hotline-{secrets.token_hex(6)}".encode("ascii"),
            on_lost=self._on_transport_lost,
        )
        self._legs: dict[str, MediaLeg] = {}
        self._creating: set[str] = set()
        self._recordings = RecordingBook(self._ctx, self.recordings_dir)
        self._monitors: dict[str, MonitorSession] = {}  # by supervisor leg id
        self._monitor_of: dict[str, MonitorSession] = {}  # by every member's leg id
        self._pacer = Pacer(
            self._ctx,
            self.config,
            legs=self._legs,
            players=self._players,
            monitors=self._monitors,
            recordings=self._recordings,
            ntp=self._ntp,
            on_event=on_event,
        )
        self._pacer_task: asyncio.Task[None] | None = None
        self.state = EngineState.NEW

    # --- lifecycle (the node's Component protocol) ----------------------------------------------

    async def start(self) -> None:
        """Create the recordings directory, the writer thread and the pacer task."""
        if self.state is not EngineState.NEW:
            raise MediaEngineError(f"engine is {self.state.value}, cannot start")
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._recordings.open_writer(loop, self.config.max_pending_write_bytes)
        self._pacer_task = loop.create_task(self._pacer.run(), name="media-pacer")
        self.state = EngineState.RUNNING

    def _closed(self) -> bool:
        return self.state is EngineState.CLOSED

    def refuse_new(self) -> None:
        """Refuse new legs from now on; open legs go on."""
        if self.state is EngineState.RUNNING:
            self.state = EngineState.REFUSING

    def active(self) -> int:
        """Open legs."""
        return len(self._legs)

    async def stop(self) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the pacer, close every leg (ports released), finish recordings, deliver events."""
        if self.state is EngineState.CLOSED:
            return
        self.state = EngineState.CLOSED
        if self._pacer_task is not None:
            self._pacer_task.cancel()
            await asyncio.wait({self._pacer_task})
        for leg_id in list(self._legs):
            self.close_leg(leg_id, LegCloseReason.ENGINE_CLOSED)
        await self._recordings.close(self._now())
        self._pacer.dispatch()

    async def __aenter__(self) -> MediaEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- legs -----------------------------------------------------------------------------------

    def _leg(self, leg_id: str) -> MediaLeg:
        leg = self._legs.get(leg_id)
        if leg is None:
            raise UnknownLegError(leg_id)
        return leg

    def legs(self) -> tuple[str, ...]:
        """Ids of the open legs."""
        return tuple(self._legs)

    def leg_stats(self, leg_id: str) -> LegStats:
        """A snapshot of the counters of ``leg_id``."""
        return self._leg(leg_id).snapshot()

    async def create_leg(
        self,
        leg_id: str | None = None,
        *,
        codec: str = "PCMA",
        payload_type: int | None = None,
        telephone_event_pt: int | None = 101,
        ptime_ms: int = 20,
        remote: Address | None = None,
        remote_rtcp: Address | None = None,
        inband_dtmf: bool = False,
        timeout_s: float | None = None,
    ) -> LegInfo:
        """Bind an RTP/RTCP pair for a new leg with the codec and payload types negotiated in SDP.

        ``remote`` is the address from the peer's SDP: where we send until its
        first valid packet latches the real source; ``remote_rtcp`` defaults to
        its port + 1.  Our own frames are 20 ms; ``ptime_ms`` is kept as
        negotiated and relayed packets keep the size their sender chose.
        ``timeout_s`` overrides the engine's RTP inactivity timeout.
        """
        if self.state is not EngineState.RUNNING:
            raise MediaEngineError(f"engine is {self.state.value}: no new legs")
        leg_id = leg_id or new_leg_id()
        if leg_id in self._legs or leg_id in self._creating:
            raise MediaEngineError(f"leg {leg_id!r} exists already")
        codec_obj = get_codec(codec)
        audio_pt = codec_obj.payload_type if payload_type is None else payload_type
        if not 0 <= audio_pt <= 127:
            raise MediaEngineError(f"payload type {audio_pt} out of range")
        te_pt = telephone_event_pt
        if te_pt is not None and (not 0 <= te_pt <= 127 or te_pt == audio_pt):
            raise MediaEngineError(f"bad telephone-event payload type {te_pt}")
        if not 10 <= ptime_ms <= 200:
            raise MediaEngineError(f"ptime {ptime_ms} ms out of 10..200")
        if timeout_s is not None and timeout_s <= 0:
            raise MediaEngineError("timeout_s must be > 0")
        remote = check_address(remote, "remote")
        remote_rtcp = check_address(remote_rtcp, "remote RTCP")
        self._creating.add(leg_id)
        player = self._players.create(leg_id, codec_obj)
        leg: MediaLeg | None = None
        make_leg = functools.partial(
            MediaLeg,
            self._ctx,
            leg_id,
            host=self.host,
            codec=codec_obj,
            payload_type=audio_pt,
            telephone_event_pt=te_pt,
            ptime_ms=ptime_ms,
            player=player,
            inband_dtmf=inband_dtmf,
            dtmf_end_timeout_s=self.config.dtmf_end_timeout_s,
            timeout_s=timeout_s or self.config.rtp_timeout_s,
        )
        try:
            leg = await self._bind(make_leg)
        finally:
            self._creating.discard(leg_id)
            if leg is None:
                self._players.remove(leg_id)
        if self._closed():
            self._players.remove(leg_id)
            self._release(leg)
            raise MediaEngineError("engine closed while the leg was being created")
        now = self._now()
        leg.set_remote(remote, remote_rtcp)
        self._legs[leg_id] = leg
        self._monitor.add_leg(leg_id, now, timeout_s=timeout_s)
        self._pacer.schedule_rtcp(leg, now)
        self.metrics.legs_created += 1
        self.metrics.legs_active = len(self._legs)
        return LegInfo(
            leg_id=leg_id,
            host=self.host,
            rtp_port=leg.pair.rtp,
            rtcp_port=leg.pair.rtcp,
            ssrc=leg.stream.ssrc,
            codec=codec_obj.name,
            payload_type=audio_pt,
            telephone_event_pt=te_pt,
        )

    async def _bind(self, make_leg: Callable[..., MediaLeg]) -> MediaLeg:
        """Try pairs until both sockets bind; every pair that failed goes back to the pool."""
        loop = asyncio.get_running_loop()
        last_error: OSError | None = None
        for _attempt in range(self.config.bind_attempts):
            pair = self.ports.allocate(self._now())
            leg = make_leg(pair=pair)
            try:
                await loop.create_datagram_endpoint(
                    leg.rtp_protocol, local_addr=(self.host, pair.rtp)
                )
                await loop.create_datagram_endpoint(
                    functools.partial(RtcpProtocol, leg), local_addr=(self.host, pair.rtcp)
                )
            except OSError as exc:
                self._release(leg)
                self.metrics.bind_failures += 1
                last_error = exc
                continue
            except BaseException:
                self._release(leg)
                raise
            return leg
        raise MediaEngineError(
            f"could not bind an RTP/RTCP pair on {self.host} "
            f"after {self.config.bind_attempts} attempts: {last_error}"
        ) from last_error

    def _release(self, leg: MediaLeg) -> None:
        """Close the sockets of ``leg`` and give its ports back (quarantined)."""
        leg.closed = True
        try:
            leg.close_transports()
        finally:
            self.ports.release(leg.pair, self._now())

    def set_remote(
        self, leg_id: str, remote: Address | None, *, remote_rtcp: Address | None = None
    ) -> None:
        """A re-INVITE signalled new addresses: send there, and re-latch if they changed."""
        self._leg(leg_id).set_remote(
            check_address(remote, "remote"), check_address(remote_rtcp, "remote RTCP")
        )

    def close_leg(self, leg_id: str, reason: LegCloseReason = LegCloseReason.NORMAL) -> bool:
        """Close ``leg_id``: detach it from everything, release its ports, report LegClosed.

        Returns False when no such leg is open (closing twice is harmless).
        """
        leg = self._legs.pop(leg_id, None)
        if leg is None:
            return False
        now = self._now()
        try:
            self._detach(leg, now)
            if reason is not LegCloseReason.ERROR and send_report(leg, now, self._ntp(), bye=True):
                self.metrics.rtcp_out += 1
        finally:
            self._release(leg)
            self.metrics.legs_closed += 1
            self.metrics.legs_active = len(self._legs)
            self._ctx.events.append(LegClosed(leg_id, reason, leg.snapshot()))
        return True

    def _detach(self, leg: MediaLeg, now: float) -> None:
        if leg.relay_to is not None:
            self._unbridge(leg)
        session = self._monitor_of.get(leg.leg_id)
        if session is not None:
            self._end_monitor(session, rebridge=leg is session.supervisor)
        if leg.recording_id is not None:
            self._recordings.stop(leg.recording_id, now)
        if leg.dtmf_rx is not None:
            leg.dtmf_rx.flush()
            while (event := leg.dtmf_rx.next_event()) is not None:
                leg.on_digit(event)
        leg.tap = None
        self._players.remove(leg.leg_id)
        self._monitor.remove_leg(leg.leg_id)
        self._ctx.dtmf_timers.discard(leg)
        self._ctx.playing.discard(leg)
        self._pacer.dtmf_senders.discard(leg)

    def _ntp(self) -> int:
        """Wall clock as a 64-bit NTP timestamp, for RTCP sender reports (RFC 3550 §4)."""
        return ntp_from_unix(self._clock.utcnow().timestamp())

    def _on_transport_lost(self, leg: MediaLeg, exc: Exception) -> None:
        log.warning("media socket lost", leg_id=leg.leg_id, error=repr(exc))
        self.close_leg(leg.leg_id, LegCloseReason.ERROR)

    # --- playback, hold, DTMF -------------------------------------------------------------------

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        """Queue ``item`` on the leg's player; while it plays, relayed audio to the leg pauses."""
        leg = self._leg(leg_id)
        leg.player.enqueue(item)
        leg.update_busy()

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        """Stop ``item_id`` (or everything) on the leg; PlaybackStopped follows."""
        leg = self._leg(leg_id)
        leg.player.stop(item_id)
        leg.update_busy()

    def hold(self, leg_id: str) -> None:
        """The leg's peer put us on hold: its silence is legitimate (no MediaTimeout)."""
        leg = self._leg(leg_id)
        leg.on_hold = True
        self._monitor.hold(leg_id)

    def unhold(self, leg_id: str) -> None:
        """Media resumes: the inactivity timeout runs again from now."""
        leg = self._leg(leg_id)
        leg.on_hold = False
        self._monitor.unhold(leg_id, self._now())

    def send_dtmf(self, leg_id: str, digits: str, *, duration_ms: int = 100) -> None:
        """Send ``digits``: RFC 4733 events if negotiated, else in-band tones through the player."""
        leg = self._leg(leg_id)
        if not _DTMF_MS[0] <= duration_ms <= _DTMF_MS[1]:
            raise MediaEngineError(f"DTMF duration {duration_ms} ms out of {_DTMF_MS}")
        for digit in digits:
            digit_to_event(digit)
        if len(digits) + len(leg.dtmf_queue) > _MAX_QUEUED_DIGITS:
            raise MediaEngineError(f"at most {_MAX_QUEUED_DIGITS} digits may wait to be sent")
        if leg.te_pt is None:
            item_id = f"dtmf-{secrets.token_hex(4)}"
            leg.player.enqueue(
                inband_dtmf_item(item_id, digits, duration_ms, self.config.dtmf_gap_ms)
            )
        else:
            leg.dtmf_queue.extend((digit.upper(), duration_ms) for digit in digits)
            self._pacer.dtmf_senders.add(leg)
        leg.update_busy()

    def tap_audio(self, leg_id: str, sink: Callable[[bytes], None] | None) -> None:
        """Hand every audio packet received on ``leg_id`` to ``sink`` as PCM; None removes the tap.

        After latching and statistics, each audio packet (not telephone-events)
        is decoded with the leg's codec to mono 16-bit little-endian PCM (8 kHz
        for G.711) and passed to ``sink`` on the event loop, in arrival order.
        Closing the leg removes the tap; a sink that raises is logged and removed.
        """
        self._leg(leg_id).tap = sink

    # --- bridges and monitoring -------------------------------------------------------------------

    def bridge(self, leg_a: str, leg_b: str) -> None:
        """Relay each leg's audio to the other (transcoded when the codecs differ)."""
        a, b = self._leg(leg_a), self._leg(leg_b)
        if a is b:
            raise MediaEngineError("cannot bridge a leg with itself")
        if a.leg_id in self._monitor_of or b.leg_id in self._monitor_of:
            raise MediaEngineError("a monitored leg cannot be re-bridged; stop the monitor first")
        for leg in (a, b):
            if leg.relay_to is not None and leg.relay_to is not (b if leg is a else a):
                self._unbridge(leg)
        a.relay_towards(b)
        b.relay_towards(a)

    def unbridge(self, leg_id: str) -> None:
        """Stop relaying between ``leg_id`` and its bridged leg (if any)."""
        self._unbridge(self._leg(leg_id))

    def _unbridge(self, leg: MediaLeg) -> None:
        other = leg.relay_to
        leg.relay_towards(None)
        if other is not None and other.relay_to is leg:
            other.relay_towards(None)

    def bridged_with(self, leg_id: str) -> str | None:
        """The leg ``leg_id`` relays to, if any."""
        other = self._leg(leg_id).relay_to
        return None if other is None else other.leg_id

    def monitor(self, supervisor_leg_id: str, operator_leg_id: str, mode: MonitorMode) -> None:
        """A supervisor joins the operator's bridged call (or changes mode): listen, whisper, barge."""
        supervisor = self._leg(supervisor_leg_id)
        operator = self._leg(operator_leg_id)
        session = self._monitors.get(supervisor_leg_id)
        if session is not None:
            if session.operator is not operator:
                raise MediaEngineError("the supervisor monitors another operator")
            session.set_mode(mode)
            return
        caller = operator.relay_to
        if caller is None or operator.leg_id in self._monitor_of:
            raise MediaEngineError(f"operator leg {operator_leg_id!r} is not in a plain bridge")
        if supervisor.relay_to is not None or supervisor.leg_id in self._monitor_of:
            raise MediaEngineError(f"supervisor leg {supervisor_leg_id!r} is busy")
        self._unbridge(operator)
        session = MonitorSession(caller, operator, supervisor, mode)
        self._monitors[supervisor_leg_id] = session
        for leg in session.legs:
            self._monitor_of[leg.leg_id] = session

    def stop_monitor(self, supervisor_leg_id: str) -> None:
        """The supervisor leaves: caller and operator are bridged directly again."""
        session = self._monitors.get(supervisor_leg_id)
        if session is None:
            raise MediaEngineError(f"leg {supervisor_leg_id!r} monitors nothing")
        self._end_monitor(session, rebridge=True)

    def _end_monitor(self, session: MonitorSession, *, rebridge: bool) -> None:
        self._monitors.pop(session.supervisor.leg_id, None)
        for leg in session.legs:
            self._monitor_of.pop(leg.leg_id, None)
        session.dissolve()
        caller, operator = session.caller, session.operator
        if rebridge and not caller.closed and not operator.closed:
            self.bridge(caller.leg_id, operator.leg_id)

    # --- recording --------------------------------------------------------------------------------

    def start_recording(
        self, caller_leg_id: str, operator_leg_id: str, *, recording_id: str | None = None
    ) -> str:
        """Record what both legs send: the caller on the left channel, the operator on the right.

        The file is ``<recordings_dir>/<recording_id>.wav`` (a random id if none
        is given); returns the id.  CallRecordingStored follows the stop.
        """
        caller, operator = self._leg(caller_leg_id), self._leg(operator_leg_id)
        return self._recordings.start(caller, operator, recording_id, self._now())

    def stop_recording(self, recording_id: str) -> None:
        """Finish the file; CallRecordingStored follows once it is written and closed."""
        self._recordings.stop(recording_id, self._now())
