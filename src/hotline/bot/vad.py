"""Voice activity: utterance boundaries from per-frame speech probabilities (L1, no I/O).

An engine (:mod:`hotline.bot.vad_silero`, :mod:`hotline.bot.vad_webrtc`)
scores each 20 ms frame of the caller's audio with a speech probability in
``[0, 1]``; :class:`UtteranceTracker` turns those scores into
:class:`~hotline.bot.ports.VadEvent` facts with a hysteresis state machine,
and :class:`ScoredVad` joins the two into a
:class:`~hotline.bot.ports.VoiceActivityDetector`.

Time is audio time: the position is counted in frames fed since the detector
was built (20 ms each; :meth:`UtteranceTracker.reset` does not rewind it), so
no clock is read and tests are exact.  Event times are *boundaries*, not the
moments of decision:

* ``SPEECH_STARTED.at_ms`` is where the speech began.  It is reported once
  ``min_speech_ms`` of consecutive speech frames have been seen (a click
  shorter than that never starts an utterance); the boundary is the first
  frame of that run, moved back over the frames just before it that scored at
  least ``activity_threshold`` (at most ``max_lookback_ms``): engines score the
  weak first consonant of a word low, and the recogniser should hear it.
* ``SPEECH_ENDED.at_ms`` is where the speech stopped (the end of its last
  speech frame).  It is reported once ``end_silence_ms`` have passed since
  then with no speech frame and at least one silence frame; or, when the
  caller talks past ``max_utterance_ms``, at the current position (a forced
  end; if the caller keeps talking, a new utterance starts after
  ``min_speech_ms``).

Hysteresis (the scheme of Silero's own iterator): a frame scoring at least
``speech_threshold`` is speech; below ``silence_threshold`` it is silence; in
between it is *unsure*: an unsure frame drops an onset not yet confirmed,
holds an utterance that is on (it does not pause it), and counts as trailing
silence once a silence frame has paused it.  The transitions are one table,
:data:`TRANSITIONS`.

One :class:`ScoredVad` per stream (call leg): engines keep state across frames.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from hotline.bot.ports import FRAME_BYTES, FRAME_MS, VadEvent, VadEventKind
from hotline.core.errors import (
    ConfigurationError,
    HotlineError,
    LimitExceededError,
    LocalProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "MAX_FEED_BYTES",
    "TRANSITIONS",
    "FrameClass",
    "FrameScorer",
    "ScoredVad",
    "UtteranceTracker",
    "VadConfig",
    "VadEngine",
    "VadEngineUnavailableError",
    "VadState",
]

MAX_FEED_BYTES: Final = 60 * 1000 // FRAME_MS * FRAME_BYTES
"""At most 60 s of audio in one :meth:`ScoredVad.feed` call."""

_SETTING_PREFIX: Final = "HOTLINE_BOT__"


class VadEngine(enum.StrEnum):
    """The frame scorers, by the name used in settings."""

    SILERO = "silero"
    WEBRTC = "webrtc"


class VadEngineUnavailableError(HotlineError):
    """A VAD engine could not be loaded (missing package, broken model)."""


class VadState(enum.Enum):
    """Where the detector is in the caller's audio."""

    SILENCE = "silence"  # no utterance
    ONSET = "onset"  # speech frames seen, fewer than min_speech_ms of them
    SPEECH = "speech"  # an utterance is on (SPEECH_STARTED sent)
    TRAILING = "trailing"  # the utterance has paused; counting trailing silence


class FrameClass(enum.Enum):
    """One frame's score against the two thresholds."""

    SPEECH = "speech"  # score >= speech_threshold
    UNSURE = "unsure"  # silence_threshold <= score < speech_threshold
    SILENCE = "silence"  # score < silence_threshold


class _Step(enum.Enum):
    """What a transition does to the counters."""

    IDLE = "idle"
    BEGIN_ONSET = "begin_onset"
    EXTEND_ONSET = "extend_onset"
    DROP_ONSET = "drop_onset"
    CONTINUE = "continue"
    HOLD = "hold"
    PAUSE = "pause"
    EXTEND_PAUSE = "extend_pause"
    RESUME = "resume"


TRANSITIONS: Final[Mapping[tuple[VadState, FrameClass], tuple[VadState, _Step]]] = {
    (VadState.SILENCE, FrameClass.SPEECH): (VadState.ONSET, _Step.BEGIN_ONSET),
    (VadState.SILENCE, FrameClass.UNSURE): (VadState.SILENCE, _Step.IDLE),
    (VadState.SILENCE, FrameClass.SILENCE): (VadState.SILENCE, _Step.IDLE),
    (VadState.ONSET, FrameClass.SPEECH): (VadState.ONSET, _Step.EXTEND_ONSET),
    (VadState.ONSET, FrameClass.UNSURE): (VadState.SILENCE, _Step.DROP_ONSET),
    (VadState.ONSET, FrameClass.SILENCE): (VadState.SILENCE, _Step.DROP_ONSET),
    (VadState.SPEECH, FrameClass.SPEECH): (VadState.SPEECH, _Step.CONTINUE),
    (VadState.SPEECH, FrameClass.UNSURE): (VadState.SPEECH, _Step.HOLD),
    (VadState.SPEECH, FrameClass.SILENCE): (VadState.TRAILING, _Step.PAUSE),
    (VadState.TRAILING, FrameClass.SPEECH): (VadState.SPEECH, _Step.RESUME),
    (VadState.TRAILING, FrameClass.UNSURE): (VadState.TRAILING, _Step.EXTEND_PAUSE),
    (VadState.TRAILING, FrameClass.SILENCE): (VadState.TRAILING, _Step.EXTEND_PAUSE),
}
"""Every (state, frame class) pair → (next state, counter step); the table is complete."""


@dataclass(frozen=True, slots=True)
class VadConfig:
    """Detector knobs (``HOTLINE_BOT__VAD_*`` / ``HOTLINE_BOT__END_SILENCE_MS``)."""

    speech_threshold: float = 0.5
    silence_threshold: float = 0.35
    min_speech_ms: int = 100  # shorter bursts (clicks, a cough's edge) never start an utterance
    end_silence_ms: int = 700  # trailing silence that ends an utterance
    max_utterance_ms: int = 15_000  # an utterance is cut here even if the caller talks on
    activity_threshold: float = 0.15  # weaker frames just before an onset belong to the speech
    max_lookback_ms: int = 200  # how far SPEECH_STARTED may reach back over such frames

    def __post_init__(self) -> None:
        if not 0.0 < self.speech_threshold <= 1.0:
            raise ConfigurationError(_SETTING_PREFIX + "VAD_SPEECH_THRESHOLD", "must be in (0, 1]")
        if not 0.0 <= self.silence_threshold <= self.speech_threshold:
            raise ConfigurationError(
                _SETTING_PREFIX + "VAD_SILENCE_THRESHOLD",
                "must be between 0 and the speech threshold",
            )
        if not 0.0 <= self.activity_threshold <= self.silence_threshold:
            raise ConfigurationError(
                _SETTING_PREFIX + "VAD_ACTIVITY_THRESHOLD",
                "must be between 0 and the silence threshold",
            )
        if self.max_lookback_ms < 0 or self.max_lookback_ms % FRAME_MS:
            raise ConfigurationError(
                _SETTING_PREFIX + "VAD_MAX_LOOKBACK_MS",
                f"must be a non-negative multiple of {FRAME_MS} ms (got {self.max_lookback_ms})",
            )
        for name, value, low in (
            ("VAD_MIN_SPEECH_MS", self.min_speech_ms, FRAME_MS),
            ("END_SILENCE_MS", self.end_silence_ms, FRAME_MS),
            ("VAD_MAX_UTTERANCE_MS", self.max_utterance_ms, 1000),
        ):
            if value < low or value % FRAME_MS:
                raise ConfigurationError(
                    _SETTING_PREFIX + name,
                    f"must be a multiple of {FRAME_MS} ms, at least {low} ms (got {value})",
                )
        if self.max_utterance_ms <= self.min_speech_ms:
            raise ConfigurationError(
                _SETTING_PREFIX + "VAD_MAX_UTTERANCE_MS", "must exceed the minimum speech length"
            )

    def classify(self, score: float) -> FrameClass:
        """The class of a frame with speech probability ``score``."""
        if score >= self.speech_threshold:
            return FrameClass.SPEECH
        if score < self.silence_threshold:
            return FrameClass.SILENCE
        return FrameClass.UNSURE


class UtteranceTracker:
    """The hysteresis state machine over one stream of frame scores (pure)."""

    __slots__ = (
        "_active_ms",
        "_config",
        "_floor_ms",
        "_onset_ms",
        "_position_ms",
        "_run_ms",
        "_speech_end_ms",
        "_state",
    )
    # _run_ms: speech so far while in ONSET; _speech_end_ms: end of the last speech-class frame;
    # _active_ms: the run of frames at or above activity_threshold that ended with the last frame

    def __init__(self, config: VadConfig | None = None) -> None:
        self._config = config if config is not None else VadConfig()
        self._state = VadState.SILENCE
        self._position_ms = 0
        self._onset_ms = 0
        self._speech_end_ms = 0
        self._run_ms = 0
        self._active_ms = 0
        self._floor_ms = 0  # an onset never reaches back before the last reported end

    @property
    def config(self) -> VadConfig:
        return self._config

    @property
    def state(self) -> VadState:
        return self._state

    @property
    def position_ms(self) -> int:
        """Audio time fed so far (the end of the last frame)."""
        return self._position_ms

    @property
    def in_utterance(self) -> bool:
        """True between SPEECH_STARTED and SPEECH_ENDED."""
        return self._state in (VadState.SPEECH, VadState.TRAILING)

    def reset(self) -> None:
        """Back to silence; the audio position keeps counting."""
        self._state = VadState.SILENCE
        self._run_ms = self._active_ms = 0

    def push(self, score: float) -> VadEvent | None:
        """Take the score of the next 20 ms frame; the event it causes, if any."""
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise LocalProtocolError(f"a speech probability must be in [0, 1] (got {score!r})")
        start_ms = self._position_ms
        self._position_ms = end_ms = start_ms + FRAME_MS
        config = self._config
        state, step = TRANSITIONS[(self._state, config.classify(score))]
        self._state = state
        lookback_ms = min(self._active_ms, config.max_lookback_ms)
        self._active_ms = self._active_ms + FRAME_MS if score >= config.activity_threshold else 0
        if step is _Step.BEGIN_ONSET:
            self._onset_ms = max(self._floor_ms, start_ms - lookback_ms)
            self._run_ms = FRAME_MS
        elif step is _Step.EXTEND_ONSET:
            self._run_ms += FRAME_MS
        elif step is _Step.DROP_ONSET:
            self._run_ms = 0
        if step in (_Step.BEGIN_ONSET, _Step.EXTEND_ONSET, _Step.CONTINUE, _Step.RESUME):
            self._speech_end_ms = end_ms
        return self._check_limits(end_ms)

    def _check_limits(self, end_ms: int) -> VadEvent | None:
        config = self._config
        if self._state is VadState.ONSET and self._run_ms >= config.min_speech_ms:
            self._state = VadState.SPEECH
            return VadEvent(VadEventKind.SPEECH_STARTED, self._onset_ms)
        if (
            self._state is VadState.TRAILING
            and end_ms - self._speech_end_ms >= config.end_silence_ms
        ):
            return self._end(self._speech_end_ms)
        if self.in_utterance and end_ms - self._onset_ms >= config.max_utterance_ms:
            return self._end(self._speech_end_ms if self._state is VadState.TRAILING else end_ms)
        return None

    def _end(self, at_ms: int) -> VadEvent:
        self._state, self._run_ms, self._floor_ms = VadState.SILENCE, 0, at_ms
        return VadEvent(VadEventKind.SPEECH_ENDED, at_ms)


class FrameScorer(Protocol):
    """An engine: the speech probability of each 20 ms frame of one stream."""

    def score(self, frame: bytes) -> float:
        """Score one frame (:data:`~hotline.bot.ports.FRAME_BYTES` bytes), in stream order."""
        ...

    def reset(self) -> None:
        """Forget the stream (the engine's recurrent state, buffered samples)."""
        ...


class ScoredVad:
    """A :class:`~hotline.bot.ports.VoiceActivityDetector`: an engine's scores, tracked."""

    __slots__ = ("_engine", "_scorer", "_tracker")

    def __init__(
        self, scorer: FrameScorer, config: VadConfig | None = None, *, engine: VadEngine
    ) -> None:
        self._scorer = scorer
        self._tracker = UtteranceTracker(config)
        self._engine = engine

    @property
    def engine(self) -> VadEngine:
        """Which engine scores the frames (after any fallback)."""
        return self._engine

    @property
    def tracker(self) -> UtteranceTracker:
        return self._tracker

    def feed(self, pcm: bytes) -> Sequence[VadEvent]:
        """Take whole 20 ms frames of 8 kHz 16-bit mono PCM; the events, in order."""
        size = len(pcm)
        if size > MAX_FEED_BYTES:
            raise LimitExceededError(f"{size} bytes of audio at once (limit {MAX_FEED_BYTES})")
        if size % FRAME_BYTES:
            raise RemoteProtocolError(
                f"audio must come in whole {FRAME_MS} ms frames of {FRAME_BYTES} bytes "
                f"(got {size} bytes)"
            )
        events: list[VadEvent] = []
        view = memoryview(pcm)
        for offset in range(0, size, FRAME_BYTES):
            event = self._tracker.push(
                self._scorer.score(bytes(view[offset : offset + FRAME_BYTES]))
            )
            if event is not None:
                events.append(event)
        return events

    def reset(self) -> None:
        """Forget the engine's and the tracker's state (a new utterance)."""
        self._scorer.reset()
        self._tracker.reset()
