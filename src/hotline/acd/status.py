"""Read-only snapshots of the router for supervisors' wallboards and the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline.acd.agent import OperatorState
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["CallStatus", "OperatorStatus", "QueueStatus"]


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One queue now: waiting calls, operators and the wait a new caller can expect."""

    queue_id: QueueId
    waiting: int
    ringing: int  # waiting calls with an offer ringing
    logged_in: int
    staffed: int  # logged in and not NOT_READY
    idle: int
    oldest_wait_s: float | None
    aht_s: float
    estimated_wait_s: float | None  # for a caller joining now


@dataclass(frozen=True, slots=True)
class CallStatus:
    """One waiting call."""

    call_id: CallId
    queue_id: QueueId
    position: int
    wait_s: float  # in the current queue
    total_wait_s: float  # since the call first joined a queue (its place)
    priority: int  # with the repeat-caller bump
    offered_to: tuple[OperatorId, ...]
    required_skills: Mapping[str, int]
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class OperatorStatus:
    """One operator."""

    operator_id: OperatorId
    state: OperatorState
    reason: str
    available: bool  # READY and past any delay: may be offered a call
    available_at: float | None  # end of a no-answer/busy/reject delay, if one runs
    offered_call: CallId | None
    talking_call: CallId | None
    calls_today: int
    talk_today_s: float
    queues: Mapping[QueueId, int]  # queues served, with the operator's level
