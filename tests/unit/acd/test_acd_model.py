"""Configuration validation, the waiting line, the handle-time window and the public surface."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from hotline.acd.model import (
    ExitAction,
    ExitKind,
    OperatorProfile,
    Outcome,
    QueueConfig,
    RejectReason,
    TierRule,
)
from hotline.acd.sla import HandleTimeWindow, abandon_outcome, estimated_wait_s
from hotline.acd.waiting import WaitingLine
from hotline.core.errors import ConfigurationError, LocalProtocolError
from hotline.core.ids import OperatorId, QueueId, TopicId


def queue(**kw: Any) -> QueueConfig:
    return QueueConfig(queue_id=QueueId("q"), name="q", topic=TopicId("t"), **kw)


@pytest.mark.parametrize(
    ("kw", "setting"),
    [
        ({"sl_norm_s": 0.0}, "sl_norm_s"),
        ({"max_wait_s": -1.0}, "max_wait_s"),
        ({"ring_timeout_s": float("inf")}, "ring_timeout_s"),
        ({"wrap_up_s": float("nan")}, "wrap_up_s"),
        ({"max_length": -1}, "max_length"),
        ({"tiers": ()}, "tiers"),
        ({"tiers": (TierRule(5.0, 3),)}, "tiers"),
        ({"tiers": (TierRule(0.0, 3), TierRule(10.0, 5))}, "tiers"),
        ({"tiers": (TierRule(0.0, 5), TierRule(0.0, 3))}, "tiers"),
        ({"max_wait_action": ExitAction(ExitKind.OVERFLOW, "q")}, "max_wait_action"),
        ({"announce_position_limit": 0}, "announce_position_limit"),
        ({"repeat_caller_bump": 101}, "repeat_caller_bump"),
    ],
)
def test_bad_queue_settings_name_the_setting(kw: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        queue(**kw)
    assert info.value.setting == setting


def test_exit_actions_need_their_target() -> None:
    with pytest.raises(ConfigurationError):
        ExitAction(ExitKind.OVERFLOW)
    with pytest.raises(ConfigurationError):
        ExitAction(ExitKind.EXTERNAL, "")
    assert ExitAction(ExitKind.MESSAGE_AND_END).target is None


@pytest.mark.parametrize(
    "kw",
    [
        {"skills": {"t": 0}},
        {"queue_levels": {QueueId("q"): 11}},
        {"weight": -1.0},
        {"max_no_answer": -1},
        {"busy_delay_s": -2.0},
    ],
)
def test_bad_operator_profiles(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        OperatorProfile(operator_id=OperatorId("a"), **kw)


def test_tier_arithmetic() -> None:
    config = queue(tiers=(TierRule(0.0, 8), TierRule(30.0, 5), TierRule(60.0, 1)))
    assert [config.min_level_at(w) for w in (0.0, 29.9, 30.0, 59.0, 600.0)] == [8, 8, 5, 5, 1]
    assert [config.next_tier_after(w) for w in (0.0, 30.0, 60.0)] == [30.0, 60.0, None]
    assert [config.wait_needed_for(level) for level in (10, 8, 7, 5, 2, 1)] == [
        0.0,
        0.0,
        30.0,
        30.0,
        60.0,
        60.0,
    ]
    narrow = queue(tiers=(TierRule(0.0, 6),))
    assert narrow.wait_needed_for(5) is None


def test_delays_by_reason() -> None:
    op = OperatorProfile(
        operator_id=OperatorId("a"), no_answer_delay_s=1.0, busy_delay_s=2.0, reject_delay_s=3.0
    )
    assert [op.delay_after(r) for r in RejectReason] == [1.0, 2.0, 3.0]


def test_the_waiting_line_orders_by_priority_then_entry() -> None:
    line = WaitingLine()
    keys = [(0, 1.0, 1, "a"), (-2, 3.0, 2, "b"), (0, 0.5, 3, "c"), (-2, 2.0, 4, "d")]
    for key in keys:
        line.add(key)
        line.release(key)
    assert [line.position(k) for k in keys] == [4, 2, 3, 1]
    assert line.top_priority() == 2 and line.dispatchable == 4
    everyone = line.first_eligible(10.0, 0.0, lambda call: True, None)
    assert everyone == (-2, 2.0, 4, "d")
    assert line.first_eligible(10.0, 0.0, lambda call: call in "ac", None) == (0, 0.5, 3, "c")
    # only calls that have waited 9 s by t=10: entered at or before 1.0
    assert line.first_eligible(10.0, 9.0, lambda call: True, None) == (0, 0.5, 3, "c")
    assert line.first_eligible(10.0, 9.0, lambda call: True, 1) is None
    line.hold(keys[3])
    assert line.position(keys[3]) == 1 and line.dispatchable == 3
    with pytest.raises(LocalProtocolError):
        line.hold(keys[3])
    line.remove(keys[3])
    assert len(line) == 3
    with pytest.raises(LocalProtocolError):
        line.position(keys[3])


def test_handle_time_window_and_estimates() -> None:
    window = HandleTimeWindow(default_s=180.0, size=3)
    assert window.mean_s == 180.0
    for handle in (100.0, 200.0, 300.0, 400.0):
        window.add(handle)
    assert window.mean_s == 300.0 and len(window) == 3
    assert estimated_wait_s(3, 120.0, 4) == 90.0
    assert estimated_wait_s(1, 120.0, 0) is None
    assert abandon_outcome(4.9, 5.0) is Outcome.SHORT_ABANDON
    assert abandon_outcome(5.0, 5.0) is Outcome.ABANDONED


MODULES = [
    "agent",
    "decisions",
    "dispatch",
    "erlang",
    "model",
    "records",
    "roster",
    "router",
    "sla",
    "status",
    "strategies",
    "timers",
    "transfers",
    "waiting",
]


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_its_public_surface(name: str) -> None:
    module = importlib.import_module(f"hotline.acd.{name}")
    exported = set(module.__all__)
    assert exported, name
    assert all(hasattr(module, item) for item in exported)


def test_the_engine_api_does_not_drift() -> None:
    from hotline.acd.router import AcdEngine

    public = {n for n in dir(AcdEngine) if not n.startswith("_")}
    assert public == {
        "add_queue",
        "assign_call",
        "call_abandoned",
        "call_arrived",
        "call_ended",
        "call_held",
        "call_resumed",
        "call_status",
        "callback_cancelled",
        "callback_queued",
        "callback_requested",
        "get_timer",
        "handle_timer",
        "is_callback",
        "move_call",
        "next_decision",
        "offer_answered",
        "offer_rejected",
        "operator_login",
        "operator_logout",
        "operator_status",
        "operators",
        "outbound_answered",
        "outbound_failed",
        "outbound_reserve",
        "queue_status",
        "remove_queue",
        "reset_daily_counters",
        "set_call_priority",
        "set_not_ready",
        "set_operator_state",
        "set_ready",
        "open_transfers",
        "transfer_answered",
        "transfer_failed",
        "transfer_offer",
        "transfer_to_queue",
        "update_operator",
        "update_queue",
        "waiting_calls",
        "wrapup_done",
    }
