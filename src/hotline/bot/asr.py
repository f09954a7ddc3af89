"""Speech recognition, the engine-independent part: grammars, results, limits (L1, no I/O).

The Vosk adapter (:mod:`hotline.bot.asr_vosk`) runs the engine; what can be
decided without it lives here and is tested on plain strings:

* :func:`plan_grammar` turns the phrases a dialogue step expects (menu words
  such as «здравоохранение», «оператор») into the phrase list handed to the
  engine: normalised, de-duplicated, bounded, and stripped of phrases with a
  word the model does not know (the engine would silently drop such a word
  and recognise the rest of the phrase, or nothing).  With a grammar, Vosk
  decodes any sequence of the grammar's words; ``[unk]`` (when the model has
  it) absorbs everything else.
* :func:`parse_result` reads one Vosk JSON result (partial or final) into a
  :class:`~hotline.bot.ports.RecognitionResult`, dropping ``[unk]`` and
  averaging the per-word confidences.
* :class:`AsrConfig` holds the adapter's knobs with their limits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from hotline.bot.ports import FRAME_MS, RecognitionResult
from hotline.core.errors import ConfigurationError, LimitExceededError, RemoteProtocolError

__all__ = [
    "MAX_GRAMMAR_PHRASES",
    "MAX_PHRASE_CHARS",
    "MAX_RESULT_CHARS",
    "UNKNOWN_WORD",
    "AsrConfig",
    "GrammarPlan",
    "Transcript",
    "normalize_phrase",
    "parse_result",
    "plan_grammar",
]

UNKNOWN_WORD: Final = "[unk]"
MAX_GRAMMAR_PHRASES: Final = 500
MAX_PHRASE_CHARS: Final = 200
MAX_RESULT_CHARS: Final = 1 << 20
"""A Vosk result for one utterance (with per-word details) is far below 1 MiB."""
MAX_RESULT_WORDS: Final = 10_000

_SETTING_PREFIX: Final = "HOTLINE_BOT__"
_NOT_WORD_RE: Final = re.compile(r"[^\w'-]+|_")
_SPACES_RE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class AsrConfig:
    """Recogniser knobs (``HOTLINE_BOT__ASR_*``)."""

    max_sessions: int = 20  # concurrent recognition sessions; more → RecognizerUnavailableError
    workers: int | None = None  # executor threads; None: min(max_sessions, CPU count)
    batch_ms: int = 100  # audio gathered before one engine call (fewer thread hops)
    max_utterance_s: float = 60.0  # audio one session accepts before LimitExceededError
    words: bool = True  # ask the engine for per-word confidences

    def __post_init__(self) -> None:
        if not 1 <= self.max_sessions <= 1000:
            raise ConfigurationError(
                _SETTING_PREFIX + "ASR_MAX_SESSIONS", f"must be 1..1000 (got {self.max_sessions})"
            )
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise ConfigurationError(
                _SETTING_PREFIX + "ASR_WORKERS", f"must be 1..256 (got {self.workers})"
            )
        if not FRAME_MS <= self.batch_ms <= 1000 or self.batch_ms % FRAME_MS:
            raise ConfigurationError(
                _SETTING_PREFIX + "ASR_BATCH_MS",
                f"must be a multiple of {FRAME_MS} ms up to 1000 ms (got {self.batch_ms})",
            )
        if not (math.isfinite(self.max_utterance_s) and 1.0 <= self.max_utterance_s <= 600.0):
            raise ConfigurationError(
                _SETTING_PREFIX + "ASR_MAX_UTTERANCE_S",
                f"must be 1..600 seconds (got {self.max_utterance_s})",
            )


@dataclass(frozen=True, slots=True)
class GrammarPlan:
    """The phrases given to the engine, and those left out because of unknown words."""

    phrases: tuple[str, ...]
    dropped: tuple[str, ...]
    with_unknown: bool  # "[unk]" is appended (the model has it)

    def to_json(self) -> str:
        """The grammar as Vosk takes it: a JSON list of phrases."""
        items = [*self.phrases, UNKNOWN_WORD] if self.with_unknown else list(self.phrases)
        return json.dumps(items, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Transcript:
    """One parsed engine result: its words (without ``[unk]``) and their confidences."""

    words: tuple[str, ...]
    confidences: tuple[float, ...]  # empty when the engine gave none

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def to_result(self, *, final: bool) -> RecognitionResult:
        confidence = sum(self.confidences) / len(self.confidences) if self.confidences else None
        return RecognitionResult(text=self.text, final=final, confidence=confidence)

    def __add__(self, other: Transcript) -> Transcript:
        return Transcript(self.words + other.words, self.confidences + other.confidences)


def normalize_phrase(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: the form the models' lexicons use."""
    return _SPACES_RE.sub(" ", _NOT_WORD_RE.sub(" ", text.lower())).strip()


def plan_grammar(
    phrases: Iterable[str],
    is_known: Callable[[str], bool],
    *,
    with_unknown: bool,
) -> GrammarPlan:
    """The grammar for ``phrases``; ``is_known(word)`` says whether the model has a word.

    Raises LimitExceededError past :data:`MAX_GRAMMAR_PHRASES` phrases or
    :data:`MAX_PHRASE_CHARS` characters in one phrase, and RemoteProtocolError
    when no phrase is left to listen for.
    """
    kept: list[str] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for count, phrase in enumerate(phrases, start=1):
        if count > MAX_GRAMMAR_PHRASES:
            raise LimitExceededError(f"more than {MAX_GRAMMAR_PHRASES} grammar phrases")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise LimitExceededError(
                f"a grammar phrase of {len(phrase)} characters (limit {MAX_PHRASE_CHARS})"
            )
        normal = normalize_phrase(phrase)
        if not normal or normal in seen:
            continue
        seen.add(normal)
        if all(is_known(word) for word in normal.split(" ")):
            kept.append(normal)
        else:
            dropped.append(normal)
    if not kept:
        raise RemoteProtocolError(
            "no grammar phrase is left: every word is unknown to the model"
            if dropped
            else "the grammar is empty"
        )
    return GrammarPlan(tuple(kept), tuple(dropped), with_unknown)


def parse_result(raw: str, *, partial: bool = False) -> Transcript:
    """One Vosk JSON result: ``{"text": ..., "result": [{"word", "conf"}...]}``, or partial.

    Raises RemoteProtocolError on malformed JSON or an unexpected shape, and
    LimitExceededError past :data:`MAX_RESULT_CHARS` / :data:`MAX_RESULT_WORDS`.
    """
    if len(raw) > MAX_RESULT_CHARS:
        raise LimitExceededError(f"a recognition result of {len(raw)} characters")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise RemoteProtocolError("the recogniser returned malformed JSON") from None
    if not isinstance(data, dict):
        raise RemoteProtocolError("a recognition result must be a JSON object")
    text = data.get("partial" if partial else "text", "")
    if not isinstance(text, str):
        raise RemoteProtocolError("the recognised text must be a string")
    details = data.get("result")
    if partial or details is None:
        return Transcript(_words(text.split()), ())
    if not isinstance(details, list):
        raise RemoteProtocolError("the word details must be a list")
    return _from_details(details)


def _words(tokens: Sequence[str]) -> tuple[str, ...]:
    if len(tokens) > MAX_RESULT_WORDS:
        raise LimitExceededError(f"a recognition result of {len(tokens)} words")
    return tuple(t for t in tokens if t != UNKNOWN_WORD)


def _from_details(details: list[object]) -> Transcript:
    if len(details) > MAX_RESULT_WORDS:
        raise LimitExceededError(f"a recognition result of {len(details)} words")
    words: list[str] = []
    confidences: list[float] = []
    for item in details:
        if not isinstance(item, dict):
            raise RemoteProtocolError("a word detail must be a JSON object")
        word, conf = item.get("word"), item.get("conf")
        if not isinstance(word, str) or not isinstance(conf, int | float):
            raise RemoteProtocolError("a word detail needs a string word and a numeric conf")
        if word == UNKNOWN_WORD:
            continue
        if not (math.isfinite(conf) and 0.0 <= conf <= 1.0):
            raise RemoteProtocolError(f"a word confidence must be in [0, 1] (got {conf!r})")
        words.append(word)
        confidences.append(float(conf))
    return Transcript(tuple(words), tuple(confidences))
