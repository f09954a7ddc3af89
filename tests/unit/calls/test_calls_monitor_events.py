"""Monitoring sessions as events of the call (ctl_monitor's StoredMonitorAudit, monitor.*)."""

from __future__ import annotations

from test_calls_monitor import SUP, joined, make_monitor_rig, talking
from test_calls_transfer import OP1

from hotline.calls.api import MonitorMode
from hotline.calls.ctl_monitor import StoredMonitorAudit
from hotline.reports.events import CallCentreEvent, EventKind

MONITOR_KINDS = (EventKind.MONITOR_STARTED, EventKind.MONITOR_MODE_CHANGED, EventKind.MONITOR_ENDED)


def monitor_events(events: list[CallCentreEvent]) -> list[CallCentreEvent]:
    return [e for e in events if e.kind in MONITOR_KINDS]


async def test_a_session_writes_started_mode_changed_and_ended_events_of_the_call() -> None:
    m = make_monitor_rig()
    assert isinstance(m.monitors.audit, StoredMonitorAudit)  # the controller's default
    caller, call, session_id, _sup_leg = await joined(m, MonitorMode.LISTEN)
    m.monitors.set_mode(session_id, MonitorMode.WHISPER)
    m.rig.ua.far_hang_up(caller)
    found = monitor_events(m.rig.events.events)
    assert [(e.kind, e.payload["mode"], e.payload.get("reason")) for e in found] == [
        (EventKind.MONITOR_STARTED, "listen", None),
        (EventKind.MONITOR_MODE_CHANGED, "whisper", None),
        (EventKind.MONITOR_ENDED, "whisper", "call_ended"),
    ]
    for event in found:
        assert event.call_id == call.call_id
        assert event.operator_id == OP1
        assert event.queue_id == call.queue_id and event.topic == "general"
        assert event.payload["supervisor"] == SUP
        assert event.payload["session_id"] == session_id
    kinds = m.rig.events.kinds()  # the session ends before the call does
    assert kinds.index("monitor.ended") < kinds.index("call.ended")
    # The audit log keeps the same facts in memory.
    assert [r.action.value for r in m.audit.records] == [e.kind.value for e in found]


async def test_a_stopped_session_is_stored_with_its_reason() -> None:
    m = make_monitor_rig()
    _caller, call, session_id, _sup_leg = await joined(m, MonitorMode.BARGE)
    m.monitors.stop(session_id)
    (started, ended) = monitor_events(m.rig.events.events)
    assert started.kind is EventKind.MONITOR_STARTED and ended.kind is EventKind.MONITOR_ENDED
    assert ended.payload == {
        "supervisor": SUP,
        "mode": "barge",
        "session_id": session_id,
        "reason": "stopped",
    }
    assert ended.call_id == call.call_id and m.rig.controller.events.refused == 0


async def test_an_unanswered_supervisor_writes_no_monitor_event() -> None:
    m = make_monitor_rig()

    _caller, _op_leg, call = await talking(m)
    session_id = m.monitors.start(call.call_id, SUP, MonitorMode.LISTEN)
    await m.rig.controller.settle()
    m.rig.ua.phone_ring(m.rig.ua.placed[-1])
    m.monitors.ring_timed_out(session_id)
    assert monitor_events(m.rig.events.events) == []
