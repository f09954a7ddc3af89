"""Real Russian speech synthesis: espeak-ng and festival (festvox-ru) through sox, and the cache.

Audio is judged decoded (testing.md "Judging audio"): the WAV must be 8 kHz
mono 16-bit, last a plausible time for the sentence, carry speech energy (RMS
well above silence), not clip, and keep its energy in the telephone band.
Engines that are missing fail the test with the install command, never skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from hotline.bot.norm_morph import Morphology
from hotline.bot.normalize import Normalizer
from hotline.bot.prompt_cache import PromptCache
from hotline.bot.tts import (
    EngineLimits,
    EngineUnavailableError,
    FestivalSettings,
    SynthesisError,
    SynthesisTimeoutError,
)
from hotline.bot.tts_engines import EspeakNgSynthesizer, FestivalSynthesizer

pytestmark = pytest.mark.integration

INSTALL_HINT = "run 'bash scripts/system-deps.sh' as root (Debian packages espeak-ng, sox, festival, festvox-ru)"
SENTENCE = "Здравствуйте! Вы позвонили на горячую линию сто двадцать два."
ANSWER = (
    "Здравствуйте! Чтобы получить справку о составе семьи, обратитесь в МФЦ или на портал "
    "госуслуг. Возьмите с собой паспорт, СНИЛС и документы, подтверждающие родство. Справку "
    "выдают в течение 5 рабочих дней, приём ведётся Пн–Пт с 9:00 до 18:00. Если нужна помощь "
    "с записью на приём, оставайтесь на линии: оператор ответит вам. Телефон для справок: "
    "8 (800) 100-12-34. Спасибо за обращение!"
)


def _require(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            raise AssertionError(f"{program} is not installed: {INSTALL_HINT}")


def _samples(path: Path) -> tuple[npt.NDArray[np.float64], int, int, int]:
    with wave.open(str(path), "rb") as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, rate, channels, width


def _assert_speech(path: Path, min_s: float = 1.0, max_s: float = 10.0) -> float:
    samples, rate, channels, width = _samples(path)
    assert (rate, channels, width) == (8000, 1, 2)
    duration = len(samples) / rate
    assert min_s <= duration <= max_s, duration
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms > 0.02, f"RMS {rms:.4f}: silence"
    peak = float(np.max(np.abs(samples)))
    assert 0.5 < peak < 0.999, f"peak {peak:.3f}: not normalised to -3 dBFS or clipped"
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    voice_band = spectrum[(freqs >= 150) & (freqs <= 3400)].sum()
    assert voice_band / spectrum.sum() > 0.7
    return duration


def _child_processes(name: str) -> list[int]:
    """Our child processes whose command name is ``name`` (from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid() and command == name:
            children.append(int(entry))
    return children


def _files(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer(Morphology())


@pytest.fixture
def espeak(tmp_path: Path) -> EspeakNgSynthesizer:
    _require("espeak-ng", "sox")
    return EspeakNgSynthesizer(work_dir=tmp_path / "scratch")


@pytest.fixture
async def festival(tmp_path: Path) -> AsyncIterator[FestivalSynthesizer]:
    _require("festival", "text2wave", "sox")
    synthesizer = FestivalSynthesizer(work_dir=tmp_path / "scratch")
    try:
        yield synthesizer
    finally:
        await synthesizer.aclose()
    assert _child_processes("festival") == []


async def test_espeak_renders_a_russian_sentence(espeak: EspeakNgSynthesizer) -> None:
    path = await espeak.synthesize(SENTENCE)
    duration = _assert_speech(path)
    assert 2.0 < duration < 8.0
    assert (espeak.renders, espeak.processes_started) == (1, 2)


async def test_espeak_voice_variant_and_unknown_voice(espeak: EspeakNgSynthesizer) -> None:
    _assert_speech(await espeak.synthesize(SENTENCE, "ru+f3"))
    with pytest.raises(SynthesisError, match="exited with"):
        await espeak.synthesize(SENTENCE, "zz")


async def test_festival_renders_a_russian_sentence(festival: FestivalSynthesizer) -> None:
    path = await festival.synthesize(SENTENCE)
    _assert_speech(path)
    again = await festival.synthesize("Оставайтесь на линии.")
    _assert_speech(again, min_s=0.5)
    assert festival.workers_started == 1
    assert len(_child_processes("festival")) == 1


async def test_festival_one_shot_mode_and_awkward_punctuation(tmp_path: Path) -> None:
    _require("text2wave", "sox")
    one_shot = FestivalSynthesizer(FestivalSettings(persistent_workers=False), work_dir=tmp_path)
    path = await one_shot.synthesize("Вопрос: «да» или нет — решайте… сто %.")
    _assert_speech(path)
    assert _child_processes("festival") == []


async def test_festival_reports_a_missing_voice(festival: FestivalSynthesizer) -> None:
    with pytest.raises(EngineUnavailableError, match="festvox-ru"):
        await festival.synthesize(SENTENCE, "no_such_voice")
    _assert_speech(await festival.synthesize(SENTENCE))


async def test_cancelling_a_festival_rendering_kills_its_worker(
    festival: FestivalSynthesizer,
) -> None:
    await festival.warm_up()
    task = asyncio.create_task(festival.synthesize(ANSWER * 3))
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done
    assert festival.renders == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _child_processes("festival") == []
    _assert_speech(await festival.synthesize(SENTENCE))
    assert festival.workers_started == 2


async def test_a_timeout_kills_the_engine(tmp_path: Path) -> None:
    _require("espeak-ng", "sox")
    slow = EspeakNgSynthesizer(limits=EngineLimits(timeout_s=0.001), work_dir=tmp_path)
    with pytest.raises(SynthesisTimeoutError, match="killed"):
        await slow.synthesize(ANSWER * 10)
    assert _child_processes("espeak-ng") == []
    assert _files(tmp_path) == []


async def test_cache_hits_start_no_process_and_concurrent_requests_render_once(
    tmp_path: Path, espeak: EspeakNgSynthesizer, normalizer: Normalizer
) -> None:
    cache = PromptCache(tmp_path / "cache", espeak, normalizer=normalizer)
    paths = await asyncio.gather(*(cache.render(SENTENCE) for _ in range(8)))
    assert len(set(paths)) == 1
    assert (espeak.renders, espeak.processes_started) == (1, 2)
    _assert_speech(paths[0])
    assert await cache.render("Здравствуйте! Вы позвонили на горячую линию 122.") == paths[0]
    assert espeak.processes_started == 2
    restarted = PromptCache(tmp_path / "cache", espeak, normalizer=normalizer)
    assert await restarted.render(SENTENCE) == paths[0]
    assert espeak.processes_started == 2


async def test_cache_eviction_with_real_renderings(
    tmp_path: Path, espeak: EspeakNgSynthesizer
) -> None:
    probe = await espeak.synthesize("Проверка связи.")
    size = probe.stat().st_size
    cache = PromptCache(tmp_path / "cache", espeak, max_bytes=int(size * 4))
    rendered = [await cache.render(f"Проверка связи номер {word}.") for word in ("один", "два")]
    os.utime(rendered[0], (1000.0, 1000.0))
    for word in ("три", "четыре", "пять"):
        await cache.render(f"Проверка связи номер {word}.")
    assert not rendered[0].exists()
    assert cache.stats.evictions >= 1
    total = sum(p.stat().st_size for p in (tmp_path / "cache").iterdir())
    assert total <= size * 4


async def _stream_chunks(cache: PromptCache) -> list[str]:
    """Stream ANSWER; every chunk is real speech; returns the chunks' texts in order."""
    texts = []
    async for chunk in cache.stream(ANSWER):
        _assert_speech(chunk.path, min_s=0.3, max_s=30.0)
        texts.append(chunk.text)
    return texts


# Time to first audio is measured by bench/bot/bench_first_audio.py (docs/benchmarks.md), not
# asserted here: what makes it short is that the first chunk is rendered alone.
async def test_a_long_answer_streams_first_sentence_first_with_espeak(
    tmp_path: Path, espeak: EspeakNgSynthesizer, normalizer: Normalizer
) -> None:
    assert 350 <= len(ANSWER) <= 450
    cache = PromptCache(tmp_path / "cache", espeak, normalizer=normalizer)
    texts = await _stream_chunks(cache)
    assert len(texts) >= 3
    assert len(texts[0]) < len(ANSWER) / 3  # the first chunk is one short sentence or clause


async def test_a_long_answer_streams_first_sentence_first_with_warm_festival(
    tmp_path: Path, festival: FestivalSynthesizer, normalizer: Normalizer
) -> None:
    await festival.warm_up(2)
    cache = PromptCache(tmp_path / "cache", festival, normalizer=normalizer)
    texts = await _stream_chunks(cache)
    assert len(texts) >= 3
    assert len(texts[0]) < len(ANSWER) / 3
    await cache.aclose()
