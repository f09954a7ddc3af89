"""Speech engine adapters (L3): espeak-ng and festival run as subprocesses, sox converts.

Each rendering runs the engine on the text (given on standard input, never
on the command line), writes the engine's native WAV next to the
destination, and converts it with sox to 8 kHz mono 16-bit PCM peak-normalised
to ``peak_dbfs``; the result is checked with :func:`hotline.media.wav.read_wav_layout`
before it is handed back.  Both engines go through the same sox step (sox's
resampler is better than festival's own ``-F``), so prompts of either engine
sound alike in level and band.

* espeak-ng: ``espeak-ng -v ru -s RATE -p PITCH -a AMP -g GAP -b 1 --stdin -w raw.wav``
  (22.05 kHz); starts in milliseconds.
* festival with festvox-ru: ``text2wave -eval (voice_msu_ru_nsh_clunits)``
  (16 kHz); loads its voice on every start (about half a second).

Every process has a timeout and is killed when it runs past it or when the
awaiting task is cancelled; at most ``max_concurrency`` renderings run at
once per adapter.  A missing program raises :class:`EngineUnavailableError`
with the command that installs it.  Counters (``renders``,
``processes_started``) let tests and metrics see what really ran.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from hotline.bot.tts import (
    TELEPHONY_BITS_PER_SAMPLE,
    TELEPHONY_CHANNELS,
    TELEPHONY_RATE_HZ,
    EngineLimits,
    EngineName,
    EngineUnavailableError,
    EspeakSettings,
    FestivalSettings,
    SynthesisError,
    SynthesisTimeoutError,
    check_espeak_voice,
    check_festival_voice,
)
from hotline.core.errors import ConfigurationError, LimitExceededError
from hotline.media.wav import WAVE_FORMAT_PCM, WavFormatError, WavLayout, read_wav_layout

__all__ = [
    "ENGINE_INSTALL_HINTS",
    "EspeakNgSynthesizer",
    "FestivalSynthesizer",
    "create_synthesizer",
    "festival_text",
    "read_telephony_wav_layout",
]

ENGINE_INSTALL_HINTS: Final = {
    "espeak-ng": "install it with `apt-get install espeak-ng` (scripts/system-deps.sh does)",
    "text2wave": "install it with `apt-get install festival festvox-ru`",
    "sox": "install it with `apt-get install sox` (scripts/system-deps.sh does)",
}
_STDERR_TAIL_CHARS: Final = 400
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FESTIVAL_PAUSE_RE: Final = re.compile(r"\s+[—–-]+\s+|\s*[—–]\s*")
_FESTIVAL_INNER_PUNCT_RE: Final = re.compile(r"(?<=\w)[.,;:!?](?=\w)")
_FESTIVAL_REJECTED_RE: Final = re.compile(r"[^\w\s.,!?;:-]|_")
_FESTIVAL_SPACE_BEFORE_PUNCT_RE: Final = re.compile(r"\s+([.,!?;:]+)")
_FESTIVAL_LONE_PUNCT_RE: Final = re.compile(r"(?<!\S)[^\w\s]+(?!\S)")
_FESTIVAL_SPACES_RE: Final = re.compile(r"[^\S\n]{2,}|\n+")
_FESTIVAL_MESSAGES_KEPT: Final = 20


def read_telephony_wav_layout(path: Path, engine: str = "tts") -> WavLayout:
    """The layout of ``path`` if it is 8 kHz mono 16-bit PCM with samples, else SynthesisError."""
    try:
        with path.open("rb") as file:
            layout = read_wav_layout(file)
    except (OSError, WavFormatError, LimitExceededError) as error:
        raise SynthesisError(engine, f"unreadable output {path.name}: {error}") from error
    if (
        layout.format_tag != WAVE_FORMAT_PCM
        or layout.sample_rate_hz != TELEPHONY_RATE_HZ
        or layout.channels != TELEPHONY_CHANNELS
        or layout.bits_per_sample != TELEPHONY_BITS_PER_SAMPLE
    ):
        raise SynthesisError(
            engine,
            f"output is {layout.sample_rate_hz} Hz, {layout.channels} channel(s), "
            f"{layout.bits_per_sample}-bit, tag {layout.format_tag}; expected 8 kHz mono 16-bit PCM",
        )
    if layout.frames == 0:
        raise SynthesisError(engine, "output holds no samples")
    return layout


class _SubprocessSynthesizer:
    """What both engines share: limits, concurrency, process runs, sox conversion, counters."""

    _engine: EngineName
    _programs: tuple[str, ...]

    def __init__(self, limits: EngineLimits | None, work_dir: Path | None) -> None:
        self._limits = limits if limits is not None else EngineLimits()
        self._work_dir = work_dir
        self._semaphore = asyncio.Semaphore(self._limits.max_concurrency)
        self._found: dict[str, str] = {}
        self.renders = 0
        """Texts rendered (one engine process and one sox process each)."""
        self.processes_started = 0
        """Processes started, engine and sox together."""

    @property
    def name(self) -> str:
        return self._engine.value

    @property
    def limits(self) -> EngineLimits:
        return self._limits

    def check_installed(self) -> None:
        """Raise :class:`EngineUnavailableError` if a program this engine needs is missing."""
        for program in self._programs:
            self._program(program)

    def _program(self, program: str) -> str:
        found = self._found.get(program)
        if found is None:
            found = shutil.which(program)
            if found is None:
                raise EngineUnavailableError(self.name, program, ENGINE_INSTALL_HINTS[program])
            self._found[program] = found
        return found

    def _scratch_dir(self) -> Path:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="hotline-tts-"))
        self._work_dir.mkdir(parents=True, exist_ok=True)
        return self._work_dir

    def _check_text(self, text: str) -> str:
        cleaned = _CONTROL_RE.sub(" ", text).strip()
        if not cleaned:
            raise SynthesisError(self.name, "nothing to say: the text is empty")
        if len(cleaned) > self._limits.max_text_chars:
            raise LimitExceededError(
                f"{self.name}: text of {len(cleaned)} characters is longer than "
                f"{self._limits.max_text_chars}",
                status_hint=413,
            )
        return cleaned

    async def _render(
        self,
        produce: Callable[[Path], Awaitable[str]],
        destination: Path | None,
        peak_dbfs: float,
    ) -> Path:
        """Run ``produce`` (the engine, writing the raw WAV it is given), then sox."""
        self.check_installed()
        target = destination if destination is not None else self._new_scratch_path()
        raw = target.with_name(f".{target.name}.{secrets.token_hex(4)}.raw.wav")
        async with self._semaphore:
            self.renders += 1
            try:
                stderr = await produce(raw)
                self._check_engine_output(raw, stderr)
                await self._run(self._sox_argv(raw, target, peak_dbfs), b"")
            except BaseException:
                _unlink(target)
                raise
            finally:
                _unlink(raw)
        read_telephony_wav_layout(target, self.name)
        return target

    async def aclose(self) -> None:
        """Nothing keeps running between renderings of a plain subprocess engine."""

    def _new_scratch_path(self) -> Path:
        handle, name = tempfile.mkstemp(suffix=".wav", prefix="tts-", dir=self._scratch_dir())
        os.close(handle)
        return Path(name)

    def _sox_argv(self, source: Path, target: Path, peak_dbfs: float) -> list[str]:
        output = f"-t wav -r {TELEPHONY_RATE_HZ} -c {TELEPHONY_CHANNELS} "
        output += f"-b {TELEPHONY_BITS_PER_SAMPLE} -e signed-integer"
        sox = self._program("sox")
        return [
            sox,
            "-V1",
            str(source),
            *output.split(),
            str(target),
            "gain",
            "-n",
            f"{peak_dbfs:g}",
        ]

    def _check_engine_output(self, raw: Path, stderr: str) -> None:
        if not raw.exists() or raw.stat().st_size <= 44:
            raise SynthesisError(self.name, f"engine wrote no audio; stderr: {stderr!r}")

    async def _run(self, argv: list[str], stdin: bytes) -> str:
        """Run ``argv`` to completion within the timeout; kill it on timeout or cancellation.

        Empty ``stdin`` means no input pipe at all: on uvloop, writing even an
        empty buffer to a process that has already exited (sox is quick) fails
        with "handler is closed".
        """
        self.processes_started += 1
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise SynthesisError(self.name, f"cannot start {argv[0]}: {error}") from error
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                _, stderr_bytes = await process.communicate(stdin or None)
        except TimeoutError as error:
            raise SynthesisTimeoutError(
                self.name,
                f"{Path(argv[0]).name} ran longer than {self._limits.timeout_s:g} s; killed",
            ) from error
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        stderr = stderr_bytes.decode("utf-8", "replace")[-_STDERR_TAIL_CHARS:]
        if process.returncode != 0:
            raise SynthesisError(
                self.name,
                f"{Path(argv[0]).name} exited with {process.returncode}: {stderr.strip()!r}",
            )
        return stderr


class EspeakNgSynthesizer(_SubprocessSynthesizer):
    """espeak-ng (formant synthesis; quick, robotic, every language)."""

    _engine = EngineName.ESPEAK_NG
    _programs = ("espeak-ng", "sox")

    def __init__(
        self,
        settings: EspeakSettings | None = None,
        *,
        limits: EngineLimits | None = None,
        work_dir: Path | None = None,
    ) -> None:
        super().__init__(limits, work_dir)
        self._settings = settings if settings is not None else EspeakSettings()

    @property
    def default_voice(self) -> str:
        return self._settings.voice

    @property
    def settings(self) -> EspeakSettings:
        return self._settings

    def identity(self, voice: str | None = None) -> str:
        s = self._settings
        return (
            f"{self.name}|voice={voice or s.voice}|rate={s.rate_wpm}|pitch={s.pitch}"
            f"|amp={s.amplitude}|gap={s.word_gap_10ms}|peak={s.peak_dbfs:g}"
        )

    async def synthesize(
        self, text: str, voice: str | None = None, *, destination: Path | None = None
    ) -> Path:
        s = self._settings
        chosen = check_espeak_voice(voice or s.voice)
        # "[[" starts espeak's inline phoneme input: never let a text do that.
        cleaned = self._check_text(text).replace("[[", "[ [")
        options = f"-v {chosen} -s {s.rate_wpm} -p {s.pitch} -a {s.amplitude} -g {s.word_gap_10ms}"
        argv = [self._program("espeak-ng"), *options.split(), "-b", "1", "-w"]

        async def produce(raw: Path) -> str:
            return await self._run([*argv, str(raw), "--stdin"], cleaned.encode("utf-8"))

        return await self._render(produce, destination, s.peak_dbfs)


def festival_text(text: str) -> str:
    """Text the Russian festival voice can read: characters its letter-to-sound rules reject go.

    festvox-ru aborts a whole utterance on «», quotes, brackets, dashes, «…»,
    «%», a backslash, punctuation inside a word («9:00», «т.д») or standing
    alone; dashes and ellipses become the pauses they stand for.
    """
    text = _FESTIVAL_PAUSE_RE.sub(", ", text)
    text = text.replace("…", ".")
    text = _FESTIVAL_INNER_PUNCT_RE.sub(" ", text)
    text = _FESTIVAL_REJECTED_RE.sub(" ", text)
    text = _FESTIVAL_SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _FESTIVAL_LONE_PUNCT_RE.sub(" ", text)
    return _FESTIVAL_SPACES_RE.sub(" ", text).strip()


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _FestivalWorker:
    """One ``festival --pipe`` process with its voice loaded, rendering one text at a time.

    Each command is wrapped in ``unwind-protect`` (festival's catch) and
    followed by a marker line on standard error, which is unbuffered: the
    marker says the command finished, a failure marker that it failed.
    """

    __slots__ = ("_commands", "_process", "voice")

    def __init__(self, process: asyncio.subprocess.Process, voice: str) -> None:
        self._process = process
        self._commands = 0
        self.voice = voice

    @classmethod
    async def start(
        cls, program: str, voice: str, duration_stretch: float, timeout_s: float
    ) -> _FestivalWorker:
        try:
            process = await asyncio.create_subprocess_exec(
                program,
                "--pipe",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise SynthesisError("festival", f"cannot start {program}: {error}") from error
        worker = cls(process, voice)
        try:
            ok, stderr = await worker._command(
                f"(voice_{voice}) (Parameter.set 'Duration_Stretch {duration_stretch:g})",
                timeout_s,
            )
        except BaseException:
            await worker.kill()
            raise
        if not ok:
            await worker.kill()
            raise EngineUnavailableError(
                "festival",
                f"the festival voice {voice}",
                f"festival reported {stderr.strip()[-200:]!r}; "
                "install a Russian voice with `apt-get install festvox-ru`",
            )
        return worker

    async def render(self, text: str, raw: Path, timeout_s: float) -> str:
        """Write ``text`` as a WAV to ``raw``; returns festival's messages (empty when all went well)."""
        ok, stderr = await self._command(
            f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
            f"{_scheme_string(str(raw))} 'riff)",
            timeout_s,
        )
        if not ok:
            raise SynthesisError("festival", f"festival could not render: {stderr.strip()!r}")
        return stderr

    async def _command(self, expression: str, timeout_s: float) -> tuple[bool, str]:
        stdin, stderr = self._process.stdin, self._process.stderr
        if stdin is None or stderr is None:
            raise SynthesisError("festival", "festival worker has no pipes")
        self._commands += 1
        number = self._commands
        done, failed = f"HOTLINE-DONE {number}", f"HOTLINE-FAIL {number}"
        stdin.write(
            f'(unwind-protect (begin {expression}) (format stderr "{failed}\\n")) '
            f'(format stderr "{done}\\n")\n'.encode()
        )
        messages: list[str] = []
        ok = True
        try:
            async with asyncio.timeout(timeout_s):
                await stdin.drain()
                while True:
                    line = (await stderr.readline()).decode("utf-8", "replace").strip()
                    if not line and stderr.at_eof():
                        raise SynthesisError("festival", "festival worker exited")
                    if line == failed:
                        ok = False
                    elif line == done:
                        break
                    elif line:
                        messages = [*messages[-_FESTIVAL_MESSAGES_KEPT:], line]
        except TimeoutError as error:
            raise SynthesisTimeoutError(
                "festival", f"festival worker took longer than {timeout_s:g} s; killed"
            ) from error
        except (ConnectionError, ValueError) as error:
            raise SynthesisError("festival", f"festival worker failed: {error}") from error
        return ok, "\n".join(messages)

    async def kill(self) -> None:
        """Stop the process at once (it may be in the middle of a rendering)."""
        if self._process.returncode is None:
            self._process.kill()
        await self._process.wait()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Let the process finish on end of input; kill it if it does not within ``timeout_s``."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            async with asyncio.timeout(timeout_s):
                await self._process.wait()
        except TimeoutError:
            await self.kill()


class FestivalSynthesizer(_SubprocessSynthesizer):
    """festival with a Russian voice (festvox-ru: unit selection, more natural than espeak-ng).

    With ``persistent_workers`` (the default) up to ``max_concurrency``
    ``festival --pipe`` processes stay running with the voice loaded, so a
    rendering costs its synthesis only (about 0.1-0.2 s a sentence instead of
    0.6 s more to load the voice); a worker that fails, times out or is
    cancelled is killed and replaced on the next rendering.  Without, every
    rendering runs ``text2wave``.  Call :meth:`aclose` at shutdown.
    """

    _engine = EngineName.FESTIVAL

    def __init__(
        self,
        settings: FestivalSettings | None = None,
        *,
        limits: EngineLimits | None = None,
        work_dir: Path | None = None,
    ) -> None:
        super().__init__(limits, work_dir)
        self._settings = settings if settings is not None else FestivalSettings()
        self._programs = (
            ("festival", "sox") if self._settings.persistent_workers else ("text2wave", "sox")
        )
        self._idle: list[_FestivalWorker] = []
        self.workers_started = 0
        """festival worker processes started (persistent mode)."""

    @property
    def default_voice(self) -> str:
        return self._settings.voice

    @property
    def settings(self) -> FestivalSettings:
        return self._settings

    def identity(self, voice: str | None = None) -> str:
        s = self._settings
        return (
            f"{self.name}|voice={voice or s.voice}|stretch={s.duration_stretch:g}"
            f"|peak={s.peak_dbfs:g}"
        )

    async def warm_up(self, workers: int = 1) -> None:
        """Start up to ``workers`` persistent workers now, so the first rendering is quick."""
        if not self._settings.persistent_workers:
            return
        self.check_installed()
        wanted = max(0, min(workers, self._limits.max_concurrency) - len(self._idle))
        started = await asyncio.gather(
            *(self._start_worker(self._settings.voice) for _ in range(wanted)),
            return_exceptions=True,
        )
        errors = [result for result in started if isinstance(result, BaseException)]
        self._idle.extend(result for result in started if isinstance(result, _FestivalWorker))
        if errors:
            raise errors[0]

    async def synthesize(
        self, text: str, voice: str | None = None, *, destination: Path | None = None
    ) -> Path:
        s = self._settings
        chosen = check_festival_voice(voice or s.voice)
        cleaned = festival_text(self._check_text(text))
        if not cleaned:
            raise SynthesisError(self.name, "nothing festival can say in this text")
        if s.persistent_workers:

            async def produce(raw: Path) -> str:
                return await self._render_in_worker(chosen, cleaned, raw)

        else:
            argv = [
                self._program("text2wave"),
                "-eval",
                f"(voice_{chosen})",
                "-eval",
                f"(Parameter.set 'Duration_Stretch {s.duration_stretch:g})",
                "-otype",
                "riff",
                "-o",
            ]

            async def produce(raw: Path) -> str:
                return await self._run([*argv, str(raw)], cleaned.encode("utf-8"))

        return await self._render(produce, destination, s.peak_dbfs)

    async def aclose(self) -> None:
        """Stop the idle workers (a busy one is stopped by its rendering's end or cancellation)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(worker.close() for worker in idle))

    async def _start_worker(self, voice: str) -> _FestivalWorker:
        self.workers_started += 1
        self.processes_started += 1
        return await _FestivalWorker.start(
            self._program("festival"),
            voice,
            self._settings.duration_stretch,
            self._limits.timeout_s,
        )

    async def _render_in_worker(self, voice: str, text: str, raw: Path) -> str:
        worker = next((w for w in self._idle if w.voice == voice), None)
        if worker is not None:
            self._idle.remove(worker)
        else:
            worker = await self._start_worker(voice)
        try:
            stderr = await worker.render(text, raw, self._limits.timeout_s)
        except BaseException:
            await worker.kill()
            raise
        if len(self._idle) < self._limits.max_concurrency:
            self._idle.append(worker)
        else:
            await worker.close()
        return stderr

    def _check_engine_output(self, raw: Path, stderr: str) -> None:
        if "SIOD ERROR" in stderr or "unbound variable" in stderr:
            raise EngineUnavailableError(
                self.name,
                "the festival voice",
                f"festival reported {stderr.strip()[-200:]!r}; "
                "install a Russian voice with `apt-get install festvox-ru`",
            )
        super()._check_engine_output(raw, stderr)


def create_synthesizer(
    name: str,
    *,
    espeak: EspeakSettings | None = None,
    festival: FestivalSettings | None = None,
    limits: EngineLimits | None = None,
    work_dir: Path | None = None,
) -> EspeakNgSynthesizer | FestivalSynthesizer:
    """The adapter for the engine called ``name`` (``espeak-ng`` or ``festival``)."""
    try:
        engine = EngineName(name)
    except ValueError as error:
        choices = ", ".join(e.value for e in EngineName)
        raise ConfigurationError(
            "tts.engine", f"unknown engine {name!r}; choose {choices}"
        ) from error
    if engine is EngineName.ESPEAK_NG:
        return EspeakNgSynthesizer(espeak, limits=limits, work_dir=work_dir)
    return FestivalSynthesizer(festival, limits=limits, work_dir=work_dir)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        return
