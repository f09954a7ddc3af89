"""50 calls with seeded random endings leave nothing behind (issue 6, item 5), on the fakes.

Every ending the controller must survive, in a seeded random order: the
caller CANCELs before the answer, hangs up in the greeting, while waiting,
while the operator's phone rings, while talking, while on hold (held by
either side); the operator hangs up; an RTP timeout.  After each call and
at the end: no call, media leg, SIP session, task or hold record is left,
the operator is READY again after wrap-up, every call has exactly one
``call.ended`` and every call that entered a queue exactly one queue outcome.
"""

from __future__ import annotations

import enum
import random
from collections import Counter

from test_calls_controller_fakes import GREETING, Rig, caller_offer, phone_answer_to
from test_calls_dialog_hold import HoldingMedia, hold_sdp, make_hold_rig, reinvite

from hotline.acd.agent import OperatorState
from hotline.calls.call import CallPhase
from hotline.core.ids import CallId, OperatorId
from hotline.media.player import PlaybackFinished
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sip.useragent import Leg

OPERATOR = OperatorId("1001")
CALLS = 50
SEED = 122
QUEUE_OUTCOMES = frozenset(
    {
        EventKind.QUEUE_ANSWERED,
        EventKind.QUEUE_ABANDONED,
        EventKind.QUEUE_TIMED_OUT,
        EventKind.QUEUE_LEFT_EMPTY,
        EventKind.QUEUE_LEFT_FULL,
    }
)


class Ending(enum.Enum):
    CANCEL = "cancel"  # the caller CANCELs before our 200
    MENU = "menu"  # the caller hangs up in the greeting
    WAITING = "waiting"  # in the queue, no operator free
    RINGING = "ringing"  # while the operator's phone rings
    TALKING = "talking"  # the caller hangs up
    OPERATOR = "operator"  # the operator hangs up
    HOLD_BY_OPERATOR = "hold_by_operator"  # on hold, then a random side hangs up
    HOLD_BY_CALLER = "hold_by_caller"
    RTP_TIMEOUT = "rtp_timeout"


EXPECTED: dict[Ending, tuple[str, bool]] = {
    # ending → (who hung up, entered a queue)
    Ending.CANCEL: ("caller", False),
    Ending.MENU: ("caller", False),
    Ending.WAITING: ("caller", True),
    Ending.RINGING: ("caller", True),
    Ending.TALKING: ("caller", True),
    Ending.OPERATOR: ("operator", True),
    Ending.RTP_TIMEOUT: ("system", True),
}


async def run_call(rig: Rig, rng: random.Random, ending: Ending) -> tuple[Leg, str]:
    """Place one call and end it as ``ending`` says; returns (caller leg, who hung up)."""
    leg = rig.ua.incoming(caller_offer())
    if ending is Ending.CANCEL:
        rig.ua.far_cancel(leg)
        await rig.controller.settle()
        return leg, "caller"
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.GREETING and call.caller_media is not None
    if ending is Ending.MENU:
        rig.ua.far_hang_up(leg)
        return leg, "caller"
    if ending is Ending.WAITING:
        rig.acd.engine.set_not_ready(OPERATOR, "break", rig.clock.monotonic())
        rig.acd.poll()
    placed = len(rig.ua.placed)
    rig.controller.on_media_event(PlaybackFinished(call.caller_media, GREETING.item_id))
    await rig.controller.settle()
    assert rig.controller.calls()[0].phase is CallPhase.QUEUED
    if ending is Ending.WAITING:
        assert len(rig.ua.placed) == placed  # nobody rang
        rig.clock.advance(rng.uniform(0.5, 5.0))
        rig.ua.far_hang_up(leg)
        rig.acd.engine.set_ready(OPERATOR, rig.clock.monotonic())
        rig.acd.poll()
        return leg, "caller"
    op_leg = rig.ua.placed[-1]
    assert len(rig.ua.placed) == placed + 1
    if ending is Ending.RINGING:
        rig.ua.phone_ring(op_leg)
        rig.ua.far_hang_up(leg)
        return leg, "caller"
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    assert rig.controller.calls()[0].phase is CallPhase.TALKING
    rig.clock.advance(rng.uniform(1.0, 20.0))
    if ending in (Ending.HOLD_BY_OPERATOR, Ending.HOLD_BY_CALLER):
        holder = op_leg if ending is Ending.HOLD_BY_OPERATOR else leg
        host = "10.0.0.50" if holder is op_leg else "10.0.0.9"
        reinvite(rig, holder, hold_sdp(31000, host, rng.choice(["sendonly", "inactive"])))
        assert rig.controller.dialogs is not None
        assert rig.controller.dialogs.held_by(call.call_id) is not None
        hanger = rng.choice([leg, op_leg])
        rig.ua.far_hang_up(hanger)
        return leg, "caller" if hanger is leg else "operator"
    if ending is Ending.OPERATOR:
        rig.ua.far_hang_up(op_leg)
    elif ending is Ending.RTP_TIMEOUT:
        assert call.operator_media is not None
        silent = rng.choice([call.caller_media, call.operator_media])
        rig.controller.on_media_event(MediaTimeout(silent, 30.0))
    else:
        rig.ua.far_hang_up(leg)
    return leg, EXPECTED[ending][0]


def assert_nothing_left(rig: Rig, legs: list[Leg]) -> None:
    assert rig.controller.active() == 0
    media = rig.media
    assert isinstance(media, HoldingMedia)
    assert media.open_legs() == [] and media.held == set()
    assert all(leg.session.finished for leg in legs), "a SIP session is still open"
    assert all(leg.session.finished for leg in rig.ua.placed), "an operator leg is still open"
    assert rig.acd.active() == 0
    assert rig.controller.internal_errors == 0


async def test_fifty_calls_with_random_endings_leave_nothing_behind() -> None:
    rig = make_hold_rig(GREETING)
    rig.login(OPERATOR)
    rng = random.Random(SEED)
    endings = [rng.choice(list(Ending)) for _ in range(CALLS)]
    assert set(endings) == set(Ending)  # the seed covers every ending
    legs: list[Leg] = []
    expected_who: list[str] = []
    for ending in endings:
        leg, who = await run_call(rig, rng, ending)
        legs.append(leg)
        expected_who.append(who)
        await rig.controller.settle()
        assert_nothing_left(rig, legs)
        rig.advance(15.0)  # past wrap-up (10 s)
        assert rig.acd.operator_state(OPERATOR) is OperatorState.READY, ending

    ended = rig.events.of(EventKind.CALL_ENDED)
    arrived = rig.events.of(EventKind.CALL_ARRIVED)
    assert len(arrived) == CALLS
    per_call = Counter(e.call_id for e in ended)
    assert sorted(per_call.values()) == [1] * CALLS
    assert [e.payload["who_hung_up"] for e in ended] == expected_who
    entered = {e.call_id for e in rig.events.of(EventKind.QUEUE_ENTERED)}
    outcomes = Counter(e.call_id for e in rig.events.events if e.kind in QUEUE_OUTCOMES)
    assert set(outcomes) == entered
    assert set(outcomes.values()) == {1}
    queued_endings = [e for e in endings if e not in (Ending.CANCEL, Ending.MENU)]
    assert len(entered) == len(queued_endings)
    answered = len(rig.events.of(EventKind.QUEUE_ANSWERED))
    talked = [e for e in queued_endings if e not in (Ending.WAITING, Ending.RINGING)]
    assert answered == len(talked)
    assert rig.controller.dialogs is not None
    assert all(
        rig.controller.dialogs.held_by(CallId(e.call_id)) is None for e in ended if e.call_id
    )
