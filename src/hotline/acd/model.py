"""Configuration and vocabulary of the ACD: queues, operators, outcomes, limits.

Everything here is a frozen, slotted dataclass or an enum, validated when it
is created (:class:`~hotline.core.errors.ConfigurationError` names the
setting at fault), so the router never has to second-guess its input.

Skills and tiers
    An operator has a skill level from 1 (can help) to 10 (expert) per queue
    (``queue_levels``) or per topic (``skills``, keyed by the queue's topic; a
    queue-specific level wins).  A queue's :class:`TierRule` list widens the
    set of operators a waiting call may be offered to as it waits: at first
    only operators at ``min_level`` or above, after ``after_s`` seconds lower
    levels too.  "Other operator groups" (a back-office team, a neighbouring
    topic's operators) join a queue as operators with a low level for it, so
    one mechanism covers Asterisk's penalty rules and FreeSWITCH's tiers.

Outcomes
    :class:`Outcome` holds the eight mutually exclusive ways a call leaves a
    queue, exactly as defined in docs/metrics.md.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from hotline.core.errors import ConfigurationError
from hotline.core.ids import OperatorId, QueueId, TopicId

__all__ = [
    "DEFAULT_SHORT_ABANDON_S",
    "MAX_LEVEL",
    "MAX_PRIORITY",
    "MIN_LEVEL",
    "MIN_PRIORITY",
    "EmptyPolicy",
    "EngineLimits",
    "ExitAction",
    "ExitKind",
    "OperatorProfile",
    "Outcome",
    "OverflowReason",
    "QueueConfig",
    "RejectReason",
    "StrategyParam",
    "TierRule",
]

MIN_LEVEL: Final = 1
MAX_LEVEL: Final = 10
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 100
DEFAULT_SHORT_ABANDON_S: Final = 5.0

StrategyParam = str | int | float | bool


class Outcome(enum.Enum):
    """How a call left one queue (docs/metrics.md, "Call outcomes in a queue")."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    SHORT_ABANDON = "short_abandon"
    TIMED_OUT = "timed_out"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    LEFT_EMPTY = "left_empty"
    LEFT_FULL = "left_full"


class ExitKind(enum.Enum):
    """What happens to a call taken out of a queue by a rule."""

    OVERFLOW = "overflow"  # ``target`` is another queue's id; the router moves the call
    CALLBACK = "callback"  # a call-back is scheduled; the caller is told and released
    MESSAGE_AND_END = "message_and_end"  # ``target`` is a prompt id (None: the default one)
    EXTERNAL = "external"  # ``target`` is a telephone number to send the call to
    BOT = "bot"  # the voice assistant takes it; a hand-over joins ``target`` (None: this queue)


class EmptyPolicy(enum.Enum):
    """What a queue does with a new call while no operator is logged in to it."""

    JOIN = "join"
    REFUSE = "refuse"


class RejectReason(enum.Enum):
    """Why an offer was not answered (FreeSWITCH mod_callcenter's three delays)."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECT = "reject"


class OverflowReason(enum.Enum):
    """Which rule moved a call to another queue (the wait norm is a time-out instead)."""

    FULL = "full"
    EMPTY = "empty"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class ExitAction:
    """An action with its target: a queue id, a prompt id or a number."""

    kind: ExitKind
    target: str | None = None

    def __post_init__(self) -> None:
        if self.kind in (ExitKind.OVERFLOW, ExitKind.EXTERNAL) and not self.target:
            raise ConfigurationError("exit_action", f"{self.kind.value} needs a target")


@dataclass(frozen=True, slots=True)
class TierRule:
    """From ``after_s`` seconds of waiting on, operators at ``min_level`` or above qualify."""

    after_s: float
    min_level: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.after_s) and self.after_s >= 0):
            raise ConfigurationError("tiers", "after_s must be a finite number >= 0")
        if not MIN_LEVEL <= self.min_level <= MAX_LEVEL:
            raise ConfigurationError("tiers", f"min_level must be {MIN_LEVEL}..{MAX_LEVEL}")


_END: Final = ExitAction(ExitKind.MESSAGE_AND_END)


def _check_seconds(setting: str, value: float | None, *, allow_none: bool, positive: bool) -> None:
    if value is None:
        if not allow_none:
            raise ConfigurationError(setting, "is required")
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        kind = "> 0" if positive else ">= 0"
        raise ConfigurationError(setting, f"must be a finite number of seconds {kind}")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """One queue as the administrator configured it (applied without a restart).

    ``max_wait_s`` is the decree's maximum waiting-time norm: a call still
    waiting then leaves with outcome ``timed_out`` and ``max_wait_action``.
    ``tiers`` must start at ``after_s == 0`` with strictly growing times and
    strictly falling levels.  Announcements: every ``announce_interval_s``
    (None: never) a waiting call gets an :class:`~hotline.acd.decisions.AnnouncePosition`;
    its position (estimate) is left out when disabled or above the limit.
    """

    queue_id: QueueId
    name: str
    topic: TopicId
    weight: int = 0
    sl_norm_s: float = 20.0
    max_wait_s: float | None = 120.0
    max_wait_action: ExitAction = _END
    max_length: int | None = None
    full_action: ExitAction = _END
    when_empty: EmptyPolicy = EmptyPolicy.JOIN
    leave_when_empty_s: float | None = None
    empty_action: ExitAction = _END
    wrap_up_s: float = 10.0
    ring_timeout_s: float = 20.0
    strategy: str = "longest-idle"
    strategy_params: Mapping[str, StrategyParam] = field(default_factory=dict)
    tiers: tuple[TierRule, ...] = (TierRule(0.0, MIN_LEVEL),)
    announce_interval_s: float | None = 30.0
    announce_on_entry: bool = True
    announce_position: bool = True
    announce_position_limit: int | None = None
    announce_wait: bool = True
    announce_wait_limit_s: float | None = None
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    repeat_caller_bump: int = 1
    default_handle_s: float = 180.0

    def __post_init__(self) -> None:
        if not self.queue_id:
            raise ConfigurationError("queue_id", "must not be empty")
        _check_seconds("sl_norm_s", self.sl_norm_s, allow_none=False, positive=True)
        _check_seconds("max_wait_s", self.max_wait_s, allow_none=True, positive=True)
        _check_seconds(
            "leave_when_empty_s", self.leave_when_empty_s, allow_none=True, positive=False
        )
        _check_seconds("wrap_up_s", self.wrap_up_s, allow_none=False, positive=False)
        _check_seconds("ring_timeout_s", self.ring_timeout_s, allow_none=False, positive=True)
        _check_seconds(
            "announce_interval_s", self.announce_interval_s, allow_none=True, positive=True
        )
        _check_seconds(
            "announce_wait_limit_s", self.announce_wait_limit_s, allow_none=True, positive=False
        )
        _check_seconds("short_abandon_s", self.short_abandon_s, allow_none=False, positive=False)
        _check_seconds("default_handle_s", self.default_handle_s, allow_none=False, positive=True)
        if self.max_length is not None and self.max_length < 0:
            raise ConfigurationError("max_length", "must be >= 0")
        if self.announce_position_limit is not None and self.announce_position_limit < 1:
            raise ConfigurationError("announce_position_limit", "must be >= 1")
        if not 0 <= self.repeat_caller_bump <= MAX_PRIORITY:
            raise ConfigurationError("repeat_caller_bump", f"must be 0..{MAX_PRIORITY}")
        self._check_tiers()
        for setting, action in (
            ("max_wait_action", self.max_wait_action),
            ("full_action", self.full_action),
            ("empty_action", self.empty_action),
        ):
            if action.kind is ExitKind.OVERFLOW and action.target == self.queue_id:
                raise ConfigurationError(setting, "a queue cannot overflow into itself")

    def _check_tiers(self) -> None:
        if not self.tiers or self.tiers[0].after_s != 0:
            raise ConfigurationError("tiers", "the first tier must start at after_s=0")
        for before, after in zip(self.tiers, self.tiers[1:], strict=False):
            if after.after_s <= before.after_s or after.min_level >= before.min_level:
                raise ConfigurationError(
                    "tiers", "times must grow and levels must fall from one tier to the next"
                )

    def min_level_at(self, waited_s: float) -> int:
        """The lowest operator level a call that has waited ``waited_s`` may be offered to."""
        level = self.tiers[0].min_level
        for rule in self.tiers:
            if rule.after_s > waited_s:
                break
            level = rule.min_level
        return level

    def next_tier_after(self, waited_s: float) -> float | None:
        """The waiting time at which the next tier starts, or None if none is left."""
        for rule in self.tiers:
            if rule.after_s > waited_s:
                return rule.after_s
        return None

    def wait_needed_for(self, level: int) -> float | None:
        """How long a call must wait before an operator at ``level`` qualifies (None: never)."""
        for rule in self.tiers:
            if rule.min_level <= level:
                return rule.after_s
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorProfile:
    """An operator's skills and personal routing settings.

    ``skills`` maps a topic (or any other skill a call may require, such as a
    language) to a level 1-10; ``queue_levels`` gives a level for one queue
    and wins over the topic.  ``position`` orders operators for the linear and
    round-robin strategies; ``weight`` feeds weighted random.  After
    ``max_no_answer`` consecutive unanswered offers (0: never) the operator is
    set NOT_READY("no answer"); the three delays keep an operator who missed,
    was busy or rejected out of routing for a while (FreeSWITCH's
    no-answer/busy/reject delay times).
    """

    operator_id: OperatorId
    skills: Mapping[str, int] = field(default_factory=dict)
    queue_levels: Mapping[QueueId, int] = field(default_factory=dict)
    position: int = 0
    weight: float = 1.0
    max_no_answer: int = 3
    no_answer_delay_s: float = 5.0
    busy_delay_s: float = 10.0
    reject_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.operator_id:
            raise ConfigurationError("operator_id", "must not be empty")
        for name, level in (*self.skills.items(), *self.queue_levels.items()):
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise ConfigurationError(
                    "skills", f"{name}: level must be {MIN_LEVEL}..{MAX_LEVEL}"
                )
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ConfigurationError("weight", "must be a finite number >= 0")
        if self.max_no_answer < 0:
            raise ConfigurationError("max_no_answer", "must be >= 0")
        for setting, value in (
            ("no_answer_delay_s", self.no_answer_delay_s),
            ("busy_delay_s", self.busy_delay_s),
            ("reject_delay_s", self.reject_delay_s),
        ):
            _check_seconds(setting, value, allow_none=False, positive=False)

    def delay_after(self, reason: RejectReason) -> float:
        """How long this operator rests after an offer ended for ``reason``."""
        if reason is RejectReason.NO_ANSWER:
            return self.no_answer_delay_s
        if reason is RejectReason.BUSY:
            return self.busy_delay_s
        return self.reject_delay_s


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLimits:
    """Hard bounds of one router; going past one raises LimitExceededError (status 503)."""

    max_queues: int = 1_000
    max_operators: int = 20_000
    max_waiting_calls: int = 100_000
    max_required_skills: int = 16
    max_flags: int = 16
    max_overflow_hops: int = 8
