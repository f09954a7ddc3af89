"""N-party conference mixing with supervisor monitor modes, and the two-leg relay transcoder.

Two bridged legs never need mixing: each one's packets are relayed to the
other (:func:`relay_payload` only re-quantises A-law ↔ µ-law through a
256-byte table when the legs negotiated different laws).  A third party --
a supervisor -- needs a mix: every participant hears the sum of the others it
is allowed to hear, never itself ("mix-minus").  Who hears whom is a boolean
matrix; the supervisor modes fill it in:

============  =====================  ==================  ===================
mode          supervisor hears       operator hears      caller hears
============  =====================  ==================  ===================
``LISTEN``    caller + operator      caller              operator
``WHISPER``   caller + operator      caller + supervisor operator
``BARGE``     caller + operator      caller + supervisor operator + supervisor
============  =====================  ==================  ===================

Mixing runs once per 20 ms tick for the whole conference: decoded frames are
stacked in an (N, 160) int32 matrix, multiplied by the hearing matrix, clipped
to int16 (saturation, not wrap-around) and encoded with each participant's
codec.  Input arrives whenever packets do, so each participant has a small
sample FIFO (bounded; the oldest samples are dropped on overflow) from which
each tick takes one frame, or silence when it ran dry.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.core.errors import LocalProtocolError
from hotline.media.codecs import Codec, alaw_to_ulaw, get_codec, ulaw_to_alaw

__all__ = [
    "Mixer",
    "MixerStats",
    "MonitorMode",
    "mix_minus",
    "relay_payload",
]

_FRAME_SAMPLES: Final = 160
_MAX_PARTICIPANTS: Final = 16


class MonitorMode(enum.Enum):
    """How a supervisor joins an operator's call."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


def relay_payload(payload: bytes, from_codec: str, to_codec: str) -> bytes:
    """``payload`` of ``from_codec`` as ``to_codec``: unchanged if equal, one table pass for G.711.

    Other pairs are decoded and re-encoded through the codec registry.
    """
    source = from_codec.upper()
    target = to_codec.upper()
    if source == target:
        return payload
    if source == "PCMA" and target == "PCMU":
        return alaw_to_ulaw(payload)
    if source == "PCMU" and target == "PCMA":
        return ulaw_to_alaw(payload)
    return get_codec(target).encode(get_codec(source).decode(payload))


def mix_minus(frames: npt.NDArray[np.int16], hears: npt.NDArray[np.bool_]) -> npt.NDArray[np.int16]:
    """Mix ``frames`` (N × samples) for N listeners: row i = Σ_j hears[i, j]·frames[j], saturated.

    The diagonal of ``hears`` should be False (nobody hears themself).
    """
    if frames.ndim != 2 or hears.shape != (frames.shape[0], frames.shape[0]):
        raise LocalProtocolError("hears must be N × N for N frames")
    summed = hears.astype(np.int32) @ frames.astype(np.int32)
    out: npt.NDArray[np.int16] = np.clip(summed, -32768, 32767).astype(np.int16)
    return out


@dataclass(slots=True)
class MixerStats:
    """Counters of one mixer."""

    ticks: int = 0
    underruns: int = 0
    overflow_samples: int = 0


class _Participant:
    __slots__ = ("codec", "fifo", "fill", "index")

    def __init__(self, codec: Codec, index: int, capacity: int) -> None:
        self.codec = codec
        self.index = index
        self.fifo = np.zeros(capacity, dtype=np.int16)
        self.fill = 0


class Mixer:
    """A conference of up to 16 participants with per-pair hearing rights (sans-IO).

    ``push(pid, payload)`` whenever a packet arrives; ``tick()`` every 20 ms
    returns one encoded frame per participant.  New participants hear and are
    heard by everybody until :meth:`set_hears` or :meth:`set_monitor` says
    otherwise.
    """

    __slots__ = ("_capacity", "_hears", "_order", "_participants", "stats")

    def __init__(self, *, buffer_ms: int = 100) -> None:
        if not 20 <= buffer_ms <= 1000:
            raise ValueError("buffer_ms out of 20..1000")
        self._capacity = buffer_ms * 8
        self._participants: dict[str, _Participant] = {}
        self._order: list[str] = []
        self._hears = np.zeros((0, 0), dtype=np.bool_)
        self.stats = MixerStats()

    @property
    def participants(self) -> tuple[str, ...]:
        return tuple(self._order)

    def add(self, pid: str, codec: Codec) -> None:
        """Join ``pid`` (speaking and hearing ``codec``); it hears and is heard by everybody."""
        if pid in self._participants:
            raise LocalProtocolError(f"{pid} is already in the conference")
        if len(self._order) >= _MAX_PARTICIPANTS:
            raise LocalProtocolError(f"a conference holds at most {_MAX_PARTICIPANTS}")
        size = len(self._order) + 1
        hears = np.ones((size, size), dtype=np.bool_)
        hears[: size - 1, : size - 1] = self._hears
        np.fill_diagonal(hears, False)
        self._hears = hears
        self._participants[pid] = _Participant(codec, size - 1, self._capacity)
        self._order.append(pid)

    def remove(self, pid: str) -> None:
        """``pid`` leaves; unknown ids are ignored."""
        if pid not in self._participants:
            return
        index = self._participants.pop(pid).index
        keep = [i for i in range(len(self._order)) if i != index]
        self._hears = self._hears[np.ix_(keep, keep)]
        self._order.remove(pid)
        for position, name in enumerate(self._order):
            self._participants[name].index = position

    def set_hears(self, listener: str, speaker: str, hears: bool) -> None:
        """Whether ``listener`` hears ``speaker`` (a participant never hears itself)."""
        a = self._participants[listener].index
        b = self._participants[speaker].index
        if a == b:
            raise LocalProtocolError("a participant cannot hear itself")
        self._hears[a, b] = hears

    def hears(self, listener: str, speaker: str) -> bool:
        a = self._participants[listener].index
        b = self._participants[speaker].index
        return bool(self._hears[a, b])

    def set_monitor(self, supervisor: str, operator: str, mode: MonitorMode) -> None:
        """Apply a supervisor ``mode`` (see the module table); everyone else counts as a caller."""
        if supervisor == operator:
            raise LocalProtocolError("supervisor and operator must differ")
        for other in self._order:
            if other == supervisor:
                continue
            self.set_hears(supervisor, other, True)
            if other == operator:
                heard = mode in (MonitorMode.WHISPER, MonitorMode.BARGE)
            else:
                heard = mode is MonitorMode.BARGE
            self.set_hears(other, supervisor, heard)

    def push(self, pid: str, payload: bytes) -> None:
        """Audio from ``pid`` (one RTP payload in its codec) for the coming ticks."""
        member = self._participants.get(pid)
        if member is None:
            return
        self.push_pcm(pid, member.codec.decode(payload))

    def push_pcm(self, pid: str, pcm: npt.NDArray[np.int16]) -> None:
        """Decoded 8 kHz samples from ``pid``; past the buffer the oldest are dropped."""
        member = self._participants.get(pid)
        if member is None:
            return
        capacity = len(member.fifo)
        if pcm.size >= capacity:
            self.stats.overflow_samples += member.fill + pcm.size - capacity
            member.fifo[:] = pcm[-capacity:]
            member.fill = capacity
            return
        overflow = member.fill + pcm.size - capacity
        if overflow > 0:
            self.stats.overflow_samples += overflow
            member.fifo[: member.fill - overflow] = member.fifo[overflow : member.fill]
            member.fill -= overflow
        member.fifo[member.fill : member.fill + pcm.size] = pcm
        member.fill += pcm.size

    def tick_pcm(self) -> dict[str, npt.NDArray[np.int16]]:
        """One 20 ms mix as int16 frames per participant."""
        self.stats.ticks += 1
        frames = np.zeros((len(self._order), _FRAME_SAMPLES), dtype=np.int16)
        for member in self._participants.values():
            take = min(member.fill, _FRAME_SAMPLES)
            if take < _FRAME_SAMPLES:
                self.stats.underruns += 1
            if take:
                frames[member.index, :take] = member.fifo[:take]
                member.fifo[: member.fill - take] = member.fifo[take : member.fill]
                member.fill -= take
        mixed = mix_minus(frames, self._hears)
        return {pid: mixed[i] for i, pid in enumerate(self._order)}

    def tick(self) -> list[tuple[str, bytes]]:
        """One 20 ms mix: the encoded frame to send to each participant."""
        mixed = self.tick_pcm()
        return [(pid, self._participants[pid].codec.encode(pcm)) for pid, pcm in mixed.items()]
