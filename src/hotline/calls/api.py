"""What the web workplace may ask of live calls and queues (L3 protocols, architecture.md).

``hotline.web`` talks to the call controller and the ACD only through these
protocols; ``hotline.app`` wires the implementations (the call service) in.
Every action either takes effect or raises :class:`CallActionError` with a
machine-readable :class:`ActionRefusal` — the web layer turns that into a 404
or 409 with a Russian message, never a 500.

Snapshots are frozen dataclasses read on the event loop; they carry the
caller's full number, and the web layer masks it for roles that may not see it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hotline.core.errors import HotlineError
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = [
    "ActionRefusal",
    "CallActionError",
    "CallActions",
    "LiveCall",
    "MonitorMode",
    "OperatorSnapshot",
    "QueueActions",
    "QueueSnapshot",
    "TargetKind",
    "TransferFailure",
    "TransferInProgress",
    "TransferMode",
    "TransferOutcome",
    "TransferResult",
    "TransferTarget",
    "WaitingCall",
]


class ActionRefusal(enum.Enum):
    """Why an action was refused."""

    NOT_FOUND = "not_found"  # no such live call, operator, queue or organisation
    WRONG_STATE = "wrong_state"  # e.g. hold while the call is still queued
    TARGET_UNAVAILABLE = "target_unavailable"  # operator logged out, queue full, no trunk
    NOT_ALLOWED = "not_allowed"  # e.g. an operator acting on another operator's call
    BUSY = "busy"  # capacity guard: the node takes no new calls


class CallActionError(HotlineError):
    """An action on a live call, queue or operator that could not be carried out."""

    def __init__(self, refusal: ActionRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


class TargetKind(enum.Enum):
    """Where a transfer goes."""

    OPERATOR = "operator"
    QUEUE = "queue"
    ORGANISATION = "organisation"


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """An operator id, a queue id or an organisation id, by kind."""

    kind: TargetKind
    id: str


class TransferMode(enum.Enum):
    """How a transfer in progress was started from the desk or the operator's phone."""

    BLIND = "blind"  # the caller goes as soon as the target answers
    CONSULT = "consult"  # attended: the operator talks with the target first


@dataclass(frozen=True, slots=True)
class TransferInProgress:
    """A transfer of a live call that has started and not ended yet (the desk shows it).

    A blind transfer is in progress while the target operator's phone rings
    or the organisation is dialled (one to a queue takes effect at once); a
    consultation from its start until it is completed or cancelled.  When the
    transfer fails (no answer, a refusal) or completes, the call's snapshot
    carries None again.  ``target`` names an operator, a queue or an
    organisation of the directory by id, never by a telephone number.
    """

    mode: TransferMode
    target: TransferTarget
    since: datetime  # UTC, when the transfer started
    answered: bool = False  # a consultation's target talks with the operator (a queue: at once)


class TransferResult(enum.Enum):
    """How a transfer ended."""

    COMPLETED = "completed"  # the caller went to the target
    FAILED = "failed"  # the caller stayed with the operator: see TransferFailure
    CANCELLED = "cancelled"  # the operator withdrew it (desk or phone), or the call ended


class TransferFailure(enum.Enum):
    """Why a transfer failed, as far as its owner knows (SIP final statuses, RFC 3261 §21)."""

    NO_ANSWER = "no_answer"  # rang out (408) or stopped ringing unanswered
    BUSY = "busy"  # 486/600, or the target could not be rung
    REJECTED = "rejected"  # declined (603/403) or hung up on the operator
    UNAVAILABLE = "unavailable"  # not registered, not ready, logged out, unknown (404/480)
    ERROR = "error"  # no media, no trunk, a bad answer, a server error


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """How the last transfer of a live call ended (the desk shows a failure for a while).

    Kept for a short time after the transfer ended (see
    :data:`hotline.calls.transfer_outcomes.OUTCOME_KEEP_S`) and only while the
    call is with the operator who started the transfer; ``reason`` is set for
    ``FAILED`` only.
    """

    mode: TransferMode
    target: TransferTarget
    result: TransferResult
    reason: TransferFailure | None
    at: datetime  # UTC, when the transfer ended


class MonitorMode(enum.Enum):
    """How a supervisor joins a live call (R8d)."""

    LISTEN = "listen"  # hears both sides, nobody hears the supervisor
    WHISPER = "whisper"  # the operator hears the supervisor, the caller does not
    BARGE = "barge"  # three-way: everybody hears everybody


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call in progress as the workplace shows it."""

    call_id: CallId
    phase: str  # CallPhase value: answering, greeting, queued, talking
    direction: str  # "inbound" or "outbound"
    caller_number: str  # full number; the web layer masks it per role
    topic: str | None
    queue_id: QueueId | None
    operator_id: OperatorId | None
    started_at: datetime  # UTC, when the call arrived
    answered_at: datetime | None  # UTC, when an operator answered
    on_hold: bool
    recording_id: str | None
    position: int | None  # place in the queue while queued (1 = next)
    transfer: TransferInProgress | None = None  # a transfer ringing or a consultation
    last_transfer: TransferOutcome | None = None  # how the last transfer ended, for a while


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """A call waiting in a queue, for the supervisor's queue control."""

    call_id: CallId
    queue_id: QueueId
    position: int
    priority: int
    waited_s: float
    caller_number: str


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One queue's live figures for the wallboard (metrics.md names)."""

    queue_id: QueueId
    name: str
    waiting: int
    longest_wait_s: float
    norm_s: float  # the queue's waiting-time norm (service-level threshold)
    operators_ready: int
    operators_busy: int


@dataclass(frozen=True, slots=True)
class OperatorSnapshot:
    """One operator's live state for the wallboard and the desk."""

    operator_id: OperatorId
    state: str  # OperatorState value: logged_out, ready, not_ready, ringing, talking, wrap_up
    reason: str | None  # not-ready reason
    since: datetime  # UTC, when the operator entered this state
    call_id: CallId | None


class CallActions(Protocol):
    """Actions on live calls: the operator desk's controls and the supervisor's monitoring."""

    def live_calls(self) -> Sequence[LiveCall]:
        """Every call in progress."""
        ...

    def live_call(self, call_id: CallId) -> LiveCall | None:
        """One call in progress, or None."""
        ...

    def hold(self, call_id: CallId) -> None:
        """Put the caller on hold (music on hold); the operator's phone stays connected."""
        ...

    def resume(self, call_id: CallId) -> None:
        """Take the caller off hold."""
        ...

    def hang_up(self, call_id: CallId) -> None:
        """End the call (the operator hung up)."""
        ...

    def transfer_blind(self, call_id: CallId, target: TransferTarget) -> None:
        """Send the caller to another operator, a queue or an organisation at once."""
        ...

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        """Attended transfer, step 1: hold the caller and ring the target for the operator."""
        ...

    def complete_transfer(self, call_id: CallId) -> None:
        """Attended transfer, step 2: join the caller with the consulted party."""
        ...

    def cancel_consult(self, call_id: CallId) -> None:
        """Attended transfer abandoned: drop the consultation and resume the caller."""
        ...

    def dial_out(self, operator_id: OperatorId, number: str) -> CallId:
        """Click-to-call: ring the operator's phone, then dial ``number`` through a trunk."""
        ...

    def monitor(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        """Call the supervisor's phone and join the call; returns the monitoring session id."""
        ...

    def stop_monitor(self, session_id: str) -> None:
        """End a monitoring session."""
        ...


class QueueActions(Protocol):
    """The supervisor's queue control (R8d) and the operators' state, over the ACD."""

    def queues(self) -> Sequence[QueueSnapshot]:
        """Every queue's live figures."""
        ...

    def operators(self) -> Sequence[OperatorSnapshot]:
        """Every known operator's live state."""
        ...

    def waiting_calls(self, queue_id: QueueId | None = None) -> Sequence[WaitingCall]:
        """Calls waiting (in one queue or all), in queue order."""
        ...

    def set_operator_state(
        self, operator_id: OperatorId, state: str, reason: str | None = None
    ) -> None:
        """``ready``, ``not_ready`` (with a reason), ``logged_out``; also ends wrap-up."""
        ...

    def wrapup_done(self, operator_id: OperatorId) -> None:
        """The operator's wrap-up form was saved: wrap-up ends."""
        ...

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None:
        """Move a waiting call to another queue (it keeps its arrival time)."""
        ...

    def set_call_priority(self, call_id: CallId, priority: int) -> None:
        """Change a waiting call's priority."""
        ...

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None:
        """Offer a waiting call to this operator next."""
        ...
