"""The web's actions (LiveActions) on a controller with SIP and media in memory, fake ports."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from test_calls_controller_fakes import (
    GENERAL,
    EventList,
    LoopUA,
    Phones,
    Rig,
    caller_offer,
    phone_answer_to,
)
from test_calls_dialog_hold import HoldingAcd, HoldingMedia, talking

from hotline.acd.agent import OperatorState
from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.calls.actions import LiveActions
from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    MonitorMode,
    TargetKind,
    TransferTarget,
)
from hotline.calls.call import CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_dialout import OutboundDesks, wire_outbound
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.clock import FakeClock
from hotline.core.errors import HotlineError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId
from hotline.reports.events import EventKind

SOCIAL = QueueId("social")
OP1, OP2 = OperatorId("1001"), OperatorId("1002")
NOBODY = CallId("nobody")


@dataclass
class FakeConsult:
    """Records the delegated calls; raises ``error`` when set."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    error: Exception | None = None

    def _do(self, what: str, call_id: CallId) -> None:
        if self.error is not None:
            raise self.error
        self.calls.append((what, call_id))

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        self._do(f"consult:{target.kind.value}:{target.id}", call_id)

    def complete(self, call_id: CallId) -> None:
        self._do("complete", call_id)

    def cancel(self, call_id: CallId) -> None:
        self._do("cancel", call_id)


@dataclass
class FakeMonitor:
    sessions: list[tuple[str, str, MonitorMode]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        self.sessions.append((call_id, supervisor_id, mode))
        return f"mon-{len(self.sessions)}"

    def stop(self, session_id: str) -> None:
        if session_id != "mon-1":
            raise LocalProtocolError(f"no session {session_id}")
        self.stopped.append(session_id)


@dataclass
class World:
    rig: Rig
    actions: LiveActions
    desks: OutboundDesks
    consult: FakeConsult
    monitor: FakeMonitor


@dataclass
class TransferringMedia(HoldingMedia):
    """The hold fake plus the engine's stop_recording (what transfers need)."""

    stopped_recordings: list[str] = field(default_factory=list)

    def stop_recording(self, recording_id: str) -> None:
        self.stopped_recordings.append(recording_id)


def make_rig() -> Rig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = TransferringMedia()
    acd = HoldingAcd(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    acd.add_queue(QueueConfig(queue_id=GENERAL, name="General", topic=TopicId("general")))
    events, phones = EventList(), Phones()
    controller = CallController(
        media=media, acd=acd, phones=phones,
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"))}),
        events=events, clock=clock,
    )  # fmt: skip
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    return Rig(clock, ua, media, acd, phones, events, controller)


def make_world(*, ports: bool = True) -> World:
    rig = make_rig()
    rig.acd.add_queue(QueueConfig(queue_id=SOCIAL, name="Социальная", topic=TopicId("social")))
    trunks = TrunkTable([TrunkConfig(name="local-test", host="10.0.0.60", port=5060)])
    desks = wire_outbound(
        rig.controller, acd=rig.acd, media=rig.media, phones=rig.phones, trunks=trunks,
        clock=rig.clock,
    )  # fmt: skip
    consult, monitor = FakeConsult(), FakeMonitor()
    actions = LiveActions(
        controller=rig.controller, acd=rig.acd, clock=rig.clock, outbound=desks,
        consult=consult if ports else None, monitor=monitor if ports else None,
    )  # fmt: skip
    return World(rig, actions, desks, consult, monitor)


def refused(refusal: ActionRefusal, action: object, *args: object) -> None:
    assert callable(action)
    with pytest.raises(CallActionError) as caught:
        action(*args)
    assert caught.value.refusal is refusal, str(caught.value)


async def queued_call(world: World) -> CallId:
    world.rig.ua.incoming(caller_offer())
    await world.rig.controller.settle()
    (call,) = world.rig.controller.calls()
    return call.call_id


# -- live calls ----------------------------------------------------------------------------


async def test_live_calls_show_phase_position_and_the_answer_time() -> None:
    world = make_world()
    call_id = await queued_call(world)
    (live,) = world.actions.live_calls()
    assert (live.call_id, live.phase, live.direction) == (call_id, "queued", "inbound")
    assert live.position == 1 and live.queue_id == GENERAL and live.answered_at is None
    assert live.caller_number == "79161234567" and live.topic == "general"
    world.rig.login("1001")
    await world.rig.controller.settle()
    (op_leg,) = world.rig.ua.placed
    world.rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    talking_now = world.actions.live_call(call_id)
    assert talking_now is not None and talking_now.phase == "talking"
    assert talking_now.operator_id == OP1 and talking_now.answered_at is not None
    assert talking_now.position is None and talking_now.recording_id == call_id
    assert world.actions.live_call(NOBODY) is None


# -- hold, resume, hang-up -------------------------------------------------------------------


async def test_hold_and_resume_from_the_desk_are_the_operators_hold() -> None:
    world = make_world()
    _leg, _op_leg, call = await talking(world.rig)
    world.actions.hold(call.call_id)
    assert world.rig.acd.operator_state(OP1) is OperatorState.HOLD
    assert ("hold-" + call.call_id) in [item for _leg_id, item in world.rig.media.played]
    live = world.actions.live_call(call.call_id)
    assert live is not None and live.on_hold
    refused(ActionRefusal.WRONG_STATE, world.actions.hold, call.call_id)
    world.actions.resume(call.call_id)
    assert world.rig.acd.operator_state(OP1) is OperatorState.TALKING
    refused(ActionRefusal.WRONG_STATE, world.actions.resume, call.call_id)
    (held,) = world.rig.events.of(EventKind.CALL_HELD)
    assert held.payload == {"by": "operator"}
    assert len(world.rig.events.of(EventKind.CALL_RESUMED)) == 1


async def test_hold_refusals() -> None:
    world = make_world()
    refused(ActionRefusal.NOT_FOUND, world.actions.hold, NOBODY)
    call_id = await queued_call(world)
    refused(ActionRefusal.WRONG_STATE, world.actions.hold, call_id)
    refused(ActionRefusal.WRONG_STATE, world.actions.resume, call_id)


async def test_hang_up_ends_the_call_as_the_operator() -> None:
    world = make_world()
    leg, op_leg, call = await talking(world.rig)
    world.actions.hang_up(call.call_id)
    assert leg.session.finished and op_leg.session.finished
    (ended,) = world.rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "operator" and ended.text("cause") == "desk_hang_up"
    assert world.rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    refused(ActionRefusal.NOT_FOUND, world.actions.hang_up, call.call_id)


# -- transfers -------------------------------------------------------------------------------


async def test_blind_transfer_to_a_queue() -> None:
    world = make_world()
    _leg, op_leg, call = await talking(world.rig)
    world.actions.transfer_blind(call.call_id, TransferTarget(TargetKind.QUEUE, SOCIAL))
    assert call.phase is CallPhase.QUEUED and call.queue_id == SOCIAL
    assert op_leg.session.finished
    (moved,) = world.rig.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.payload["to"] == "queue:social" and moved.payload["kind"] == "blind"


async def test_blind_transfer_to_a_ready_operator_rings_its_phone() -> None:
    world = make_world()
    _leg, _op_leg, call = await talking(world.rig)
    world.rig.login("1001", "1002")
    world.actions.transfer_blind(call.call_id, TransferTarget(TargetKind.OPERATOR, OP2))
    await world.rig.controller.settle()
    transfers = world.rig.controller.transfers
    assert transfers is not None and transfers.pending(call.call_id) is not None
    refused(
        ActionRefusal.WRONG_STATE,
        world.actions.transfer_blind,
        call.call_id,
        TransferTarget(TargetKind.QUEUE, SOCIAL),
    )


async def test_blind_transfer_refusals() -> None:
    world = make_world()
    queued = await queued_call(world)
    refused(
        ActionRefusal.WRONG_STATE,
        world.actions.transfer_blind,
        queued,
        TransferTarget(TargetKind.QUEUE, SOCIAL),
    )
    world.actions.hang_up(queued)
    _leg, _op_leg, call = await talking(world.rig)
    world.rig.acd.set_operators(
        [OperatorProfile(operator_id=op, queue_levels={GENERAL: 5}) for op in (OP1, OP2)]
    )
    cases = [
        (ActionRefusal.NOT_FOUND, TransferTarget(TargetKind.QUEUE, "nope")),
        (ActionRefusal.NOT_FOUND, TransferTarget(TargetKind.OPERATOR, "9999")),
        (ActionRefusal.NOT_ALLOWED, TransferTarget(TargetKind.OPERATOR, OP1)),
        (ActionRefusal.TARGET_UNAVAILABLE, TransferTarget(TargetKind.OPERATOR, OP2)),
        (ActionRefusal.NOT_ALLOWED, TransferTarget(TargetKind.ORGANISATION, "mfc")),
    ]
    for refusal, target in cases:
        refused(refusal, world.actions.transfer_blind, call.call_id, target)
    assert call.phase is CallPhase.TALKING


# -- delegated: attended transfer, monitoring -------------------------------------------------


async def test_consult_and_monitor_are_delegated() -> None:
    world = make_world()
    target = TransferTarget(TargetKind.OPERATOR, OP2)
    world.actions.consult(CallId("c1"), target)
    world.actions.complete_transfer(CallId("c1"))
    world.actions.cancel_consult(CallId("c1"))
    assert world.consult.calls == [
        ("consult:operator:1002", "c1"),
        ("complete", "c1"),
        ("cancel", "c1"),
    ]
    session = world.actions.monitor(CallId("c1"), OperatorId("sup"), MonitorMode.WHISPER)
    assert session == "mon-1"
    assert world.monitor.sessions == [("c1", "sup", MonitorMode.WHISPER)]
    world.actions.stop_monitor(session)
    assert world.monitor.stopped == ["mon-1"]
    refused(ActionRefusal.WRONG_STATE, world.actions.stop_monitor, "mon-9")


async def test_delegated_errors_become_refusals() -> None:
    world = make_world()
    target = TransferTarget(TargetKind.OPERATOR, OP2)
    world.consult.error = LocalProtocolError("no consultation")
    refused(ActionRefusal.WRONG_STATE, world.actions.complete_transfer, CallId("c1"))
    world.consult.error = HotlineError("phone gone")
    refused(ActionRefusal.TARGET_UNAVAILABLE, world.actions.consult, CallId("c1"), target)
    world.consult.error = CallActionError(ActionRefusal.NOT_FOUND, "no call")
    refused(ActionRefusal.NOT_FOUND, world.actions.cancel_consult, CallId("c1"))


async def test_without_ports_consult_and_monitor_are_not_allowed() -> None:
    world = make_world(ports=False)
    target = TransferTarget(TargetKind.QUEUE, SOCIAL)
    refused(ActionRefusal.NOT_ALLOWED, world.actions.consult, CallId("c1"), target)
    refused(ActionRefusal.NOT_ALLOWED, world.actions.complete_transfer, CallId("c1"))
    refused(ActionRefusal.NOT_ALLOWED, world.actions.cancel_consult, CallId("c1"))
    refused(ActionRefusal.NOT_ALLOWED, world.actions.monitor, CallId("c1"), OP1, MonitorMode.LISTEN)
    refused(ActionRefusal.NOT_ALLOWED, world.actions.stop_monitor, "mon-1")


# -- click-to-call ---------------------------------------------------------------------------


async def test_dial_out_is_listed_and_can_be_hung_up() -> None:
    world = make_world()
    world.rig.login("1001")
    call_id = world.actions.dial_out(OP1, "+7 916 123-45-67")
    await asyncio.sleep(0)
    live = world.actions.live_call(call_id)
    assert live is not None and live.direction == "outbound" and live.phase == "answering"
    assert live.caller_number == "+79161234567" and live.operator_id == OP1
    assert [c.call_id for c in world.actions.live_calls()] == [call_id]
    world.actions.hang_up(call_id)
    assert world.actions.live_call(call_id) is None
    assert world.rig.acd.operator_state(OP1) is OperatorState.READY


async def test_dial_out_refusals() -> None:
    world = make_world()
    refused(ActionRefusal.NOT_FOUND, world.actions.dial_out, OperatorId("9999"), "+79161234567")
    world.rig.acd.set_operators([OperatorProfile(operator_id=OP1, queue_levels={GENERAL: 5})])
    refused(ActionRefusal.NOT_ALLOWED, world.actions.dial_out, OP1, "112")
    refused(ActionRefusal.WRONG_STATE, world.actions.dial_out, OP1, "+79161234567")  # logged out
    world.actions.set_operator_state(OP1, "not_ready", "обед")
    refused(ActionRefusal.TARGET_UNAVAILABLE, world.actions.dial_out, OP1, "+79161234567")
    world.desks.dialer.trunks.reconfigure([])
    refused(ActionRefusal.TARGET_UNAVAILABLE, world.actions.dial_out, OP1, "+79161234567")
    bare = LiveActions(controller=world.rig.controller, acd=world.rig.acd, clock=world.rig.clock)
    refused(ActionRefusal.NOT_ALLOWED, bare.dial_out, OP1, "+79161234567")


# -- queues and operators --------------------------------------------------------------------


async def test_queue_and_operator_snapshots() -> None:
    world = make_world()
    world.rig.acd.set_operators(
        [OperatorProfile(operator_id=op, queue_levels={GENERAL: 5}) for op in (OP1, OP2)]
    )
    call_id = await queued_call(world)
    world.rig.clock.advance(7.0)
    queues = {q.queue_id: q for q in world.actions.queues()}
    assert set(queues) == {GENERAL, SOCIAL}
    general = queues[GENERAL]
    assert general.waiting == 1 and general.longest_wait_s == pytest.approx(7.0)
    assert general.norm_s == 20.0 and general.operators_ready == 0
    assert queues[SOCIAL].name == "Социальная"
    (waiting,) = world.actions.waiting_calls()
    assert (waiting.call_id, waiting.position, waiting.caller_number) == (call_id, 1, "79161234567")
    assert waiting.waited_s == pytest.approx(7.0)
    assert world.actions.waiting_calls(SOCIAL) == []
    world.actions.set_operator_state(OP2, "not_ready", "обучение")
    operators = {o.operator_id: o for o in world.actions.operators()}
    assert operators[OP1].state == "logged_out" and operators[OP1].call_id is None
    assert operators[OP2].state == "not_ready" and operators[OP2].reason == "обучение"
    assert operators[OP2].since.tzinfo is not None


async def test_operator_state_and_wrapup_refusals() -> None:
    world = make_world()
    world.rig.acd.set_operators([OperatorProfile(operator_id=OP1, queue_levels={GENERAL: 5})])
    refused(ActionRefusal.NOT_FOUND, world.actions.set_operator_state, OperatorId("x"), "ready")
    refused(ActionRefusal.NOT_ALLOWED, world.actions.set_operator_state, OP1, "talking")
    refused(ActionRefusal.NOT_ALLOWED, world.actions.set_operator_state, OP1, "sleeping")
    world.actions.set_operator_state(OP1, "ready")
    assert world.rig.acd.operator_state(OP1) is OperatorState.READY
    refused(ActionRefusal.WRONG_STATE, world.actions.wrapup_done, OP1)  # not in wrap-up
    refused(ActionRefusal.NOT_FOUND, world.actions.wrapup_done, OperatorId("x"))
    world.actions.set_operator_state(OP1, "logged_out")
    assert world.rig.acd.operator_state(OP1) is OperatorState.LOGGED_OUT


async def test_wrapup_done_ends_wrap_up() -> None:
    world = make_world()
    _leg, _op_leg, call = await talking(world.rig)
    world.actions.hang_up(call.call_id)
    assert world.rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    world.actions.wrapup_done(OP1)
    assert world.rig.acd.operator_state(OP1) is OperatorState.READY


async def test_supervisor_queue_controls() -> None:
    world = make_world()
    world.rig.acd.set_operators(
        [OperatorProfile(operator_id=op, queue_levels={GENERAL: 5}) for op in (OP1, OP2)]
    )
    call_id = await queued_call(world)
    refused(ActionRefusal.NOT_FOUND, world.actions.move_call, NOBODY, SOCIAL)
    refused(ActionRefusal.NOT_FOUND, world.actions.move_call, call_id, QueueId("nope"))
    refused(ActionRefusal.WRONG_STATE, world.actions.move_call, call_id, GENERAL)
    refused(ActionRefusal.NOT_ALLOWED, world.actions.set_call_priority, call_id, 10_000)
    refused(ActionRefusal.NOT_FOUND, world.actions.set_call_priority, NOBODY, 1)
    world.actions.set_call_priority(call_id, 5)
    assert world.actions.waiting_calls()[0].priority == 5
    world.actions.move_call(call_id, SOCIAL)
    (live,) = world.actions.live_calls()
    assert live.queue_id == SOCIAL
    refused(ActionRefusal.TARGET_UNAVAILABLE, world.actions.assign_call, call_id, OP2)
    refused(ActionRefusal.NOT_FOUND, world.actions.assign_call, call_id, OperatorId("x"))
    refused(ActionRefusal.NOT_FOUND, world.actions.assign_call, NOBODY, OP2)
    world.rig.phones.register("1002")
    world.actions.set_operator_state(OP2, "ready")
    world.actions.assign_call(call_id, OP2)
    await world.rig.controller.settle()
    assert [leg.session.invite.uri.user for leg in world.rig.ua.placed] == ["1002"]  # type: ignore[union-attr]
