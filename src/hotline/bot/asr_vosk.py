"""Vosk (Kaldi) speech recognition adapter (L3): streaming 8 kHz sessions off the event loop.

:class:`VoskRecognizer` implements :class:`~hotline.bot.ports.SpeechRecognizer`
over a model directory from settings (``HOTLINE_ASR_MODEL_DIR``; docs/asr.md
says how an administrator installs a Russian model):

* The directory is checked when the adapter is built (acoustic model, feature
  configuration, decoding graph); a missing or incomplete model makes
  :attr:`VoskRecognizer.available` False and :meth:`VoskRecognizer.open` raise
  :class:`~hotline.bot.ports.RecognizerUnavailableError`, so the dialogue can
  say so and hand the call to an operator.  Nothing here crashes the process.
* The model is loaded once, on :meth:`VoskRecognizer.start` or the first
  :meth:`VoskRecognizer.open`, in a worker thread; a model that fails to load
  makes the adapter unavailable from then on.
* Every engine call (model load, recogniser creation with its grammar,
  ``AcceptWaveform``, results) runs in a bounded
  :class:`~concurrent.futures.ThreadPoolExecutor` owned by the adapter.  Vosk's
  C API is called through cffi, which releases the GIL, so sessions decode on
  all cores.  At most ``max_sessions`` sessions are open at once; one more is
  refused with RecognizerUnavailableError (the caller hands over).
* A session buffers the 20 ms frames it is fed and calls the engine once per
  ``batch_ms`` of audio; the engine's calls on one session never overlap, even
  when an awaiting task is cancelled (the next call waits for the running one).
* Grammar mode: ``open(grammar=[...])`` restricts recognition to the phrases'
  words (plus ``[unk]`` when the model has it), after
  :func:`~hotline.bot.asr.plan_grammar` has removed phrases with words the model
  lacks.  Models with a static graph (``HCLG.fst`` only: the big server models)
  cannot take a grammar; the session then recognises freely and says so in
  :attr:`VoskSession.grammar` (None) and in the log.

Vosk's own logging goes to standard error; the adapter lowers it to errors
only (``SetLogLevel(-2)``: Kaldi's warnings such as words missing from a
grammar are reported through our log instead).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar, cast

import structlog

from hotline.bot.asr import AsrConfig, GrammarPlan, Transcript, parse_result, plan_grammar
from hotline.bot.ports import (
    SAMPLE_RATE_HZ,
    RecognitionResult,
    RecognizerUnavailableError,
)
from hotline.core.errors import LimitExceededError, RemoteProtocolError

__all__ = [
    "MAX_ACCEPT_BYTES",
    "VOSK_LOG_LEVEL",
    "VoskRecognizer",
    "VoskSession",
    "model_problem",
    "model_supports_grammar",
]

log = structlog.get_logger("hotline.bot.asr")

VOSK_LOG_LEVEL: Final = -2
"""Kaldi's verbosity: -2 keeps errors, drops warnings (-1) and progress lines (0)."""
MAX_ACCEPT_BYTES: Final = 10 * SAMPLE_RATE_HZ * 2
"""At most 10 s of audio in one :meth:`VoskSession.accept` call."""
_BYTES_PER_MS: Final = SAMPLE_RATE_HZ * 2 // 1000

_T = TypeVar("_T")


class _Model(Protocol):
    def vosk_model_find_word(self, word: str) -> int: ...


class _Recognizer(Protocol):
    """The part of vosk.KaldiRecognizer we call (its own method names)."""

    def SetWords(self, enable_words: bool) -> None: ...

    def AcceptWaveform(self, data: bytes) -> int: ...

    def Result(self) -> str: ...

    def PartialResult(self) -> str: ...

    def FinalResult(self) -> str: ...


_RecognizerFactory = Callable[..., _Recognizer]


@dataclass(frozen=True, slots=True)
class _Loaded:
    model: _Model
    new_recognizer: _RecognizerFactory
    has_unknown: bool
    grammar_ok: bool


def _first_file(root: Path, *candidates: str) -> Path | None:
    for candidate in candidates:
        path = root / candidate
        if path.is_file():
            return path
    return None


def model_problem(model_dir: Path | None) -> str | None:
    """Why ``model_dir`` cannot be a Vosk model (None when its layout looks complete)."""
    if model_dir is None:
        return "no speech recognition model is configured (HOTLINE_ASR_MODEL_DIR)"
    try:
        if not model_dir.is_dir():
            return f"the model directory {model_dir} does not exist"
        missing = [
            what
            for what, names in (
                ("the acoustic model (am/final.mdl)", ("am/final.mdl", "final.mdl")),
                ("the feature configuration (conf/mfcc.conf)", ("conf/mfcc.conf", "mfcc.conf")),
                (
                    "a decoding graph (graph/HCLG.fst or graph/HCLr.fst)",
                    ("graph/HCLG.fst", "HCLG.fst", "graph/HCLr.fst", "HCLr.fst"),
                ),
            )
            if _first_file(model_dir, *names) is None
        ]
    except OSError as exc:
        return f"the model directory {model_dir} cannot be read: {exc.strerror}"
    if missing:
        return f"{model_dir} is not a Vosk model: {', '.join(missing)} missing"
    return None


def model_supports_grammar(model_dir: Path) -> bool:
    """True for a model with a dynamic graph (HCLr.fst + Gr.fst), which takes a grammar."""
    return (
        _first_file(model_dir, "graph/HCLr.fst", "HCLr.fst") is not None
        and _first_file(model_dir, "graph/Gr.fst", "Gr.fst") is not None
    )


def _load(model_dir: Path) -> _Loaded:
    """Load the model (worker thread)."""
    import vosk  # type: ignore[import-untyped]

    vosk.SetLogLevel(VOSK_LOG_LEVEL)
    model = cast(_Model, vosk.Model(str(model_dir)))
    return _Loaded(
        model=model,
        new_recognizer=cast(_RecognizerFactory, vosk.KaldiRecognizer),
        has_unknown=model.vosk_model_find_word("[unk]") >= 0,
        grammar_ok=model_supports_grammar(model_dir),
    )


def _new_session_engine(
    loaded: _Loaded, grammar: Sequence[str] | None, words: bool
) -> tuple[_Recognizer, GrammarPlan | None]:
    """A recogniser, restricted to ``grammar`` when the model can (worker thread)."""
    plan: GrammarPlan | None = None
    if grammar is not None and not loaded.grammar_ok:
        log.warning("asr.grammar_unsupported", reason="the model has a static graph")
    elif grammar is not None:
        try:
            plan = plan_grammar(
                grammar,
                lambda word: loaded.model.vosk_model_find_word(word) >= 0,
                with_unknown=loaded.has_unknown,
            )
        except RemoteProtocolError as exc:
            log.warning("asr.grammar_unusable", reason=str(exc), phrases=list(grammar)[:20])
        else:
            if plan.dropped:
                log.warning("asr.grammar_unknown_words", dropped=list(plan.dropped))
    if plan is None:
        recognizer = loaded.new_recognizer(loaded.model, SAMPLE_RATE_HZ)
    else:
        recognizer = loaded.new_recognizer(loaded.model, SAMPLE_RATE_HZ, plan.to_json())
    recognizer.SetWords(words)
    return recognizer, plan


def _accept(recognizer: _Recognizer, chunk: bytes) -> tuple[bool, str]:
    """Feed audio; (True, final result) at an engine endpoint, else (False, partial)."""
    if recognizer.AcceptWaveform(chunk):
        return True, recognizer.Result()
    return False, recognizer.PartialResult()


def _finish(recognizer: _Recognizer, chunk: bytes) -> list[str]:
    """Feed the last audio and close the utterance: the final results, in order."""
    results = []
    if chunk and recognizer.AcceptWaveform(chunk):
        results.append(recognizer.Result())
    results.append(recognizer.FinalResult())
    return results


class VoskRecognizer:
    """A :class:`~hotline.bot.ports.SpeechRecognizer` over one Vosk model directory."""

    def __init__(self, model_dir: Path | None, config: AsrConfig | None = None) -> None:
        self._model_dir = model_dir
        self._config = config if config is not None else AsrConfig()
        self._problem = model_problem(model_dir)
        self._loaded: _Loaded | None = None
        self._load_lock = asyncio.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._active = 0
        self._closed = False
        if self._problem is not None:
            log.warning("asr.unavailable", reason=self._problem)

    @property
    def available(self) -> bool:
        """False when no model is installed, it failed to load, or the adapter is closed."""
        return self._problem is None and not self._closed

    @property
    def problem(self) -> str | None:
        """Why the recogniser is unavailable (for logs and the admin page)."""
        return "the recognizer is closed" if self._closed else self._problem

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def active_sessions(self) -> int:
        return self._active

    @property
    def max_sessions(self) -> int:
        return self._config.max_sessions

    async def start(self) -> bool:
        """Load the model now (off the loop) rather than on the first call; True if usable."""
        try:
            await self._model()
        except RecognizerUnavailableError:
            return False
        return True

    async def open(self, grammar: Sequence[str] | None = None) -> VoskSession:
        """A new session (a slot is held until :meth:`VoskSession.close`)."""
        if not self.available:
            raise RecognizerUnavailableError(self.problem or "speech recognition is unavailable")
        if self._active >= self._config.max_sessions:
            raise RecognizerUnavailableError(
                f"all {self._config.max_sessions} recognition sessions are busy"
            )
        self._active += 1
        try:
            loaded = await self._model()
            recognizer, plan = await asyncio.wrap_future(
                self._submit(_new_session_engine, loaded, grammar, self._config.words)
            )
        except RecognizerUnavailableError:
            self._release()
            raise
        except asyncio.CancelledError:
            self._release()
            raise
        except Exception as exc:  # the engine's own errors are plain Exception
            self._release()
            log.error("asr.session_failed", error=str(exc))
            raise RecognizerUnavailableError(f"a recognition session failed: {exc}") from exc
        return VoskSession(self, recognizer, plan, self._config)

    async def aclose(self) -> None:
        """Refuse new sessions, let running engine calls finish, stop the threads."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(executor.shutdown, wait=True, cancel_futures=True)
            )

    async def _model(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        async with self._load_lock:
            return await self._load_once()

    async def _load_once(self) -> _Loaded:
        if self._loaded is not None:  # loaded while this task waited for the lock
            return self._loaded
        if self._problem is not None or self._model_dir is None:
            raise RecognizerUnavailableError(self._problem or "no model")
        try:
            loaded = await asyncio.wrap_future(self._submit(_load, self._model_dir))
        except RecognizerUnavailableError:
            raise
        except Exception as exc:  # Vosk raises a plain Exception("Failed to create a model")
            self._problem = f"the model in {self._model_dir} failed to load: {exc}"
            log.error("asr.model_failed", model_dir=str(self._model_dir), error=str(exc))
            raise RecognizerUnavailableError(self._problem) from exc
        log.info("asr.model_loaded", model_dir=str(self._model_dir))
        self._loaded = loaded
        return loaded

    def _submit(self, fn: Callable[..., _T], *args: object) -> concurrent.futures.Future[_T]:
        if self._closed:
            raise RecognizerUnavailableError("the recognizer is closed")
        if self._executor is None:
            workers = self._config.workers or min(self._config.max_sessions, os.cpu_count() or 1)
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="hotline-asr"
            )
        try:
            return self._executor.submit(fn, *args)
        except RuntimeError as exc:  # shut down meanwhile
            raise RecognizerUnavailableError("the recognizer is closed") from exc

    def _release(self) -> None:
        self._active = max(0, self._active - 1)


class VoskSession:
    """One caller's utterance(s) being recognised: a :class:`~hotline.bot.ports.RecognitionSession`.

    :meth:`finish` returns the whole utterance (every segment the engine
    closed on its own, plus the rest) and readies the session for the next
    utterance; :meth:`close` gives the slot back.
    """

    def __init__(
        self,
        owner: VoskRecognizer,
        recognizer: _Recognizer,
        plan: GrammarPlan | None,
        config: AsrConfig,
    ) -> None:
        self._owner = owner
        self._recognizer: _Recognizer | None = recognizer
        self._plan = plan
        self._batch_bytes = config.batch_ms * _BYTES_PER_MS
        self._max_bytes = int(config.max_utterance_s * 1000) * _BYTES_PER_MS
        self._lock = asyncio.Lock()
        self._pending: concurrent.futures.Future[object] | None = None
        self._buffer = bytearray()
        self._fed = 0
        self._segments = Transcript((), ())
        self._last_partial = ""
        self._closed = False

    @property
    def grammar(self) -> tuple[str, ...] | None:
        """The phrases the engine listens for (None: free recognition)."""
        return self._plan.phrases if self._plan is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    async def accept(self, pcm: bytes) -> RecognitionResult | None:
        """Feed 8 kHz 16-bit mono PCM; a new partial, an engine-final segment, or None."""
        self._check_open()
        size = len(pcm)
        if size % 2:
            raise RemoteProtocolError(f"16-bit PCM needs an even number of bytes (got {size})")
        if size > MAX_ACCEPT_BYTES:
            raise LimitExceededError(f"{size} bytes of audio at once (limit {MAX_ACCEPT_BYTES})")
        if self._fed + size > self._max_bytes:
            raise LimitExceededError(
                f"an utterance longer than {self._max_bytes // _BYTES_PER_MS // 1000} s"
            )
        self._fed += size
        self._buffer += pcm
        if len(self._buffer) < self._batch_bytes:
            return None
        chunk = bytes(self._buffer)
        self._buffer.clear()
        final, raw = await self._call(_accept, chunk)
        if final:
            segment = self._parse(raw, partial=False)
            self._segments += segment
            self._last_partial = ""
            return segment.to_result(final=True) if segment.words else None
        partial = self._parse(raw, partial=True)
        if not partial.words or partial.text == self._last_partial:
            return None
        self._last_partial = partial.text
        return partial.to_result(final=False)

    async def finish(self) -> RecognitionResult:
        """No more audio for this utterance: its whole transcript."""
        self._check_open()
        chunk = bytes(self._buffer)
        self._buffer.clear()
        raws = await self._call(_finish, chunk)
        whole = self._segments
        for raw in raws:
            whole += self._parse(raw, partial=False)
        self._segments = Transcript((), ())
        self._fed = 0
        self._last_partial = ""
        return whole.to_result(final=True)

    async def close(self) -> None:
        """Give the slot back (idempotent); a running engine call finishes first."""
        if self._closed:
            return
        self._closed = True
        try:
            async with self._lock:
                await self._settle()
        finally:
            self._recognizer = None  # a still-running call keeps its own reference
            self._buffer.clear()
            self._owner._release()

    def _check_open(self) -> None:
        if self._closed:
            raise RecognizerUnavailableError("the recognition session is closed")

    @staticmethod
    def _parse(raw: str, *, partial: bool) -> Transcript:
        try:
            return parse_result(raw, partial=partial)
        except RemoteProtocolError as exc:
            raise RecognizerUnavailableError(f"the recognizer gave a bad result: {exc}") from exc

    async def _settle(self) -> None:
        pending = self._pending
        if pending is not None and not pending.done():
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(pending)

    async def _call(self, fn: Callable[[_Recognizer, bytes], _T], chunk: bytes) -> _T:
        async with self._lock:
            await self._settle()
            recognizer = self._recognizer
            if recognizer is None or self._closed:
                raise RecognizerUnavailableError("the recognition session is closed")
            future = self._owner._submit(fn, recognizer, chunk)
            self._pending = cast("concurrent.futures.Future[object]", future)
            try:
                return await asyncio.wrap_future(future)
            except Exception as exc:  # Vosk raises a plain Exception("Failed to process waveform")
                log.error("asr.decode_failed", error=str(exc))
                raise RecognizerUnavailableError(f"recognition failed: {exc}") from exc
