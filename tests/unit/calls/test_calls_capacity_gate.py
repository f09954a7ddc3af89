"""The capacity gate on the controller: tickets, the busy line, 503s, the lateness feed.

Real sans-IO SIP sessions back to back (the controller's test rig), a
recording media fake and a fake clock; no socket, no sleep.
"""

from __future__ import annotations

import asyncio

import pytest
from test_calls_controller_fakes import Rig, caller_offer, make_rig

import hotline.calls.capacity_gate as gate_module
from hotline.calls.call import CallPhase
from hotline.calls.capacity import (
    CapacityGuard,
    CapacityLimits,
    CapacityState,
    PacerCounters,
    PacerLateness,
)
from hotline.calls.capacity_gate import BUSY_CAUSE, BUSY_MESSAGE, CapacityGate, pacer_counters
from hotline.core.errors import ConfigurationError
from hotline.ivr.runner import RenderedPrompts
from hotline.media.eng_events import LegClosed, LegCloseReason, MediaEngineMetrics
from hotline.media.player import PlaybackFinished
from hotline.media.prompts import EncodedPrompt
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sip.dlg_events import ByeReceived, DialogConfirmed, DialogTerminated
from hotline.sip.useragent import Leg

_PROMPT = EncodedPrompt("busy.wav", "PCMA", (b"\xd5" * 160,) * 3, 0.06)


def _prompts(*texts: str) -> RenderedPrompts:
    return RenderedPrompts({(text, "PCMA"): _PROMPT for text in texts})


def _rig(max_calls: int = 1, *, prompts: RenderedPrompts | None = None, **limits: float) -> Rig:
    rig = make_rig(greeting=None, max_calls=100)
    guard = CapacityGuard(
        CapacityLimits(max_calls=max_calls, resume_calls=0, max_announcements=1, **limits)  # type: ignore[arg-type]
    )
    controller = rig.controller
    controller.capacity = CapacityGate(
        guard,
        media=rig.media,
        events=controller.events,
        clock=rig.clock,
        spawn=controller.hooks.spawn,
        sig=lambda: controller.sig,
        prompts=_prompts(BUSY_MESSAGE) if prompts is None else prompts,
    )
    return rig


def _gate(rig: Rig) -> CapacityGate:
    assert rig.controller.capacity is not None
    return rig.controller.capacity


def _final(rig: Rig, leg: Leg) -> list[int | None]:
    return [e.status for e in rig.ua.far_events[leg.leg_id] if isinstance(e, DialogTerminated)]


def _far_got_bye(rig: Rig, leg: Leg) -> bool:
    return any(isinstance(e, ByeReceived) for e in rig.ua.far_events[leg.leg_id])


def _state(gate: CapacityGate) -> CapacityState:
    return gate.guard.state  # a call, so that mypy does not narrow the attribute


def _late(gate: CapacityGate, lateness_ms: float, start: float, seconds: float) -> float:
    now = start
    for _ in range(round(seconds / 0.1)):
        now += 0.1
        gate.guard.report_lateness(lateness_ms, now)
    return now


async def test_accepted_calls_hold_a_ticket_until_they_end() -> None:
    rig = _rig(max_calls=2)
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED
    assert (_gate(rig).held(), _gate(rig).stats().active_calls) == (1, 1)
    rig.ua.far_hang_up(leg)
    assert rig.controller.active() == 0
    assert (_gate(rig).held(), _gate(rig).stats().active_calls) == (0, 0)
    assert _gate(rig).refusals == {}


async def test_at_the_limit_a_new_call_hears_busy_and_the_first_goes_on() -> None:
    rig = _rig(max_calls=1)
    first = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    second = rig.ua.incoming(caller_offer(port=30010))
    await rig.controller.settle()
    gate = _gate(rig)
    assert gate.active_announcements() == 1
    assert any(isinstance(e, DialogConfirmed) for e in rig.ua.far_events[second.leg_id])
    busy_leg, busy_item = rig.media.played[-1]
    assert busy_item.startswith("busy-")
    rig.controller.on_media_event(PlaybackFinished(busy_leg, busy_item))
    assert _far_got_bye(rig, second)
    assert busy_leg in rig.media.closed
    rig.controller.on_media_event(LegClosed(busy_leg, LegCloseReason.NORMAL, None))  # type: ignore[arg-type]
    assert gate.active_announcements() == 0
    assert gate.stats().active_announcements == 0
    assert gate.refusals == {("play_busy", "call_limit"): 1}
    (call,) = rig.controller.calls()  # the first call is untouched
    assert call.caller_leg is first and call.phase is CallPhase.QUEUED
    ended = rig.events.of(EventKind.CALL_ENDED)
    assert [(e.text("who_hung_up"), e.text("cause")) for e in ended] == [("system", BUSY_CAUSE)]
    assert len(rig.events.of(EventKind.CALL_ARRIVED)) == 2
    assert rig.events.of(EventKind.QUEUE_ENTERED)[0].call_id == call.call_id
    rig.ua.far_hang_up(first)
    assert gate.stats().active_calls == 0


async def test_the_caller_hanging_up_on_the_announcement_leaks_nothing() -> None:
    rig = _rig(max_calls=0)
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    gate = _gate(rig)
    assert gate.active_announcements() == 1
    rig.ua.far_hang_up(leg)
    assert gate.active_announcements() == 0 and gate.stats().active_announcements == 0
    assert rig.media.open_legs() == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    assert rig.controller.active() == 0


async def test_cancel_before_the_media_leg_exists_leaks_nothing() -> None:
    rig = _rig(max_calls=0)
    leg = rig.ua.incoming(caller_offer())
    rig.ua.far_cancel(leg)  # the task making the media leg has not run yet
    await rig.controller.settle()
    assert rig.media.open_legs() == []
    assert _gate(rig).stats().active_announcements == 0
    assert len(rig.events.of(EventKind.CALL_ENDED)) == 1


async def test_a_second_busy_call_past_the_announcements_gets_503() -> None:
    rig = _rig(max_calls=0)
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    second = rig.ua.incoming(caller_offer(port=30010))
    assert _final(rig, second) == [503]
    assert _gate(rig).refusals[("reject", "announcements_full")] == 1
    await rig.controller.close()
    assert _gate(rig).active_announcements() == 0 and rig.media.open_legs() == []
    causes = [e.text("cause") for e in rig.events.of(EventKind.CALL_ENDED)]
    assert causes == ["shutdown"]


async def test_without_a_rendered_message_the_busy_call_gets_503() -> None:
    rig = _rig(max_calls=0, prompts=_prompts())
    leg = rig.ua.incoming(caller_offer())
    assert _final(rig, leg) == [503]
    assert _gate(rig).refusals == {("reject", "no_prompt"): 1}
    assert _gate(rig).stats().active_announcements == 0
    assert rig.events.events == []


async def test_media_lateness_refuses_new_calls_and_keeps_the_existing_one() -> None:
    rig = _rig(max_calls=10, hold_s=1.0)
    first = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    gate = _gate(rig)
    now = _late(gate, 25.0, rig.clock.monotonic(), 3.0)
    assert _state(gate) is CapacityState.BUSY
    rig.clock.advance(now - rig.clock.monotonic())
    busy = rig.ua.incoming(caller_offer(port=30010))
    await rig.controller.settle()
    assert gate.refusals == {("play_busy", "media_late"): 1}
    now = _late(gate, 200.0, now, 3.0)
    assert _state(gate) is CapacityState.OVERLOADED
    rig.clock.advance(now - rig.clock.monotonic())
    rejected = rig.ua.incoming(caller_offer(port=30020))
    assert _final(rig, rejected) == [503]
    assert gate.refusals[("reject", "media_late")] == 1
    (call,) = rig.controller.calls()
    assert call.caller_leg is first and call.phase is CallPhase.QUEUED
    now = _late(gate, 0.0, now, 20.0)  # the loop caught up: calls come in again
    assert _state(gate) is CapacityState.NORMAL
    rig.clock.advance(now - rig.clock.monotonic())
    rig.ua.incoming(caller_offer(port=30030))
    await rig.controller.settle()
    assert rig.controller.active() == 2
    rig.ua.far_hang_up(busy)
    await rig.controller.close()
    assert gate.stats().active_calls == 0 and gate.stats().active_announcements == 0


async def test_an_rtp_timeout_on_the_busy_line_ends_it() -> None:
    rig = _rig(max_calls=0)
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    busy_leg, _item = rig.media.played[-1]
    rig.controller.on_media_event(MediaTimeout(busy_leg, 30.0))
    assert _far_got_bye(rig, leg)
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("cause") == "rtp_timeout"


async def test_the_feed_turns_pacer_counters_into_guard_reports() -> None:
    rig = _rig(max_calls=5)
    gate = _gate(rig)
    metrics = MediaEngineMetrics()
    task = asyncio.get_running_loop().create_task(
        gate.watch(lambda: pacer_counters(metrics), late_tick_ms=5.0, interval_s=0.0)
    )
    try:
        for _ in range(60):  # 6 s of a loop that skips a deadline every tick
            metrics.pacer_ticks += 5
            metrics.pacer_late_ticks += 5
            metrics.pacer_skipped_ticks += 5
            rig.clock.advance(0.1)
            await asyncio.sleep(0)  # one turn of the feed
        assert _state(gate) is CapacityState.BUSY
        assert gate.stats().lateness_ms == pytest.approx(25.0, rel=0.1)
        for _ in range(400):  # a punctual loop again: back to normal after the hold
            metrics.pacer_ticks += 5
            rig.clock.advance(0.1)
            await asyncio.sleep(0)
        assert _state(gate) is CapacityState.NORMAL
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_pacer_lateness_over_a_window() -> None:
    window = PacerLateness(late_tick_ms=5.0)
    assert window.sample(PacerCounters(100, 0, 0)) is None  # the first sample: no window
    assert window.sample(PacerCounters(105, 0, 0)) == 0.0
    assert window.sample(PacerCounters(110, 5, 0)) == 5.0  # every tick a little late
    assert window.sample(PacerCounters(114, 9, 4)) == pytest.approx((4 * 20.0 + 4 * 5.0) / 4)
    assert window.sample(PacerCounters(114, 9, 4)) is None  # no tick: the engine stopped
    assert window.sample(PacerCounters(3, 0, 0)) is None  # a new engine's counters
    assert window.sample(PacerCounters(8, 2, 0)) == 2.0


def test_pacer_lateness_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        PacerLateness(late_tick_ms=float("nan"))
    with pytest.raises(ConfigurationError):
        PacerLateness(late_tick_ms=5.0, period_ms=0.0)


def test_busy_message_and_public_surface() -> None:
    assert BUSY_MESSAGE == "Все линии заняты, пожалуйста, перезвоните позже."
    assert set(gate_module.__all__) == {
        "BUSY_CAUSE",
        "BUSY_MESSAGE",
        "CapacityGate",
        "PacerSource",
        "pacer_counters",
    }


async def test_metrics_show_the_state_and_the_refusals() -> None:
    from hotline.app.capacity_metrics import capacity_families

    rig = _rig(max_calls=0)
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    rig.ua.incoming(caller_offer(port=30010))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in capacity_families(_gate(rig))
        for s in family.samples
    }
    assert samples[("hotline_capacity_state", (("state", "busy"),))] == 1
    assert samples[("hotline_capacity_state", (("state", "normal"),))] == 0
    assert samples[("hotline_capacity_busy_announcements_active", ())] == 1
    refused = "hotline_capacity_refused_total"
    assert samples[(refused, (("decision", "play_busy"), ("reason", "call_limit")))] == 1
    assert samples[(refused, (("decision", "reject"), ("reason", "announcements_full")))] == 1
    assert samples[("hotline_capacity_max_calls", ())] == 0
    await rig.controller.close()
