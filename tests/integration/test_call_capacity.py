"""The capacity guard on loopback: a late media loop turns new calls away, calls up go on.

The node of :mod:`test_call_path` gets a :class:`CapacityGate` with the
busy message rendered by the real speech engine (espeak-ng, as at start-up).
The guard's input is the media engine's real pacer counters plus a test hook
that adds skipped deadlines to every tick (no real overload is needed to
force the condition).  Call A (SIPp) waits in the queue; once the guard is
busy, call B (SIPp) is answered, hears the message and is hung up by us;
call A goes on and hangs up itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_call_path import CallNode, call_node, queue, sipp_args

from hotline.app.callservice import render_flow_prompts
from hotline.calls.call import CallPhase
from hotline.calls.capacity import CapacityGuard, CapacityLimits, CapacityState, PacerCounters
from hotline.calls.capacity_gate import BUSY_CAUSE, BUSY_MESSAGE, CapacityGate, pacer_counters
from hotline.core.clock import SystemClock
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.media.eng_events import MediaEngineMetrics
from hotline.reports.events import EventKind
from support.peers import require, run_sipp
from support.scenarios import ANSWER_BYE_STEPS, caller_scenario

pytestmark = pytest.mark.integration


@dataclass
class InjectedLateness:
    """The test hook: the engine's counters, with ``extra`` skipped deadlines per tick run."""

    metrics: MediaEngineMetrics
    extra: int = 0
    _ticks: int | None = None
    _skipped: int = 0

    def __call__(self) -> PacerCounters:
        real = pacer_counters(self.metrics)
        if self._ticks is not None:
            self._skipped += max(0, real.ticks - self._ticks) * self.extra
        self._ticks = real.ticks
        return PacerCounters(real.ticks, real.late_ticks, real.skipped_ticks + self._skipped)


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def guarded(
    node: CallNode, tmp_path: Path
) -> AsyncIterator[tuple[CapacityGate, InjectedLateness]]:
    prompts = await render_flow_prompts(
        load_demo_flow(), tmp_path / "tts", extra_texts=(BUSY_MESSAGE,)
    )
    encoded = prompts.get(BUSY_MESSAGE, "PCMA")
    assert encoded is not None, "the busy message was not rendered (espeak-ng installed?)"
    assert encoded.duration_s > 1.0
    controller = node.controller
    gate = CapacityGate(
        CapacityGuard(CapacityLimits(max_calls=20, hold_s=1.0)),
        media=node.media,
        events=controller.events,
        clock=SystemClock(),
        spawn=controller.hooks.spawn,
        sig=lambda: controller.sig,
        prompts=prompts,
    )
    controller.capacity = gate
    hook = InjectedLateness(node.media.metrics)
    late_tick_ms = node.media.config.late_tick_s * 1000.0
    feed = asyncio.get_running_loop().create_task(gate.watch(hook, late_tick_ms=late_tick_ms))
    try:
        yield gate, hook
    finally:
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feed


def _state(gate: CapacityGate) -> CapacityState:
    return gate.guard.state


async def test_a_late_media_loop_plays_busy_to_a_new_call_and_the_call_up_goes_on(
    tmp_path: Path,
) -> None:
    require("sipp")
    busy_dir = tmp_path / "sipp-busy"
    busy_dir.mkdir()
    (busy_dir / "busy.xml").write_text(caller_scenario("busy", ANSWER_BYE_STEPS))
    async with call_node(tmp_path, queue()) as node, guarded(node, tmp_path) as (gate, hook):
        waiting = asyncio.create_task(
            asyncio.to_thread(
                run_sipp,
                sipp_args(node, "uac", "-d", "12000"),
                workdir=tmp_path / "sipp-a",
                timeout_s=60,
            )
        )
        await wait_for(lambda: node.controller.active() == 1, "call A to wait in the queue")
        (call_a,) = node.controller.calls()
        assert _state(gate) is CapacityState.NORMAL
        hook.extra = 1  # every tick now also misses a deadline: about 25 ms late per tick
        await wait_for(lambda: _state(gate) is CapacityState.BUSY, "the guard to turn busy")
        args = sipp_args(node, "uac")
        args[0:2] = ["-sf", str(busy_dir / "busy.xml")]
        busy = await asyncio.to_thread(run_sipp, args, workdir=busy_dir, timeout_s=60)
        assert busy.returncode == 0, f"SIPp failed, logs in {busy.workdir}\n{busy.stdout[-2000:]}"
        assert gate.refusals == {("play_busy", "media_late"): 1}
        assert node.controller.calls() == (call_a,) and call_a.phase is CallPhase.QUEUED
        hook.extra = 0  # the loop caught up
        await wait_for(lambda: _state(gate) is CapacityState.NORMAL, "the guard to recover")
        first = await waiting
        assert first.returncode == 0, (
            f"SIPp failed, logs in {first.workdir}\n{first.stdout[-2000:]}"
        )
        await node.wait_idle()
        assert node.controller.active() == 0 and node.media.active() == 0
        assert node.ua.active_legs == 0 and gate.active_announcements() == 0
        stats = gate.stats()
        assert (stats.active_calls, stats.active_announcements) == (0, 0)
        assert (stats.accepted_total, stats.busy_total, stats.rejected_total) == (1, 1, 0)
    ended = {e.call_id: e for e in node.events.of(EventKind.CALL_ENDED)}
    assert len(ended) == 2 and len(node.events.of(EventKind.CALL_ARRIVED)) == 2
    first_end = ended.pop(call_a.call_id)
    assert (first_end.text("who_hung_up"), first_end.text("cause")) == ("caller", "remote-bye")
    (busy_end,) = ended.values()
    assert (busy_end.text("who_hung_up"), busy_end.text("cause")) == ("system", BUSY_CAUSE)
    entered = [e.call_id for e in node.events.of(EventKind.QUEUE_ENTERED)]
    assert entered == [call_a.call_id]  # the busy call never reached the queue
