"""The voice assistant in the call path (L3): one bot session per call, driving the dialogue.

:class:`BotCalls` takes a call from the voice menu (the IVR runner's ``bot``
node, :meth:`BotCalls.start`) and runs a
:class:`~hotline.bot.dialogue.Dialogue` for it until the call is handed to
an operator, resolved, or the caller hangs up.  Per call:

* the caller's audio is tapped (``tap_audio``: decoded 8 kHz 16-bit PCM of every
  received packet), cut into 20 ms frames and fed to a
  :class:`~hotline.bot.ports.VoiceActivityDetector`; the last
  :attr:`BotLimits.preroll_ms` of audio are kept so that the start of a word
  the detector needed to notice is not lost;
* speech starting is the dialogue's barge-in; when the dialogue answers with
  ``Listen``, a recognition session is opened (with the yes/no/operator
  grammar for «Ответ помог?») and fed until the detector hears the end of the
  utterance (or :attr:`BotLimits.max_speech_s`); a question's transcript is
  matched to the standard answers (:class:`~hotline.bot.ports.AnswerMatcher`,
  off the event loop);
* ``Say`` is rendered by the speech cache sentence by sentence
  (:meth:`~hotline.bot.prompt_cache.PromptCache.stream`): the first sentence
  plays while the next ones render; ``StopSaying`` stops the leg's playback;
* keys come from the media events the menu passes on (RFC 4733);
* one timer per call (the dialogue's), armed through ``call_later``.

It is bounded: at most :attr:`BotLimits.max_sessions` calls (more: ``start``
returns False and the menu plays its fallback); without a recogniser, a
detector or a matcher, or when the recogniser has no free slot or fails, the
dialogue says «Голосовой помощник сейчас недоступен. Соединяю вас с
оператором» and hands over — never silence.  If speech synthesis fails the
call is handed over at once.

The transcript and the matched answer id are kept on the call
(:attr:`~hotline.calls.call.Call.bot_transcript`,
:attr:`~hotline.calls.call.Call.bot_answer_id`) and written with
``call.bot_started`` / ``call.bot_ended``.  Hand-over and the end go back to
the menu runner (:class:`BotExit`), which routes the call to its topic's queue
(the call keeps its arrival time: time in the bot counts in time to operator).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from hotline.bot.dialogue import Dialogue
from hotline.bot.dialogue_model import (
    DialogueConfig,
    DialogueOutput,
    DialogueState,
    End,
    HandOver,
    HandOverReason,
    Listen,
    ListenFor,
    Say,
    StopSaying,
)
from hotline.bot.phrases_ru import Phrase
from hotline.bot.ports import (
    FRAME_BYTES,
    FRAME_MS,
    AnswerMatch,
    AnswerMatcher,
    SpeechRecognizer,
    VadEventKind,
    VoiceActivityDetector,
)
from hotline.bot.prompt_cache import SpeechChunk
from hotline.calls.call import Call
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_ports import Clock
from hotline.core.errors import ConfigurationError, HotlineError
from hotline.core.ids import CallId
from hotline.media.codecs import get_codec
from hotline.media.eng_events import LegDtmfReceived, MediaEvent
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart
from hotline.media.prompts import PromptCache as FrameCache
from hotline.reports.events import BotResult

__all__ = ["BotCalls", "BotEngines", "BotExit", "BotLimits", "BotMedia", "BotSpeech", "TimerHandle"]

log = structlog.get_logger("hotline.calls.bot")

_HEARING: Final = frozenset({DialogueState.HEAR_QUESTION, DialogueState.HEAR_HELPED})
_LATENCY_SAMPLES: Final = 10_000
_BATCH_FRAMES: Final = 5


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class BotMedia(Protocol):
    """What the assistant needs of the media engine (:class:`~hotline.media.engine.MediaEngine`)."""

    def play(self, leg_id: str, item: PlaybackItem) -> None: ...

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...

    def tap_audio(self, leg_id: str, sink: Callable[[bytes], None] | None) -> None: ...


class BotSpeech(Protocol):
    """Rendered speech (:class:`~hotline.bot.prompt_cache.PromptCache`)."""

    def stream(self, text: str, voice: str | None = None) -> AsyncIterator[SpeechChunk]: ...


class BotExit(Protocol):
    """Where a call goes when the assistant is done (the voice-menu runner)."""

    def bot_handed_over(self, call_id: CallId) -> None:
        """Hand the call to an operator: the topic's queue."""
        ...

    def bot_finished(self, call_id: CallId) -> None:
        """The caller was helped and heard goodbye: end the call."""
        ...


@dataclass(frozen=True, slots=True)
class BotEngines:
    """The assistant's engines; any of them None: the assistant hands every call over."""

    speech: BotSpeech
    answers: Callable[[str], str | None]
    """The approved text of a standard answer by id."""
    recognizer: SpeechRecognizer | None = None
    vad: Callable[[], VoiceActivityDetector] | None = None
    """A detector in its initial state for each call (may block: called off the loop)."""
    vad_release: Callable[[VoiceActivityDetector], None] | None = None
    """Where a call's detector goes when the call is done (a pool); None: dropped."""
    matcher: AnswerMatcher | None = None

    @property
    def complete(self) -> bool:
        return (
            self.recognizer is not None
            and self.recognizer.available
            and self.vad is not None
            and self.matcher is not None
        )


@dataclass(frozen=True, slots=True)
class BotLimits:
    """Bounds of the assistant on one node."""

    max_sessions: int = 40
    preroll_ms: int = 300
    max_speech_s: float = 15.0
    """An utterance is cut here (the recogniser gets what was said so far)."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_sessions <= 10_000:
            raise ConfigurationError("bot.max_sessions", "must be in 1..10000")
        if not 0 <= self.preroll_ms <= 2000:
            raise ConfigurationError("bot.preroll_ms", "must be in 0..2000")
        if not 1.0 <= self.max_speech_s <= 120.0:
            raise ConfigurationError("bot.max_speech_s", "must be in 1..120")


@dataclass(slots=True, eq=False)
class _BotCall:
    call_id: CallId
    leg_id: str
    codec: str
    topic: str | None
    dialogue: Dialogue
    vad: VoiceActivityDetector | None
    preroll: deque[bytes]
    buffer: bytearray = field(default_factory=bytearray)
    audio: asyncio.Queue[bytes | None] | None = None  # frames for the recognition in progress
    speech_frames: int = 0
    recognition: asyncio.Task[None] | None = None
    attaching: asyncio.Task[None] | None = None  # the detector being made
    speaking: asyncio.Task[None] | None = None
    say: Say | None = None
    items: set[str] = field(default_factory=set)  # playback items of ``say`` not yet finished
    say_queued: bool = False  # every chunk of ``say`` has been queued for playback
    speech_ended_at: float | None = None  # the end of the last utterance heard
    awaiting_reply_since: float | None = None  # for the response-latency figure
    timer: TimerHandle | None = None
    timer_at: float | None = None
    done: bool = False


class BotCalls:
    """The voice assistant of every call handed to it; see the module docstring."""

    def __init__(
        self,
        *,
        media: BotMedia,
        engines: BotEngines,
        clock: Clock,
        call_later: Callable[[float, Callable[[], None]], TimerHandle],
        calls: Callable[[CallId], Call | None],
        events: CallEventWriter | None = None,
        config: DialogueConfig | None = None,
        limits: BotLimits | None = None,
        executor: Executor | None = None,
    ) -> None:
        self._media = media
        self.engines = engines
        self._clock = clock
        self._call_later = call_later
        self._calls_of = calls
        self._events = events
        self._config = config if config is not None else DialogueConfig()
        self._limits = limits if limits is not None else BotLimits()
        self._executor = executor  # matcher, detectors (None: the loop's default executor)
        self._exit: BotExit | None = None
        self._calls: dict[CallId, _BotCall] = {}
        self._frames = FrameCache()
        self.latencies_s: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        """From the end of the caller's speech to the first audio of the reply."""
        self.sessions_total = 0
        self.sessions_refused = 0
        self.errors = 0

    def attach(self, exit_: BotExit) -> None:
        """Give the assistant the menu runner that takes calls back."""
        self._exit = exit_

    def active(self) -> int:
        return len(self._calls)

    def listening(self) -> bool:
        """The engines are loaded: a caller can be answered (else it is told and handed over)."""
        return self.engines.complete and len(self._calls) < self._limits.max_sessions

    async def warm_up(self) -> None:
        """Render every fixed phrase now, so that none waits for the synthesiser on a call."""
        for phrase in Phrase:
            with contextlib.suppress(HotlineError):
                async for _chunk in self.engines.speech.stream(phrase.value):
                    pass

    # -- what the menu runner calls --------------------------------------------------------
    def start(self, call_id: CallId, leg_id: str, codec: str, topic: str | None) -> bool:
        """Take the call (False: at capacity or already here; the menu plays its fallback)."""
        if call_id in self._calls or len(self._calls) >= self._limits.max_sessions:
            self.sessions_refused += 1
            return False
        engines = self.engines
        ready = engines.vad is not None and engines.complete
        frames = max(1, self._limits.preroll_ms // FRAME_MS)
        bot = _BotCall(
            call_id, leg_id, codec, topic, Dialogue(engines.answers, self._config), None,
            deque(maxlen=frames),
        )  # fmt: skip
        self._calls[call_id] = bot
        self.sessions_total += 1
        call = self._calls_of(call_id)
        if call is not None and self._events is not None:
            self._events.bot_started(call)
        log.info("call with the voice assistant", call_id=call_id, topic=topic, ready=ready)
        if ready and engines.vad is not None:
            # A detector may take a moment to make (a neural model): off the loop.
            bot.attaching = asyncio.get_running_loop().create_task(
                self._attach_detector(bot, engines.vad), name=f"bot-vad-{call_id}"
            )
            bot.attaching.add_done_callback(self._task_done)
        bot.dialogue.started(topic, self._clock.monotonic(), recognizer_available=ready)
        self._pump(bot)
        return True

    async def _attach_detector(
        self, bot: _BotCall, factory: Callable[[], VoiceActivityDetector]
    ) -> None:
        try:
            vad = await asyncio.get_running_loop().run_in_executor(self._executor, factory)
        except (HotlineError, OSError) as exc:
            log.error("no voice activity detector", call_id=bot.call_id, error=str(exc))
            bot.attaching = None
            self._step(bot, lambda: bot.dialogue.abort(self._now()))
            return
        bot.attaching = None
        if bot.done:
            self._give_back(vad)
            return
        bot.vad = vad
        self._media.tap_audio(bot.leg_id, lambda pcm: self._on_audio(bot, pcm))

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None:
        """A media event of the call's caller leg: keys, playback ends."""
        bot = self._calls.get(call_id)
        if bot is None or getattr(event, "leg_id", None) != bot.leg_id:
            return
        now = self._clock.monotonic()
        if isinstance(event, LegDtmfReceived):
            digit = event.dtmf.digit.upper()
            self._step(bot, lambda: bot.dialogue.dtmf(digit, now))
        elif isinstance(event, PlaybackFinished) and event.item_id in bot.items:
            bot.items.discard(event.item_id)
            self._check_said(bot)

    def end(self, call_id: CallId) -> None:
        """The call ended while with the assistant (the caller hung up, a media time-out)."""
        bot = self._calls.get(call_id)
        if bot is not None:
            self._step(bot, lambda: bot.dialogue.caller_hung_up(self._clock.monotonic()))

    async def aclose(self) -> None:
        """Stop every session's work (shutdown; the calls are ended by the controller)."""
        tasks = []
        for bot in list(self._calls.values()):
            tasks += [t for t in (bot.recognition, bot.speaking, bot.attaching) if t is not None]
            self._release(bot)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- audio in ------------------------------------------------------------------------------
    def _on_audio(self, bot: _BotCall, pcm: bytes) -> None:
        if bot.done or bot.vad is None:
            return
        bot.buffer += pcm
        vad = bot.vad
        while len(bot.buffer) >= FRAME_BYTES and self._calls.get(bot.call_id) is bot:
            frame = bytes(bot.buffer[:FRAME_BYTES])
            del bot.buffer[:FRAME_BYTES]
            self._on_frame(bot, vad, frame)

    def _on_frame(self, bot: _BotCall, vad: VoiceActivityDetector, frame: bytes) -> None:
        bot.preroll.append(frame)
        if bot.audio is not None:
            bot.audio.put_nowait(frame)
            bot.speech_frames += 1
            if bot.speech_frames * FRAME_MS >= self._limits.max_speech_s * 1000:
                bot.speech_ended_at = self._now()
                self._end_utterance(bot)
        for event in vad.feed(frame):
            now = self._clock.monotonic()
            if event.kind is VadEventKind.SPEECH_STARTED:
                self._step(bot, functools.partial(bot.dialogue.speech_started, now))
            elif event.kind is VadEventKind.SPEECH_ENDED:
                bot.speech_ended_at = now
                self._end_utterance(bot)

    def _end_utterance(self, bot: _BotCall) -> None:
        if bot.audio is not None:
            bot.audio.put_nowait(None)
            bot.audio = None

    # -- recognition -----------------------------------------------------------------------------
    def _listen(self, bot: _BotCall, listen: Listen) -> None:
        self._cancel_recognition(bot)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        for frame in bot.preroll:
            queue.put_nowait(frame)
        bot.audio = queue
        bot.speech_frames = len(bot.preroll)
        bot.recognition = asyncio.get_running_loop().create_task(
            self._recognise(bot, listen, queue), name=f"bot-asr-{bot.call_id}"
        )
        bot.recognition.add_done_callback(self._task_done)

    async def _recognise(
        self, bot: _BotCall, listen: Listen, queue: asyncio.Queue[bytes | None]
    ) -> None:
        recognizer, matcher = self.engines.recognizer, self.engines.matcher
        try:
            if recognizer is None:
                raise HotlineError("no speech recogniser")
            text = await _transcribe(recognizer, listen.grammar, queue)
            match: AnswerMatch | None = None
            if listen.purpose is ListenFor.QUESTION and matcher is not None and text.strip():
                loop = asyncio.get_running_loop()
                match = await loop.run_in_executor(self._executor, matcher.match, text, bot.topic)
        except (HotlineError, OSError) as exc:
            log.warning("recognition failed", call_id=bot.call_id, error=str(exc))
            bot.recognition = None
            self._step(bot, lambda: bot.dialogue.recognition_failed(listen.listen_id, self._now()))
            return
        bot.recognition = None
        bot.awaiting_reply_since = bot.speech_ended_at
        log.info(  # the words stay on the call (retention, access rules), not in the logs
            "caller spoke", call_id=bot.call_id, chars=len(text),
            answer=None if match is None else match.answer_id,
            confidence=None if match is None else round(match.confidence, 3),
        )  # fmt: skip
        self._step(bot, lambda: bot.dialogue.utterance(listen.listen_id, text, match, self._now()))

    def _cancel_recognition(self, bot: _BotCall) -> None:
        bot.audio = None
        task, bot.recognition = bot.recognition, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- speech out ------------------------------------------------------------------------------
    def _say(self, bot: _BotCall, say: Say) -> None:
        self._stop(bot)
        bot.say = say
        bot.say_queued = False
        bot.speaking = asyncio.get_running_loop().create_task(
            self._speak(bot, say), name=f"bot-say-{bot.call_id}"
        )
        bot.speaking.add_done_callback(self._task_done)

    async def _speak(self, bot: _BotCall, say: Say) -> None:
        codec = get_codec(bot.codec)
        index = 0
        try:
            for text in say.texts:
                async for chunk in self.engines.speech.stream(text):
                    encoded = self._frames.get(chunk.path, codec)
                    if bot.done or bot.say is not say:
                        return
                    item_id = f"{bot.call_id}.bot.{say.say_id}.{index}"
                    index += 1
                    bot.items.add(item_id)
                    self._media.play(bot.leg_id, PlaybackItem(item_id, (PromptPart(encoded),)))
                    if bot.awaiting_reply_since is not None:
                        self.latencies_s.append(self._now() - bot.awaiting_reply_since)
                        bot.awaiting_reply_since = None
        except (HotlineError, OSError) as exc:
            log.error("assistant cannot speak", call_id=bot.call_id, error=str(exc))
            bot.speaking = None
            self._step(bot, lambda: bot.dialogue.abort(self._now()))
            return
        bot.speaking = None
        bot.say_queued = True
        self._check_said(bot)

    def _check_said(self, bot: _BotCall) -> None:
        say = bot.say
        if say is not None and bot.say_queued and not bot.items:
            bot.say = None
            self._step(bot, lambda: bot.dialogue.playback_finished(say.say_id, self._now()))

    def _stop(self, bot: _BotCall) -> None:
        task, bot.speaking = bot.speaking, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if bot.items:
            bot.items.clear()
            with contextlib.suppress(HotlineError):
                self._media.stop_playback(bot.leg_id)
        bot.say = None

    # -- driving the dialogue --------------------------------------------------------------------
    def _now(self) -> float:
        return self._clock.monotonic()

    def _step(self, bot: _BotCall, step: Callable[[], None]) -> None:
        if bot.done:
            return
        try:
            step()
            self._pump(bot)
        except HotlineError as exc:  # our bug, or the media leg is gone: a person takes over
            self.errors += 1
            log.error("assistant step failed", call_id=bot.call_id, error=repr(exc))
            self._finish(
                bot,
                HandOver(HandOverReason.FAILURE, bot.dialogue.transcript, bot.dialogue.matched_id),
            )

    def _pump(self, bot: _BotCall) -> None:
        dialogue = bot.dialogue
        while not bot.done and (out := dialogue.next_event()) is not None:
            self._carry_out(bot, out)
        if bot.done:
            return
        self._keep_context(bot)
        if dialogue.state not in _HEARING and (
            bot.recognition is not None or bot.audio is not None
        ):
            self._cancel_recognition(bot)  # a key or a failure moved the dialogue on
        self._arm(bot)

    def _carry_out(self, bot: _BotCall, out: DialogueOutput) -> None:
        if isinstance(out, Say):
            self._say(bot, out)
        elif isinstance(out, StopSaying):
            self._stop(bot)
        elif isinstance(out, Listen):
            self._listen(bot, out)
        else:
            self._finish(bot, out)

    def _keep_context(self, bot: _BotCall) -> None:
        call = self._calls_of(bot.call_id)
        if call is not None:
            call.bot_transcript = list(bot.dialogue.transcript)
            call.bot_answer_id = bot.dialogue.matched_id

    def _finish(self, bot: _BotCall, out: HandOver | End) -> None:
        if bot.done:
            return
        self._keep_context(bot)
        self._release(bot)
        call = self._calls_of(bot.call_id)
        if isinstance(out, HandOver):
            result, reason = BotResult.HANDED_OVER, out.reason.value
        else:
            result, reason = BotResult(out.outcome.value), None
        if call is not None and self._events is not None:
            self._events.bot_ended(call, result, reason)
        log.info(
            "voice assistant done",
            call_id=bot.call_id,
            result=result.value,
            reason=reason,
            answer=bot.dialogue.matched_id,
        )
        if self._exit is None or result is BotResult.HUNG_UP:
            return
        if isinstance(out, HandOver):
            self._exit.bot_handed_over(bot.call_id)
        else:
            self._exit.bot_finished(bot.call_id)

    def _release(self, bot: _BotCall) -> None:
        bot.done = True
        self._calls.pop(bot.call_id, None)
        self._disarm(bot)
        self._cancel_recognition(bot)
        for task in (bot.speaking, bot.attaching):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        bot.speaking = bot.attaching = None
        if bot.vad is not None:
            with contextlib.suppress(HotlineError):
                self._media.tap_audio(bot.leg_id, None)
            self._give_back(bot.vad)
            bot.vad = None

    def _give_back(self, vad: VoiceActivityDetector) -> None:
        release = self.engines.vad_release
        if release is not None:
            release(vad)

    def _arm(self, bot: _BotCall) -> None:
        due = bot.dialogue.get_timer()
        if due == bot.timer_at and bot.timer is not None:
            return
        self._disarm(bot)
        if due is None:
            return
        bot.timer_at = due
        bot.timer = self._call_later(max(0.0, due - self._now()), lambda: self._on_timer(bot))

    def _disarm(self, bot: _BotCall) -> None:
        if bot.timer is not None:
            bot.timer.cancel()
        bot.timer = None
        bot.timer_at = None

    def _on_timer(self, bot: _BotCall) -> None:
        bot.timer = None
        bot.timer_at = None
        if not bot.done:
            self._step(bot, lambda: bot.dialogue.handle_timer(self._now()))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.errors += 1
            log.error("assistant task failed", task=task.get_name(), error=repr(exc))


async def _transcribe(
    recognizer: SpeechRecognizer,
    grammar: tuple[str, ...] | None,
    queue: asyncio.Queue[bytes | None],
) -> str:
    """Feed one utterance from ``queue`` (None ends it) to a new session; the whole transcript.

    Final segments the engine reports on the way are part of what
    :meth:`~hotline.bot.ports.RecognitionSession.finish` returns, so only that is used.
    """
    session = await recognizer.open(grammar)
    try:
        ended = False
        while not ended:
            frames: list[bytes] = []
            while len(frames) < _BATCH_FRAMES:  # one hop to the engine per 100 ms of audio
                frame = await queue.get()
                if frame is None:
                    ended = True
                    break
                frames.append(frame)
            if frames:
                await session.accept(b"".join(frames))
        final = await session.finish()
    finally:
        await session.close()
    return final.text.strip()
