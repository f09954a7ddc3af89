"""Call-backs: the caller keeps its place, the ACD calls back when an operator is free (item 3).

While a caller waits, every announcement ends with the call-back offer
(:mod:`hotline.calls.ctl_queue`, «…нажмите 1…»).  Key ``1`` comes here
(:class:`CallbackDesk` is the queue voice's
:class:`~hotline.calls.ctl_queue.CallbackRequests`):

1. the request is noted (the caller's number, queue, topic and place) and the
   ACD's ``callback_requested`` ends the queue visit with outcome
   ``callback`` (``queue.callback_requested``, metrics.md); the caller hears
   the confirmation and the call ends;
2. when the caller's call is over (:meth:`CallbackDesk.call_ended`) the
   request is parked in the queue at the caller's place
   (``callback_queued``, :mod:`hotline.acd.router_outbound`);
3. when it reaches the head and an operator is free, the ACD's ``OfferCall``
   for it comes here instead of the controller: the operator's phone is rung
   first, showing the number and «обратный звонок»
   (:class:`~hotline.calls.ctl_outbound.OutboundDialer`); the ring time-out
   and refusals are the ACD's as for any offer (``offer_rejected``: the
   request keeps its place);
4. the operator answers (``offer_answered``: TALKING), the caller is dialled
   through the trunk presenting 122, bridged and recorded; when the call is
   over the operator wraps up (``call_ended``).

Each dial of the caller is an attempt: ``callback.attempted`` (payload
``attempt``, ``result``: ``answered``, ``no_answer``, ``busy``,
``rejected``, ``failed`` or ``cancelled``).  An attempt that did not reach the
caller parks the request again after the queue's
:attr:`CallbackPolicy.retry_interval_s`, up to
:attr:`CallbackPolicy.max_attempts`; the request ends with
``callback.completed`` (payload ``result``: ``completed`` or ``failed``,
``attempts``, and ``reason`` when a restart ended it, below).

Requests live in memory, and the event log says which were never
completed: at start the node reads them back
(:class:`hotline.store.callback_queries.CallbackQueries`) and
:meth:`CallbackDesk.restore` parks each one again before calls are accepted:

* at its place: the ACD's ``entered_at`` is the original wall time mapped
  onto the monotonic clock (``now - (wall - placed_at)``), so a restored
  request still goes before every call that arrived after its caller;
* with the attempts already made: a request that used the queue's
  ``max_attempts`` ends ``failed`` (reason ``attempts``); one whose last
  attempt is younger than ``retry_interval_s`` waits the rest of the pause;
* a request of a queue that no longer exists goes to the node's fallback
  (general) queue, like the waiting calls of a removed queue; with no
  fallback it ends ``failed`` (reason ``no_queue``);
* a request older than the look-up's maximum age ends ``failed`` (reason
  ``expired``) with a warning: a promise not kept is recorded, never
  dropped silently.

Each restored request is logged once (the number masked).  No event marks a
restoration (docs/metrics.md has no such kind): the events of the request
simply go on after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

import structlog

from hotline.acd.decisions import (
    CallbackScheduled,
    CallRefused,
    CallTimedOut,
    CancelOffer,
    Decision,
    OfferCall,
)
from hotline.acd.model import ExitKind, RejectReason
from hotline.calls.call import Call
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_outbound import (
    OutboundCall,
    OutboundDialer,
    OutboundKind,
    OutboundRefused,
    OutboundRequest,
)
from hotline.calls.ctl_transfer import next_recording_id
from hotline.calls.numbers import PhoneNumber, parse_number
from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId
from hotline.media.recorder import RecordingStored
from hotline.reports.events import EventKind, HungUpBy, PayloadValue

__all__ = [
    "CallbackAcd",
    "CallbackDesk",
    "CallbackPolicy",
    "CallbackRequest",
    "CallbackState",
    "RestoreResult",
    "StoredCallback",
]

log = structlog.get_logger("hotline.calls.callback")

_OPERATOR_REASONS: Final = {
    "operator_busy": RejectReason.BUSY,
    "operator_rejected": RejectReason.REJECT,
}


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """How a queue calls back: attempts on the caller, the pause between them, ring times."""

    max_attempts: int = 3
    retry_interval_s: float = 300.0
    dial_ring_s: float = 40.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 10:
            raise LocalProtocolError("call-back max_attempts must be 1..10")
        if not 0.0 <= self.retry_interval_s <= 86400.0 or not 5.0 <= self.dial_ring_s <= 300.0:
            raise LocalProtocolError("call-back interval 0..86400 s and ring time 5..300 s")


class CallbackState(enum.Enum):
    """Where a request stands."""

    CALLER_ON_LINE = "caller_on_line"  # the caller still hears the confirmation
    QUEUED = "queued"  # parked in the ACD, maybe an operator ringing
    DIALLING = "dialling"  # the operator answered; the caller is being called
    RETRY_WAIT = "retry_wait"  # an attempt failed; parked again after the interval


@dataclass(slots=True, eq=False)
class CallbackRequest:
    """A caller to call back (kept under the original call id)."""

    call_id: CallId
    number: PhoneNumber
    queue_id: QueueId
    topic: TopicId | None
    entered_at: float  # monotonic: the caller's place
    state: CallbackState = CallbackState.CALLER_ON_LINE
    attempts: int = 0
    operator_id: OperatorId | None = None
    recording_id: str | None = None
    retry: asyncio.TimerHandle | None = field(default=None, repr=False)


class CallbackAcd(Protocol):
    """The ACD inputs of a call-back (:class:`~hotline.acd.service.AcdService`)."""

    def entered_at(self, call_id: CallId) -> float | None: ...

    def callback_requested(self, call_id: CallId) -> None: ...

    def callback_queued(self, call_id: CallId, queue_id: QueueId, *, entered_at: float) -> None: ...

    def callback_cancelled(self, call_id: CallId) -> None: ...

    def offer_answered(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def offer_rejected(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason
    ) -> None: ...

    def call_ended(self, operator_id: OperatorId) -> None: ...


class StoredCallback(Protocol):
    """An open request read back from the events (``callback_queries.OpenCallback``)."""

    @property
    def call_id(self) -> str: ...

    @property
    def queue_id(self) -> str: ...

    @property
    def topic(self) -> str | None: ...

    @property
    def number(self) -> str | None: ...

    @property
    def placed_at(self) -> datetime: ...

    @property
    def attempts(self) -> int: ...

    @property
    def last_attempt_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What :meth:`CallbackDesk.restore` did."""

    restored: int = 0  # parked again, or waiting for the rest of their retry pause
    failed: int = 0  # ended failed: attempts used, no queue, expired
    skipped: int = 0  # no number to call, or already known


class CallbackDesk:
    """Every call-back request of the node (see the module docstring)."""

    def __init__(
        self,
        *,
        acd: CallbackAcd,
        dialer: OutboundDialer,
        events: CallEventWriter,
        call_of: Callable[[CallId], Call | None],
        policies: Mapping[QueueId, CallbackPolicy] | None = None,
        default_policy: CallbackPolicy | None = None,
    ) -> None:
        self._acd = acd
        self._dialer = dialer
        self._events = events
        self._call_of = call_of
        self.policies = dict(policies or {})
        self.default_policy = default_policy or CallbackPolicy()
        self._requests: dict[CallId, CallbackRequest] = {}
        self.completed = 0
        self.failed = 0

    def policy(self, queue_id: QueueId) -> CallbackPolicy:
        return self.policies.get(queue_id, self.default_policy)

    def requests(self) -> tuple[CallbackRequest, ...]:
        """Requests not finished yet, oldest first."""
        return tuple(self._requests.values())

    def request(self, call_id: CallId) -> CallbackRequest | None:
        return self._requests.get(call_id)

    # -- the caller's key (ctl_queue.CallbackRequests) --------------------------------------

    def callback_requested(self, call_id: CallId) -> None:
        """Key 1 while waiting; LocalProtocolError: not taken (the caller stays in the queue)."""
        call = self._call_of(call_id)
        if call is None or not call.in_acd or call.queue_id is None:
            raise LocalProtocolError(f"call {call_id} is not waiting")
        try:
            number = parse_number(call.caller_number)
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"no number to call back: {exc}") from exc
        entered_at = self._acd.entered_at(call_id)
        if entered_at is None:
            raise LocalProtocolError(f"call {call_id} is not waiting")
        request = CallbackRequest(call_id, number, call.queue_id, call.route.topic, entered_at)
        self._requests[call_id] = request
        try:
            self._acd.callback_requested(call_id)
        except LocalProtocolError:
            del self._requests[call_id]
            raise
        log.info("call-back requested", call_id=call_id, number=number.masked())

    def call_ended(self, call_id: CallId) -> None:
        """The caller's own call is over: park its request in the queue (the controller's end)."""
        request = self._requests.get(call_id)
        if request is not None and request.state is CallbackState.CALLER_ON_LINE:
            self._park(request)

    def _park(self, request: CallbackRequest) -> None:
        request.retry = None
        request.state = CallbackState.QUEUED
        try:
            self._acd.callback_queued(
                request.call_id, request.queue_id, entered_at=request.entered_at
            )
        except LocalProtocolError as exc:  # the queue was removed meanwhile
            log.warning("call-back not parked", call_id=request.call_id, error=str(exc))
            self._complete(request, "failed")

    # -- a restart ------------------------------------------------------------------------------

    def restore(
        self,
        stored: Iterable[StoredCallback],
        *,
        now: float,
        wall: datetime,
        fallback_queue: QueueId | None = None,
        expired: Iterable[StoredCallback] = (),
    ) -> RestoreResult:
        """Take back the requests a restart left open (see the module docstring).

        ``now`` is the monotonic and ``wall`` the UTC time of the same moment;
        ``stored`` are the open requests, oldest place first, ``expired`` those
        too old to honour.  Needs a running event loop for retry pauses.
        """
        restored = failed = skipped = 0
        for item in stored:
            request = self._restored_request(item, now, wall)
            if request is None:
                skipped += 1
                continue
            policy = self.policy(request.queue_id)
            if request.attempts >= policy.max_attempts:
                self._restore_failed(request, item, wall, "attempts")
                failed += 1
                continue
            self._requests[request.call_id] = request
            retry_in = 0.0
            if item.last_attempt_at is not None:
                since = (wall - item.last_attempt_at).total_seconds()
                retry_in = max(0.0, policy.retry_interval_s - since)
            log.info(
                "call-back restored",
                call_id=request.call_id,
                queue_id=request.queue_id,
                number=request.number.masked(),
                attempts=request.attempts,
                waited_s=round((wall - item.placed_at).total_seconds()),
                retry_in_s=round(retry_in),
            )
            if retry_in > 0.0:
                request.state = CallbackState.RETRY_WAIT
                request.retry = asyncio.get_running_loop().call_later(
                    retry_in, self._park_restored, request, fallback_queue
                )
            else:
                self._park_restored(request, fallback_queue)
            if request.call_id in self._requests:
                restored += 1
            else:
                failed += 1
        for item in expired:
            request = self._restored_request(item, now, wall)
            if request is None:
                skipped += 1
                continue
            self._restore_failed(request, item, wall, "expired")
            failed += 1
        return RestoreResult(restored, failed, skipped)

    def _restored_request(
        self, item: StoredCallback, now: float, wall: datetime
    ) -> CallbackRequest | None:
        call_id = CallId(item.call_id)
        if call_id in self._requests:
            return None
        try:
            number = parse_number(item.number or "")
        except RemoteProtocolError as exc:
            log.info("call-back not restored: no number", call_id=call_id, error=str(exc))
            return None
        placed = now - max(0.0, (wall - item.placed_at).total_seconds())
        topic = TopicId(item.topic) if item.topic else None
        return CallbackRequest(
            call_id, number, QueueId(item.queue_id), topic, placed, attempts=item.attempts
        )

    def _restore_failed(
        self, request: CallbackRequest, item: StoredCallback, wall: datetime, reason: str
    ) -> None:
        log.warning(
            "call-back not restored",
            call_id=request.call_id,
            queue_id=request.queue_id,
            number=request.number.masked(),
            attempts=request.attempts,
            waited_s=round((wall - item.placed_at).total_seconds()),
            reason=reason,
        )
        self._complete(request, "failed", reason=reason)

    def _park_restored(self, request: CallbackRequest, fallback: QueueId | None) -> None:
        """Park a restored request in its queue, else in ``fallback``, else end it failed."""
        request.retry = None
        request.state = CallbackState.QUEUED
        for queue_id in dict.fromkeys((request.queue_id, fallback)):
            if queue_id is None:
                continue
            try:
                self._acd.callback_queued(request.call_id, queue_id, entered_at=request.entered_at)
            except (LocalProtocolError, LimitExceededError) as exc:
                log.warning(
                    "call-back not parked", call_id=request.call_id, queue_id=queue_id,
                    error=str(exc),
                )  # fmt: skip
                continue
            if queue_id != request.queue_id:
                log.info("call-back moved", call_id=request.call_id, queue_id=queue_id)
                request.queue_id = queue_id
            return
        self._complete(request, "failed", reason="no_queue")

    # -- the ACD's decisions about requests ------------------------------------------------------

    def on_decision(self, decision: Decision) -> bool:
        """Carry out a decision about a parked request (True), or leave it (False)."""
        if isinstance(decision, CallbackScheduled):
            self._scheduled(decision.call_id, decision.queue_id, decision.at)
            return False
        if isinstance(decision, CallTimedOut | CallRefused) and (
            decision.action.kind is ExitKind.CALLBACK
        ):  # noted now: with no goodbye to play the call ends before CallbackScheduled
            self._scheduled(decision.call_id, decision.queue_id, decision.at)
            return False
        call_id = getattr(decision, "call_id", None)
        request = self._requests.get(call_id) if call_id is not None else None
        if request is None or request.state is CallbackState.CALLER_ON_LINE:
            return False
        if isinstance(decision, OfferCall):
            self._offer(request, decision)
        elif isinstance(decision, CancelOffer):
            outbound = self._dialer.call(request.call_id)
            if outbound is not None and not outbound.operator_up:
                self._dialer.hang_up(request.call_id, HungUpBy.SYSTEM)
        return True

    def _scheduled(self, call_id: CallId, queue_id: QueueId, at: float) -> None:
        """A queue's exit action is a call-back (time-out, full, empty): note the request."""
        if call_id in self._requests:
            return
        call = self._call_of(call_id)
        if call is None:
            return
        try:
            number = parse_number(call.caller_number)
        except RemoteProtocolError:
            log.info("call-back impossible: no caller number", call_id=call.call_id)
            return
        self._requests[call.call_id] = CallbackRequest(
            call.call_id, number, queue_id, call.route.topic, at
        )

    def _offer(self, request: CallbackRequest, offer: OfferCall) -> None:
        request.operator_id = offer.operator_id
        policy = self.policy(request.queue_id)
        outbound = OutboundRequest(
            call_id=request.call_id,
            kind=OutboundKind.CALLBACK,
            operator_id=offer.operator_id,
            number=request.number,
            topic=request.topic,
            recording_id=next_recording_id(request.call_id, request.recording_id),
            operator_ring_s=offer.ring_timeout_s + 5.0,  # the ACD's ring time-out comes first
            dial_ring_s=policy.dial_ring_s,
        )
        try:
            self._dialer.start(outbound, self)
        except (OutboundRefused, LocalProtocolError) as exc:
            log.info("call-back offer not rung", call_id=request.call_id, error=str(exc))
            self._reject(request, offer.operator_id, RejectReason.BUSY)

    def _reject(
        self, request: CallbackRequest, operator_id: OperatorId, reason: RejectReason
    ) -> None:
        with contextlib.suppress(LocalProtocolError):  # withdrawn already
            self._acd.offer_rejected(request.call_id, operator_id, reason)

    # -- OutboundListener ------------------------------------------------------------------------

    def operator_answered(self, call: OutboundCall) -> bool:
        request = self._requests.get(call.call_id)
        if request is None:
            return False
        try:
            self._acd.offer_answered(call.call_id, call.request.operator_id)
        except LocalProtocolError:  # the ACD withdrew the offer at this very moment
            return False
        request.state = CallbackState.DIALLING
        request.attempts += 1
        request.recording_id = call.request.recording_id
        return True

    def dialled(self, call: OutboundCall) -> None:
        log.info("calling back", call_id=call.call_id, trunk=call.trunk)

    def answered(self, call: OutboundCall) -> None:
        log.info("call-back answered", call_id=call.call_id)

    def finished(self, call: OutboundCall) -> None:
        request = self._requests.get(call.call_id)
        if request is None:
            return
        operator_id = call.request.operator_id
        if request.state is not CallbackState.DIALLING:  # the operator never took it
            reason = _OPERATOR_REASONS.get(call.outcome or "", RejectReason.NO_ANSWER)
            if call.outcome != "cancelled":
                self._reject(request, operator_id, reason)
            return
        try:
            self._acd.call_ended(operator_id)
        except LocalProtocolError as exc:
            log.warning("ACD refused call_ended", call_id=call.call_id, error=str(exc))
        result = "answered" if call.answered_at is not None else (call.outcome or "failed")
        self._events.fact(
            EventKind.CALLBACK_ATTEMPTED,
            call_id=request.call_id,
            queue_id=request.queue_id,
            operator_id=operator_id,
            topic=request.topic,
            trunk=call.trunk,
            payload={
                "attempt": request.attempts,
                "result": result,
                "number": request.number.number,
            },
        )
        if call.answered_at is not None:
            self._complete(request, "completed", operator_id)
        elif request.attempts >= self.policy(request.queue_id).max_attempts:
            self._complete(request, "failed", operator_id)
        else:
            request.state = CallbackState.RETRY_WAIT
            interval = self.policy(request.queue_id).retry_interval_s
            request.retry = asyncio.get_running_loop().call_later(interval, self._park, request)

    def recording_stored(self, call: OutboundCall, stored: RecordingStored) -> None:
        self._events.recording_stored(call.call_id, stored)

    def _complete(
        self,
        request: CallbackRequest,
        result: str,
        operator_id: OperatorId | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        self._requests.pop(request.call_id, None)
        if request.retry is not None:
            request.retry.cancel()
            request.retry = None
        if result == "completed":
            self.completed += 1
        else:
            self.failed += 1
        payload: dict[str, PayloadValue] = {"result": result, "attempts": request.attempts}
        if reason is not None:  # a restart ended it (restore)
            payload["reason"] = reason
        self._events.fact(
            EventKind.CALLBACK_COMPLETED,
            call_id=request.call_id,
            queue_id=request.queue_id,
            operator_id=operator_id,
            topic=request.topic,
            payload=payload,
        )
        log.info("call-back over", call_id=request.call_id, result=result)

    # -- shutdown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every request (timers cancelled, parked ones taken out of the ACD)."""
        for request in list(self._requests.values()):
            if request.retry is not None:
                request.retry.cancel()
            if request.state is CallbackState.QUEUED:
                with contextlib.suppress(LocalProtocolError):
                    self._acd.callback_cancelled(request.call_id)
        self._requests.clear()
