"""Supervisor monitoring (ctl_monitor) on the controller fakes: ring, join, modes, endings."""

from __future__ import annotations

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
from test_calls_transfer import OP1, OP2, TransferringMedia, far_ended, sign_in

from hotline.acd.model import QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    MonitorMode,
    TargetKind,
    TransferTarget,
)
from hotline.calls.call import Call, CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_monitor import (
    CallMonitors,
    LoggedMonitorAudit,
    MonitorAction,
    MonitorState,
)
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, OperatorId, TopicId
from hotline.media.mixer import MonitorMode as MixMode
from hotline.sip.useragent import Leg

SUP = OperatorId("2001")


@dataclass
class MixingMedia(TransferringMedia):
    """The transfer fake plus the monitor mixer: (supervisor leg → operator leg, mode)."""

    mixing: dict[str, tuple[str, MixMode]] = field(default_factory=dict)
    monitor_calls: list[tuple[str, str, MixMode]] = field(default_factory=list)
    refuse_monitor: bool = False

    def monitor(self, supervisor_leg_id: str, operator_leg_id: str, mode: MixMode) -> None:
        from hotline.media.eng_events import MediaEngineError

        if self.refuse_monitor:
            raise MediaEngineError("operator leg is not in a plain bridge")
        assert {supervisor_leg_id, operator_leg_id} <= set(self.open_legs())
        self.mixing[supervisor_leg_id] = (operator_leg_id, mode)
        self.monitor_calls.append((supervisor_leg_id, operator_leg_id, mode))

    def stop_monitor(self, supervisor_leg_id: str) -> None:
        del self.mixing[supervisor_leg_id]


@dataclass
class MonitorRig:
    rig: Rig
    media: MixingMedia
    monitors: CallMonitors
    audit: LoggedMonitorAudit


def make_monitor_rig() -> MonitorRig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = MixingMedia()
    acd = AcdService(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    acd.add_queue(QueueConfig(queue_id=GENERAL, name="g", topic=TopicId("general")))
    events, phones = EventList(), Phones()
    controller = CallController(
        media=media,
        acd=acd,
        phones=phones,
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"), None)}),
        events=events,
        clock=clock,
    )
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    monitors = controller.monitors
    assert monitors is not None and isinstance(monitors.audit, LoggedMonitorAudit)
    audit = monitors.audit
    phones.register(SUP)
    rig = Rig(clock, ua, media, acd, phones, events, controller)
    return MonitorRig(rig, media, monitors, audit)


async def talking(m: MonitorRig) -> tuple[Leg, Leg, Call]:
    rig = m.rig
    caller = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    sign_in(rig, OP1)
    await rig.controller.settle()
    op_leg = rig.ua.placed[-1]
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.TALKING
    return caller, op_leg, call


async def joined(
    m: MonitorRig, mode: MonitorMode = MonitorMode.LISTEN
) -> tuple[Leg, Call, str, Leg]:
    caller, _op_leg, call = await talking(m)
    session_id = m.monitors.start(call.call_id, SUP, mode)
    await m.rig.controller.settle()
    sup_leg = m.rig.ua.placed[-1]
    assert sup_leg.session.invite.uri.user == "2001"  # type: ignore[union-attr]
    m.rig.ua.phone_answer(sup_leg, phone_answer_to(sup_leg, 36000))
    return caller, call, session_id, sup_leg


def actions(m: MonitorRig) -> list[tuple[MonitorAction, MonitorMode, str | None]]:
    return [(r.action, r.mode, r.reason) for r in m.audit.records]


async def test_supervisor_joins_in_listen_mode_and_the_call_end_ends_the_session() -> None:
    m = make_monitor_rig()
    caller, call, session_id, sup_leg = await joined(m)
    assert session_id.startswith("mon-")
    assert m.monitors.state(session_id) is MonitorState.JOINED
    ((sup_media, (op_media, mode)),) = m.media.mixing.items()
    assert op_media == call.operator_media and mode is MixMode.LISTEN
    assert sup_media not in call.media_legs  # the supervisor's leg is not the call's
    invite = sup_leg.session.invite
    assert invite.headers.get("X-Hotline-Monitor") == f"listen;call={call.call_id}"
    m.rig.ua.far_hang_up(caller)
    assert far_ended(m.rig, sup_leg) and sup_media in m.media.closed
    assert m.monitors.active() == 0 and m.monitors.legs() == 0
    assert m.rig.media.open_legs() == []
    assert actions(m) == [
        (MonitorAction.STARTED, MonitorMode.LISTEN, None),
        (MonitorAction.ENDED, MonitorMode.LISTEN, "call_ended"),
    ]
    (started, _ended) = m.audit.records
    assert (started.call_id, started.supervisor_id, started.operator_id) == (
        call.call_id,
        SUP,
        OP1,
    )


async def test_mode_changes_while_joined_and_a_second_start_changes_the_mode() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, _sup_leg = await joined(m)
    m.monitors.set_mode(session_id, MonitorMode.WHISPER)
    again = m.monitors.start(call.call_id, SUP, MonitorMode.BARGE)
    assert again == session_id
    assert [c[2] for c in m.media.monitor_calls] == [MixMode.LISTEN, MixMode.WHISPER, MixMode.BARGE]
    assert [a for a, _, _ in actions(m)] == [
        MonitorAction.STARTED,
        MonitorAction.MODE_CHANGED,
        MonitorAction.MODE_CHANGED,
    ]
    m.monitors.stop(session_id)
    assert m.media.mixing == {} and m.monitors.active() == 0
    assert actions(m)[-1] == (MonitorAction.ENDED, MonitorMode.BARGE, "stopped")
    assert call.phase is CallPhase.TALKING  # the call goes on


async def test_hold_suspends_and_resume_rejoins() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, _sup_leg = await joined(m)
    m.monitors.suspend(call.call_id)
    assert m.monitors.state(session_id) is MonitorState.SUSPENDED and m.media.mixing == {}
    m.monitors.resume(call.call_id)
    assert m.monitors.state(session_id) is MonitorState.JOINED and len(m.media.mixing) == 1
    assert [a for a, _, _ in actions(m)] == [MonitorAction.STARTED]  # one session, one start


async def test_supervisor_hanging_up_ends_the_session() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, sup_leg = await joined(m)
    m.rig.ua.far_hang_up(sup_leg)
    assert m.monitors.state(session_id) is None and m.media.mixing == {}
    assert actions(m)[-1][2] == "supervisor_hung_up"
    assert call.phase is CallPhase.TALKING


async def test_unanswered_supervisor_phone_is_cancelled_without_an_audit() -> None:
    m = make_monitor_rig()
    _caller, _op_leg, call = await talking(m)
    session_id = m.monitors.start(call.call_id, SUP, MonitorMode.LISTEN)
    await m.rig.controller.settle()
    sup_leg = m.rig.ua.placed[-1]
    m.rig.ua.phone_ring(sup_leg)
    m.monitors.ring_timed_out(session_id)
    assert far_ended(m.rig, sup_leg) and m.monitors.active() == 0
    assert list(m.audit.records) == []


async def test_join_waits_while_the_operator_is_not_in_a_plain_bridge() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, _sup_leg = await joined_refused(m)
    assert m.monitors.state(session_id) is MonitorState.SUSPENDED
    m.media.refuse_monitor = False
    m.monitors.resume(call.call_id)
    assert m.monitors.state(session_id) is MonitorState.JOINED


async def joined_refused(m: MonitorRig) -> tuple[Leg, Call, str, Leg]:
    m.media.refuse_monitor = True
    return await joined(m)


async def test_refusals() -> None:
    m = make_monitor_rig()
    with pytest.raises(CallActionError) as missing:
        m.monitors.start(CallId("nope"), SUP, MonitorMode.LISTEN)
    assert missing.value.refusal is ActionRefusal.NOT_FOUND
    m.rig.ua.incoming(caller_offer())
    await m.rig.controller.settle()
    (queued,) = m.rig.controller.calls()
    with pytest.raises(CallActionError) as waiting:
        m.monitors.start(queued.call_id, SUP, MonitorMode.LISTEN)
    assert waiting.value.refusal is ActionRefusal.WRONG_STATE
    sign_in(m.rig, OP1)
    await m.rig.controller.settle()
    op_leg = m.rig.ua.placed[-1]
    m.rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    with pytest.raises(CallActionError) as itself:
        m.monitors.start(queued.call_id, OP1, MonitorMode.LISTEN)
    assert itself.value.refusal is ActionRefusal.NOT_ALLOWED
    with pytest.raises(CallActionError) as no_phone:
        m.monitors.start(queued.call_id, OperatorId("2002"), MonitorMode.LISTEN)
    assert no_phone.value.refusal is ActionRefusal.TARGET_UNAVAILABLE
    with pytest.raises(CallActionError) as unknown:
        m.monitors.stop("mon-nope")
    assert unknown.value.refusal is ActionRefusal.NOT_FOUND
    assert m.monitors.active() == 0


async def test_a_consultation_suspends_the_monitor_and_its_cancel_rejoins() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, _sup_leg = await joined(m)
    sign_in(m.rig, OP1, OP2)
    attended = m.rig.controller.attended
    assert attended is not None
    attended.consult(call.call_id, TransferTarget(TargetKind.OPERATOR, "1002"))
    assert m.monitors.state(session_id) is MonitorState.SUSPENDED and m.media.mixing == {}
    await m.rig.controller.settle()
    target = m.rig.ua.placed[-1]
    m.rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    m.monitors.resume(call.call_id)  # a stray resume: the bridge is still down
    assert m.monitors.state(session_id) is MonitorState.SUSPENDED and m.media.mixing == {}
    attended.cancel(call.call_id)
    assert m.monitors.state(session_id) is MonitorState.JOINED
    assert m.media.mixing[m.media.monitor_calls[-1][0]][0] == call.operator_media


async def test_an_attended_transfer_ends_the_monitoring_of_the_first_operator() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, sup_leg = await joined(m)
    sign_in(m.rig, OP1, OP2)
    attended = m.rig.controller.attended
    assert attended is not None
    attended.consult(call.call_id, TransferTarget(TargetKind.OPERATOR, "1002"))
    await m.rig.controller.settle()
    target = m.rig.ua.placed[-1]
    m.rig.ua.phone_answer(target, phone_answer_to(target, 32000))
    attended.complete(call.call_id)
    assert m.monitors.state(session_id) is None and far_ended(m.rig, sup_leg)
    assert actions(m)[-1] == (MonitorAction.ENDED, MonitorMode.LISTEN, "operator_left")


async def test_no_media_port_for_the_supervisor_ends_the_session_quietly() -> None:
    m = make_monitor_rig()
    _caller, _op_leg, call = await talking(m)
    m.media.fail_create = True
    session_id = m.monitors.start(call.call_id, SUP, MonitorMode.BARGE)
    await m.rig.controller.settle()
    assert m.monitors.state(session_id) is None and m.monitors.legs() == 0
    assert list(m.audit.records) == [] and call.phase is CallPhase.TALKING
