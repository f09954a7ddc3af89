"""Anonymous callers never hear the call-back offer, and their key 1 asks for nothing (ctl_queue)."""

from __future__ import annotations

import pytest
from test_calls_controller_fakes import caller_offer
from test_calls_queue_voice import (
    RouterCallbacks,
    key,
    phrases,  # noqa: F401  (the fixture)
    queue_config,
    voiced_rig,
)

from hotline.calls.call import CallPhase
from hotline.calls.ctl_queue import QueuePhrases, callback_number
from hotline.reports.events import EventKind


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("79161234567", "+79161234567"),
        ("+79161234567", "+79161234567"),
        ("89161234567", "+79161234567"),
        ("+4930123456", "+4930123456"),
        (None, None),
        ("", None),
        ("anonymous", None),  # the controller's name for a caller without a number
        ("Anonymous", None),
        ("122", None),  # short numbers are services, never called back
        ("112", None),
        ("12345", None),  # an extension: incomplete
        ("0123456789", None),  # an unassigned range
    ],
)
def test_callback_number(caller: str | None, expected: str | None) -> None:
    number = callback_number(caller)
    assert (number.number if number is not None else None) == expected


@pytest.mark.parametrize("caller", ["anonymous", "122", "12345"])
async def test_an_anonymous_caller_hears_no_offer_and_key_1_does_nothing(
    phrases: QueuePhrases,  # noqa: F811
    caller: str,
) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=None))
    callbacks = RouterCallbacks(rig)
    rig.controller.voice.callbacks = callbacks
    rig.ua.incoming(caller_offer(), caller=caller)
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED
    rig.advance(0.0)
    # The position is said, the call-back offer is not.
    assert heard.said() == [("Вы — первый в очереди.",)]
    assert all(phrases.callback_offer not in said for said in heard.said())
    key(rig, call, "1")
    assert callbacks.asked == []  # the ACD was not asked
    assert call.phase is CallPhase.QUEUED and call.in_acd  # the caller keeps waiting
    assert len(heard.said()) == 1  # no confirmation either
    assert rig.events.of(EventKind.QUEUE_CALLBACK_REQUESTED) == []


async def test_a_caller_with_a_number_hears_the_offer(
    phrases: QueuePhrases,  # noqa: F811
) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=None))
    rig.controller.voice.callbacks = RouterCallbacks(rig)
    rig.ua.incoming(caller_offer(), caller="89161234567")
    await rig.controller.settle()
    rig.advance(0.0)
    assert heard.said() == [("Вы — первый в очереди.", phrases.callback_offer)]
