"""What the media engine reports to its owner, its settings, counters and errors.

The engine hands events to one callback, in order, from its pacer task
(:mod:`hotline.media.engine`).  Events the cores already define with a leg id
are passed on as they are (:class:`~hotline.media.player.PlaybackStarted`,
``PlaybackFinished``, ``PlaybackInterrupted``, ``PlaybackStopped``,
:class:`~hotline.media.timeouts.MediaTimeout`); the others are wrapped with the
leg or recording they belong to.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hotline.core.errors import HotlineError
from hotline.media.dtmf import DtmfReceived
from hotline.media.latch import Address
from hotline.media.player import (
    PlaybackFinished,
    PlaybackInterrupted,
    PlaybackStarted,
    PlaybackStopped,
)
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout

__all__ = [
    "CallRecordingStored",
    "EngineClock",
    "EngineConfig",
    "EngineState",
    "LegCloseReason",
    "LegClosed",
    "LegDtmfReceived",
    "LegInfo",
    "LegStats",
    "MediaEngineError",
    "MediaEngineMetrics",
    "MediaEvent",
    "RecordingFailed",
    "UnknownLegError",
    "check_address",
]


class MediaEngineError(HotlineError):
    """The engine cannot do what was asked (closed, refusing legs, a bad argument)."""


class UnknownLegError(MediaEngineError):
    """No open leg has this id (it was never created or is closed already)."""

    def __init__(self, leg_id: str) -> None:
        super().__init__(f"no open media leg {leg_id!r}")
        self.leg_id = leg_id


class LegCloseReason(enum.Enum):
    """Why a leg was closed."""

    NORMAL = "normal"
    """The call ended (BYE, CANCEL, transfer done)."""
    TIMEOUT = "timeout"
    """The call layer hung up after a :class:`MediaTimeout`."""
    ERROR = "error"
    """A socket failed, or the call layer gave up on the leg after an error."""
    ENGINE_CLOSED = "engine_closed"
    """The engine shut down with the leg still open."""


@dataclass(frozen=True, slots=True)
class LegInfo:
    """Where a new leg listens and what it sends: the values for our SDP."""

    leg_id: str
    host: str
    rtp_port: int
    rtcp_port: int
    ssrc: int
    codec: str
    payload_type: int
    telephone_event_pt: int | None


@dataclass(frozen=True, slots=True)
class LegStats:
    """A snapshot of one leg's media counters (RFC 3550 §6.4 figures for received audio)."""

    packets_in: int
    packets_out: int
    bytes_out: int
    audio_received: int
    audio_lost: int
    audio_late: int
    jitter_ms: float
    rejected_source: int
    malformed: int
    dtmf_digits: int
    remote: tuple[str, int] | None


@dataclass(frozen=True, slots=True)
class LegDtmfReceived:
    """A digit arrived on ``leg_id`` (RFC 4733 telephone-event or in-band)."""

    leg_id: str
    dtmf: DtmfReceived


@dataclass(frozen=True, slots=True)
class CallRecordingStored:
    """A recording is complete on disk: header final, file closed.

    ``dropped_bytes`` > 0 means the disk could not keep up and that much sample
    data was left out (silence in the file; ``stored.sha256`` then describes the
    audio as recorded, not the file).
    """

    recording_id: str
    caller_leg_id: str
    operator_leg_id: str
    stored: RecordingStored
    dropped_bytes: int = 0


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    """Writing a recording failed (disk full, permissions); its audio is incomplete."""

    recording_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class LegClosed:
    """``leg_id`` is closed and its ports released; ``stats`` are its final counters."""

    leg_id: str
    reason: LegCloseReason
    stats: LegStats


MediaEvent = (
    PlaybackStarted
    | PlaybackFinished
    | PlaybackInterrupted
    | PlaybackStopped
    | MediaTimeout
    | LegDtmfReceived
    | CallRecordingStored
    | RecordingFailed
    | LegClosed
)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Knobs of a media engine; the defaults suit a production node."""

    quarantine_s: float = 5.0
    """How long a released port pair rests before reuse (stray packets of the old call)."""
    rtp_timeout_s: float = 30.0
    """Silence on a leg (not on hold) after which :class:`MediaTimeout` is reported."""
    rtcp_interval_s: float = 5.0
    """Mean interval between our RTCP reports per leg (RFC 3550 §6.2, randomised ×0.5–1.5)."""
    late_tick_s: float = 0.005
    """A pacer tick that starts this much after its deadline counts as late."""
    bind_attempts: int = 16
    """Port pairs tried when binding fails (another process holds a port of the range)."""
    max_pending_write_bytes: int = 32 * 1024 * 1024
    """Recording data handed to the writer thread and not yet written; past it, chunks are
    dropped (left as silence in the file) and counted: memory stays bounded on a slow disk."""
    dtmf_end_timeout_s: float = 0.3
    """RFC 4733 event without end packets: finish it this long after its last packet."""
    dtmf_gap_ms: int = 60
    """Pause between digits sent with :meth:`MediaEngine.send_dtmf`."""

    def __post_init__(self) -> None:
        if self.rtp_timeout_s <= 0 or self.rtcp_interval_s <= 0 or self.quarantine_s < 0:
            raise ValueError("timeouts and intervals must be positive")
        if self.bind_attempts < 1 or self.max_pending_write_bytes < 1:
            raise ValueError("bind_attempts and max_pending_write_bytes must be >= 1")


@dataclass(slots=True)
class MediaEngineMetrics:
    """Counters of one engine, plain attributes for the app to export (all monotonic but
    ``legs_active`` and ``pending_write_bytes``)."""

    legs_active: int = 0
    legs_created: int = 0
    legs_closed: int = 0
    bind_failures: int = 0
    packets_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    dropped_unlatched: int = 0
    """RTP/RTCP from another address than the latched one (RFC 4961 symmetric RTP)."""
    dropped_invalid: int = 0
    """Packets before latching that could not latch (not RTP, or not a negotiated type)."""
    malformed: int = 0
    unknown_payload: int = 0
    send_errors: int = 0
    """ICMP errors reported for our sends (the far end's port is closed)."""
    send_dropped: int = 0
    """Packets not sent because the socket's send buffer was full."""
    rtcp_in: int = 0
    rtcp_out: int = 0
    dtmf_received: int = 0
    dtmf_sent: int = 0
    pacer_ticks: int = 0
    pacer_late_ticks: int = 0
    """Ticks that started more than ``late_tick_s`` after their deadline."""
    pacer_skipped_ticks: int = 0
    """Deadlines skipped because the pacer was more than a tick late (no catch-up burst)."""
    pacer_max_late_s: float = 0.0
    recordings_started: int = 0
    recordings_stored: int = 0
    recordings_failed: int = 0
    bytes_recorded: int = 0
    """Bytes written to recording files."""
    recording_bytes_dropped: int = 0
    pending_write_bytes: int = 0
    event_handler_errors: int = 0
    tap_errors: int = 0
    """Audio taps removed because their sink raised."""
    internal_errors: int = 0


class EngineClock(Protocol):
    """What the engine needs of a clock (:class:`hotline.core.clock.SystemClock` fits).

    ``monotonic`` times packets and paces the ticks, so it must share the event
    loop's time base (``time.monotonic``); ``utcnow`` stamps RTCP sender reports.
    """

    def monotonic(self) -> float: ...

    def utcnow(self) -> datetime: ...


class EngineState(enum.Enum):
    """new → running → (refusing) → closed."""

    NEW = "new"
    RUNNING = "running"
    REFUSING = "refusing"
    CLOSED = "closed"


def check_address(address: Address | None, what: str) -> Address | None:
    """An IP literal and a port: the engine never resolves names on the event loop."""
    if address is None:
        return None
    host, port = address
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise MediaEngineError(f"{what} host {host!r} is not an IP address") from None
    if not 0 < port <= 65535:
        raise MediaEngineError(f"{what} port {port} out of range")
    return (host, port)
