"""Mutable records the router keeps per call, operator and queue (package-internal).

Nothing outside :mod:`hotline.acd` should hold these: the public read side is
:mod:`hotline.acd.status`.  They are plain slotted classes because the router
updates them on every event; the invariants they take part in are documented
in :mod:`hotline.acd.router`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hotline.acd.agent import OperatorState
from hotline.acd.model import MAX_LEVEL, MIN_LEVEL, OperatorProfile, QueueConfig
from hotline.acd.sla import HandleTimeWindow
from hotline.acd.strategies import Strategy
from hotline.acd.waiting import WaitingLine, WaitKey
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["CallRecord", "OperatorRecord", "QueueRecord"]


class CallRecord:
    """A call in the router: waiting in exactly one queue, maybe ringing operators."""

    __slots__ = (
        "base_priority",
        "call_id",
        "dispatchable",
        "entered_at",
        "flags",
        "hops",
        "offered_to",
        "priority",
        "queue_entered_at",
        "queue_id",
        "repeat_caller",
        "required_skills",
        "ring_gen",
        "ring_started_at",
        "seq",
        "tier_next",
        "timer_gen",
    )

    def __init__(
        self,
        call_id: CallId,
        *,
        priority: int,
        repeat_caller: bool,
        entered_at: float,
        seq: int,
        required_skills: Mapping[str, int],
        flags: frozenset[str],
    ) -> None:
        self.call_id = call_id
        self.queue_id = QueueId("")
        self.base_priority = priority
        self.priority = priority
        self.repeat_caller = repeat_caller
        self.entered_at = entered_at  # first entry into a queue: the call's place
        self.queue_entered_at = entered_at  # entry into the current queue: its norms
        self.seq = seq
        self.required_skills = dict(required_skills)
        self.flags = flags
        self.offered_to: dict[OperatorId, None] = {}  # an ordered set
        self.dispatchable = False  # in its line's dispatch buckets (no offer ringing)
        self.ring_gen = 0
        self.ring_started_at = entered_at
        self.timer_gen = 0
        self.tier_next = 0
        self.hops = 0

    def key(self) -> WaitKey:
        """The call's place in its queue's line."""
        return (-self.priority, self.entered_at, self.seq, self.call_id)


class OperatorRecord:
    """An operator known to the router (satisfies :class:`~hotline.acd.strategies.OperatorView`)."""

    __slots__ = (
        "answered_at",
        "available_at",
        "calls_today",
        "gen",
        "idle",
        "idle_since",
        "levels",
        "no_answer_count",
        "offer_call",
        "operator_id",
        "pending_not_ready",
        "position",
        "profile",
        "reason",
        "state",
        "talk_call",
        "talk_queue",
        "talk_today_s",
        "wait_needed",
        "weight",
        "wrap_up_s",
    )

    def __init__(self, profile: OperatorProfile, now: float) -> None:
        self.profile = profile
        self.operator_id = profile.operator_id
        self.position = profile.position
        self.weight = profile.weight
        self.state = OperatorState.LOGGED_OUT
        self.reason = ""
        self.gen = 0
        self.levels: dict[QueueId, int] = {}  # queues this operator serves, with its level
        self.wait_needed: dict[QueueId, float] = {}  # wait before a call there may reach them
        self.idle = False  # READY, no delay: in the idle index of every queue served
        self.idle_since = now
        self.available_at = now
        self.offer_call: CallId | None = None
        self.talk_call: CallId | None = None
        self.talk_queue: QueueId | None = None
        self.answered_at = now
        self.wrap_up_s = 0.0
        self.no_answer_count = 0
        self.calls_today = 0
        self.talk_today_s = 0.0
        self.pending_not_ready: str | None = None

    @property
    def logged_in(self) -> bool:
        """Whether the operator is logged in."""
        return self.state is not OperatorState.LOGGED_OUT


class QueueRecord:
    """A queue: its configuration, waiting line and indexes of the operators serving it."""

    __slots__ = (
        "calls",
        "config",
        "empty_deadline",
        "empty_gen",
        "empty_since",
        "handle",
        "idle_by_level",
        "idle_total",
        "line",
        "members",
        "staffed",
        "strategy",
        "wait_needed",
    )

    def __init__(self, config: QueueConfig, strategy: Strategy, now: float) -> None:
        self.config = config
        self.strategy = strategy
        self.line = WaitingLine()
        self.calls: dict[CallId, CallRecord] = {}
        self.members: dict[OperatorId, int] = {}  # logged-in operators serving it -> level
        self.idle_by_level: list[dict[OperatorId, OperatorRecord]] = [
            {} for _ in range(MAX_LEVEL + 1)
        ]
        self.idle_total = 0  # members in idle_by_level
        self.staffed = 0  # members not NOT_READY
        self.handle = HandleTimeWindow(config.default_handle_s)
        self.empty_since: float | None = now
        self.empty_deadline: float | None = None
        self.empty_gen = 0
        self.wait_needed: list[float | None] = []
        self.configure(config, strategy)

    def configure(self, config: QueueConfig, strategy: Strategy) -> None:
        """Apply a (new) configuration."""
        self.config = config
        self.strategy = strategy
        self.handle.set_default(config.default_handle_s)
        levels = range(MIN_LEVEL, MAX_LEVEL + 1)
        self.wait_needed = [None, *(config.wait_needed_for(level) for level in levels)]
