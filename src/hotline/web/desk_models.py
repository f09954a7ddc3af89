"""The JSON shapes of the operator desk and the wallboard (also sent over the live socket).

Every model carries codes and ids only; the pages render Russian labels.
Callers' numbers pass through :func:`~hotline.web.masking.number_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field

from hotline.calls.api import (
    LiveCall,
    OperatorSnapshot,
    TargetKind,
    TransferFailure,
    TransferInProgress,
    TransferMode,
    TransferOutcome,
    TransferResult,
)
from hotline.web.masking import number_for
from hotline.web.permissions import Permission

__all__ = [
    "MAX_NOTES_CHARS",
    "AnswerOut",
    "CallCardOut",
    "CallbackOut",
    "DialIn",
    "DialOut",
    "EarlierCallOut",
    "LiveCallOut",
    "OperatorOut",
    "OrganisationOut",
    "StateIn",
    "TargetIn",
    "TargetsOut",
    "TransferOut",
    "TransferOutcomeOut",
    "WrapupIn",
    "WrapupOut",
    "live_call_out",
    "operator_out",
    "transfer_out",
    "transfer_outcome_out",
]

MAX_NOTES_CHARS: Final = 4000
_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@+-]+$")]
_CODE = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")]


class TransferOut(BaseModel):
    """A transfer in progress: the target by id (an operator, a queue, an organisation)."""

    mode: TransferMode
    kind: TargetKind
    target_id: str
    since: datetime
    answered: bool


class TransferOutcomeOut(BaseModel):
    """How the call's last transfer ended (kept by the server for a short while)."""

    mode: TransferMode
    kind: TargetKind
    target_id: str
    result: TransferResult
    reason: TransferFailure | None
    at: datetime


class LiveCallOut(BaseModel):
    call_id: str
    phase: str
    direction: str
    number: str | None
    topic: str | None
    queue_id: str | None
    operator_id: str | None
    started_at: datetime
    answered_at: datetime | None
    on_hold: bool
    position: int | None
    transfer: TransferOut | None = None
    last_transfer: TransferOutcomeOut | None = None


class OperatorOut(BaseModel):
    operator_id: str
    state: str
    reason: str | None
    since: datetime
    seconds_in_state: float
    call_id: str | None


def transfer_out(transfer: TransferInProgress | None) -> TransferOut | None:
    """The desk's view of a transfer in progress (ids only: never a telephone number)."""
    if transfer is None:
        return None
    return TransferOut(
        mode=transfer.mode,
        kind=transfer.target.kind,
        target_id=transfer.target.id,
        since=transfer.since,
        answered=transfer.answered,
    )


def transfer_outcome_out(outcome: TransferOutcome | None) -> TransferOutcomeOut | None:
    """The desk's view of how the last transfer ended (ids and codes only)."""
    if outcome is None:
        return None
    return TransferOutcomeOut(
        mode=outcome.mode,
        kind=outcome.target.kind,
        target_id=outcome.target.id,
        result=outcome.result,
        reason=outcome.reason,
        at=outcome.at,
    )


def live_call_out(permissions: Iterable[Permission], call: LiveCall) -> LiveCallOut:
    return LiveCallOut(
        call_id=call.call_id,
        phase=call.phase,
        direction=call.direction,
        number=number_for(permissions, call.caller_number),
        topic=call.topic,
        queue_id=call.queue_id,
        operator_id=call.operator_id,
        started_at=call.started_at,
        answered_at=call.answered_at,
        on_hold=call.on_hold,
        position=call.position,
        transfer=transfer_out(call.transfer),
        last_transfer=transfer_outcome_out(call.last_transfer),
    )


def operator_out(op: OperatorSnapshot, now: datetime) -> OperatorOut:
    return OperatorOut(
        operator_id=op.operator_id,
        state=op.state,
        # The ACD notes a reason for every transition (a call id when talking): only a
        # not-ready reason is one the pages show.
        reason=op.reason if op.state == "not_ready" else None,
        since=op.since,
        seconds_in_state=max(0.0, round((now - op.since).total_seconds(), 1)),
        call_id=op.call_id,
    )


class EarlierCallOut(BaseModel):
    """An earlier call from the same number, with its wrap-up if one was saved."""

    call_id: str
    at: datetime
    topic: str | None
    outcome: str | None
    notes: str | None


class CallbackOut(BaseModel):
    """A call-back the caller asked for (and whether it was completed)."""

    call_id: str
    at: datetime
    queue_id: str | None
    completed: bool


class AnswerOut(BaseModel):
    """A standard answer (R12b)."""

    id: str
    topic: str
    title: str
    answer: str


class CallCardOut(BaseModel):
    """What the operator sees of an offered or answered call."""

    call: LiveCallOut
    wait_s: float | None
    via_assistant: bool
    transcript: str | None
    earlier_calls: list[EarlierCallOut]
    callbacks: list[CallbackOut]
    answers: list[AnswerOut]


class StateIn(BaseModel):
    state: Literal["ready", "not_ready", "logged_out"]
    reason: _CODE | None = None


class TargetIn(BaseModel):
    """A transfer target: an operator, a queue or an organisation of the directory."""

    kind: TargetKind
    id: _ID


class DialIn(BaseModel):
    number: Annotated[str, Field(min_length=2, max_length=32, pattern=r"^\+?[0-9 ()-]+$")]


class DialOut(BaseModel):
    call_id: str


class OrganisationOut(BaseModel):
    organisation_id: str
    name: str
    number: str
    topics: list[str]
    hours: str


class TargetsOut(BaseModel):
    """Where a call can go: ready operators and the queues."""

    operators: list[OperatorOut]
    queues: list[str]


class WrapupIn(BaseModel):
    call_id: _ID
    topic: _ID | None = None
    outcome: _CODE
    notes: Annotated[str, Field(max_length=MAX_NOTES_CHARS)] = ""
    proposal: bool = False


class WrapupOut(BaseModel):
    id: int
    call_id: str
    wrapup_ended: bool
