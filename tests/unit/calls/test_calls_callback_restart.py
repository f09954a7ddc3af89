"""A node restart end to end: key 1 on one node, its events in SQLite, the next node calls back.

The first node (the controller fakes) writes its real events; they are stored
with :class:`~hotline.store.events.EventStore` in a temporary SQLite database;
the second node reads them with the start-up query of
:mod:`hotline.app.callservice` and restores the request, which then goes to
the first free operator before a call that arrived after the restart.  So
does a call-back the queue's full or empty rule promised (``queue.left_full``
/ ``queue.left_empty`` with payload ``action`` ``callback``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_calls_controller_fakes import GENERAL, Rig, caller_offer
from test_calls_outbound import GENERAL_OP, make_world, placed_to
from test_calls_queue_voice import rendered

from hotline.acd.agent import OperatorState
from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind, QueueConfig
from hotline.app.callservice import GENERAL_QUEUE, _open_callbacks
from hotline.calls.call import CallPhase
from hotline.calls.controller import default_music_on_hold
from hotline.calls.ctl_callback import CallbackState, RestoreResult
from hotline.calls.ctl_queue import QueueVoice, build_queue_phrases
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, TopicId
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived
from hotline.media.player import PlaybackFinished
from hotline.reports.events import EventKind
from hotline.store.callback_queries import CallbackBacklog, RequestSource
from hotline.store.db import Database
from hotline.store.events import EventStore

WAITED_S = 30.0  # before the caller pressed 1
DOWN_S = 300.0  # from the key press to the restored node's start


async def key_1_after(rig: Rig, seconds: float) -> CallId:
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED and call.caller_media is not None
    rig.advance(seconds)
    dtmf = DtmfReceived("1", 100, DtmfSource.RFC4733)
    rig.controller.on_media_event(LegDtmfReceived(call.caller_media, dtmf))
    assert rig.controller.call(call.call_id) is None  # the caller's call is over
    return call.call_id


async def stored_events(rig: Rig, tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    store = EventStore(db, tmp_path / "journal.jsonl")
    for event in rig.events.events:
        store.append(event)
    await store.flush_all()
    store.close()
    return db


async def test_a_request_survives_a_restart_and_keeps_its_place(tmp_path: Path) -> None:
    first, first_desks = make_world()
    call_id = await key_1_after(first, WAITED_S)
    (request,) = first_desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED
    first_desks.callbacks.close()  # the node stops: the request is only in the events now
    db = await stored_events(first, tmp_path)
    try:
        second, desks = make_world()  # a new node: a new monotonic clock
        second.clock.advance(WAITED_S + DOWN_S)  # the same wall clock, later
        backlog = await asyncio.to_thread(_open_callbacks, db, second.clock)
        (item,) = backlog.open
        assert (item.call_id, item.queue_id, item.number) == (call_id, GENERAL_QUEUE, "79161234567")
        assert backlog.expired == ()
        result = desks.callbacks.restore(
            backlog.open,
            now=second.clock.monotonic(),
            wall=second.clock.utcnow(),
            fallback_queue=GENERAL_QUEUE,
        )
        assert result == RestoreResult(restored=1)
        # Its place: when the caller first entered the queue, before the restart.
        assert second.acd.entered_at(call_id) == second.clock.monotonic() - WAITED_S - DOWN_S
        second.ua.incoming(caller_offer(), caller="79035550101")  # a call after the restart
        await second.controller.settle()
        (later,) = second.controller.calls()
        second.phones.register("1001")
        second.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
        await second.controller.settle()
        await asyncio.sleep(0)
        (op_leg,) = placed_to(second, "10.0.0.50")
        assert "обратный звонок" in str(op_leg.session.invite.from_)
        assert desks.dialer.call(call_id) is not None and later.phase is CallPhase.QUEUED
        assert second.events.of(EventKind.CALLBACK_COMPLETED) == []
    finally:
        db.dispose()


async def refused_by_the_queue(rig: Rig) -> CallId:
    """A call refused by the queue's full/empty rule; its message plays out, the call ends."""
    phrases = build_queue_phrases()
    rig.controller.voice = QueueVoice(
        rig.media, default_music_on_hold, phrases=phrases, prompts=rendered(phrases)
    )
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.caller_media is not None and not call.in_acd
    rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call.call_id}"))
    assert rig.controller.call(call.call_id) is None
    return call.call_id


CALL_BACK = ExitAction(ExitKind.CALLBACK)
REFUSING = {
    RequestSource.LEFT_FULL: {"max_length": 0, "full_action": CALL_BACK},
    RequestSource.LEFT_EMPTY: {"when_empty": EmptyPolicy.REFUSE, "empty_action": CALL_BACK},
}


@pytest.mark.parametrize("source", list(REFUSING), ids=str)
async def test_a_refusal_call_back_survives_a_restart(
    tmp_path: Path, source: RequestSource
) -> None:
    first, first_desks = make_world()
    rules: dict[str, object] = REFUSING[source]
    first.acd.update_queue(
        QueueConfig(queue_id=GENERAL, name="General", topic=TopicId("general"), **rules)  # type: ignore[arg-type]
    )
    call_id = await refused_by_the_queue(first)
    (request,) = first_desks.callbacks.requests()
    assert request.state is CallbackState.QUEUED
    first_desks.callbacks.close()  # the node stops: the request is only in the events now
    db = await stored_events(first, tmp_path)
    try:
        second, desks = make_world()  # the queue takes calls again after the restart
        second.clock.advance(DOWN_S)
        backlog = await asyncio.to_thread(_open_callbacks, db, second.clock)
        (item,) = backlog.open
        assert (item.call_id, item.queue_id, item.number) == (call_id, GENERAL_QUEUE, "79161234567")
        assert item.source is source and item.attempts == 0
        result = desks.callbacks.restore(
            backlog.open,
            now=second.clock.monotonic(),
            wall=second.clock.utcnow(),
            fallback_queue=GENERAL_QUEUE,
        )
        assert result == RestoreResult(restored=1)
        # Its place: the refusal, before the restart (the caller never waited).
        assert second.acd.entered_at(call_id) == second.clock.monotonic() - DOWN_S
        assert second.acd.waiting_calls() == (call_id,)
        second.phones.register("1001")
        second.acd.set_operator_state(GENERAL_OP, OperatorState.READY)
        await second.controller.settle()
        await asyncio.sleep(0)
        (op_leg,) = placed_to(second, "10.0.0.50")
        assert "обратный звонок" in str(op_leg.session.invite.from_)
        assert desks.dialer.call(call_id) is not None
    finally:
        db.dispose()


async def test_a_refusal_with_a_goodbye_is_not_called_back(tmp_path: Path) -> None:
    first, first_desks = make_world()
    first.acd.update_queue(
        QueueConfig(queue_id=GENERAL, name="General", topic=TopicId("general"), max_length=0)
    )
    await refused_by_the_queue(first)  # the default action: message and end
    assert first_desks.callbacks.requests() == ()
    (full,) = first.events.of(EventKind.QUEUE_LEFT_FULL)
    assert dict(full.payload) == {"action": "message_and_end"}
    db = await stored_events(first, tmp_path)
    try:
        assert _open_callbacks(db, first.clock) == CallbackBacklog((), ())
    finally:
        db.dispose()


def test_an_unreadable_event_table_restores_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # not migrated: no events table
    try:
        assert _open_callbacks(db, FakeClock()) == CallbackBacklog((), ())
    finally:
        db.dispose()
