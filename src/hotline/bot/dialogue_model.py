"""The voice assistant's dialogue: its states, inputs, outputs and settings (L1, no I/O).

:class:`~hotline.bot.dialogue.Dialogue` is the state machine; this module
holds the vocabulary it speaks.  Outputs are commands to the driver
(imperative names): :class:`Say`, :class:`StopSaying`, :class:`Listen`,
:class:`HandOver`, :class:`End`.  ``Say`` and ``Listen`` carry ids, and the
driver's reports (``playback_finished``, ``utterance``) name them back, so a
late report of a playback or recognition the dialogue has moved past is
ignored instead of being taken for the current one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import ConfigurationError

__all__ = [
    "MAX_TRANSCRIPT_ENTRIES",
    "DialogueConfig",
    "DialogueInput",
    "DialogueOutput",
    "DialogueState",
    "End",
    "HandOver",
    "HandOverReason",
    "Listen",
    "ListenFor",
    "Outcome",
    "Say",
    "StopSaying",
]

MAX_TRANSCRIPT_ENTRIES: Final = 64
"""Transcript lines kept per call (the turn cap keeps far below it)."""


class DialogueState(enum.Enum):
    """Where the conversation stands (``SAY_*``: a phrase plays; ``HEAR_*``: speech is recognised)."""

    IDLE = "idle"
    SAY_GREETING = "say_greeting"  # greeting + «задайте вопрос»; barge-in
    SAY_PROMPT = "say_prompt"  # «не слышу»/«переформулируйте»/«другой вопрос?»; barge-in
    LISTEN_QUESTION = "listen_question"  # waiting for a question (silence timer)
    HEAR_QUESTION = "hear_question"  # the caller speaks; the transcript is awaited
    SAY_ANSWER = "say_answer"  # a standard answer; barge-in
    SAY_HELPED = "say_helped"  # «Ответ помог?»; barge-in
    LISTEN_HELPED = "listen_helped"
    HEAR_HELPED = "hear_helped"
    SAY_HANDOVER = "say_handover"  # «соединяю с оператором» (after an escalate answer too)
    SAY_GOODBYE = "say_goodbye"
    ENDED = "ended"


class DialogueInput(enum.Enum):
    """What the driver reports."""

    STARTED = "started"
    SPEECH_STARTED = "speech_started"
    UTTERANCE = "utterance"
    RECOGNITION_FAILED = "recognition_failed"
    DTMF = "dtmf"
    PLAYBACK_FINISHED = "playback_finished"
    TIMER = "timer"
    ABORTED = "aborted"
    HUNG_UP = "hung_up"


class ListenFor(enum.Enum):
    """What an utterance is expected to be."""

    QUESTION = "question"  # free speech (or the configured question grammar), then matched
    CONFIRMATION = "confirmation"  # «да» / «нет» / «оператор» (grammar mode)


class HandOverReason(enum.Enum):
    """Why the assistant passed the call to an operator."""

    CALLER_ASKED = "caller_asked"  # «оператор» or key 0
    NOT_HELPED = "not_helped"  # «нет» to «Ответ помог?»
    NOT_UNDERSTOOD = "not_understood"  # below the matcher's threshold twice, or unclear replies
    SILENCE = "silence"  # no speech twice
    ESCALATE = "escalate"  # the matched answer asks for an operator
    TURN_LIMIT = "turn_limit"
    UNAVAILABLE = "unavailable"  # no recogniser (no model, no free slot, it failed)
    FAILURE = "failure"  # the assistant itself broke (speech synthesis, a bug)


class Outcome(enum.Enum):
    """How a conversation ended (``call.bot_ended``'s ``result``; metrics.md, bot containment)."""

    RESOLVED = "resolved"
    HANDED_OVER = "handed_over"
    HUNG_UP = "hung_up"


@dataclass(frozen=True, slots=True)
class Say:
    """Play ``texts`` in order (approved answers and :class:`~hotline.bot.phrases_ru.Phrase` s).

    ``barge_in``: the caller's speech or a key may cut it short.  Report its
    end with ``playback_finished(say_id, now)``.
    """

    say_id: int
    texts: tuple[str, ...]
    barge_in: bool


@dataclass(frozen=True, slots=True)
class StopSaying:
    """Stop the playback of ``say_id`` now (barge-in, a key); no ``playback_finished`` is due."""

    say_id: int


@dataclass(frozen=True, slots=True)
class Listen:
    """Recognise the utterance that just started, with ``grammar`` (None: free recognition).

    Report it with ``utterance(listen_id, …)`` or ``recognition_failed(listen_id, …)``;
    with ``purpose`` QUESTION, match the transcript against the standard answers first.
    """

    listen_id: int
    purpose: ListenFor
    grammar: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class HandOver:
    """Pass the call to an operator (terminal): the topic's queue, its arrival time kept."""

    reason: HandOverReason
    transcript: tuple[str, ...]
    matched_id: str | None


@dataclass(frozen=True, slots=True)
class End:
    """The conversation is over without an operator (terminal)."""

    outcome: Outcome
    transcript: tuple[str, ...]
    matched_id: str | None


DialogueOutput = Say | StopSaying | Listen | HandOver | End


@dataclass(frozen=True, slots=True)
class DialogueConfig:
    """Timeouts and limits of one conversation."""

    silence_timeout_s: float = 8.0
    """How long the assistant waits for speech after it stopped talking."""
    max_utterance_s: float = 30.0
    """From the start of speech to its transcript; past it, recognition counts as failed."""
    max_turns: int = 8
    """Utterances per call (questions and replies); then an operator takes over."""
    max_silences: int = 1
    """Times the assistant asks again after silence before handing over."""
    max_unclear: int = 1
    """Times it asks to rephrase (or repeats «Ответ помог?») before handing over."""
    question_grammar: tuple[str, ...] | None = None
    """Recognise questions in grammar mode (tests with a foreign model); None: free speech."""
    confirmation_grammar: tuple[str, ...] | None = None
    """The grammar for «Ответ помог?» replies; None: :data:`~hotline.bot.phrases_ru.CONFIRMATION_GRAMMAR`."""

    def __post_init__(self) -> None:
        if not 1.0 <= self.silence_timeout_s <= 120.0:
            raise ConfigurationError("bot.silence_timeout_s", "must be in 1..120")
        if not 1.0 <= self.max_utterance_s <= 300.0:
            raise ConfigurationError("bot.max_utterance_s", "must be in 1..300")
        if not 1 <= self.max_turns <= 50:
            raise ConfigurationError("bot.max_turns", "must be in 1..50")
        if not 0 <= self.max_silences <= 5:
            raise ConfigurationError("bot.max_silences", "must be in 0..5")
        if not 0 <= self.max_unclear <= 5:
            raise ConfigurationError("bot.max_unclear", "must be in 0..5")
        for name, grammar in (
            ("bot.question_grammar", self.question_grammar),
            ("bot.confirmation_grammar", self.confirmation_grammar),
        ):
            if grammar is not None and not 1 <= len(grammar) <= 1000:
                raise ConfigurationError(name, "must hold 1..1000 phrases")
