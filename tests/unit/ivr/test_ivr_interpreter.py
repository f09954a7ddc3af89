"""The interpreter on small flows: collect, type-ahead, time conditions, hand-offs, limits, the table."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_nodes import ExternalTarget, Prompt
from hotline.ivr.flow_yaml import flow_from_yaml
from hotline.ivr.interpreter import (
    PLAYBACK_GUARD_S,
    TRANSITIONS,
    Action,
    IvrInput,
    IvrSession,
    SessionState,
)
from hotline.ivr.ivr_events import (
    DigitsCollected,
    Hangup,
    InputFailed,
    InputFailure,
    IvrChoiceMade,
    IvrEvent,
    PlayPrompts,
    RouteToQueue,
    StartDigitCollection,
    StepLimitReached,
    StopPlayback,
    TopicSet,
    TransferExternal,
)

C = CallId("c9")
MONDAY_NOON_UTC = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # 15:00 in Moscow


def flow(text: str) -> Flow:
    return flow_from_yaml(textwrap.dedent(text))


def drain(session: IvrSession) -> list[IvrEvent]:
    out: list[IvrEvent] = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def start(f: Flow, *, when: datetime = MONDAY_NOON_UTC, **kw: object) -> IvrSession:
    return IvrSession(f, C, 0.0, local_time=when, **kw)  # type: ignore[arg-type]


def last_item(events: list[IvrEvent]) -> str:
    plays = [e for e in events if isinstance(e, PlayPrompts)]
    assert plays
    return plays[-1].item_id


COLLECT = """
    name: collect
    start: ask
    operator: {node: operator}
    nodes:
      - id: ask
        kind: collect
        prompts: [{text: Введите номер СНИЛС}]
        variable: snils
        min_digits: 3
        max_digits: 5
        terminator: "#"
        timeout_s: 5
        inter_digit_timeout_s: 2
        pattern: "[1-9][0-9]*"
        invalid_prompts: [{text: Неверный номер}]
        next: done
      - id: done
        kind: queue
        queue: social
      - id: operator
        kind: queue
        queue: general
"""


def test_collect_stores_digits_ended_by_the_terminator() -> None:
    s = start(flow(COLLECT))
    item = last_item(drain(s))
    s.playback_finished(item, 1.0)
    assert drain(s) == [StartDigitCollection("ask", 3, 5, "#", 5.0, 2.0)]
    assert s.get_timer() == 6.0
    for t, key in enumerate("1204", start=2):
        s.dtmf(key, float(t))
        assert s.get_timer() == t + 2.0
    s.dtmf("#", 6.0)
    assert drain(s) == [
        DigitsCollected(C, "ask", "snils", 6.0),
        RouteToQueue(QueueId("social"), None),
    ]
    assert s.variables == {"snils": "1204"}


def test_collect_ends_at_max_digits_and_after_the_inter_digit_timeout() -> None:
    s = start(flow(COLLECT))
    drain(s)
    for key in "12345":  # barge-in: the first key stops the prompt
        s.dtmf(key, 1.0)
    assert s.variables == {"snils": "12345"}
    assert s.state is SessionState.ROUTED
    s = start(flow(COLLECT))
    drain(s)
    for key in "987":
        s.dtmf(key, 1.0)
    assert s.get_timer() == 3.0
    s.handle_timer(2.9)  # early: nothing happens
    assert s.state is SessionState.WAITING
    s.handle_timer(3.0)
    assert s.variables == {"snils": "987"}


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        pytest.param("12#", InputFailure.INVALID, id="too-short"),
        pytest.param("012#", InputFailure.INVALID, id="pattern"),
        pytest.param("#", InputFailure.INVALID, id="terminator-only"),
        pytest.param("", InputFailure.TIMEOUT, id="nothing"),
    ],
)
def test_collect_retries_bad_input(keys: str, reason: InputFailure) -> None:
    f = flow(COLLECT.replace("operator: {node: operator}", "operator: {node: operator, key: '*'}"))
    s = start(f)
    item = last_item(drain(s))
    s.playback_finished(item, 1.0)
    drain(s)
    for key in keys:
        s.dtmf(key, 2.0)
    if not keys:
        s.handle_timer(6.0)
    events = drain(s)
    assert isinstance(events[0], InputFailed)
    assert (events[0].reason, events[0].attempt) == (reason, 1)
    replay = events[-1]
    assert isinstance(replay, PlayPrompts)
    texts = [p.text for p in replay.prompts]
    expected = ["Неверный номер"] if reason is InputFailure.INVALID else []
    assert texts == [*expected, "Введите номер СНИЛС"]
    assert s.variables == {}


def test_the_operator_key_in_collect_works_as_the_first_key_only() -> None:
    s = start(flow(COLLECT))
    drain(s)
    s.dtmf("0", 1.0)  # during the prompt: barge-in, and it is the operator key
    events = drain(s)
    assert IvrChoiceMade(C, "ask", "0", False, 1.0) in events
    assert events[-1] == RouteToQueue(QueueId("general"), None)
    s = start(flow(COLLECT))
    drain(s)
    for key in "100#":
        s.dtmf(key, 1.0)
    assert s.variables == {"snils": "100"}
    off = flow(COLLECT.replace("next: done", "next: done\n        operator_key: false"))
    s = start(off)
    drain(s)
    for key in "0#":
        s.dtmf(key, 1.0)
    failed = [e for e in drain(s) if isinstance(e, InputFailed | IvrChoiceMade)]
    assert failed == [InputFailed(C, "ask", InputFailure.INVALID, 1, 1.0)]  # "0" is data here


MENU_NO_BARGE = """
    name: nobarge
    start: menu
    operator: {node: operator}
    nodes:
      - id: menu
        kind: menu
        prompts: [{text: Меню}]
        branches: {1: info}
        barge_in: false
      - id: info
        kind: hangup
        prompts: [{text: Приём граждан по понедельникам.}]
        informational: true
      - id: operator
        kind: queue
        queue: general
"""


def test_without_barge_in_keys_wait_for_the_prompt_except_the_operator_key() -> None:
    s = start(flow(MENU_NO_BARGE))
    item = last_item(drain(s))
    s.dtmf("1", 1.0)
    assert drain(s) == []
    s.playback_finished(item, 2.0)
    drain(s)
    s.dtmf("1", 3.0)
    assert drain(s) == [
        IvrChoiceMade(C, "menu", "1", True, 3.0),
        Hangup((Prompt(text="Приём граждан по понедельникам."),), self_service=True),
    ]
    s = start(flow(MENU_NO_BARGE))
    item = last_item(drain(s))
    s.dtmf("0", 1.0)
    assert drain(s)[0] == StopPlayback(item)


TYPEAHEAD = """
    name: typeahead
    start: hello
    operator: {node: operator}
    nodes:
      - id: hello
        kind: play
        prompts: [{text: Добрый день}]
        barge_in: true
        next: topic
      - id: topic
        kind: set_topic
        topic: health
        next: tip
      - id: tip
        kind: play
        prompts: [{text: Совет дня}]
        barge_in: true
        next: menu
      - id: menu
        kind: menu
        prompts: [{text: Меню}]
        branches: {2: q}
      - id: q
        kind: queue
        queue: health
      - id: operator
        kind: queue
        queue: general
"""


def test_a_key_that_cuts_a_message_short_is_used_by_the_next_menu() -> None:
    s = start(flow(TYPEAHEAD))
    item = last_item(drain(s))
    s.dtmf("2", 1.0)
    assert drain(s) == [
        StopPlayback(item),
        TopicSet(C, TopicId("health"), 1.0),
        StartDigitCollection("menu", 1, 1, None, 5.0, None),
        IvrChoiceMade(C, "menu", "2", False, 1.0),
        RouteToQueue(QueueId("health"), TopicId("health")),
    ]


TIMED = """
    name: timed
    start: hours
    nodes:
      - id: hours
        kind: time_condition
        timezone: Europe/Moscow
        ranges:
          - {days: mon-fri, time: "09:00-18:00"}
          - {days: sat, time: "22:00-02:00"}
        if_true: day
        if_false: night
      - id: day
        kind: queue
        queue: general
      - id: night
        kind: hangup
        prompts: [{text: Мы работаем с 9 до 18.}]
        informational: true
"""


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        (datetime(2025, 3, 3, 6, 0, tzinfo=UTC), True),  # Monday 09:00 Moscow
        (datetime(2025, 3, 3, 5, 59, tzinfo=UTC), False),  # Monday 08:59 Moscow
        (datetime(2025, 3, 3, 15, 0, tzinfo=UTC), False),  # Monday 18:00 Moscow (end excluded)
        (datetime(2025, 3, 3, 17, 59, tzinfo=timezone(timedelta(hours=3))), True),
        (datetime(2025, 3, 8, 12, 0, tzinfo=UTC), False),  # Saturday 15:00
        (datetime(2025, 3, 8, 19, 30, tzinfo=UTC), True),  # Saturday 22:30
        (datetime(2025, 3, 8, 22, 30, tzinfo=UTC), True),  # Sunday 01:30, the night of Saturday
        (datetime(2025, 3, 9, 19, 30, tzinfo=UTC), False),  # Sunday 22:30
    ],
)
def test_time_conditions_use_the_arrival_time_in_the_nodes_zone(
    when: datetime, open_: bool
) -> None:
    s = start(flow(TIMED), when=when)
    (command,) = drain(s)
    if open_:
        assert command == RouteToQueue(QueueId("general"), None)
    else:
        assert command == Hangup((Prompt(text="Мы работаем с 9 до 18."),), self_service=True)


HANDOFFS = """
    name: handoffs
    start: menu
    operator: {node: operator}
    prompts:
      sorry: Организация не отвечает.
    nodes:
      - id: menu
        kind: menu
        prompts: [{text: Меню}]
        branches: {1: mfc, 2: direct}
      - id: mfc
        kind: external
        organisation: mfc
        fallback: operator
        fallback_prompts: [sorry]
      - id: direct
        kind: external
        number: "+74950000000"
      - id: operator
        kind: queue
        queue: general
"""


def test_a_failed_external_transfer_plays_its_message_and_goes_to_the_fallback() -> None:
    s = start(flow(HANDOFFS))
    drain(s)
    s.dtmf("1", 1.0)
    assert drain(s)[-1] == TransferExternal(ExternalTarget(organisation="mfc"), None, "operator")
    s.route_failed(30.0)
    (message,) = drain(s)
    assert isinstance(message, PlayPrompts)
    assert message.prompts == (Prompt("sorry", "Организация не отвечает."),)
    s.playback_finished(message.item_id, 32.0)
    assert drain(s) == [RouteToQueue(QueueId("general"), None)]


def test_an_external_transfer_without_a_message_falls_back_straight_away() -> None:
    s = start(flow(HANDOFFS))
    drain(s)
    s.dtmf("2", 1.0)
    assert drain(s)[-1] == TransferExternal(ExternalTarget(number="+74950000000"), None, "operator")
    s.route_failed(30.0)
    assert drain(s) == [RouteToQueue(QueueId("general"), None)]
    with pytest.raises(LocalProtocolError):
        s.route_failed(31.0)  # a queue hand-off never fails back into the menu


def test_an_external_transfer_with_nowhere_to_fall_back_ends_the_call() -> None:
    f = flow(
        """
        name: ext
        start: go
        nodes:
          - {id: go, kind: external, number: "112"}
        """
    )
    s = start(f)
    assert drain(s) == [TransferExternal(ExternalTarget(number="112"), None, None)]
    s.route_failed(1.0)
    assert drain(s) == [Hangup((), self_service=False)]


LOOPY = """
    name: loopy
    start: menu
    max_steps: 20
    operator: {node: operator}
    nodes:
      - id: menu
        kind: menu
        prompts: [{text: Меню}]
        branches: {1: again}
      - id: again
        kind: play
        prompts: [{text: Ещё раз}]
        next: menu
      - id: operator
        kind: queue
        queue: general
"""


@pytest.mark.parametrize("key", ["*", "1"])
def test_the_step_limit_sends_an_endless_caller_to_the_operator(key: str) -> None:
    s = start(flow(LOOPY))
    events = drain(s)
    now = 0.0
    while not s.finished:
        now += 1.0
        if key == "1" and s.state is SessionState.PLAYING:
            s.playback_finished(last_item(events), now)
        else:
            s.dtmf(key, now)
        events += drain(s)
    assert s.steps == 20
    assert isinstance(events[-2], StepLimitReached)
    assert events[-1] == RouteToQueue(QueueId("general"), None)


def test_the_step_limit_without_an_operator_queue_ends_the_call() -> None:
    f = flow(LOOPY.replace("operator: {node: operator}", "fallback: operator"))
    s = start(f)
    now = 0.0
    while not s.finished:
        now += 1.0
        s.dtmf("*", now)
    events = drain(s)
    assert events[-1] == Hangup((), self_service=False)


def test_a_lost_playback_report_is_covered_by_the_guard_timer() -> None:
    s = start(flow(MENU_NO_BARGE))
    item = last_item(drain(s))
    assert s.get_timer() == PLAYBACK_GUARD_S
    s.playback_finished("someone-else", 1.0)  # stale: ignored
    s.handle_timer(PLAYBACK_GUARD_S)
    assert drain(s) == [
        StopPlayback(item),
        StartDigitCollection("menu", 1, 1, None, 5.0, None),
    ]


def test_the_table_refuses_inputs_a_state_does_not_expect() -> None:
    s = start(flow(MENU_NO_BARGE))
    drain(s)
    with pytest.raises(LocalProtocolError, match="route_failed is not expected while prompting"):
        s.route_failed(1.0)
    with pytest.raises(LocalProtocolError, match="not a DTMF key"):
        s.dtmf("x", 1.0)
    with pytest.raises(LocalProtocolError, match="aware"):
        IvrSession(flow(MENU_NO_BARGE), C, 0.0, local_time=datetime(2025, 1, 1))
    s.caller_hung_up(2.0)
    s.caller_hung_up(2.0)  # the BYE may be reported twice
    s.dtmf("1", 3.0)
    assert drain(s) == []
    assert s.state is SessionState.ENDED
    with pytest.raises(LocalProtocolError):
        s.route_failed(3.0)


def test_the_table_covers_each_state_and_names_only_known_pairs() -> None:
    for state in SessionState:
        assert (state, IvrInput.DTMF) in TRANSITIONS
    assert [s for s in SessionState if (s, IvrInput.ROUTE_FAILED) in TRANSITIONS] == [
        SessionState.ROUTED
    ]
    assert set(TRANSITIONS.values()) == set(Action)
