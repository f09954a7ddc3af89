"""The voice-menu runner on the demo flow: fakes of its real ports, a fake clock, no sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from hotline.core.clock import FakeClock
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import load_demo_flow, load_flow_yaml
from hotline.ivr.interpreter import PLAYBACK_GUARD_S
from hotline.ivr.runner import (
    BYE_GUARD_S,
    MISSING_PROMPT_MS,
    IvrRunner,
    RenderedPrompts,
    flow_prompt_texts,
)
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived, UnknownLegError
from hotline.media.player import (
    PlaybackFinished,
    PlaybackInterrupted,
    PlaybackItem,
    PromptPart,
    SilencePart,
)
from hotline.media.prompts import EncodedPrompt

CALL = CallId("call-1")
LEG = "m1"
GENERAL = QueueId("general")
CODECS = ("PCMA", "PCMU")


# -- fakes of the runner's ports -----------------------------------------------------------
@dataclass
class FakeMedia:
    """IvrMedia: records what would be played and stopped; can be made to fail."""

    played: list[tuple[str, PlaybackItem]] = field(default_factory=list)
    stopped: list[tuple[str, str | None]] = field(default_factory=list)
    gone: bool = False

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        if self.gone:
            raise UnknownLegError(leg_id)
        self.played.append((leg_id, item))

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        self.stopped.append((leg_id, item_id))

    @property
    def last(self) -> PlaybackItem:
        return self.played[-1][1]


@dataclass
class FakeTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeLoop:
    """``call_later`` on the fake clock; ``run_next`` moves the clock to the next timer."""

    clock: FakeClock
    timers: list[FakeTimer] = field(default_factory=list)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> FakeTimer:
        assert delay_s >= 0
        timer = FakeTimer(self.clock.monotonic() + delay_s, callback)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]

    def run_next(self) -> float:
        (timer,) = self.pending()  # one timer per call, never more
        self.timers.remove(timer)
        self.clock.advance(max(0.0, timer.when - self.clock.monotonic()))
        timer.callback()
        return timer.when


@dataclass
class FakeHost:
    """IvrHost: records every answer of the menu, in order."""

    log: list[tuple[str, ...]] = field(default_factory=list)

    def menu_topic(self, call_id: CallId, topic: TopicId) -> None:
        self.log.append(("topic", call_id, topic))

    def menu_choice(self, call_id: CallId, menu: str, digit: str, info_message: bool) -> None:
        self.log.append(("choice", call_id, menu, digit, str(info_message)))

    def menu_to_queue(self, call_id: CallId, queue_id: QueueId) -> None:
        self.log.append(("queue", call_id, queue_id))

    def menu_hang_up(self, call_id: CallId, self_service: bool) -> None:
        self.log.append(("hangup", call_id, str(self_service)))


def rendered(flow: Flow, *, skip: str | None = None) -> RenderedPrompts:
    """A fake rendering: 1 s of frames per text, one EncodedPrompt per (text, codec)."""
    return RenderedPrompts(
        {
            (text, codec): EncodedPrompt(f"/tts/{n}.wav", codec, (bytes([n]) * 160,) * 50, 1.0)
            for n, text in enumerate(flow_prompt_texts(flow))
            for codec in CODECS
            if text != skip
        }
    )


@dataclass
class Rig:
    flow: Flow
    clock: FakeClock
    media: FakeMedia
    loop: FakeLoop
    host: FakeHost
    runner: IvrRunner

    def key(self, digit: str, leg: str = LEG) -> None:
        dtmf = DtmfReceived(digit, 120, DtmfSource.RFC4733)
        self.runner.on_media_event(CALL, LegDtmfReceived(leg, dtmf))

    def finish(self, item: PlaybackItem | None = None) -> None:
        """The current (or given) item played to its end, one second later."""
        self.clock.advance(1.0)
        item_id = (item or self.media.last).item_id
        self.runner.on_media_event(CALL, PlaybackFinished(LEG, item_id))

    def texts(self, item: PlaybackItem | None = None) -> list[str]:
        """The library prompt ids whose renderings make up ``item`` (default: the last one)."""
        by_frames = {
            encoded.frames: text for (text, _c), encoded in rendered(self.flow).encoded.items()
        }
        ids = {text: pid for pid, text in self.flow.prompts.items()}
        return [
            ids.get(by_frames[p.prompt.frames], "?") if isinstance(p, PromptPart) else "silence"
            for p in (item or self.media.last).parts
        ]


def make_rig(flow: Flow | None = None, *, codec: str = "PCMA", skip: str | None = None) -> Rig:
    flow = flow or load_demo_flow()
    clock = FakeClock()
    media = FakeMedia()
    loop = FakeLoop(clock)
    host = FakeHost()
    runner = IvrRunner(
        flow,
        media=media,
        clock=clock,
        call_later=loop.call_later,
        fallback_queue=GENERAL,
        prompts=rendered(flow, skip=skip),
    )
    runner.attach(host)
    runner.start(CALL, LEG, codec)
    return Rig(flow, clock, media, loop, host, runner)


def at_main_menu(rig: Rig) -> PlaybackItem:
    rig.finish()  # the greeting
    assert rig.texts() == ["main_menu"] and rig.media.last.barge_in
    return rig.media.last


# -- tests ---------------------------------------------------------------------------------
def test_every_prompt_text_of_the_demo_flow_is_listed_once() -> None:
    flow = load_demo_flow()
    texts = flow_prompt_texts(flow)
    assert sorted(texts) == sorted(flow.prompts.values())
    assert texts[0].startswith("Здравствуйте! Вы позвонили на единую линию 122.")


def test_start_plays_the_greeting_without_barge_in_and_arms_the_guard() -> None:
    rig = make_rig()
    ((leg, greeting),) = rig.media.played
    assert leg == LEG and not greeting.barge_in and not greeting.loop
    assert rig.texts() == ["greeting"]
    part = greeting.parts[0]
    assert isinstance(part, PromptPart) and part.prompt.codec_name == "PCMA"
    (timer,) = rig.loop.pending()
    assert timer.when == pytest.approx(1000.0 + PLAYBACK_GUARD_S)
    assert rig.runner.active() == 1 and rig.host.log == []


def test_a_pcmu_call_hears_pcmu_prompts() -> None:
    rig = make_rig(codec="PCMU")
    part = rig.media.last.parts[0]
    assert isinstance(part, PromptPart) and part.prompt.codec_name == "PCMU"


def test_digit_2_during_the_menu_routes_to_health_with_its_topic() -> None:
    rig = make_rig()
    menu = at_main_menu(rig)
    rig.clock.advance(3.0)
    rig.key("2")
    assert (LEG, menu.item_id) in rig.media.stopped  # barge-in: the prompt stops
    assert rig.host.log == [
        ("topic", CALL, "health"),
        ("choice", CALL, "main_menu", "2", "False"),
        ("queue", CALL, "health"),
    ]
    assert rig.runner.active() == 0 and rig.loop.pending() == []
    rig.key("3")  # a late key after the call left the menu changes nothing
    assert len(rig.host.log) == 3


def test_a_key_during_the_greeting_is_ignored() -> None:
    rig = make_rig()
    rig.key("1")
    assert rig.host.log == [] and len(rig.media.played) == 1
    at_main_menu(rig)


def test_an_interrupted_prompt_event_does_not_move_the_menu() -> None:
    rig = make_rig()
    menu = at_main_menu(rig)
    rig.runner.on_media_event(CALL, PlaybackInterrupted(LEG, menu.item_id, "5"))
    assert rig.host.log == [] and rig.media.last is menu


def test_silence_repeats_the_menu_twice_then_goes_to_the_operator_queue() -> None:
    rig = make_rig()
    at_main_menu(rig)
    rig.finish()  # the menu prompt ended: 7 s for a key
    timeouts = []
    for _ in range(2):
        timeouts.append(rig.loop.run_next())
        assert rig.texts() == ["no_choice", "main_menu"]
        rig.finish()
    timeouts.append(rig.loop.run_next())
    assert [round(t - 1000.0, 3) for t in timeouts] == [9.0, 17.0, 25.0]  # 2 s prompts + 7 s
    assert rig.host.log == [("queue", CALL, GENERAL)]  # no choice, no topic
    assert rig.runner.active() == 0 and rig.loop.pending() == []


def test_a_wrong_key_says_so_and_repeats_the_menu() -> None:
    rig = make_rig()
    at_main_menu(rig)
    rig.key("7")
    assert rig.texts() == ["invalid_choice", "main_menu"]
    rig.key("*")  # the repeat key, barging into the repeat
    assert rig.texts() == ["main_menu"]
    rig.key("5")
    assert rig.host.log[-1] == ("queue", CALL, "services")


def test_digit_0_goes_to_the_operator_queue_with_its_choice() -> None:
    rig = make_rig()
    at_main_menu(rig)
    rig.key("0")
    assert rig.host.log == [
        ("choice", CALL, "main_menu", "0", "False"),
        ("queue", CALL, GENERAL),
    ]


def test_the_assistant_is_unavailable_the_fallback_plays_then_the_operator_queue() -> None:
    rig = make_rig()
    at_main_menu(rig)
    rig.key("9")
    assert rig.host.log == [("choice", CALL, "main_menu", "9", "False")]
    fallback = rig.media.last
    assert rig.texts() == ["bot_unavailable"] and not fallback.barge_in
    rig.key("1")  # no barge-in: the caller hears it out
    rig.finish()
    assert rig.host.log[-1] == ("queue", CALL, GENERAL)
    assert rig.runner.active() == 0


def test_a_playback_that_is_never_reported_finished_is_given_up_by_the_timer() -> None:
    rig = make_rig()
    greeting = rig.media.last
    fired = rig.loop.run_next()
    assert fired == pytest.approx(1000.0 + PLAYBACK_GUARD_S)
    assert (LEG, greeting.item_id) in rig.media.stopped
    assert rig.texts() == ["main_menu"]


def test_an_early_timer_callback_re_arms_instead_of_firing() -> None:
    rig = make_rig()
    at_main_menu(rig)
    rig.finish()
    (timer,) = rig.loop.pending()
    rig.loop.timers.remove(timer)
    rig.clock.advance(timer.when - rig.clock.monotonic() - 0.001)
    timer.callback()  # a millisecond early
    assert rig.texts() == ["main_menu"] and len(rig.media.played) == 2
    (again,) = rig.loop.pending()
    assert again.when == pytest.approx(timer.when)
    rig.loop.run_next()
    assert rig.texts() == ["no_choice", "main_menu"]


def test_the_caller_hanging_up_ends_the_menu_quietly() -> None:
    rig = make_rig()
    menu = at_main_menu(rig)
    rig.runner.end(CALL)
    assert rig.runner.active() == 0 and rig.loop.pending() == []
    rig.key("1")
    rig.runner.on_media_event(CALL, PlaybackFinished(LEG, menu.item_id))
    rig.runner.end(CALL)  # twice is harmless
    assert rig.host.log == []


def test_events_of_another_leg_are_ignored() -> None:
    rig = make_rig()
    rig.runner.on_media_event(CALL, PlaybackFinished("other", rig.media.last.item_id))
    assert rig.texts() == ["greeting"] and len(rig.media.played) == 1


def test_a_prompt_without_rendering_plays_as_silence_and_the_menu_goes_on() -> None:
    flow = load_demo_flow()
    rig = make_rig(flow, skip=flow.prompts["greeting"])
    assert rig.media.last.parts == (SilencePart(MISSING_PROMPT_MS),)
    assert rig.runner.missing_prompts == 1
    at_main_menu(rig)


def test_a_media_failure_sends_the_caller_to_the_fallback_queue() -> None:
    rig = make_rig()
    rig.media.gone = True
    rig.finish()  # the menu cannot be played: the leg is gone
    assert rig.host.log == [("queue", CALL, GENERAL)]
    assert rig.runner.errors == 1 and rig.runner.active() == 0 and rig.loop.pending() == []


def test_starting_a_call_twice_is_refused() -> None:
    rig = make_rig()
    with pytest.raises(LocalProtocolError, match="already"):
        rig.runner.start(CALL, LEG, "PCMA")


INFO_FLOW = """
format: 1
name: info
start: menu
operator: {key: "0", node: operator}
prompts:
  menu: Чтобы узнать часы работы, нажмите 1.
  hours: Мы работаем круглосуточно. До свидания.
nodes:
  - id: menu
    kind: menu
    prompts: [menu]
    branches: {"1": hours}
  - id: hours
    kind: hangup
    prompts: [hours]
    informational: true
  - id: operator
    kind: queue
    queue: general
"""


def test_an_information_message_plays_then_the_menu_hangs_up_as_self_service() -> None:
    rig = make_rig(load_flow_yaml(INFO_FLOW, known_queues=("general",)))
    rig.key("1")
    assert rig.host.log == [("choice", CALL, "menu", "1", "True")]
    bye = rig.media.last
    assert rig.texts() == ["hours"] and not bye.barge_in
    rig.key("0")  # the session has ended: keys change nothing now
    rig.finish(bye)
    assert rig.host.log[-1] == ("hangup", CALL, "True")
    assert rig.runner.active() == 0 and rig.loop.pending() == []


def test_the_goodbye_message_has_a_guard_when_its_end_is_never_reported() -> None:
    rig = make_rig(load_flow_yaml(INFO_FLOW, known_queues=("general",)))
    rig.key("1")
    fired = rig.loop.run_next()
    assert fired == pytest.approx(1000.0 + 1.0 + BYE_GUARD_S)  # the 1 s message + the guard
    assert rig.host.log[-1] == ("hangup", CALL, "True")
