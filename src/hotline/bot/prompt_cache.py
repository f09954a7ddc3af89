"""Rendered speech on disk (L3): each text is rendered once, kept by hash, streamed in chunks.

:class:`PromptCache` sits between whoever needs speech (the demo flow's
prompts, the voice assistant's answers) and a :class:`SpeechSynthesizer`:

* the text is normalised (:class:`hotline.bot.normalize.Normalizer`), then
  keyed by sha256 of the engine's identity (engine, voice, settings) and the
  normalised text (:func:`hotline.bot.tts.cache_key`); the file is
  ``<key>.wav`` in the cache directory, so the cache survives restarts;
* concurrent requests for the same key await one rendering (one task per key,
  owned by the cache; a waiter that is cancelled does not cancel it);
* files are written to a temporary name in the same directory and renamed
  into place (atomic on POSIX), so a reader never sees half a file and a
  crash leaves only temporary files, removed when the cache opens;
* the directory is bounded in bytes: after each new file, the least recently
  used files (oldest modification time; a hit touches its file) are deleted
  until the total fits;
* :meth:`PromptCache.stream` splits a long text into chunks
  (:func:`hotline.bot.norm_split.split_for_speech`), renders the first one
  alone (it has the CPU to itself: the caller is waiting for it), then keeps
  the next ``lookahead`` ones rendering in the background while the earlier
  ones play, and yields each chunk's file in order as soon as it is ready.

One process owns a cache directory (temporary files of another process in it
would be removed on open).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hotline.bot.norm_split import SplitLimits, split_for_speech
from hotline.bot.normalize import Normalizer
from hotline.bot.tts import SpeechSynthesizer, SynthesisError, cache_key
from hotline.bot.tts_engines import read_telephony_wav_layout
from hotline.core.errors import ConfigurationError

__all__ = ["CacheStats", "PromptCache", "SpeechChunk"]

_SUFFIX: Final = ".wav"
_TEMP_MARKERS: Final = (".tmp.wav", ".raw.wav")
_KEY_CHARS: Final = 64


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """One rendered piece of a streamed text, in speaking order."""

    index: int
    text: str
    """The normalised text of this chunk."""
    path: Path
    last: bool


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was opened."""

    hits: int
    misses: int
    evictions: int
    failures: int


class PromptCache:
    """Render-once speech files in ``directory``, bounded to ``max_bytes``."""

    def __init__(
        self,
        directory: Path,
        synthesizer: SpeechSynthesizer,
        *,
        normalizer: Normalizer | None = None,
        max_bytes: int = 256 * 1024 * 1024,
        split_limits: SplitLimits | None = None,
        lookahead: int = 2,
    ) -> None:
        if max_bytes <= 0:
            raise ConfigurationError("tts.cache_max_bytes", "must be positive")
        if not 0 <= lookahead <= 16:
            raise ConfigurationError("tts.stream_lookahead", "must be in 0..16")
        self._directory = directory
        self._synthesizer = synthesizer
        self._normalizer = normalizer
        self._max_bytes = max_bytes
        self._split_limits = split_limits if split_limits is not None else SplitLimits()
        self._lookahead = lookahead
        self._inflight: dict[str, asyncio.Task[Path]] = {}
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._failures = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._remove_temporaries()

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def synthesizer(self) -> SpeechSynthesizer:
        return self._synthesizer

    @property
    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses, self._evictions, self._failures)

    def normalize(self, text: str) -> str:
        """The text as the engine will get it."""
        return text if self._normalizer is None else self._normalizer.normalize(text)

    def key_for(self, text: str, voice: str | None = None) -> str:
        """The cache key of ``text`` (normalised here) in ``voice``."""
        return cache_key(self._synthesizer.identity(voice), self.normalize(text).strip())

    def path_for_key(self, key: str) -> Path:
        """Where the rendering of ``key`` lives (whether or not it exists yet)."""
        if len(key) != _KEY_CHARS or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self._directory / f"{key}{_SUFFIX}"

    async def render(self, text: str, voice: str | None = None) -> Path:
        """The WAV of ``text``: from disk when rendered before, else rendered now (once)."""
        normalised = self.normalize(text).strip()
        if not normalised:
            raise SynthesisError(self._synthesizer.name, "nothing to say: the text is empty")
        return await asyncio.shield(self._ensure(normalised, voice))

    async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[SpeechChunk]:
        """Chunks of ``text`` in order, the first rendered first, the next ones ahead of need."""
        chunks = split_for_speech(self.normalize(text), self._split_limits)
        pending: dict[int, asyncio.Future[Path]] = {}
        for index, chunk in enumerate(chunks):
            future = pending.pop(index, None)
            if future is None:
                future = self._ensure(chunk, voice)
            path = await asyncio.shield(future)
            # The first chunk rendered alone (the caller was waiting for it); the next
            # ones render while this one plays.
            for ahead in range(index + 1, min(len(chunks), index + 1 + self._lookahead)):
                if ahead not in pending:
                    pending[ahead] = self._ensure(chunks[ahead], voice)
            yield SpeechChunk(index, chunk, path, last=index == len(chunks) - 1)

    async def aclose(self) -> None:
        """Cancel renderings in flight and wait for them to stop (their processes are killed)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _ensure(self, normalised: str, voice: str | None) -> asyncio.Future[Path]:
        """A future of the file for ``normalised``: done at once on a hit, else the shared task."""
        key = cache_key(self._synthesizer.identity(voice), normalised)
        inflight = self._inflight.get(key)
        if inflight is not None:
            return inflight
        path = self.path_for_key(key)
        if self._usable(path):
            self._hits += 1
            with contextlib.suppress(OSError):
                os.utime(path)
            done: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
            done.set_result(path)
            return done
        task = asyncio.create_task(self._produce(key, normalised, voice), name=f"tts-{key[:12]}")
        self._inflight[key] = task
        task.add_done_callback(lambda finished: self._finished(key, finished))
        return task

    def _finished(self, key: str, task: asyncio.Task[Path]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            self._failures += 1

    async def _produce(self, key: str, normalised: str, voice: str | None) -> Path:
        path = self.path_for_key(key)
        temporary = self._directory / f".{key}.{secrets.token_hex(4)}.tmp{_SUFFIX}"
        try:
            await self._synthesizer.synthesize(normalised, voice, destination=temporary)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        self._misses += 1
        self._evictions += await asyncio.to_thread(self._evict, path)
        return path

    def _usable(self, path: Path) -> bool:
        try:
            read_telephony_wav_layout(path, self._synthesizer.name)
        except SynthesisError:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return False
        return True

    def _evict(self, keep: Path) -> int:
        """Delete the least recently used files until the directory fits; returns how many."""
        entries: list[tuple[float, int, Path]] = []
        total = 0
        with os.scandir(self._directory) as scan:
            for entry in scan:
                if entry.name.startswith(".") or not entry.name.endswith(_SUFFIX):
                    continue
                try:
                    info = entry.stat()
                except OSError:
                    continue
                total += info.st_size
                entries.append((info.st_mtime, info.st_size, Path(entry.path)))
        removed = 0
        if total <= self._max_bytes:
            return removed
        for _mtime, size, path in sorted(entries, key=lambda item: (item[0], item[2].name)):
            if total <= self._max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
            removed += 1
        return removed

    def _remove_temporaries(self) -> None:
        for entry in self._directory.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(_TEMP_MARKERS):
                with contextlib.suppress(OSError):
                    entry.unlink()
