"""Speech synthesis port: what an engine promises, its settings, its errors (no I/O here).

An engine turns (already normalised) Russian text into a WAV file the media
layer plays to a caller: 8 kHz, mono, 16-bit signed PCM
(:data:`TELEPHONY_RATE_HZ`).  Engines are adapters in
:mod:`hotline.bot.tts_engines` (espeak-ng, festival), chosen by
:class:`EngineName`; :mod:`hotline.bot.prompt_cache` renders each text once.

The identity of a rendering (engine, voice, every setting that changes the
sound) is a string each engine builds; :func:`cache_key` hashes it with the
text, so a changed setting never plays an old file.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from hotline.core.errors import ConfigurationError, HotlineError

__all__ = [
    "CACHE_FORMAT_VERSION",
    "TELEPHONY_BITS_PER_SAMPLE",
    "TELEPHONY_CHANNELS",
    "TELEPHONY_RATE_HZ",
    "EngineLimits",
    "EngineName",
    "EngineUnavailableError",
    "EspeakSettings",
    "FestivalSettings",
    "SpeechSynthesizer",
    "SynthesisError",
    "SynthesisTimeoutError",
    "cache_key",
    "check_espeak_voice",
    "check_festival_voice",
]

TELEPHONY_RATE_HZ: Final = 8000
TELEPHONY_CHANNELS: Final = 1
TELEPHONY_BITS_PER_SAMPLE: Final = 16
CACHE_FORMAT_VERSION: Final = 1
"""Bump when the rendering pipeline changes, so that cached files are rendered again."""

_ESPEAK_VOICE_RE: Final = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*(?:\+[a-z0-9]{1,16})?")
_FESTIVAL_VOICE_RE: Final = re.compile(r"[a-z0-9_]{1,64}")


class EngineName(enum.StrEnum):
    """The speech engines Hotline can run, by the name used in settings."""

    ESPEAK_NG = "espeak-ng"
    FESTIVAL = "festival"


class SynthesisError(HotlineError):
    """An engine failed to render a text; ``engine`` names it."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(f"{engine}: {message}")
        self.engine = engine


class EngineUnavailableError(SynthesisError):
    """The engine (or a tool it needs) is not installed; ``install_hint`` says how to fix it."""

    def __init__(self, engine: str, missing: str, install_hint: str) -> None:
        super().__init__(engine, f"{missing} is not available; {install_hint}")
        self.missing = missing
        self.install_hint = install_hint


class SynthesisTimeoutError(SynthesisError):
    """The engine did not finish within its time limit (its process was killed)."""


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Bounds on one engine adapter."""

    timeout_s: float = 30.0
    """Per process run (synthesis, conversion); the process is killed past it."""
    max_concurrency: int = 2
    """Renderings at once (one CPU core each)."""
    max_text_chars: int = 5000
    """Longer texts are refused; stream long answers in chunks instead."""

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 600:
            raise ConfigurationError("tts.timeout_s", "must be in (0, 600]")
        if not 1 <= self.max_concurrency <= 64:
            raise ConfigurationError("tts.max_concurrency", "must be in 1..64")
        if not 1 <= self.max_text_chars <= 100_000:
            raise ConfigurationError("tts.max_text_chars", "must be in 1..100000")


@dataclass(frozen=True, slots=True)
class EspeakSettings:
    """espeak-ng options (``espeak-ng --help``); ``voice`` is a voice name or ``name+variant``."""

    voice: str = "ru"
    rate_wpm: int = 150
    pitch: int = 50
    amplitude: int = 100
    word_gap_10ms: int = 0
    peak_dbfs: float = -3.0
    """Output peak level after conversion (sox ``gain -n``)."""

    def __post_init__(self) -> None:
        check_espeak_voice(self.voice)
        if not 80 <= self.rate_wpm <= 450:
            raise ConfigurationError("tts.espeak.rate_wpm", "must be in 80..450")
        if not 0 <= self.pitch <= 99:
            raise ConfigurationError("tts.espeak.pitch", "must be in 0..99")
        if not 0 <= self.amplitude <= 200:
            raise ConfigurationError("tts.espeak.amplitude", "must be in 0..200")
        if not 0 <= self.word_gap_10ms <= 100:
            raise ConfigurationError("tts.espeak.word_gap_10ms", "must be in 0..100")
        _check_peak(self.peak_dbfs)


@dataclass(frozen=True, slots=True)
class FestivalSettings:
    """festival options; ``voice`` is a festival voice (festvox-ru: ``msu_ru_nsh_clunits``)."""

    voice: str = "msu_ru_nsh_clunits"
    duration_stretch: float = 1.0
    """Above 1 speaks slower, below 1 faster (festival ``Duration_Stretch``)."""
    peak_dbfs: float = -3.0
    persistent_workers: bool = True
    """Keep ``festival --pipe`` processes with the voice loaded between renderings."""

    def __post_init__(self) -> None:
        check_festival_voice(self.voice)
        if not 0.5 <= self.duration_stretch <= 2.0:
            raise ConfigurationError("tts.festival.duration_stretch", "must be in 0.5..2.0")
        _check_peak(self.peak_dbfs)


def _check_peak(peak_dbfs: float) -> None:
    if not -30.0 <= peak_dbfs <= 0.0:
        raise ConfigurationError("tts.peak_dbfs", "must be in -30..0 dBFS")


def check_espeak_voice(voice: str) -> str:
    """``voice`` if it is a well-formed espeak-ng voice name (``ru``, ``ru+f3``), else an error."""
    if not _ESPEAK_VOICE_RE.fullmatch(voice):
        raise ConfigurationError("tts.voice", f"{voice!r} is not an espeak-ng voice name")
    return voice


def check_festival_voice(voice: str) -> str:
    """``voice`` if it is a well-formed festival voice name (letters, digits, ``_``), else an error."""
    if not _FESTIVAL_VOICE_RE.fullmatch(voice):
        raise ConfigurationError("tts.voice", f"{voice!r} is not a festival voice name")
    return voice


def cache_key(identity: str, text: str) -> str:
    """sha256 (hex) of the rendering identity and the normalised text."""
    payload = json.dumps([CACHE_FORMAT_VERSION, identity, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class SpeechSynthesizer(Protocol):
    """A local speech engine that renders text to an 8 kHz mono 16-bit PCM WAV file."""

    @property
    def name(self) -> str:
        """The engine's name (an :class:`EngineName` value)."""
        ...

    @property
    def default_voice(self) -> str:
        """The voice used when ``synthesize`` gets none."""
        ...

    def identity(self, voice: str | None = None) -> str:
        """Engine, voice and every sound-changing setting, as a stable string for cache keys."""
        ...

    async def synthesize(
        self, text: str, voice: str | None = None, *, destination: Path | None = None
    ) -> Path:
        """Render ``text`` and return the WAV's path.

        With ``destination`` the file is written there (its directory must
        exist); without, into the engine's scratch directory, and the caller
        owns (and deletes) the file.  Raises :class:`SynthesisError` (or a
        subclass) on failure and ``LimitExceededError`` for a text longer than
        the engine's ``max_text_chars``.
        """
        ...

    async def aclose(self) -> None:
        """Stop whatever the engine keeps running between renderings (worker processes)."""
        ...
