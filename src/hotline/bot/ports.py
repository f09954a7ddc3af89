"""The voice assistant's ports: what VAD, recognition and answer matching promise (L1, no I/O).

The dialogue core (:mod:`hotline.bot.dialogue`) speaks only to these
protocols; engines are adapters chosen by ``hotline.app``:

* :class:`VoiceActivityDetector` — fed the caller's audio frame by frame
  (8 kHz mono 16-bit little-endian PCM, 20 ms = 320 bytes), says when speech
  starts (barge-in) and when an utterance has ended.
* :class:`SpeechRecognizer` / :class:`RecognitionSession` — streaming
  recognition of one utterance; engines run off the event loop, so the session
  methods are coroutines (the adapter owns its executor and its bound on
  concurrent sessions).
* :class:`AnswerMatcher` — the standard answers (R12b) matched to a
  transcript, with a calibrated confidence; ``answer_id`` is None when the bot
  should not answer (below threshold): better hand over than mislead.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from hotline.core.errors import HotlineError

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE_HZ",
    "AnswerMatch",
    "AnswerMatcher",
    "RecognitionResult",
    "RecognitionSession",
    "RecognizerUnavailableError",
    "SpeechRecognizer",
    "VadEvent",
    "VadEventKind",
    "VoiceActivityDetector",
]

SAMPLE_RATE_HZ: Final = 8000
FRAME_MS: Final = 20
FRAME_BYTES: Final = SAMPLE_RATE_HZ * FRAME_MS // 1000 * 2
"""One 20 ms frame of 8 kHz mono 16-bit PCM."""


class VadEventKind(enum.Enum):
    """What the detector noticed."""

    SPEECH_STARTED = "speech_started"  # the caller began to speak (barge-in)
    SPEECH_ENDED = "speech_ended"  # end of utterance: enough trailing silence


@dataclass(frozen=True, slots=True)
class VadEvent:
    """A detector event at ``at_ms`` milliseconds of audio fed so far."""

    kind: VadEventKind
    at_ms: int


class VoiceActivityDetector(Protocol):
    """Speech / silence decisions over a caller's audio."""

    def feed(self, pcm: bytes) -> Sequence[VadEvent]:
        """Take one or more whole 20 ms frames; return what changed."""
        ...

    def reset(self) -> None:
        """Forget the state (a new utterance)."""
        ...


@dataclass(frozen=True, slots=True)
class RecognitionResult:
    """A transcript; ``final`` once the utterance is complete."""

    text: str
    final: bool
    confidence: float | None = None  # engine's own word-average confidence, 0..1


class RecognizerUnavailableError(HotlineError):
    """No model installed, the model failed to load, or every session slot is taken."""


class RecognitionSession(Protocol):
    """One utterance being recognised."""

    async def accept(self, pcm: bytes) -> RecognitionResult | None:
        """Feed audio; a partial result, a final segment (an engine-detected pause), or None.

        A final segment is part of the utterance; :meth:`finish` returns it again
        within the whole transcript.
        """
        ...

    async def finish(self) -> RecognitionResult:
        """No more audio: the whole utterance's transcript (every final segment, in order)."""
        ...

    async def close(self) -> None:
        """Release the session slot (idempotent)."""
        ...


class SpeechRecognizer(Protocol):
    """A streaming 8 kHz recogniser."""

    @property
    def available(self) -> bool:
        """False when no model is installed or it failed to load."""
        ...

    async def open(self, grammar: Sequence[str] | None = None) -> RecognitionSession:
        """A new session, restricted to ``grammar`` phrases when given.

        Raises :class:`RecognizerUnavailableError` when there is no model or
        no free session slot.
        """
        ...


@dataclass(frozen=True, slots=True)
class AnswerMatch:
    """The best standard answer for a question, or None to hand over."""

    answer_id: str | None
    confidence: float  # calibrated, 0..1
    best_candidate: str | None = None  # the top answer even when below threshold (for the card)
    escalate: bool = False  # the matched entry asks for an operator after a short answer


class AnswerMatcher(Protocol):
    """Standard answers matched to a recognised question."""

    def match(self, text: str, topic: str | None = None) -> AnswerMatch:
        """Match ``text`` (optionally preferring ``topic``); never raises on odd input."""
        ...
