"""RTP inactivity detection on a fake clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.media import timeouts as timeouts_module
from hotline.media.timeouts import LegMediaState, MediaTimeout, RtpInactivityMonitor


def drain(monitor: RtpInactivityMonitor) -> list[MediaTimeout]:
    events = []
    while (event := monitor.next_event()) is not None:
        events.append(event)
    return events


def run_until(monitor: RtpInactivityMonitor, end: float) -> list[MediaTimeout]:
    """Drive the monitor the way the asyncio driver does: sleep to each timer, fire it."""
    events: list[MediaTimeout] = []
    while (deadline := monitor.get_timer()) is not None and deadline <= end:
        monitor.handle_timer(deadline)
        events.extend(drain(monitor))
    return events


def test_public_surface() -> None:
    assert set(timeouts_module.__all__) == {
        "DEFAULT_RTP_TIMEOUT_S",
        "LegMediaState",
        "MediaTimeout",
        "RtpInactivityMonitor",
    }


def test_silent_leg_times_out_after_30_s() -> None:
    monitor = RtpInactivityMonitor()
    monitor.add_leg("a", 100.0)
    assert monitor.get_timer() == 130.0
    monitor.handle_timer(129.9)
    assert drain(monitor) == []
    monitor.handle_timer(130.0)
    assert drain(monitor) == [MediaTimeout("a", 30.0)]
    assert monitor.state("a") is LegMediaState.TIMED_OUT
    assert monitor.get_timer() is None  # reported once, not again and again


def test_packets_keep_leg_alive() -> None:
    monitor = RtpInactivityMonitor(timeout_s=30.0)
    monitor.add_leg("a", 0.0)
    for i in range(1, 3000):
        monitor.on_packet("a", i * 0.02)  # 60 s of packets
    assert run_until(monitor, 59.98) == []
    events = run_until(monitor, 200.0)
    assert len(events) == 1
    assert events[0].leg_id == "a"
    assert abs(events[0].silent_s - 30.0) < 1e-9


def test_hold_suspends_and_unhold_rearms() -> None:
    monitor = RtpInactivityMonitor()
    monitor.add_leg("a", 0.0)
    monitor.hold("a")
    assert monitor.get_timer() is None
    assert run_until(monitor, 500.0) == []
    monitor.unhold("a", 500.0)
    assert monitor.get_timer() == 530.0
    assert run_until(monitor, 600.0) == [MediaTimeout("a", 30.0)]


def test_packet_after_timeout_rearms() -> None:
    monitor = RtpInactivityMonitor(timeout_s=5.0)
    monitor.add_leg("a", 0.0)
    assert run_until(monitor, 10.0) == [MediaTimeout("a", 5.0)]
    monitor.on_packet("a", 12.0)
    assert monitor.state("a") is LegMediaState.WATCHING
    assert run_until(monitor, 30.0) == [MediaTimeout("a", 5.0)]


def test_removed_leg_never_fires_and_unknown_packets_ignored() -> None:
    monitor = RtpInactivityMonitor(timeout_s=5.0)
    monitor.add_leg("a", 0.0)
    monitor.add_leg("b", 0.0, timeout_s=8.0)
    monitor.remove_leg("a")
    monitor.on_packet("zzz", 1.0)
    assert len(monitor) == 1
    assert run_until(monitor, 100.0) == [MediaTimeout("b", 8.0)]


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(st.floats(min_value=0.0, max_value=100.0), max_size=30),
    timeout_s=st.floats(min_value=1.0, max_value=40.0),
)
def test_fires_exactly_at_first_silence_longer_than_timeout(
    arrivals: list[float], timeout_s: float
) -> None:
    monitor = RtpInactivityMonitor(timeout_s=timeout_s)
    monitor.add_leg("a", 0.0)
    times = sorted(arrivals)
    expected: float | None = None
    last = 0.0
    for t in times:
        if t - last >= timeout_s:
            expected = last + timeout_s
            break
        last = t
    if expected is None:
        expected = last + timeout_s
    fired_at: float | None = None
    for t in times:
        deadline = monitor.get_timer()
        while deadline is not None and deadline <= t and fired_at is None:
            monitor.handle_timer(deadline)
            if drain(monitor):
                fired_at = deadline
            deadline = monitor.get_timer()
        if fired_at is not None:
            break
        monitor.on_packet("a", t)
    if fired_at is None:
        deadline = monitor.get_timer()
        while deadline is not None and fired_at is None:
            monitor.handle_timer(deadline)
            if drain(monitor):
                fired_at = deadline
            deadline = monitor.get_timer()
    assert fired_at is not None
    assert abs(fired_at - expected) < 1e-6
