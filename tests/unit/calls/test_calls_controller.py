"""The call controller on real sans-IO SIP sessions, a recording media fake and the real ACD."""

from __future__ import annotations

from test_calls_controller_fakes import (
    GENERAL,
    GREETING,
    Rig,
    caller_offer,
    make_rig,
    phone_answer_to,
)

from hotline.acd.agent import OperatorState
from hotline.acd.model import QueueConfig
from hotline.calls.call import CallPhase
from hotline.core.ids import OperatorId, TopicId
from hotline.media.eng_events import CallRecordingStored
from hotline.media.player import PlaybackFinished
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import (
    ByeReceived,
    DialogConfirmed,
    DialogTerminated,
    ProvisionalReceived,
    TerminationReason,
)
from hotline.sip.useragent import Leg


def statuses(rig: Rig, leg: Leg) -> list[int]:
    """Status codes the far end (the trunk) received on ``leg``."""
    return [
        e.status
        for e in rig.ua.far_events.get(leg.leg_id, [])
        if isinstance(e, ProvisionalReceived)
    ]


async def answered_call(rig: Rig) -> Leg:
    """A call from the trunk to 122, answered, greeted and queued."""
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    far_events = rig.ua.far_events[leg.leg_id]
    assert any(isinstance(e, DialogConfirmed) for e in far_events)
    (call,) = rig.controller.calls()
    if call.phase is CallPhase.GREETING:
        assert call.caller_media is not None
        rig.controller.on_media_event(PlaybackFinished(call.caller_media, GREETING.item_id))
    return leg


async def test_inbound_call_reaches_an_operator_is_bridged_recorded_and_ends() -> None:
    rig = make_rig()
    leg = rig.ua.incoming(caller_offer())
    assert statuses(rig, leg) == [180]
    await rig.controller.settle()
    confirmed = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, DialogConfirmed)]
    assert len(confirmed) == 1 and confirmed[0].body is not None
    answer = parse_sdp(confirmed[0].body)
    assert answer.media[0].port == 20000  # the media leg's port is in our 200
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.GREETING and call.trunk == "local-test"
    assert rig.media.played == [("m1", "greeting")]
    assert rig.media.remotes["m1"] == ("10.0.0.9", 30000)

    rig.controller.on_media_event(PlaybackFinished("m1", "greeting"))
    assert rig.controller.calls()[0].phase is CallPhase.QUEUED
    assert rig.media.played[-1] == ("m1", f"moh-{call.call_id}")
    assert rig.ua.placed == []  # nobody logged in yet

    rig.login("1001")
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    invite = op_leg.session.invite
    assert invite.headers.get("P-Asserted-Identity") == "<sip:79161234567@10.0.0.1>"
    assert invite.headers.get("X-Hotline-Topic") == "general"
    assert str(invite.uri) == "sip:1001@10.0.0.50:5062"
    assert b"PCMA" in invite.body and b"PCMU" not in invite.body
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.RESERVED

    rig.clock.advance(2.0)
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    assert rig.controller.calls()[0].phase is CallPhase.TALKING
    assert rig.media.remotes["m2"] == ("10.0.0.50", 31000)
    assert rig.media.bridges == [("m1", "m2")]
    assert rig.media.recordings == [("m1", "m2", call.call_id)]
    assert ("m1", f"moh-{call.call_id}") in rig.media.stopped
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.TALKING

    rig.clock.advance(30.0)
    rig.ua.far_hang_up(leg)  # the caller's BYE
    assert rig.controller.active() == 0
    assert sorted(rig.media.closed) == ["m1", "m2"]
    phone_events = rig.ua.far_events[op_leg.leg_id]
    assert any(isinstance(e, ByeReceived) for e in phone_events)
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.WRAP_UP

    stored = RecordingStored(f"/rec/{call.call_id}.wav", 30.0, 480_044, "ab" * 32)
    rig.controller.on_media_event(CallRecordingStored(call.call_id, "m1", "m2", stored))
    kinds = [k for k in rig.events.kinds() if k != "operator.state"]
    assert kinds == [
        "call.arrived",
        "queue.entered",
        "queue.offered",
        "queue.answered",
        "call.ended",
        "recording.stored",
    ]
    (answered,) = rig.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001" and answered.number("wait_s") == 2.0
    assert answered.topic == "general" and answered.trunk == "local-test"
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.text("cause") == "remote-bye"
    (arrived,) = rig.events.of(EventKind.CALL_ARRIVED)
    assert arrived.text("caller") == "79161234567" and arrived.text("called") == "122"
    assert rig.events.of(EventKind.RECORDING_STORED)[0].number("size_bytes") == 480_044


async def test_no_common_codec_gets_488_and_no_call() -> None:
    rig = make_rig()
    leg = rig.ua.incoming(caller_offer("18"))
    ended = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [488]
    assert rig.controller.active() == 0 and rig.media.legs == {}
    assert rig.events.events == []


async def test_unknown_number_gets_404_and_a_full_node_503() -> None:
    rig = make_rig(max_calls=1)
    leg = rig.ua.incoming(caller_offer(), to="123")
    ended = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [404]
    rig.ua.incoming(caller_offer())
    second = rig.ua.incoming(caller_offer())
    ended = [e for e in rig.ua.far_events[second.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [503]
    assert rig.controller.calls_refused == 1
    await rig.controller.close()
    assert rig.controller.active() == 0


async def test_cancel_while_the_media_leg_is_being_made_leaks_nothing() -> None:
    rig = make_rig()
    leg = rig.ua.incoming(caller_offer())
    rig.ua.far_cancel(leg)  # before the task that creates the media leg ran
    assert rig.controller.active() == 0
    await rig.controller.settle()
    assert rig.media.open_legs() == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.text("cause") == "remote-cancel"


async def test_caller_hangs_up_while_the_phone_rings_cancels_it_and_counts_abandoned() -> None:
    rig = make_rig()
    rig.login("1001")
    leg = await answered_call(rig)
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_ring(op_leg)
    rig.clock.advance(8.0)
    rig.ua.far_hang_up(leg)
    phone_end = [e for e in rig.ua.far_events[op_leg.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.reason for e in phone_end] == [TerminationReason.REMOTE_CANCEL]
    assert rig.media.open_legs() == []
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.READY
    (abandoned,) = rig.events.of(EventKind.QUEUE_ABANDONED)
    assert abandoned.number("wait_s") == 8.0 and abandoned.number("position") == 1
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("who_hung_up") == "caller"


async def test_ring_timeout_cancels_the_phone_and_offers_the_next_operator() -> None:
    rig = make_rig(greeting=None)
    rig.login("1001")
    rig.clock.advance(1.0)
    rig.login("1001", "1002")
    await answered_call(rig)
    await rig.controller.settle()
    (first,) = rig.ua.placed
    assert first.session.invite.uri.user == "1001"  # type: ignore[union-attr]
    rig.ua.phone_ring(first)
    rig.advance(15.0)  # the queue's ring timeout
    await rig.controller.settle()
    ended = [e for e in rig.ua.far_events[first.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.reason for e in ended] == [TerminationReason.REMOTE_CANCEL]
    (noanswer,) = rig.events.of(EventKind.QUEUE_RING_NOANSWER)
    assert noanswer.operator_id == "1001" and noanswer.number("ring_ms") == 15000
    second = rig.ua.placed[1]
    assert second.session.invite.uri.user == "1002"  # type: ignore[union-attr]
    rig.ua.phone_answer(second, phone_answer_to(second))
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.TALKING and call.operator_id == "1002"
    assert len(rig.media.open_legs()) == 2


async def test_busy_phone_is_a_rejected_offer_and_the_call_keeps_waiting() -> None:
    rig = make_rig(greeting=None)
    rig.login("1001")
    await answered_call(rig)
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_reject(op_leg, 486)
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED and call.offers == {}
    assert rig.media.open_legs() == [call.caller_media]
    assert rig.events.of(EventKind.QUEUE_RING_NOANSWER) == []  # busy is not "no answer"
    rig.advance(10.0)  # the busy delay: offered again
    await rig.controller.settle()
    assert len(rig.ua.placed) == 2


async def test_operator_hangs_up_and_the_caller_gets_bye() -> None:
    rig = make_rig(greeting=None)
    rig.login("1001")
    leg = await answered_call(rig)
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    rig.ua.far_hang_up(op_leg)
    assert rig.controller.active() == 0
    assert any(isinstance(e, ByeReceived) for e in rig.ua.far_events[leg.leg_id])
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("who_hung_up") == "operator"
    assert rig.acd.operator_state(OperatorId("1001")) is OperatorState.WRAP_UP
    assert rig.media.open_legs() == []


async def test_max_wait_times_out_the_call_not_abandoned() -> None:
    queue = QueueConfig(queue_id=GENERAL, name="G", topic=TopicId("general"), max_wait_s=60.0)
    rig = make_rig(greeting=None, queue=queue)
    leg = await answered_call(rig)
    rig.advance(60.0)
    assert rig.controller.active() == 0
    assert any(isinstance(e, ByeReceived) for e in rig.ua.far_events[leg.leg_id])
    (timed_out,) = rig.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.number("wait_s") == 60.0
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "system" and ended.text("cause") == "queue_timed_out"


async def test_media_timeout_ends_the_call_and_no_ports_stay_open() -> None:
    rig = make_rig(greeting=None)
    await answered_call(rig)
    (call,) = rig.controller.calls()
    assert call.caller_media is not None
    rig.controller.on_media_event(MediaTimeout(call.caller_media, 30.0))
    assert rig.controller.active() == 0 and rig.media.open_legs() == []
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("cause") == "rtp_timeout"


async def test_no_media_ports_answers_503() -> None:
    rig = make_rig()
    rig.media.fail_create = True
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    ended = [e for e in rig.ua.far_events[leg.leg_id] if isinstance(e, DialogTerminated)]
    assert [e.status for e in ended] == [503]
    assert rig.controller.active() == 0
