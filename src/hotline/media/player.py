"""Per-leg playback queues paced by one 20 ms ticker for all calls (sans-IO).

A :class:`Player` plays :class:`PlaybackItem` s one after the other.  An item
is a sequence of parts -- prompts (encoded frames from
:class:`~hotline.media.prompts.PromptCache`), tone cadences
(:mod:`hotline.media.tones`) and silences -- played back to back, optionally
in a loop (music on hold).  An item flagged ``barge_in`` is cut short by a
DTMF digit (:meth:`Player.on_dtmf`): an IVR menu stops talking as soon as the
caller presses a key, and the event names the digit.

The hot path is :meth:`PlayerSet.tick`: every 20 ms the asyncio driver calls
it once for all legs and sends the returned ``(leg_id, payload)`` pairs.  Each
part is resolved, when it starts, to a tuple of ready encoded frames, a frame
count and a position, so one tick per leg is a tuple index and two integer
updates: nothing is decoded, encoded or allocated per frame.

Events (frozen dataclasses, in the order they happen) are read with
:meth:`PlayerSet.next_event` (or :meth:`Player.next_event` for a player made
on its own).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np

from hotline.core.errors import LocalProtocolError
from hotline.media.codecs import Codec
from hotline.media.prompts import FRAME_SAMPLES, EncodedPrompt
from hotline.media.tones import Cadence, ToneFrameCache

__all__ = [
    "DTMF_DIGITS",
    "FRAME_MS",
    "PlaybackEvent",
    "PlaybackFinished",
    "PlaybackInterrupted",
    "PlaybackItem",
    "PlaybackPart",
    "PlaybackStarted",
    "PlaybackStopped",
    "Player",
    "PlayerSet",
    "PromptPart",
    "SilencePart",
    "TonePart",
    "music_on_hold",
]

FRAME_MS: Final = 20
DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")
_MAX_PART_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class PromptPart:
    """A prompt's encoded frames; its codec must be the player's."""

    prompt: EncodedPrompt


@dataclass(frozen=True, slots=True)
class TonePart:
    """A tone cadence, for ``duration_ms`` (rounded up to whole frames) or, if None, until stopped.

    A cadence that does not repeat ends by itself after its segments.
    """

    cadence: Cadence
    duration_ms: int | None = None

    def __post_init__(self) -> None:
        if self.duration_ms is not None and not 0 <= self.duration_ms <= _MAX_PART_MS:
            raise ValueError(f"tone duration {self.duration_ms} ms out of range")


@dataclass(frozen=True, slots=True)
class SilencePart:
    """``duration_ms`` of silence (rounded up to whole frames)."""

    duration_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.duration_ms <= _MAX_PART_MS:
            raise ValueError(f"silence duration {self.duration_ms} ms out of range")


PlaybackPart = PromptPart | TonePart | SilencePart


@dataclass(frozen=True, slots=True)
class PlaybackItem:
    """What to play: ``parts`` back to back, once or (``loop``) until stopped.

    ``barge_in``: a DTMF digit stops the whole item (all its parts).
    """

    item_id: str
    parts: tuple[PlaybackPart, ...]
    barge_in: bool = False
    loop: bool = False


def music_on_hold(item_id: str, prompt: EncodedPrompt) -> PlaybackItem:
    """Music on hold: ``prompt`` in a loop until stopped."""
    return PlaybackItem(item_id, (PromptPart(prompt),), barge_in=False, loop=True)


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    """The first frame of ``item_id`` went out on ``leg_id``."""

    leg_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """The last frame of ``item_id`` went out on ``leg_id``."""

    leg_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class PlaybackInterrupted:
    """DTMF ``digit`` stopped the barge-in item ``item_id`` on ``leg_id``."""

    leg_id: str
    item_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackStopped:
    """``item_id`` was stopped or dropped from the queue by :meth:`Player.stop`."""

    leg_id: str
    item_id: str


PlaybackEvent = PlaybackStarted | PlaybackFinished | PlaybackInterrupted | PlaybackStopped


class Player:
    """The playback queue of one leg, producing one encoded frame per 20 ms tick."""

    __slots__ = (
        "_codec",
        "_current",
        "_events",
        "_frames",
        "_leg_id",
        "_max_queue",
        "_part_index",
        "_position",
        "_queue",
        "_remaining",
        "_silence",
        "_started",
        "_tones",
    )

    def __init__(
        self,
        leg_id: str,
        codec: Codec,
        tones: ToneFrameCache,
        *,
        events: deque[PlaybackEvent] | None = None,
        max_queue: int = 64,
    ) -> None:
        self._leg_id = leg_id
        self._codec = codec
        self._tones = tones
        self._events: deque[PlaybackEvent] = deque() if events is None else events
        self._max_queue = max_queue
        self._queue: deque[PlaybackItem] = deque()
        self._silence = codec.encode(np.zeros(FRAME_SAMPLES, dtype=np.int16))
        self._current: PlaybackItem | None = None
        self._started = False
        self._part_index = 0
        self._frames: tuple[bytes, ...] = ()
        self._position = 0
        self._remaining = 0  # frames left in the current part; -1 = until stopped

    @property
    def leg_id(self) -> str:
        return self._leg_id

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def active(self) -> bool:
        """True while something is playing or queued."""
        return self._current is not None or bool(self._queue)

    @property
    def current_item_id(self) -> str | None:
        return None if self._current is None else self._current.item_id

    def queued_item_ids(self) -> tuple[str, ...]:
        """Ids of the items waiting behind the current one."""
        return tuple(item.item_id for item in self._queue)

    def enqueue(self, item: PlaybackItem) -> None:
        """Queue ``item`` behind what is already queued."""
        if len(self._queue) >= self._max_queue:
            raise LocalProtocolError(f"playback queue of leg {self._leg_id} is full")
        for part in item.parts:
            if isinstance(part, PromptPart) and part.prompt.codec_name != self._codec.name:
                raise LocalProtocolError(
                    f"prompt {part.prompt.path} is {part.prompt.codec_name}, "
                    f"leg {self._leg_id} plays {self._codec.name}"
                )
        self._queue.append(item)

    def stop(self, item_id: str | None = None) -> None:
        """Stop ``item_id`` (playing or queued), or, if None, everything; emits PlaybackStopped."""
        current = self._current
        if current is not None and (item_id is None or current.item_id == item_id):
            self._current = None
            self._events.append(PlaybackStopped(self._leg_id, current.item_id))
        kept: deque[PlaybackItem] = deque()
        for item in self._queue:
            if item_id is None or item.item_id == item_id:
                self._events.append(PlaybackStopped(self._leg_id, item.item_id))
            else:
                kept.append(item)
        self._queue = kept

    def on_dtmf(self, digit: str) -> bool:
        """A DTMF ``digit`` arrived: stop the current item if it allows barge-in.

        Returns True when an item was interrupted (a PlaybackInterrupted event
        is queued), False when the digit did not stop anything.
        """
        if digit not in DTMF_DIGITS:
            raise LocalProtocolError(f"not a DTMF digit: {digit!r}")
        item = self._current
        if item is None and self._queue:
            item = self._queue[0]
            if item.barge_in:
                self._queue.popleft()
        elif item is not None and item.barge_in:
            self._current = None
        if item is None or not item.barge_in:
            return False
        self._events.append(PlaybackInterrupted(self._leg_id, item.item_id, digit))
        return True

    def next_event(self) -> PlaybackEvent | None:
        """The next queued event, or None (for a player that owns its event queue)."""
        return self._events.popleft() if self._events else None

    def next_frame(self, now: float) -> bytes | None:
        """The encoded payload to send for the tick at ``now``, or None when idle.

        Exactly one 20 ms frame per call: pacing is the ticker's job, and a late
        tick shows up as a timestamp gap in :class:`~hotline.media.stream.OutgoingStream`,
        not as skipped audio.
        """
        if self._current is None and not self._load_next_item():
            return None
        if not self._started:
            self._started = True
            self._events.append(PlaybackStarted(self._leg_id, self._current_id()))
        frames = self._frames
        frame = frames[self._position]
        self._position += 1
        if self._position == len(frames):
            self._position = 0
        if self._remaining > 0:
            self._remaining -= 1
            if self._remaining == 0:
                self._next_part()
        return frame

    def _current_id(self) -> str:
        return "" if self._current is None else self._current.item_id

    def _load_next_item(self) -> bool:
        """Make the next queued item current, positioned on its first non-empty part."""
        while self._queue:
            item = self._queue.popleft()
            self._current = item
            self._started = False
            if self._enter_part(0):
                return True
            # Nothing to play in it at all: it finishes at once.
            self._current = None
            self._events.append(PlaybackFinished(self._leg_id, item.item_id))
        return False

    def _enter_part(self, start: int) -> bool:
        """Position on the first part from ``start`` with frames; False if there is none."""
        item = self._current
        if item is None:
            return False
        for index in range(start, len(item.parts)):
            frames, count = self._resolve(item.parts[index])
            if frames and count != 0:
                self._part_index = index
                self._frames = frames
                self._position = 0
                self._remaining = count
                return True
        return False

    def _next_part(self) -> None:
        item = self._current
        if item is None:
            return
        if self._enter_part(self._part_index + 1):
            return
        if item.loop and self._enter_part(0):
            return
        self._current = None
        self._events.append(PlaybackFinished(self._leg_id, item.item_id))

    def _resolve(self, part: PlaybackPart) -> tuple[tuple[bytes, ...], int]:
        """(frames to cycle through, frames to play; -1 = until stopped)."""
        if isinstance(part, PromptPart):
            frames = part.prompt.frames
            return frames, len(frames)
        if isinstance(part, SilencePart):
            return (self._silence,), -(-part.duration_ms // FRAME_MS)
        tone = self._tones.get(part.cadence, self._codec.encode, self._codec.name)
        if part.duration_ms is not None:
            count = -(-part.duration_ms // FRAME_MS)
            if not tone.loop:
                count = min(count, len(tone.frames))
            return tone.frames, count
        return tone.frames, (-1 if tone.loop else len(tone.frames))


class PlayerSet:
    """All players of a node, advanced together by the one 20 ms ticker.

    ``tick(now)`` returns the frames to send this tick; events of every player
    land in one queue read with :meth:`next_event`.
    """

    __slots__ = ("_events", "_players", "_tones")

    def __init__(self, tones: ToneFrameCache | None = None) -> None:
        self._tones = ToneFrameCache() if tones is None else tones
        self._players: dict[str, Player] = {}
        self._events: deque[PlaybackEvent] = deque()

    def __len__(self) -> int:
        return len(self._players)

    def __contains__(self, leg_id: object) -> bool:
        return leg_id in self._players

    def create(self, leg_id: str, codec: Codec, *, max_queue: int = 64) -> Player:
        """A new player for ``leg_id`` sharing this set's tone cache and event queue."""
        if leg_id in self._players:
            raise LocalProtocolError(f"leg {leg_id} already has a player")
        player = Player(leg_id, codec, self._tones, events=self._events, max_queue=max_queue)
        self._players[leg_id] = player
        return player

    def get(self, leg_id: str) -> Player:
        """The player of ``leg_id`` (KeyError if none)."""
        return self._players[leg_id]

    def remove(self, leg_id: str) -> None:
        """Drop the player of ``leg_id`` silently (the leg is gone); unknown ids are ignored."""
        self._players.pop(leg_id, None)

    def tick(self, now: float) -> list[tuple[str, bytes]]:
        """One 20 ms tick for every leg: the ``(leg_id, payload)`` pairs to send now."""
        out: list[tuple[str, bytes]] = []
        append = out.append
        for leg_id, player in self._players.items():
            if player._current is None and not player._queue:
                continue
            frame = player.next_frame(now)
            if frame is not None:
                append((leg_id, frame))
        return out

    def next_event(self) -> PlaybackEvent | None:
        """The next event of any player, or None."""
        return self._events.popleft() if self._events else None
