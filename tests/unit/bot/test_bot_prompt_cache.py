"""The render-once prompt cache, driven by an in-process engine that writes real WAV files.

The engine below implements the SpeechSynthesizer port for real (it writes an
8 kHz mono 16-bit WAV whose length depends on the text); a gate lets a test
hold renderings in flight to check what concurrent callers see.  No timers,
no sleeps: ``asyncio.sleep(0)`` only hands control to ready tasks.
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.bot.norm_morph import Morphology
from hotline.bot.norm_split import SplitLimits
from hotline.bot.normalize import Normalizer
from hotline.bot.prompt_cache import PromptCache, SpeechChunk
from hotline.bot.tts import SpeechSynthesizer, SynthesisError
from hotline.core.errors import ConfigurationError

FRAMES = 8000
WAV_BYTES = 44 + 2 * FRAMES


class GatedEngine:
    """A SpeechSynthesizer that renders a one-second tone per text, optionally held by a gate."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failing: set[str] = set()
        self.closed = False

    @property
    def name(self) -> str:
        return "gated"

    @property
    def default_voice(self) -> str:
        return "v1"

    def identity(self, voice: str | None = None) -> str:
        return f"gated|voice={voice or 'v1'}"

    async def synthesize(
        self, text: str, voice: str | None = None, *, destination: Path | None = None
    ) -> Path:
        assert destination is not None
        self.calls.append((text, voice))
        await self.gate.wait()
        if text in self.failing:
            raise SynthesisError(self.name, f"cannot say {text!r}")
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(FRAMES))
        with wave.open(str(destination), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
        return destination

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(Morphology())


@pytest.fixture
def engine() -> GatedEngine:
    return GatedEngine()


@pytest.fixture
async def cache(
    tmp_path: Path, engine: GatedEngine, normalizer: Normalizer
) -> AsyncIterator[PromptCache]:
    cache = PromptCache(tmp_path / "tts", engine, normalizer=normalizer)
    yield cache
    await cache.aclose()


def test_the_engine_fits_the_port(engine: GatedEngine) -> None:
    port: SpeechSynthesizer = engine
    assert port.name == "gated"


async def test_a_text_is_rendered_once(cache: PromptCache, engine: GatedEngine) -> None:
    first = await cache.render("Звоните 122.")
    second = await cache.render("Звоните сто двадцать два.")
    assert first == second
    assert engine.calls == [("Звоните сто двадцать два.", None)]
    assert first.name == f"{cache.key_for('Звоните 122.')}.wav"
    assert first.stat().st_size == WAV_BYTES
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.failures) == (1, 1, 0)


async def test_voices_are_cached_apart(cache: PromptCache, engine: GatedEngine) -> None:
    one = await cache.render("Добрый день", "v1")
    two = await cache.render("Добрый день", "v2")
    assert one != two
    assert len(engine.calls) == 2


async def test_concurrent_requests_await_one_rendering(
    cache: PromptCache, engine: GatedEngine
) -> None:
    engine.gate.clear()
    waiters = [asyncio.create_task(cache.render("Оставайтесь на линии")) for _ in range(5)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(engine.calls) == 1
    engine.gate.set()
    paths = await asyncio.gather(*waiters)
    assert len(set(paths)) == 1
    assert len(engine.calls) == 1
    assert cache.stats.misses == 1


async def test_a_cancelled_waiter_does_not_cancel_the_rendering(
    cache: PromptCache, engine: GatedEngine
) -> None:
    engine.gate.clear()
    impatient = asyncio.create_task(cache.render("Ждите ответа"))
    patient = asyncio.create_task(cache.render("Ждите ответа"))
    for _ in range(3):
        await asyncio.sleep(0)
    impatient.cancel()
    engine.gate.set()
    path = await patient
    assert impatient.cancelled()
    assert path.exists()
    assert len(engine.calls) == 1


async def test_a_failure_is_not_cached_and_is_retried(
    cache: PromptCache, engine: GatedEngine
) -> None:
    engine.failing.add("Ошибка")
    with pytest.raises(SynthesisError, match="cannot say"):
        await cache.render("Ошибка")
    assert cache.stats.failures == 1
    assert list(cache.directory.iterdir()) == []
    engine.failing.clear()
    path = await cache.render("Ошибка")
    assert path.exists()
    assert len(engine.calls) == 2


async def test_blank_text_is_refused(cache: PromptCache, engine: GatedEngine) -> None:
    with pytest.raises(SynthesisError, match="empty"):
        await cache.render("  ")
    assert [chunk async for chunk in cache.stream(" \n ")] == []
    assert engine.calls == []


async def test_least_recently_used_files_are_evicted(tmp_path: Path, engine: GatedEngine) -> None:
    cache = PromptCache(tmp_path / "small", engine, max_bytes=2 * WAV_BYTES + 10)
    older = await cache.render("первый")
    newer = await cache.render("второй")
    os.utime(older, (1000.0, 1000.0))
    os.utime(newer, (2000.0, 2000.0))
    assert await cache.render("первый") == older
    third = await cache.render("третий")
    assert older.exists()
    assert not newer.exists()
    assert third.exists()
    assert cache.stats.evictions == 1
    await cache.aclose()


async def test_the_cache_survives_a_restart_and_cleans_temporaries(
    tmp_path: Path, normalizer: Normalizer
) -> None:
    directory = tmp_path / "tts"
    first_engine = GatedEngine()
    path = await PromptCache(directory, first_engine, normalizer=normalizer).render("Привет")
    (directory / ".abc.1234.tmp.wav").write_bytes(b"half a file")
    (directory / "..x.tmp.wav.99.raw.wav").write_bytes(b"raw")
    second_engine = GatedEngine()
    reopened = PromptCache(directory, second_engine, normalizer=normalizer)
    assert sorted(p.name for p in directory.iterdir()) == [path.name]
    assert await reopened.render("Привет") == path
    assert second_engine.calls == []


async def test_a_corrupt_file_is_rendered_again(cache: PromptCache, engine: GatedEngine) -> None:
    path = cache.path_for_key(cache.key_for("Справка"))
    path.write_bytes(b"RIFF....WAVEjunk")
    assert await cache.render("Справка") == path
    assert len(engine.calls) == 1
    assert path.stat().st_size == WAV_BYTES


async def test_stream_yields_chunks_in_order_first_one_first(
    tmp_path: Path, engine: GatedEngine, normalizer: Normalizer
) -> None:
    cache = PromptCache(
        tmp_path / "tts",
        engine,
        normalizer=normalizer,
        split_limits=SplitLimits(first_chunk_chars=20, max_chunk_chars=40),
        lookahead=1,
    )
    text = "Здравствуйте! Справку выдают за 5 дней. Возьмите паспорт. Спасибо за звонок."
    chunks: list[SpeechChunk] = []
    calls_seen: list[int] = []
    async for chunk in cache.stream(text):
        calls_seen.append(len(engine.calls))
        await asyncio.sleep(0)
        calls_seen.append(len(engine.calls))
        chunks.append(chunk)
    assert [c.text for c in chunks] == [
        "Здравствуйте!",
        "Справку выдают за пять дней.",
        "Возьмите паспорт. Спасибо за звонок.",
    ]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.last for c in chunks] == [False, False, True]
    assert engine.calls[0][0] == "Здравствуйте!"
    # The first chunk rendered alone; while each chunk "plays", the next one renders.
    assert calls_seen == [1, 2, 2, 3, 3, 3]
    assert len(engine.calls) == 3
    again = [chunk.path async for chunk in cache.stream(text)]
    assert again == [c.path for c in chunks]
    assert len(engine.calls) == 3
    await cache.aclose()


async def test_aclose_cancels_renderings_in_flight(cache: PromptCache, engine: GatedEngine) -> None:
    engine.gate.clear()
    waiter = asyncio.create_task(cache.render("Долгий ответ"))
    for _ in range(3):
        await asyncio.sleep(0)
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert list(cache.directory.iterdir()) == []


def test_bad_configuration_is_refused(tmp_path: Path, engine: GatedEngine) -> None:
    with pytest.raises(ConfigurationError):
        PromptCache(tmp_path, engine, max_bytes=0)
    with pytest.raises(ConfigurationError):
        PromptCache(tmp_path, engine, lookahead=-1)
    with pytest.raises(ValueError, match="not a cache key"):
        PromptCache(tmp_path, engine).path_for_key("../../etc/passwd")
