"""Table-driven walks through the demo flow (architecture.md, "The demo service")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_nodes import Prompt
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.ivr.interpreter import IvrSession, SessionState
from hotline.ivr.ivr_events import (
    Hangup,
    IncidentAnnounced,
    InputFailed,
    InputFailure,
    IvrChoiceMade,
    IvrEvent,
    PlayPrompts,
    RouteToBot,
    RouteToQueue,
    StartDigitCollection,
    StopPlayback,
    TopicSet,
)

ARRIVED = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
MENU_TIMEOUT_S = 7.0


class Caller:
    """Drives one session like the call layer would, on a fake clock."""

    def __init__(self, flow: Flow, *, incidents: tuple[str, ...] = ()) -> None:
        self.now = 100.0
        self.session = IvrSession(
            flow, CallId("c1"), self.now, local_time=ARRIVED, incidents=incidents
        )
        self.log: list[IvrEvent] = []
        self.playing: PlayPrompts | None = None
        self.take()

    def take(self) -> list[IvrEvent]:
        out: list[IvrEvent] = []
        while (event := self.session.next_event()) is not None:
            out.append(event)
            if isinstance(event, PlayPrompts):
                self.playing = event
            elif isinstance(event, StopPlayback) and self.playing is not None:
                assert event.item_id == self.playing.item_id
                self.playing = None
        self.log.extend(out)
        return out

    def finish(self, seconds: float = 3.0) -> list[IvrEvent]:
        assert self.playing is not None, "nothing is playing"
        self.now += seconds
        item, self.playing = self.playing, None
        self.session.playback_finished(item.item_id, self.now)
        return self.take()

    def press(self, digit: str, seconds: float = 0.5) -> list[IvrEvent]:
        self.now += seconds
        self.session.dtmf(digit, self.now)
        return self.take()

    def wait_for_timer(self) -> list[IvrEvent]:
        deadline = self.session.get_timer()
        assert deadline is not None
        self.now = deadline
        self.session.handle_timer(self.now)
        return self.take()

    def texts(self, event: IvrEvent) -> tuple[str | None, ...]:
        assert isinstance(event, PlayPrompts)
        return tuple(p.prompt_id for p in event.prompts)

    def to_menu(self) -> None:
        """Hear the greeting (and the incident message, if on) to the menu prompt."""
        while self.playing is not None and self.texts(self.playing) != ("main_menu",):
            self.finish()


@pytest.fixture(scope="module")
def demo() -> Flow:
    return load_demo_flow()


TOPIC_DIGITS = [
    ("1", "social", "social"),
    ("2", "health", "health"),
    ("3", "education", "education"),
    ("4", "military", "military"),
    ("5", "services", "services"),
]


def test_the_call_opens_with_the_greeting_and_the_recording_notice(demo: Flow) -> None:
    caller = Caller(demo)
    (first,) = caller.log
    assert first == PlayPrompts(
        "c1.ivr.1",
        (
            Prompt(
                "greeting",
                "Здравствуйте! Вы позвонили на единую линию 122. Разговор записывается.",
            ),
        ),
        barge_in=False,
    )
    assert caller.session.state is SessionState.PLAYING
    # The consent notice cannot be skipped: a key during it does nothing.
    assert caller.press("2") == []
    (menu,) = caller.finish()
    assert isinstance(menu, PlayPrompts)
    assert (menu.item_id, menu.barge_in) == ("c1.ivr.2", True)
    assert caller.texts(menu) == ("main_menu",)
    assert menu.prompts[0].text is not None
    assert menu.prompts[0].text.startswith("По вопросам социальной поддержки нажмите 1.")


@pytest.mark.parametrize(("digit", "queue", "topic"), TOPIC_DIGITS)
@pytest.mark.parametrize("during_prompt", [True, False])
def test_each_topic_digit_routes_to_its_queue_with_its_topic(
    demo: Flow, digit: str, queue: str, topic: str, during_prompt: bool
) -> None:
    caller = Caller(demo)
    caller.to_menu()
    if not during_prompt:
        assert caller.finish() == [
            StartDigitCollection("main_menu", 1, 1, None, MENU_TIMEOUT_S, None)
        ]
    events = caller.press(digit)
    if during_prompt:
        assert events[:2] == [
            StopPlayback("c1.ivr.2"),
            StartDigitCollection("main_menu", 1, 1, None, MENU_TIMEOUT_S, None),
        ]
        events = events[2:]
    assert events == [
        IvrChoiceMade(CallId("c1"), "main_menu", digit, False, caller.now),
        TopicSet(CallId("c1"), TopicId(topic), caller.now),
        RouteToQueue(QueueId(queue), TopicId(topic)),
    ]
    assert caller.session.finished
    assert caller.session.topic == topic
    assert caller.session.get_timer() is None


@pytest.mark.parametrize(
    "before",
    [
        pytest.param([], id="during-the-menu-prompt"),
        pytest.param(["finish"], id="while-waiting"),
        pytest.param(["finish", "7"], id="after-an-invalid-key"),
        pytest.param(["finish", "timer"], id="after-a-timeout"),
        pytest.param(["*"], id="after-repeat"),
    ],
)
def test_zero_reaches_the_operator_queue_at_any_time(demo: Flow, before: list[str]) -> None:
    caller = Caller(demo)
    caller.to_menu()
    for step in before:
        if step == "finish":
            caller.finish()
        elif step == "timer":
            caller.wait_for_timer()
        else:
            caller.press(step)
    events = caller.press("0")
    assert IvrChoiceMade(CallId("c1"), "main_menu", "0", False, caller.now) in events
    assert events[-1] == RouteToQueue(QueueId("general"), None)
    assert not any(isinstance(e, TopicSet) for e in caller.log)


def test_an_invalid_digit_plays_the_message_then_the_menu_again(demo: Flow) -> None:
    caller = Caller(demo)
    caller.to_menu()
    caller.finish()
    events = caller.press("7")
    assert events[0] == InputFailed(CallId("c1"), "main_menu", InputFailure.INVALID, 1, caller.now)
    assert caller.texts(events[1]) == ("invalid_choice", "main_menu")
    assert events[1].prompts[0].text == "Такого пункта в меню нет."  # type: ignore[union-attr]
    assert caller.press("3")[-1] == RouteToQueue(QueueId("education"), TopicId("education"))


def test_three_invalid_digits_go_to_the_fallback_operator_queue(demo: Flow) -> None:
    caller = Caller(demo)
    caller.to_menu()
    for attempt in (1, 2):
        caller.finish()
        events = caller.press("8")
        assert events[0] == InputFailed(
            CallId("c1"), "main_menu", InputFailure.INVALID, attempt, caller.now
        )
        assert caller.texts(events[1]) == ("invalid_choice", "main_menu")
    caller.finish()
    assert caller.press("#") == [
        InputFailed(CallId("c1"), "main_menu", InputFailure.INVALID, 3, caller.now),
        RouteToQueue(QueueId("general"), None),
    ]


def test_timeouts_repeat_the_menu_then_go_to_the_fallback(demo: Flow) -> None:
    caller = Caller(demo)
    caller.to_menu()
    for attempt in (1, 2):
        caller.finish()
        prompt_ended = caller.now
        assert caller.session.get_timer() == prompt_ended + MENU_TIMEOUT_S
        events = caller.wait_for_timer()
        assert events[0] == InputFailed(
            CallId("c1"), "main_menu", InputFailure.TIMEOUT, attempt, prompt_ended + 7.0
        )
        assert caller.texts(events[1]) == ("no_choice", "main_menu")
        assert events[1].prompts[0].text == "Вы не выбрали пункт меню."  # type: ignore[union-attr]
    caller.finish()
    assert caller.wait_for_timer() == [
        InputFailed(CallId("c1"), "main_menu", InputFailure.TIMEOUT, 3, caller.now),
        RouteToQueue(QueueId("general"), None),
    ]


def test_the_repeat_key_says_the_menu_again_without_using_a_retry(demo: Flow) -> None:
    caller = Caller(demo)
    caller.to_menu()
    for _ in range(5):
        caller.finish()
        events = caller.press("*")
        assert len(events) == 1
        assert caller.texts(events[0]) == ("main_menu",)
    # All retries are still there: three time-outs are needed to reach the fallback.
    for _ in range(3):
        caller.finish()
        events = caller.wait_for_timer()
    assert events[-1] == RouteToQueue(QueueId("general"), None)
    assert [e.attempt for e in caller.log if isinstance(e, InputFailed)] == [1, 2, 3]


def test_the_incident_switch_plays_its_message_before_the_menu(demo: Flow) -> None:
    quiet = Caller(demo)
    assert quiet.texts(quiet.finish()[0]) == ("main_menu",)
    caller = Caller(demo, incidents=("major_incident",))
    events = caller.finish()
    assert events[0] == IncidentAnnounced(CallId("c1"), "incident", "major_incident", caller.now)
    assert caller.texts(events[1]) == ("incident",)
    assert events[1].barge_in is False  # type: ignore[union-attr]
    assert caller.texts(caller.finish()[0]) == ("main_menu",)


def test_nine_goes_to_the_assistant_and_back_to_an_operator_when_it_is_missing(
    demo: Flow,
) -> None:
    caller = Caller(demo)
    caller.to_menu()
    events = caller.press("9")
    assert events[-1] == RouteToBot(None, "operator")
    assert caller.session.state is SessionState.ROUTED
    caller.now += 0.2
    caller.session.route_failed(caller.now)
    (message,) = caller.take()
    assert caller.texts(message) == ("bot_unavailable",)
    assert caller.finish() == [RouteToQueue(QueueId("general"), None)]


def test_the_caller_hanging_up_in_the_menu_ends_the_session_quietly(demo: Flow) -> None:
    caller = Caller(demo)
    caller.to_menu()
    caller.finish()
    caller.session.caller_hung_up(caller.now + 1.0)
    assert caller.take() == []
    assert caller.session.state is SessionState.ENDED
    assert caller.session.get_timer() is None
    assert not any(isinstance(e, RouteToQueue | Hangup) for e in caller.log)
