"""What an :class:`~hotline.ivr.interpreter.IvrSession` hands back: commands and facts.

Read them with :meth:`IvrSession.next_event` until it returns None, in order.

Commands (imperative names) ask the call layer to act on the caller's leg:
:class:`PlayPrompts`, :class:`StopPlayback`, :class:`StartDigitCollection`,
and exactly one of the terminal commands per hand-off -- :class:`RouteToQueue`,
:class:`RouteToBot`, :class:`TransferExternal`, :class:`Hangup`.  After a
terminal command the session is done, except that a failed bot or external
hand-off may be reported back (``route_failed``) and the menu goes on.

Facts (past tense) are for the event store and metrics (docs/metrics.md):
:class:`IvrChoiceMade` becomes ``call.ivr_choice``; :class:`TopicSet` gives the
call its topic; the others explain what the caller went through.  Facts carry
``at``, the monotonic time (seconds) of the input that caused them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow_nodes import ExternalTarget, Prompt

__all__ = [
    "TERMINAL_COMMANDS",
    "DigitsCollected",
    "Hangup",
    "IncidentAnnounced",
    "InputFailed",
    "InputFailure",
    "IvrChoiceMade",
    "IvrCommand",
    "IvrEvent",
    "IvrFact",
    "PlayPrompts",
    "RouteToBot",
    "RouteToQueue",
    "StartDigitCollection",
    "StepLimitReached",
    "StopPlayback",
    "TopicSet",
    "TransferExternal",
]


class InputFailure(enum.Enum):
    """Why a menu or collect attempt failed."""

    INVALID = "invalid"  # a key no branch takes, or digits that do not fit
    TIMEOUT = "timeout"  # nothing (more) was pressed in time


# -- commands ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlayPrompts:
    """Play ``prompts`` back to back as one playback item; report its end by ``item_id``.

    ``barge_in``: a key press may stop it.  A prompt with a ``prompt_id`` plays
    the uploaded recording of that id if there is one, else its ``text``
    through the speech synthesiser (library texts are filled in already).
    """

    item_id: str
    prompts: tuple[Prompt, ...]
    barge_in: bool


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop playback item ``item_id`` (playing or queued)."""

    item_id: str


@dataclass(frozen=True, slots=True)
class StartDigitCollection:
    """The session now waits for keys at ``node``; the driver should pass every key on.

    Time-outs are the session's own (see ``get_timer``); the fields tell the
    driver what is expected, e.g. to flush a stale DTMF buffer or to log.
    """

    node: str
    min_digits: int
    max_digits: int
    terminator: str | None
    timeout_s: float
    inter_digit_timeout_s: float | None


@dataclass(frozen=True, slots=True)
class RouteToQueue:
    """Hand the call to queue ``queue_id`` with ``topic`` (terminal)."""

    queue_id: QueueId
    topic: TopicId | None


@dataclass(frozen=True, slots=True)
class RouteToBot:
    """Hand the call to the voice assistant (terminal).

    If the assistant cannot take it, call ``route_failed``: the session plays
    the node's fallback message and goes on at ``fallback``.
    """

    topic: TopicId | None
    fallback: str


@dataclass(frozen=True, slots=True)
class TransferExternal:
    """Transfer the call to an organisation or number (terminal, R7).

    If the transfer fails, call ``route_failed`` (``fallback`` None: the call
    then ends).
    """

    target: ExternalTarget
    topic: TopicId | None
    fallback: str | None


@dataclass(frozen=True, slots=True)
class Hangup:
    """Play ``message`` (may be empty), then end the call (terminal).

    ``self_service``: the message answered the caller -- the call counts as
    IVR self-service (docs/metrics.md).
    """

    message: tuple[Prompt, ...]
    self_service: bool


# -- facts ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IvrChoiceMade:
    """The caller pressed ``digit`` at menu ``node`` (``call.ivr_choice``).

    ``info_message``: the choice leads straight to an informational hang-up,
    i.e. the caller was served by the menu (IVR self-service).
    """

    call_id: CallId
    node: str
    digit: str
    info_message: bool
    at: float


@dataclass(frozen=True, slots=True)
class TopicSet:
    """The call's topic became ``topic``."""

    call_id: CallId
    topic: TopicId
    at: float


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    """Collect node ``node`` stored valid input in ``variable`` (the value is not repeated here)."""

    call_id: CallId
    node: str
    variable: str
    at: float


@dataclass(frozen=True, slots=True)
class InputFailed:
    """Attempt number ``attempt`` (1 = the first) at ``node`` failed for ``reason``."""

    call_id: CallId
    node: str
    reason: InputFailure
    attempt: int
    at: float


@dataclass(frozen=True, slots=True)
class IncidentAnnounced:
    """The announcement of incident ``flag`` played at ``node``."""

    call_id: CallId
    node: str
    flag: str
    at: float


@dataclass(frozen=True, slots=True)
class StepLimitReached:
    """The call used up the flow's ``max_steps`` at ``node``; it goes to the operator."""

    call_id: CallId
    node: str
    at: float


IvrCommand = (
    PlayPrompts
    | StopPlayback
    | StartDigitCollection
    | RouteToQueue
    | RouteToBot
    | TransferExternal
    | Hangup
)
IvrFact = (
    IvrChoiceMade | TopicSet | DigitsCollected | InputFailed | IncidentAnnounced | StepLimitReached
)
IvrEvent = IvrCommand | IvrFact

TERMINAL_COMMANDS = (RouteToQueue, RouteToBot, TransferExternal, Hangup)
"""The commands that take the call out of the voice menu."""
