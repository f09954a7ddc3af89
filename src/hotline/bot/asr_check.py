"""Check an installed speech recognition model: ``python -m hotline.bot.asr_check DIR [--wav F]``.

For administrators (docs/asr.md): the same adapter the voice assistant uses
loads the model from ``DIR`` (default: ``HOTLINE_ASR_MODEL_DIR``), reports
whether it takes a grammar and knows ``[unk]``, and, given a WAV file
(8 kHz mono 16-bit, e.g. ``sox in.wav -r 8000 -c 1 -b 16 out.wav``), streams it
in 20 ms frames and writes the transcript (with ``--grammar``, restricted to
those comma-separated phrases).  Exit status 0 when the model works, 1 when it
does not (the reason is written), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hotline.bot.asr_vosk import VoskRecognizer, model_supports_grammar
from hotline.bot.ports import FRAME_BYTES, SAMPLE_RATE_HZ, RecognizerUnavailableError

__all__ = ["ModelReport", "check_model", "main"]

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


def _read_wav(path: Path) -> bytes:
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


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m hotline.bot.asr_check", description=__doc__)
    parser.add_argument("model_dir", nargs="?", type=Path, help="default: HOTLINE_ASR_MODEL_DIR")
    parser.add_argument("--wav", type=Path, help="8 kHz mono 16-bit WAV to recognise")
    parser.add_argument("--grammar", help="comma-separated phrases, e.g. 'оператор,да,нет'")
    args = parser.parse_args(argv)
    model_dir: Path | None = args.model_dir
    if model_dir is None and os.environ.get("HOTLINE_ASR_MODEL_DIR"):
        model_dir = Path(os.environ["HOTLINE_ASR_MODEL_DIR"])
    pcm = None
    if args.wav is not None:
        try:
            pcm = _read_wav(args.wav)
        except (OSError, EOFError, ValueError, wave.Error) as exc:
            sys.stderr.write(f"cannot use {args.wav}: {exc}\n")
            return 2
    grammar = [p for p in args.grammar.split(",") if p.strip()] if args.grammar else None
    report = asyncio.run(check_model(model_dir, pcm, grammar))
    if not report.usable:
        sys.stdout.write(f"NOT USABLE: {report.problem}\n")
        return 1
    sys.stdout.write(
        f"OK: model {report.model_dir} loaded in {report.load_s:.1f} s; "
        f"grammar mode {'supported' if report.grammar else 'not supported (static graph)'}\n"
    )
    if report.transcript is not None:
        confidence = "n/a" if report.confidence is None else f"{report.confidence:.2f}"
        sys.stdout.write(f"transcript: {report.transcript!r} (confidence {confidence})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
