"""The voice assistant's call driver (calls.ctl_bot) with fakes of every port, on a fake clock.

Tasks run on the test's event loop; ``settle`` lets them run (no sleeps with
a duration); the matcher runs on an inline executor.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from hotline.bot.dialogue_model import DialogueConfig
from hotline.bot.phrases_ru import CONFIRMATION_GRAMMAR, Phrase
from hotline.bot.ports import (
    FRAME_BYTES,
    AnswerMatch,
    RecognitionResult,
    RecognizerUnavailableError,
    VadEvent,
    VadEventKind,
)
from hotline.bot.prompt_cache import SpeechChunk
from hotline.bot.tts import SynthesisError
from hotline.calls.call import Call
from hotline.calls.ctl_bot import BotCalls, BotEngines, BotLimits
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_ports import Route
from hotline.core.clock import FakeClock
from hotline.core.errors import HotlineError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived
from hotline.media.player import PlaybackFinished, PlaybackItem
from hotline.reports.events import BotResult, CallCentreEvent

CALL = CallId("call-1")
LEG = "m1"
ANSWER = "Записаться к врачу можно через Госуслуги."
LOUD = b"\x00\x10" * (FRAME_BYTES // 2)
QUIET = bytes(FRAME_BYTES)


class InlineExecutor(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@dataclass
class FakeMedia:
    played: list[PlaybackItem] = field(default_factory=list)
    stopped: int = 0
    sink: Callable[[bytes], None] | None = None
    taps: list[bool] = field(default_factory=list)

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        assert leg_id == LEG
        self.played.append(item)

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        self.stopped += 1

    def tap_audio(self, leg_id: str, sink: Callable[[bytes], None] | None) -> None:
        self.sink = sink
        self.taps.append(sink is not None)


@dataclass
class FakeSpeech:
    """One rendered chunk per text (a real 0.1 s WAV); records what it was asked to say."""

    wav: Path
    said: list[str] = field(default_factory=list)
    broken: bool = False

    async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[SpeechChunk]:
        if self.broken:
            raise SynthesisError("fake", "broken")
        self.said.append(text)
        yield SpeechChunk(0, text, self.wav, last=True)


class FakeVad:
    """Loud frames are speech; speech ends after three quiet frames."""

    def __init__(self) -> None:
        self.speaking = False
        self.quiet = 0
        self.fed_ms = 0

    def feed(self, pcm: bytes) -> Sequence[VadEvent]:
        assert len(pcm) % FRAME_BYTES == 0
        self.fed_ms += 20
        loud = any(pcm)
        if loud and not self.speaking:
            self.speaking, self.quiet = True, 0
            return [VadEvent(VadEventKind.SPEECH_STARTED, self.fed_ms)]
        if not loud and self.speaking:
            self.quiet += 1
            if self.quiet >= 3:
                self.speaking = False
                return [VadEvent(VadEventKind.SPEECH_ENDED, self.fed_ms)]
        return []

    def reset(self) -> None:
        self.speaking = False


@dataclass
class FakeSession:
    text: str
    audio: bytearray = field(default_factory=bytearray)
    closed: bool = False

    async def accept(self, pcm: bytes) -> RecognitionResult | None:
        self.audio += pcm
        return None

    async def finish(self) -> RecognitionResult:
        return RecognitionResult(self.text, True, 0.9)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeRecognizer:
    replies: list[str] = field(default_factory=list)
    grammars: list[tuple[str, ...] | None] = field(default_factory=list)
    sessions: list[FakeSession] = field(default_factory=list)
    full: bool = False

    @property
    def available(self) -> bool:
        return True

    async def open(self, grammar: Sequence[str] | None = None) -> FakeSession:
        if self.full:
            raise RecognizerUnavailableError("no free slot")
        self.grammars.append(None if grammar is None else tuple(grammar))
        session = FakeSession(self.replies.pop(0))
        self.sessions.append(session)
        return session


class FakeMatcher:
    def match(self, text: str, topic: str | None = None) -> AnswerMatch:
        if "врач" in text:
            return AnswerMatch("health-01", 0.9, "health-01")
        return AnswerMatch(None, 0.1)


@dataclass
class FakeTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeExit:
    log: list[tuple[str, CallId]] = field(default_factory=list)

    def bot_handed_over(self, call_id: CallId) -> None:
        self.log.append(("handed_over", call_id))

    def bot_finished(self, call_id: CallId) -> None:
        self.log.append(("finished", call_id))


@dataclass
class EventList:
    events: list[CallCentreEvent] = field(default_factory=list)

    def append(self, event: CallCentreEvent) -> None:
        self.events.append(event)


@dataclass
class Rig:
    clock: FakeClock
    media: FakeMedia
    speech: FakeSpeech
    recognizer: FakeRecognizer
    exit: FakeExit
    bots: BotCalls
    call: Call
    sink: EventList
    timers: list[FakeTimer]

    async def settle(self) -> None:
        for _ in range(30):
            await asyncio.sleep(0)

    async def finish_playback(self) -> None:
        """Every item queued so far played to its end."""
        await self.settle()
        for item in list(self.media.played):
            self.bots.on_media_event(CALL, PlaybackFinished(LEG, item.item_id))
        await self.settle()

    async def speak(self, frames: int = 10) -> None:
        """The caller says something: loud frames, then enough quiet ones to end it."""
        sink = self.media.sink
        assert sink is not None
        for _ in range(frames):
            self.clock.advance(0.02)
            sink(LOUD[:100])  # packets need not be whole frames
            sink(LOUD[100:])
        for _ in range(4):
            self.clock.advance(0.02)
            sink(QUIET)
        await self.settle()

    def key(self, digit: str) -> None:
        self.bots.on_media_event(
            CALL, LegDtmfReceived(LEG, DtmfReceived(digit, 100, DtmfSource.RFC4733))
        )

    def run_timer(self) -> None:
        live = [t for t in self.timers if not t.cancelled]
        assert len(live) == 1
        self.timers.remove(live[0])
        self.clock.advance(max(0.0, live[0].when - self.clock.monotonic()))
        live[0].callback()

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.sink.events]


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x04" * 800)
    return path


def make_rig(
    wav: Path,
    *,
    replies: Sequence[str] = (),
    complete: bool = True,
    limits: BotLimits | None = None,
) -> Rig:
    clock = FakeClock()
    media = FakeMedia()
    speech = FakeSpeech(wav)
    recognizer = FakeRecognizer(list(replies))
    timers: list[FakeTimer] = []

    def call_later(delay_s: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(clock.monotonic() + delay_s, callback)
        timers.append(timer)
        return timer

    call = Call(
        call_id=CALL,
        caller_leg=None,  # type: ignore[arg-type]  # the driver never touches SIP
        caller_number="79161234567",
        called_number="122",
        trunk=None,
        route=Route(QueueId("general"), TopicId("general")),
        arrived_at=clock.monotonic(),
    )
    sink = EventList()
    writer = CallEventWriter(sink, clock, {CALL: call}.get)
    engines = BotEngines(
        speech=speech,
        answers={"health-01": ANSWER}.get,
        recognizer=recognizer if complete else None,
        vad=FakeVad,
        matcher=FakeMatcher(),
    )
    bots = BotCalls(
        media=media,
        engines=engines,
        clock=clock,
        call_later=call_later,
        calls={CALL: call}.get,
        events=writer,
        config=DialogueConfig(),
        limits=limits,
        executor=InlineExecutor(),
    )
    exit_ = FakeExit()
    bots.attach(exit_)
    return Rig(clock, media, speech, recognizer, exit_, bots, call, sink, timers)


async def test_question_answer_then_key_0_hands_over_with_the_transcript(wav: Path) -> None:
    rig = make_rig(wav, replies=["как записаться к врачу"])
    assert rig.bots.start(CALL, LEG, "PCMA", "health")
    assert rig.media.taps == []  # the detector is made off the loop first
    await rig.settle()
    assert rig.speech.said == [Phrase.GREETING.value] and len(rig.media.played) == 1
    assert rig.media.taps == [True]
    await rig.finish_playback()
    await rig.speak()
    assert rig.recognizer.grammars == [None]
    heard = rig.recognizer.sessions[0]
    assert heard.closed and len(heard.audio) >= 10 * FRAME_BYTES  # pre-roll and speech
    assert rig.speech.said[-1] == ANSWER
    assert rig.call.bot_transcript == ["как записаться к врачу"]
    assert rig.call.bot_answer_id == "health-01"
    assert len(rig.bots.latencies_s) == 1 and 0.0 <= rig.bots.latencies_s[0] < 1.0
    await rig.finish_playback()
    assert rig.speech.said[-1] == Phrase.HELPED.value
    rig.key("0")
    await rig.settle()
    assert rig.media.stopped >= 1 and rig.speech.said[-1] == Phrase.HANDOVER.value
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)]
    assert rig.bots.active() == 0 and rig.media.taps == [True, False]
    assert rig.kinds() == ["call.bot_started", "call.bot_ended"]
    ended = rig.sink.events[-1]
    assert ended.payload == {
        "result": "handed_over",
        "reason": "caller_asked",
        "transcript": "как записаться к врачу",
        "answer_id": "health-01",
    }
    assert [t for t in rig.timers if not t.cancelled] == []


async def test_the_helped_reply_is_recognised_with_the_confirmation_grammar(wav: Path) -> None:
    rig = make_rig(wav, replies=["врач", "да"])
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.finish_playback()
    await rig.speak()
    await rig.finish_playback()  # the answer
    await rig.finish_playback()  # «Ответ помог?»
    await rig.speak()
    assert rig.recognizer.grammars == [None, CONFIRMATION_GRAMMAR]
    assert rig.speech.said[-1] == Phrase.ANOTHER_QUESTION.value
    await rig.finish_playback()
    rig.run_timer()  # silence after «да»: goodbye
    await rig.settle()
    assert rig.speech.said[-1] == Phrase.GOODBYE.value
    await rig.finish_playback()
    assert rig.exit.log == [("finished", CALL)]
    assert rig.sink.events[-1].payload["result"] == "resolved"


async def test_speech_over_the_greeting_stops_it(wav: Path) -> None:
    rig = make_rig(wav, replies=["непонятно"])
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    await rig.speak()
    assert rig.media.stopped == 1
    assert rig.speech.said[-1] == Phrase.REPHRASE.value


async def test_without_a_recogniser_the_caller_is_told_and_handed_over(wav: Path) -> None:
    rig = make_rig(wav, complete=False)
    rig.bots.start(CALL, LEG, "PCMU", None)
    await rig.settle()
    assert rig.media.taps == [] and rig.speech.said == [Phrase.UNAVAILABLE.value]
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)]
    assert rig.sink.events[-1].payload["reason"] == "unavailable"


async def test_a_full_recogniser_means_the_unavailable_message_and_an_operator(wav: Path) -> None:
    rig = make_rig(wav)
    rig.recognizer.full = True
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.finish_playback()
    await rig.speak()
    assert rig.speech.said[-1] == Phrase.UNAVAILABLE.value
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)]


async def test_broken_speech_synthesis_hands_over_at_once(wav: Path) -> None:
    rig = make_rig(wav)
    rig.speech.broken = True
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    assert rig.exit.log == [("handed_over", CALL)]
    assert rig.sink.events[-1].payload["reason"] == "failure"
    assert rig.bots.active() == 0


async def test_capacity_is_bounded(wav: Path) -> None:
    rig = make_rig(wav, limits=BotLimits(max_sessions=1))
    assert rig.bots.start(CALL, LEG, "PCMA", None)
    assert not rig.bots.start(CallId("call-2"), "m2", "PCMA", None)
    assert not rig.bots.start(CALL, LEG, "PCMA", None)
    assert rig.bots.sessions_refused == 2


async def test_hang_up_ends_quietly_as_hung_up(wav: Path) -> None:
    rig = make_rig(wav)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    rig.bots.end(CALL)
    await rig.settle()
    assert rig.exit.log == [] and rig.bots.active() == 0
    assert rig.sink.events[-1].payload["result"] == "hung_up"
    rig.bots.end(CALL)  # again: nothing
    rig.key("0")
    assert rig.kinds() == ["call.bot_started", "call.bot_ended"]


async def test_silence_twice_hands_over(wav: Path) -> None:
    rig = make_rig(wav)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.finish_playback()
    rig.run_timer()
    await rig.settle()
    assert rig.speech.said[-1] == Phrase.ASK_AGAIN.value
    await rig.finish_playback()
    rig.run_timer()
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)]
    assert rig.sink.events[-1].payload["reason"] == "silence"


async def test_aclose_stops_every_session(wav: Path) -> None:
    rig = make_rig(wav)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    await rig.bots.aclose()
    assert rig.bots.active() == 0 and rig.media.taps == [True, False]


async def test_a_detector_that_cannot_be_made_hands_over(wav: Path) -> None:
    rig = make_rig(wav)

    def broken() -> FakeVad:
        raise HotlineError("no detector model")

    rig.bots.engines = replace(rig.bots.engines, vad=broken)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    assert rig.exit.log == [("handed_over", CALL)] and rig.media.taps == []
    assert rig.sink.events[-1].payload["reason"] == "failure"


async def test_key_0_while_the_caller_speaks_drops_the_recognition(wav: Path) -> None:
    rig = make_rig(wav, replies=["врач"])
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.finish_playback()
    sink = rig.media.sink
    assert sink is not None
    for _ in range(5):  # speech starts, and goes on
        sink(LOUD)
    await rig.settle()
    (session,) = rig.recognizer.sessions
    rig.key("0")
    await rig.settle()
    assert session.closed  # the recognition was cancelled and its slot released
    for _ in range(10):  # the caller's speech ends: nothing more is recognised
        sink(QUIET)
    await rig.settle()
    assert len(rig.recognizer.sessions) == 1
    assert rig.speech.said[-1] == Phrase.HANDOVER.value
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)] and rig.call.bot_transcript == []


def test_bot_events_carry_a_bounded_transcript_and_the_answer(wav: Path) -> None:
    rig = make_rig(wav)
    rig.call.bot_transcript = ["вопрос " * 100, "ещё " * 200]
    rig.call.bot_answer_id = "health-01"
    writer = CallEventWriter(rig.sink, rig.clock, {CALL: rig.call}.get)
    writer.bot_started(rig.call)
    writer.bot_ended(rig.call, BotResult.RESOLVED)
    started, ended = rig.sink.events
    assert started.kind.value == "call.bot_started" and started.call_id == CALL
    assert ended.payload["result"] == "resolved" and ended.payload["answer_id"] == "health-01"
    transcript = ended.payload["transcript"]
    assert isinstance(transcript, str) and len(transcript) == 1024
    assert transcript.startswith("вопрос вопрос") and " | ещё" in transcript


@dataclass
class SegmentedSession(FakeSession):
    """An engine that closes a segment at a pause, then returns the whole utterance."""

    segment: str = ""
    reported: bool = False

    async def accept(self, pcm: bytes) -> RecognitionResult | None:
        self.audio += pcm
        if not self.reported:
            self.reported = True
            return RecognitionResult(self.segment, True, 0.8)
        return None


async def test_segments_the_engine_closed_early_are_not_repeated(wav: Path) -> None:
    rig = make_rig(wav)
    whole = "как записаться к врачу"

    async def open_segmented(grammar: Sequence[str] | None = None) -> FakeSession:
        session = SegmentedSession(whole, segment="как записаться")
        rig.recognizer.sessions.append(session)
        return session

    rig.recognizer.open = open_segmented  # type: ignore[method-assign]
    rig.bots.start(CALL, LEG, "PCMA", "health")
    await rig.finish_playback()
    await rig.speak()
    assert rig.recognizer.sessions[0].reported
    assert rig.call.bot_transcript == [whole]
    assert rig.speech.said[-1] == ANSWER


async def test_the_detector_is_given_back_when_the_call_ends(wav: Path) -> None:
    rig = make_rig(wav)
    given_back: list[object] = []
    rig.bots.engines = replace(rig.bots.engines, vad_release=given_back.append)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.settle()
    sink = rig.media.sink
    assert sink is not None and given_back == []
    sink(LOUD)  # the caller is speaking as they hang up
    rig.bots.end(CALL)
    await rig.settle()
    assert len(given_back) == 1 and isinstance(given_back[0], FakeVad)
    assert rig.media.taps == [True, False]
    sink(LOUD)  # a late packet after the hang-up: the detector is not touched
    assert len(given_back) == 1


async def test_a_call_handed_over_gives_its_detector_back_once(wav: Path) -> None:
    rig = make_rig(wav)
    given_back: list[object] = []
    rig.bots.engines = replace(rig.bots.engines, vad_release=given_back.append)
    rig.bots.start(CALL, LEG, "PCMA", None)
    await rig.finish_playback()
    rig.key("0")
    await rig.finish_playback()
    assert rig.exit.log == [("handed_over", CALL)]
    rig.bots.end(CALL)
    await rig.bots.aclose()
    assert len(given_back) == 1
