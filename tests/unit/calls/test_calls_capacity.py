"""The capacity guard: call limit, media lateness, hysteresis, tickets and counters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hotline.calls.capacity as capacity_module
from hotline.calls.capacity import (
    Admission,
    AdmissionReason,
    CapacityGuard,
    CapacityLimits,
    CapacityState,
    CapacityTicket,
    Decision,
)
from hotline.core.errors import ConfigurationError, LocalProtocolError

TICK_S = 0.02


def _guard(**settings_: object) -> CapacityGuard:
    values: dict[str, object] = {"max_calls": 10, "resume_calls": 8, "max_announcements": 2}
    values.update(settings_)
    return CapacityGuard(CapacityLimits(**values))  # type: ignore[arg-type]


def _ticket(admission: Admission) -> CapacityTicket:
    assert admission.ticket is not None
    return admission.ticket


def _feed(guard: CapacityGuard, lateness_ms: float, start: float, seconds: float) -> float:
    """Report one lateness per 20 ms tick for ``seconds``; return the time after."""
    now = start
    for _ in range(round(seconds / TICK_S)):
        now += TICK_S
        guard.report_lateness(lateness_ms, now)
    return now


def _state(guard: CapacityGuard) -> CapacityState:
    return guard.state


def test_accepts_up_to_the_limit_then_plays_busy_then_rejects() -> None:
    guard = _guard()
    calls = [guard.admit(0.0) for _ in range(10)]
    assert {a.decision for a in calls} == {Decision.ACCEPT}
    assert guard.state is CapacityState.BUSY
    busy = [guard.admit(1.0) for _ in range(2)]
    assert [(a.decision, a.reason) for a in busy] == [
        (Decision.PLAY_BUSY, AdmissionReason.CALL_LIMIT)
    ] * 2
    assert all(_ticket(a).is_announcement for a in busy)
    rejected = guard.admit(1.0)
    assert (rejected.decision, rejected.reason) == (
        Decision.REJECT,
        AdmissionReason.ANNOUNCEMENTS_FULL,
    )
    assert (rejected.ticket, rejected.retry_after_s) == (None, 60)
    _ticket(busy[0]).release()
    assert guard.admit(1.0).decision is Decision.PLAY_BUSY
    stats = guard.stats(1.0)
    assert (stats.active_calls, stats.active_announcements, stats.max_calls) == (10, 2, 10)
    assert (stats.accepted_total, stats.busy_total, stats.rejected_total) == (10, 3, 1)


def test_call_limit_has_hysteresis() -> None:
    guard = _guard()
    tickets = [_ticket(guard.admit(0.0)) for _ in range(10)]
    tickets.pop().release()  # 9 active: still above resume_calls
    assert guard.state is CapacityState.BUSY
    assert guard.admit(0.0).decision is Decision.PLAY_BUSY
    tickets.pop().release()  # 8 = resume_calls
    assert _state(guard) is CapacityState.NORMAL
    assert guard.admit(0.0).decision is Decision.ACCEPT
    assert guard.stats(0.0).state_changes_total == 2


def test_default_resume_point_and_announcements() -> None:
    limits = CapacityLimits(max_calls=200)
    assert (limits.resume_at, limits.announcements) == (190, 20)
    small = CapacityLimits(max_calls=1)
    assert (small.resume_at, small.announcements) == (0, 1)


def test_zero_calls_allowed_means_every_call_hears_busy() -> None:
    guard = _guard(max_calls=0, resume_calls=0, max_announcements=1)
    assert guard.state is CapacityState.BUSY
    assert guard.admit(0.0).decision is Decision.PLAY_BUSY


def test_a_single_late_tick_does_not_refuse_calls() -> None:
    guard = _guard()
    now = _feed(guard, 0.0, 0.0, 1.0)
    guard.report_lateness(500.0, now + TICK_S)
    assert guard.lateness_ms(now + TICK_S) == pytest.approx(
        500.0 * (1 - 2.718281828**-0.01), rel=1e-3
    )
    assert guard.admit(now + TICK_S).decision is Decision.ACCEPT


def test_sustained_lateness_plays_busy_then_rejects() -> None:
    guard = _guard()
    now = _feed(guard, 20.0, 0.0, 3.0)
    assert guard.state is CapacityState.BUSY
    admission = guard.admit(now)
    assert (admission.decision, admission.reason) == (
        Decision.PLAY_BUSY,
        AdmissionReason.MEDIA_LATE,
    )
    now = _feed(guard, 100.0, now, 3.0)
    assert _state(guard) is CapacityState.OVERLOADED
    admission = guard.admit(now)
    assert (admission.decision, admission.reason, admission.ticket) == (
        Decision.REJECT,
        AdmissionReason.MEDIA_LATE,
        None,
    )


def test_lateness_recovery_waits_for_the_hold_and_the_clear_threshold() -> None:
    guard = _guard(hold_s=10.0)
    now = _feed(guard, 20.0, 0.0, 3.0)
    assert guard.state is CapacityState.BUSY
    now = _feed(guard, 5.0, now, 15.0)  # between clear (3) and busy (10): stays
    assert guard.lateness_ms(now) == pytest.approx(5.0, abs=0.1)
    assert guard.state is CapacityState.BUSY
    dropped = _feed(guard, 0.0, now, 3.0)  # below clear: leaves once the hold has run out
    assert _state(guard) is CapacityState.NORMAL
    assert dropped - now < 10.0


def test_overloaded_steps_down_through_busy() -> None:
    guard = _guard(hold_s=2.0)
    now = _feed(guard, 100.0, 0.0, 5.0)
    assert guard.state is CapacityState.OVERLOADED
    now = _feed(guard, 6.0, now, 10.0)
    assert _state(guard) is CapacityState.BUSY
    _feed(guard, 0.0, now, 10.0)
    assert _state(guard) is CapacityState.NORMAL


def test_the_hold_ends_by_timer_without_new_reports() -> None:
    guard = _guard(hold_s=10.0, stale_s=5.0)
    now = _feed(guard, 30.0, 0.0, 3.0)
    assert guard.state is CapacityState.BUSY
    timer = guard.get_timer()
    assert timer == pytest.approx(now + 5.0)  # the signal goes stale first
    guard.handle_timer(now + 5.0)
    assert guard.state is CapacityState.BUSY  # stale, but the hold is not over
    assert guard.get_timer() == pytest.approx(now + 10.0)
    guard.handle_timer(now + 10.0)
    assert _state(guard) is CapacityState.NORMAL
    assert guard.get_timer() is None


def test_tickets_are_released_exactly_once() -> None:
    guard = _guard()
    ticket = _ticket(guard.admit(0.0))
    assert "held" in repr(ticket)
    ticket.release()
    assert ticket.released
    with pytest.raises(LocalProtocolError):
        ticket.release()
    assert guard.stats(0.0).active_calls == 0


def test_bad_lateness_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        _guard().report_lateness(float("nan"), 0.0)


def test_negative_lateness_counts_as_zero() -> None:
    guard = _guard()
    guard.report_lateness(-5.0, 1.0)
    assert guard.lateness_ms(1.0) == 0.0


def test_reconfigure_applies_to_new_calls() -> None:
    guard = _guard()
    held = [_ticket(guard.admit(0.0)) for _ in range(5)]
    guard.reconfigure(CapacityLimits(max_calls=4, resume_calls=2))
    assert guard.state is CapacityState.BUSY
    for ticket in held[:3]:
        ticket.release()
    assert _state(guard) is CapacityState.NORMAL


@pytest.mark.parametrize(
    ("limits", "setting"),
    [
        (CapacityLimits(max_calls=-1), "capacity.max_calls"),
        (CapacityLimits(max_calls=10, resume_calls=11), "capacity.resume_calls"),
        (CapacityLimits(max_calls=10, max_announcements=-1), "capacity.max_announcements"),
        (CapacityLimits(max_calls=10, busy_lateness_ms=50.0), "capacity.lateness"),
        (CapacityLimits(max_calls=10, clear_lateness_ms=10.0), "capacity.lateness"),
        (CapacityLimits(max_calls=10, lateness_tau_s=0.0), "capacity.lateness_tau_s"),
        (CapacityLimits(max_calls=10, stale_s=float("inf")), "capacity.stale_s"),
        (CapacityLimits(max_calls=10, hold_s=-1.0), "capacity.hold_s"),
        (CapacityLimits(max_calls=10, retry_after_s=-1), "capacity.retry_after_s"),
    ],
)
def test_bad_limits_are_named(limits: CapacityLimits, setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CapacityGuard(limits)
    assert info.value.setting == setting


_SEVERITY = {CapacityState.NORMAL: 0, CapacityState.BUSY: 1, CapacityState.OVERLOADED: 2}
_LIMITS = CapacityLimits(
    max_calls=5, resume_calls=3, max_announcements=2, hold_s=2.0, lateness_tau_s=0.5
)


_LATENESS = st.sampled_from([0.0, 2.0, 5.0, 12.0, 30.0, 60.0]) | st.floats(0.0, 80.0)


@given(st.lists(st.tuples(_LATENESS, st.integers(1, 40)), min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_lateness_never_flaps(segments: list[tuple[float, int]]) -> None:
    """Runs of lateness, one report per 100 ms: the state never steps down sooner
    than ``hold_s`` after the smoothed lateness last stood at the busy threshold."""
    guard = CapacityGuard(_LIMITS)
    last_high = -1e9
    now = 0.0
    for value, reports in segments:
        for _ in range(reports):
            now += 0.1
            before = guard.state
            guard.report_lateness(value, now)
            if guard.lateness_ms(now) >= _LIMITS.busy_lateness_ms:
                last_high = now
            if _SEVERITY[guard.state] < _SEVERITY[before]:
                assert now - last_high >= _LIMITS.hold_s - 1e-9  # float sums of 0.1 s steps


@given(
    st.lists(
        st.tuples(_LATENESS, st.integers(0, 3), st.integers(0, 99)),
        max_size=300,
    )
)
@settings(max_examples=100, deadline=None)
def test_tickets_never_leak(steps: list[tuple[float, int, int]]) -> None:
    """Random lateness, admissions and hang-ups: counters stay in range, all come back."""
    guard = CapacityGuard(_LIMITS)
    held: list[CapacityTicket] = []
    now = 0.0
    for lateness, admits, pick in steps:
        now += 0.1
        guard.report_lateness(lateness, now)
        for _ in range(admits):
            admission = guard.admit(now)
            if admission.ticket is not None:
                held.append(admission.ticket)
        if held and pick % 2:
            held.pop(pick % len(held)).release()
        stats = guard.stats(now)
        assert 0 <= stats.active_calls <= _LIMITS.max_calls
        assert 0 <= stats.active_announcements <= _LIMITS.announcements
    for ticket in held:
        ticket.release()
    stats = guard.stats(now)
    assert (stats.active_calls, stats.active_announcements) == (0, 0)
    assert stats.accepted_total + stats.busy_total + stats.rejected_total == sum(
        admits for _, admits, _ in steps
    )


def test_public_surface() -> None:
    assert set(capacity_module.__all__) == {
        "Admission",
        "AdmissionReason",
        "CapacityGuard",
        "CapacityLimits",
        "CapacityState",
        "CapacityStats",
        "CapacityTicket",
        "Decision",
        "PacerCounters",
        "PacerLateness",
    }
