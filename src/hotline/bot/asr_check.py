"""Check an installed speech recognition model (``hotline asr check``, docs/asr.md).

The same adapter the voice assistant uses loads the model, reports whether it
takes a grammar, and, given 8 kHz mono 16-bit audio, streams it in 20 ms
frames and returns the transcript (restricted to grammar phrases if given).
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hotline.bot.asr_vosk import VoskRecognizer, model_supports_grammar
from hotline.bot.ports import FRAME_BYTES, SAMPLE_RATE_HZ, RecognizerUnavailableError

__all__ = ["ModelReport", "check_model", "read_wav"]

_MAX_WAV_SECONDS = 60


@dataclass(frozen=True, slots=True)
class ModelReport:
    """What the check found."""

    model_dir: Path | None
    usable: bool
    problem: str | None = None
    load_s: float = 0.0
    grammar: bool = False
    transcript: str | None = None
    confidence: float | None = None


def read_wav(path: Path) -> bytes:
    """The PCM of an 8 kHz mono 16-bit WAV of at most a minute, in whole 20 ms frames."""
    with wave.open(str(path), "rb") as wav:
        layout = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if layout != (SAMPLE_RATE_HZ, 1, 2):
            raise ValueError(
                f"{path} is {layout[0]} Hz, {layout[1]} channel(s), {8 * layout[2]}-bit: "
                "convert it with `sox IN -r 8000 -c 1 -b 16 OUT.wav`"
            )
        if wav.getnframes() > _MAX_WAV_SECONDS * SAMPLE_RATE_HZ:
            raise ValueError(f"{path} is longer than {_MAX_WAV_SECONDS} s")
        pcm = wav.readframes(wav.getnframes())
    return pcm[: len(pcm) // FRAME_BYTES * FRAME_BYTES]


async def check_model(
    model_dir: Path | None, pcm: bytes | None = None, grammar: Sequence[str] | None = None
) -> ModelReport:
    """Load the model the way the assistant does and, given audio, recognise it."""
    recognizer = VoskRecognizer(model_dir)
    try:
        clock = asyncio.get_running_loop().time
        started = clock()
        if not await recognizer.start():
            return ModelReport(model_dir, usable=False, problem=recognizer.problem)
        load_s = clock() - started
        takes_grammar = model_dir is not None and model_supports_grammar(model_dir)
        if pcm is None:
            return ModelReport(model_dir, usable=True, load_s=load_s, grammar=takes_grammar)
        session = await recognizer.open(grammar)
        try:
            for offset in range(0, len(pcm), FRAME_BYTES):
                await session.accept(pcm[offset : offset + FRAME_BYTES])
            result = await session.finish()
        finally:
            await session.close()
        return ModelReport(
            model_dir,
            usable=True,
            load_s=load_s,
            grammar=takes_grammar,
            transcript=result.text,
            confidence=result.confidence,
        )
    except RecognizerUnavailableError as exc:
        return ModelReport(model_dir, usable=False, problem=str(exc))
    finally:
        await recognizer.aclose()
