"""DTMF in and out: RFC 4733 telephone-events, and SIP INFO bodies.

- :class:`TelephoneEventReceiver` turns telephone-event RTP packets into one
  :class:`DtmfReceived` per key press (RFC 4733 §2.5.2): the end bit and its
  redundant copies (§2.5.1.4), updates that keep growing ``duration`` (§2.5.1.2),
  loss of the first packets (the event starts mid-way), loss of every end packet
  (finished by a timer, or when a newer event starts), reordering, duplicates
  (keyed by timestamp and event code) and long events split into segments
  (§2.5.1.3).  Telephone-events may use another SSRC and sequence space than the
  audio: the receiver does not care about either.
- :func:`telephone_event_frames` is the sender side: the payloads for one digit.
- :func:`parse_sip_info_dtmf` reads ``application/dtmf-relay`` and
  ``application/dtmf`` INFO bodies.

The receiver is sans-IO: ``receive(..., now)``, ``next_event()``,
``get_timer()`` / ``handle_timer(now)``.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.media.seq import ts_diff

__all__ = [
    "DTMF_DIGITS",
    "DtmfReceived",
    "DtmfSource",
    "TelephoneEvent",
    "TelephoneEventFrame",
    "TelephoneEventReceiver",
    "digit_to_event",
    "event_to_digit",
    "parse_sip_info_dtmf",
    "telephone_event_frames",
]

DTMF_DIGITS: Final = "0123456789*#ABCD"
"""Event codes 0–15 in order (RFC 4733 §3.2, Table 7)."""

_EVENT: Final = struct.Struct("!BBH")
_MAX_DURATION: Final = 0xFFFF
_LONG_SEGMENT: Final = 0x8000  # a segment this long may be continued by the next one
_MAX_INFO_BODY: Final = 1024
_MAX_INFO_DURATION_MS: Final = 60_000


class DtmfSource(enum.Enum):
    """How a digit reached us."""

    RFC4733 = "rfc4733"
    SIP_INFO = "sip_info"
    INBAND = "inband"


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """One key press, reported once when it is over."""

    digit: str
    duration_ms: int
    source: DtmfSource
    end_seen: bool = True
    """False when the end was inferred (RFC 4733 end packets lost, timer or next event)."""
    rtp_timestamp: int | None = None
    """RTP timestamp of the event (RFC 4733) or its start in samples (in-band)."""
    volume_dbm0: int | None = None
    """Power level (RFC 4733 §2.3.4 gives it as a positive number meaning −dBm0)."""


def digit_to_event(digit: str) -> int:
    """Event code of ``digit`` ('0'–'9', '*', '#', 'A'–'D', case-insensitive)."""
    code = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise LocalProtocolError(f"not a DTMF digit: {digit!r}")
    return code


def event_to_digit(event: int) -> str:
    """The digit for event code 0–15."""
    if not 0 <= event <= 15:
        raise LocalProtocolError(f"event {event} is not a DTMF digit")
    return DTMF_DIGITS[event]


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-octet telephone-event payload (RFC 4733 §2.3)."""

    event: int
    end: bool
    volume: int
    duration: int
    """In timestamp units since the event's RTP timestamp."""

    @classmethod
    def parse(cls, payload: bytes | bytearray | memoryview) -> TelephoneEvent:
        """Parse a payload; with several 4-octet blocks (§2.5.1.5) the first is used."""
        if len(payload) < 4 or len(payload) % 4:
            raise RemoteProtocolError(
                f"telephone-event payload of {len(payload)} octets is not 4n", status_hint=400
            )
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        if not (0 <= self.event <= 255 and 0 <= self.volume <= 63):
            raise LocalProtocolError("event 0-255 and volume 0-63")
        if not 0 <= self.duration <= _MAX_DURATION:
            raise LocalProtocolError(f"duration {self.duration} out of range")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


# --- receiver ------------------------------------------------------------------------------


class _State(enum.Enum):
    """Receiver states: no event in progress, or one event being received."""

    IDLE = "idle"
    ACTIVE = "active"


class _Input(enum.Enum):
    """What one packet (or the timer) means for the event in progress."""

    START = "start"
    """The first packet seen of a new event."""
    START_END = "start_end"
    """The first packet seen of a new event already carries the end bit."""
    UPDATE = "update"
    """Another packet of the current event (§2.5.1.2)."""
    END = "end"
    """The current event's end packet (§2.5.1.4)."""
    SEGMENT = "segment"
    """The next segment of a long current event (§2.5.1.3)."""
    SEGMENT_END = "segment_end"
    """The next segment of a long current event, with the end bit."""
    TIMEOUT = "timeout"
    """No end packet within the end timeout, or the stream is closing."""


class _Step(enum.Enum):
    CLOSE_INFERRED = "close_inferred"  # report the current event; its end was never seen
    BEGIN = "begin"  # the packet starts a new current event
    EXTEND = "extend"  # the packet's duration extends the current event
    CONTINUE = "continue"  # the packet starts the next segment of the current event
    CLOSE_ENDED = "close_ended"  # report the current event; the end bit was seen


_TRANSITIONS: Final[dict[tuple[_State, _Input], tuple[_Step, ...]]] = {
    (_State.IDLE, _Input.START): (_Step.BEGIN,),
    (_State.IDLE, _Input.START_END): (_Step.BEGIN, _Step.CLOSE_ENDED),
    (_State.IDLE, _Input.TIMEOUT): (),
    (_State.ACTIVE, _Input.START): (_Step.CLOSE_INFERRED, _Step.BEGIN),
    (_State.ACTIVE, _Input.START_END): (_Step.CLOSE_INFERRED, _Step.BEGIN, _Step.CLOSE_ENDED),
    (_State.ACTIVE, _Input.UPDATE): (_Step.EXTEND,),
    (_State.ACTIVE, _Input.END): (_Step.EXTEND, _Step.CLOSE_ENDED),
    (_State.ACTIVE, _Input.SEGMENT): (_Step.CONTINUE,),
    (_State.ACTIVE, _Input.SEGMENT_END): (_Step.CONTINUE, _Step.CLOSE_ENDED),
    (_State.ACTIVE, _Input.TIMEOUT): (_Step.CLOSE_INFERRED,),
}
"""RFC 4733 §2.5.2 receiver behaviour; a pair missing here is a bug in the classifier."""


class _Active:
    """The event being received (mutable, one per press; not per packet)."""

    __slots__ = (
        "done_segments",
        "event",
        "first_timestamp",
        "last_at",
        "segment",
        "ssrc",
        "timestamp",
        "volume",
    )

    def __init__(self, ssrc: int, timestamp: int, tev: TelephoneEvent, now: float) -> None:
        self.ssrc = ssrc
        self.first_timestamp = timestamp
        self.timestamp = timestamp
        self.event = tev.event
        self.volume = tev.volume
        self.segment = tev.duration
        self.done_segments = 0
        self.last_at = now


class TelephoneEventReceiver:
    """RFC 4733 receiver: telephone-event packets in, one :class:`DtmfReceived` per press out.

    ``end_timeout_s`` finishes an event whose end packets were all lost, counted
    from its last packet (senders update every 50 ms at most, §2.5.1.2).
    ``late_window_s`` bounds how far back an older timestamp counts as a late
    packet of a past event rather than a sender that reset its timestamps.
    Transitions are the table :data:`_TRANSITIONS`.
    """

    __slots__ = (
        "_current",
        "_events",
        "_finished",
        "_newest",
        "clock_rate_hz",
        "duplicates",
        "end_timeout_s",
        "ignored",
        "late",
        "late_window",
        "packets",
    )

    def __init__(
        self,
        clock_rate_hz: int = 8000,
        *,
        end_timeout_s: float = 0.3,
        late_window_s: float = 2.0,
        history: int = 16,
    ) -> None:
        self.clock_rate_hz = clock_rate_hz
        self.end_timeout_s = end_timeout_s
        self.late_window = int(late_window_s * clock_rate_hz)
        self._current: _Active | None = None
        self._finished: deque[tuple[int, int]] = deque(maxlen=history)
        self._newest: tuple[int, int] | None = None  # (ssrc, timestamp) of the newest event
        self._events: deque[DtmfReceived] = deque()
        self.packets = 0
        self.duplicates = 0
        """Packets of events already reported (redundant end packets, retransmissions)."""
        self.late = 0
        """Packets of older events never reported, arriving after a newer one."""
        self.ignored = 0
        """Events other than DTMF 0-15 (e.g. flash-hook), or conflicting updates."""

    @property
    def state(self) -> str:
        """``"idle"`` or ``"active"`` (an event is being received)."""
        return self._state().value

    def _state(self) -> _State:
        return _State.IDLE if self._current is None else _State.ACTIVE

    def receive(
        self, ssrc: int, timestamp: int, payload: bytes | bytearray | memoryview, now: float
    ) -> None:
        """Feed one telephone-event packet's SSRC, RTP timestamp and payload at ``now``.

        Raises :class:`RemoteProtocolError` for a payload that is not 4n octets.
        """
        tev = TelephoneEvent.parse(payload)
        self.packets += 1
        kind = self._classify(ssrc, timestamp, tev)
        if kind is not None:
            self._apply(kind, ssrc, timestamp, tev, now)

    def _classify(self, ssrc: int, timestamp: int, tev: TelephoneEvent) -> _Input | None:
        """The input for the table, or None for a packet that is only counted."""
        if tev.event > 15:
            self.ignored += 1
            return None
        if (timestamp, tev.event) in self._finished:
            self.duplicates += 1
            return None
        current = self._current
        if current is not None and current.ssrc == ssrc and current.timestamp == timestamp:
            if tev.event != current.event:
                self.ignored += 1
                return None
            return _Input.END if tev.end else _Input.UPDATE
        newest = self._newest
        if newest is not None and newest[0] == ssrc:
            distance = ts_diff(newest[1], timestamp)
            if -self.late_window < distance < 0:
                self.late += 1
                return None
            # §2.5.1.3: a long event goes on in a new segment whose timestamp is the
            # previous one plus the previous segment's duration.
            if (
                current is not None
                and current.ssrc == ssrc
                and tev.event == current.event
                and current.segment >= _LONG_SEGMENT
                and current.segment <= distance <= _MAX_DURATION
            ):
                return _Input.SEGMENT_END if tev.end else _Input.SEGMENT
        return _Input.START_END if tev.end else _Input.START

    def _apply(
        self,
        kind: _Input,
        ssrc: int = 0,
        timestamp: int = 0,
        tev: TelephoneEvent | None = None,
        now: float = 0.0,
    ) -> None:
        steps = _TRANSITIONS.get((self._state(), kind))
        if steps is None:
            raise LocalProtocolError(f"no RFC 4733 transition for {self._state()} + {kind}")
        for step in steps:
            if step is _Step.CLOSE_INFERRED:
                self._close(end_seen=False)
            elif step is _Step.CLOSE_ENDED:
                self._close(end_seen=True)
            else:
                assert tev is not None  # packet inputs only
                self._advance(step, ssrc, timestamp, tev, now)

    def _advance(
        self, step: _Step, ssrc: int, timestamp: int, tev: TelephoneEvent, now: float
    ) -> None:
        if step is _Step.BEGIN:
            self._current = _Active(ssrc, timestamp, tev, now)
            self._newest = (ssrc, timestamp)
            return
        current = self._current
        assert current is not None  # the table only extends or continues an active event
        if step is _Step.CONTINUE:
            self._finished.append((current.timestamp, current.event))
            current.done_segments += ts_diff(current.timestamp, timestamp)
            current.timestamp = timestamp
            current.segment = tev.duration
            self._newest = (ssrc, timestamp)
        else:
            current.segment = max(current.segment, tev.duration)
        current.last_at = now

    def _close(self, *, end_seen: bool) -> None:
        current = self._current
        assert current is not None  # the table only closes an active event
        self._current = None
        self._finished.append((current.timestamp, current.event))
        total = current.done_segments + current.segment
        self._events.append(
            DtmfReceived(
                digit=DTMF_DIGITS[current.event],
                duration_ms=round(total * 1000 / self.clock_rate_hz),
                source=DtmfSource.RFC4733,
                end_seen=end_seen,
                rtp_timestamp=current.first_timestamp,
                volume_dbm0=current.volume,
            )
        )

    def next_event(self) -> DtmfReceived | None:
        """The next finished key press, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should run: the end timeout of the current event."""
        current = self._current
        return None if current is None else current.last_at + self.end_timeout_s

    def handle_timer(self, now: float) -> None:
        """Finish the current event if its end packets never came."""
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            self._apply(_Input.TIMEOUT)

    def flush(self) -> None:
        """Finish the current event now (the stream is closing)."""
        self._apply(_Input.TIMEOUT)


# --- sender ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelephoneEventFrame:
    """One telephone-event packet to send; all frames of a press share one RTP timestamp."""

    payload_type: int
    marker: bool
    payload: bytes
    offset_samples: int
    """When to send it, in timestamp units after the start of the event."""
    end: bool


def telephone_event_frames(
    digit: str,
    payload_type: int,
    *,
    duration_ms: int = 100,
    volume: int = 10,
    clock_rate_hz: int = 8000,
    interval_samples: int = 160,
    end_repeats: int = 3,
) -> tuple[TelephoneEventFrame, ...]:
    """The packets for one key press (RFC 4733 §2.5.1).

    The first carries the marker bit (§2.5.1.1); then one update per
    ``interval_samples`` (20 ms at 8 kHz) whose duration covers the time elapsed
    (§2.5.1.2); then the final packet with the end bit, sent ``end_repeats``
    times with the same timestamp and duration at successive intervals (§2.5.1.4).
    The caller stamps the RTP header: one timestamp for all frames, a new
    sequence number for each.
    """
    event = digit_to_event(digit)
    if not 0 <= payload_type <= 127:
        raise LocalProtocolError(f"payload type {payload_type} out of range")
    if interval_samples <= 0 or end_repeats < 1:
        raise LocalProtocolError("interval and end repeats must be positive")
    total = duration_ms * clock_rate_hz // 1000
    if not 0 < total <= _MAX_DURATION:
        raise LocalProtocolError(f"duration {duration_ms} ms does not fit one event segment")
    frames: list[TelephoneEventFrame] = []
    elapsed = interval_samples
    while elapsed < total:
        payload = bytes(TelephoneEvent(event, False, volume, elapsed))
        frames.append(TelephoneEventFrame(payload_type, not frames, payload, elapsed, False))
        elapsed += interval_samples
    final = bytes(TelephoneEvent(event, True, volume, total))
    for repeat in range(end_repeats):
        frames.append(
            TelephoneEventFrame(
                payload_type, not frames, final, total + repeat * interval_samples, True
            )
        )
    return tuple(frames)


# --- SIP INFO ----------------------------------------------------------------------------------


def _info_digit(value: str) -> str:
    value = value.strip()
    if value.isdigit() and len(value) <= 2 and int(value) <= 15:
        return DTMF_DIGITS[int(value)]
    if len(value) == 1 and value.upper() in DTMF_DIGITS:
        return value.upper()
    raise RemoteProtocolError(f"not a DTMF signal: {value[:20]!r}", status_hint=400)


def parse_sip_info_dtmf(
    content_type: str, body: bytes, *, default_duration_ms: int = 250
) -> DtmfReceived:
    """A digit from a SIP INFO body.

    ``application/dtmf-relay`` (``Signal=5`` and an optional ``Duration=160``
    in ms, one per line) and ``application/dtmf`` (the digit alone, RFC 2976-era
    practice; event codes 10–15 are accepted for ``*#A-D``).  An unknown body type
    raises :class:`RemoteProtocolError` with status hint 415.
    """
    if len(body) > _MAX_INFO_BODY:
        raise LimitExceededError(f"INFO body of {len(body)} octets is too large", status_hint=413)
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise RemoteProtocolError("INFO DTMF body is not ASCII", status_hint=400) from None
    if media_type == "application/dtmf":
        return DtmfReceived(_info_digit(text), default_duration_ms, DtmfSource.SIP_INFO)
    if media_type != "application/dtmf-relay":
        raise RemoteProtocolError(f"unsupported INFO body {media_type!r}", status_hint=415)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise RemoteProtocolError("dtmf-relay body without Signal", status_hint=400)
    digit = _info_digit(fields["signal"])
    duration_ms = default_duration_ms
    if "duration" in fields:
        raw = fields["duration"]
        if not raw.isdigit() or len(raw) > 6 or int(raw) > _MAX_INFO_DURATION_MS:
            raise RemoteProtocolError(f"bad Duration {raw[:20]!r}", status_hint=400)
        duration_ms = int(raw)
    return DtmfReceived(digit, duration_ms, DtmfSource.SIP_INFO)
