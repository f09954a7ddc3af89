"""Refusals by a full or empty queue say what became of the caller (payload ``action``).

``queue.left_full`` / ``queue.left_empty`` carry the ACD's
:class:`~hotline.acd.model.ExitKind` value like ``queue.timed_out``, so that a
restarted node finds the call-backs such refusals promised; each queue visit
still has exactly one outcome event.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_calls_controller_fakes import GENERAL, EventList, Rig, caller_offer, make_rig
from test_calls_outbound import make_world
from test_calls_queue_voice import rendered

from hotline.acd.decisions import CallLeftQueue, CallRefused, CallTimedOut
from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind, Outcome, QueueConfig
from hotline.calls.controller import default_music_on_hold
from hotline.calls.ctl_callback import CallbackState
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_queue import QueueVoice, build_queue_phrases
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.media.player import PlaybackFinished
from hotline.reports.events import EventKind

BACKUP = QueueId("backup")
OUTCOMES = frozenset(
    {
        EventKind.QUEUE_ANSWERED,
        EventKind.QUEUE_ABANDONED,
        EventKind.QUEUE_TIMED_OUT,
        EventKind.QUEUE_OVERFLOWED,
        EventKind.QUEUE_LEFT_FULL,
        EventKind.QUEUE_LEFT_EMPTY,
        EventKind.QUEUE_CALLBACK_REQUESTED,
    }
)
"""The kinds that close a queue visit (metrics.md, mutually exclusive outcomes)."""

CALLBACK = ExitAction(ExitKind.CALLBACK)
ACTIONS = [
    ExitAction(ExitKind.MESSAGE_AND_END),
    CALLBACK,
    ExitAction(ExitKind.BOT),
    ExitAction(ExitKind.EXTERNAL, "84951234567"),
]


def general(**kwargs: object) -> QueueConfig:
    return QueueConfig(queue_id=GENERAL, name="G", topic=TopicId("general"), **kwargs)  # type: ignore[arg-type]


def outcomes(rig: Rig, call_id: str) -> list[EventKind]:
    return [e.kind for e in rig.events.events if e.call_id == call_id and e.kind in OUTCOMES]


async def arrive(rig: Rig, caller: str = "79161234567") -> CallId:
    """One call reaches the queue; its id (the call may be over already)."""
    before = {e.call_id for e in rig.events.of(EventKind.CALL_ARRIVED)}
    rig.ua.incoming(caller_offer(), caller=caller)
    await rig.controller.settle()
    (arrived,) = [e for e in rig.events.of(EventKind.CALL_ARRIVED) if e.call_id not in before]
    assert arrived.call_id is not None
    return CallId(arrived.call_id)


# -- the event writer alone -----------------------------------------------------------------------


class _Clock:
    def monotonic(self) -> float:
        return 0.0

    def utcnow(self) -> datetime:
        return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_writer_writes_the_refusal_from_call_refused_only() -> None:
    sink = EventList()
    writer = CallEventWriter(sink, _Clock(), lambda _cid: None)
    cid = CallId("c-9")
    writer.decision(CallLeftQueue(cid, GENERAL, Outcome.LEFT_FULL, 0.0, 1.0))
    writer.decision(CallLeftQueue(cid, GENERAL, Outcome.LEFT_EMPTY, 4.0, 1.0))
    assert sink.events == []
    writer.decision(CallRefused(cid, GENERAL, Outcome.LEFT_FULL, CALLBACK, 1.0))
    writer.decision(CallRefused(cid, GENERAL, Outcome.LEFT_EMPTY, ExitAction(ExitKind.BOT), 1.0))
    full, empty = sink.events
    assert (full.kind, full.call_id, full.queue_id) == (EventKind.QUEUE_LEFT_FULL, cid, GENERAL)
    assert dict(full.payload) == {"action": "callback"}
    assert empty.kind is EventKind.QUEUE_LEFT_EMPTY and dict(empty.payload) == {"action": "bot"}
    assert writer.written == 2 and writer.refused == 0


def test_a_refusal_with_an_unexpected_outcome_writes_nothing() -> None:
    sink = EventList()
    writer = CallEventWriter(sink, _Clock(), lambda _cid: None)
    writer.decision(CallRefused(CallId("c-9"), GENERAL, Outcome.TIMED_OUT, CALLBACK, 1.0))
    assert sink.events == []
    # The time-out's own fact still carries its action, as before.
    writer.decision(CallTimedOut(CallId("c-9"), GENERAL, CALLBACK, 60.0, 1.0))
    (timed_out,) = sink.events
    assert dict(timed_out.payload) == {"wait_s": 60.0, "action": "callback"}


# -- through the controller and the ACD -----------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.kind.value)
async def test_a_full_queue_says_its_action(action: ExitAction) -> None:
    rig = make_rig(greeting=None, queue=general(max_length=1, full_action=action))
    first = await arrive(rig)
    second = await arrive(rig, "79990000000")
    (full,) = rig.events.of(EventKind.QUEUE_LEFT_FULL)
    assert (full.call_id, full.queue_id) == (second, GENERAL)
    assert dict(full.payload) == {"action": action.kind.value}
    assert outcomes(rig, second) == [EventKind.QUEUE_LEFT_FULL]
    assert outcomes(rig, first) == []  # still waiting
    kinds = [e.kind for e in rig.events.events if e.call_id == second]
    assert EventKind.QUEUE_ENTERED not in kinds
    assert kinds.index(EventKind.QUEUE_LEFT_FULL) < kinds.index(EventKind.CALL_ENDED)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.kind.value)
async def test_an_empty_queue_refusing_at_the_door_says_its_action(action: ExitAction) -> None:
    rig = make_rig(greeting=None, queue=general(when_empty=EmptyPolicy.REFUSE, empty_action=action))
    call_id = await arrive(rig)
    (empty,) = rig.events.of(EventKind.QUEUE_LEFT_EMPTY)
    assert empty.call_id == call_id and dict(empty.payload) == {"action": action.kind.value}
    assert outcomes(rig, call_id) == [EventKind.QUEUE_LEFT_EMPTY]
    assert rig.events.of(EventKind.QUEUE_ENTERED) == []


async def test_leaving_an_empty_queue_after_a_wait_says_its_action() -> None:
    rig = make_rig(greeting=None, queue=general(leave_when_empty_s=20.0, empty_action=CALLBACK))
    call_id = await arrive(rig)
    assert len(rig.events.of(EventKind.QUEUE_ENTERED)) == 1
    rig.advance(20.0)
    (empty,) = rig.events.of(EventKind.QUEUE_LEFT_EMPTY)
    assert empty.call_id == call_id and dict(empty.payload) == {"action": "callback"}
    assert outcomes(rig, call_id) == [EventKind.QUEUE_LEFT_EMPTY]


async def test_a_full_queue_overflowing_writes_no_refusal() -> None:
    rig = make_rig(
        greeting=None,
        queue=general(max_length=0, full_action=ExitAction(ExitKind.OVERFLOW, "backup")),
    )
    rig.acd.add_queue(QueueConfig(queue_id=BACKUP, name="B", topic=TopicId("general")))
    call_id = await arrive(rig)
    assert outcomes(rig, call_id) == [EventKind.QUEUE_OVERFLOWED]
    (entered,) = rig.events.of(EventKind.QUEUE_ENTERED)
    assert entered.queue_id == BACKUP


async def test_an_overflow_with_nowhere_to_go_says_message_and_end() -> None:
    # Both queues full and overflowing into each other: the hop limit ends it.
    to_backup = ExitAction(ExitKind.OVERFLOW, "backup")
    rig = make_rig(greeting=None, queue=general(max_length=0, full_action=to_backup))
    rig.acd.add_queue(
        QueueConfig(
            queue_id=BACKUP,
            name="B",
            topic=TopicId("general"),
            max_length=0,
            full_action=ExitAction(ExitKind.OVERFLOW, "general"),
        )
    )
    call_id = await arrive(rig)
    (full,) = rig.events.of(EventKind.QUEUE_LEFT_FULL)
    assert full.call_id == call_id and dict(full.payload) == {"action": "message_and_end"}
    assert outcomes(rig, call_id)[-1] is EventKind.QUEUE_LEFT_FULL
    assert outcomes(rig, call_id).count(EventKind.QUEUE_LEFT_FULL) == 1


async def test_a_full_queue_call_back_is_noted_at_the_refusal() -> None:
    rig, desks = make_world()
    phrases = build_queue_phrases()
    rig.controller.voice = QueueVoice(
        rig.media, default_music_on_hold, phrases=phrases, prompts=rendered(phrases)
    )
    rig.acd.update_queue(general(max_length=0, full_action=CALLBACK))
    refused_at = rig.clock.monotonic()
    call_id = await arrive(rig)
    (full,) = rig.events.of(EventKind.QUEUE_LEFT_FULL)
    assert full.call_id == call_id and dict(full.payload) == {"action": "callback"}
    assert outcomes(rig, call_id) == [EventKind.QUEUE_LEFT_FULL]
    assert rig.events.of(EventKind.QUEUE_CALLBACK_REQUESTED) == []
    call = rig.controller.call(call_id)
    assert call is not None and call.caller_media is not None  # the message plays
    rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call_id}"))
    assert rig.controller.call(call_id) is None
    (request,) = desks.callbacks.requests()
    assert request.call_id == call_id and request.entered_at == refused_at
    assert request.state is CallbackState.QUEUED  # the caller's call is over: parked
    assert rig.acd.waiting_calls() == (call_id,)


@pytest.mark.parametrize("rule", ["full", "timed_out"])
async def test_a_call_back_is_noted_even_when_no_goodbye_is_played(rule: str) -> None:
    # No goodbye rendered: the call ends at the refusal itself, before the ACD's
    # CallbackScheduled arrives; the request must not be lost with it.
    rig, desks = make_world()
    phrases = build_queue_phrases()
    rig.controller.voice = QueueVoice(
        rig.media,
        default_music_on_hold,
        phrases=phrases,
        prompts=rendered(phrases, skip=frozenset(phrases.texts())),
    )
    if rule == "full":
        rig.acd.update_queue(general(max_length=0, full_action=CALLBACK))
    else:
        rig.acd.update_queue(general(max_wait_s=6.0, max_wait_action=CALLBACK))
    call_id = await arrive(rig)
    if rule == "timed_out":
        rig.advance(6.0)
    assert rig.controller.call(call_id) is None  # hung up at once: nothing to say
    (request,) = desks.callbacks.requests()
    assert request.call_id == call_id and request.state is CallbackState.QUEUED
    assert rig.acd.waiting_calls() == (call_id,)
