"""The call controller's facts as docs/metrics.md events.

:class:`CallEventWriter` turns what happened to a call (arrival, end,
recording) and the ACD's fact decisions (queue entered, offered, answered,
abandoned, timed out, refused, ring no-answer, operator state) into
:class:`~hotline.reports.events.CallCentreEvent` s and appends them to the
event sink (O(1); the store writes them in the background).  Timestamps come
from the clock's wall time when the fact is reported.

Every exit by a queue rule says what became of the caller: ``queue.timed_out``
and the refusals ``queue.left_full`` / ``queue.left_empty`` carry payload
``action``, the :class:`~hotline.acd.model.ExitKind` value the ACD chose
(``message_and_end``, ``callback``, ``bot``, ``external``; ``overflow`` only on a
time-out), so that a restarted node finds the call-backs it promised
(:mod:`hotline.store.callback_queries`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from hotline.acd.decisions import (
    CallLeftQueue,
    CallOverflowed,
    CallQueued,
    CallRefused,
    CallTimedOut,
    Decision,
    OfferCall,
    OfferFailed,
    OperatorStateChanged,
)
from hotline.acd.model import ExitKind, Outcome, RejectReason
from hotline.calls.call import Call
from hotline.calls.ctl_ports import Clock, EventSink
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId
from hotline.media.recorder import RecordingStored
from hotline.reports.events import (
    MAX_PAYLOAD_STRING_CHARS,
    BotResult,
    CallCentreEvent,
    EventKind,
    HungUpBy,
    PayloadValue,
    TransferKind,
    TransferTarget,
)

__all__ = ["CallEventWriter"]

log = structlog.get_logger("hotline.calls.events")

_LEFT_KINDS: dict[Outcome, EventKind] = {
    Outcome.ANSWERED: EventKind.QUEUE_ANSWERED,
    Outcome.ABANDONED: EventKind.QUEUE_ABANDONED,
    Outcome.SHORT_ABANDON: EventKind.QUEUE_ABANDONED,  # reports split by wait_s
    # The caller asked for a call-back (not a time-out's or refusal's call-back action,
    # whose visit already has its outcome): one outcome per visit.
    Outcome.CALLBACK: EventKind.QUEUE_CALLBACK_REQUESTED,
}
"""Outcomes written from CallLeftQueue; the others come from their own facts."""

_REFUSED_KINDS: dict[Outcome, EventKind] = {
    Outcome.LEFT_EMPTY: EventKind.QUEUE_LEFT_EMPTY,
    Outcome.LEFT_FULL: EventKind.QUEUE_LEFT_FULL,
}
"""Outcomes written from CallRefused, which carries the action (the ACD's
``_exit_by_rule`` is the only source of these outcomes and always follows their
CallLeftQueue with one CallRefused): one outcome event per visit."""


class CallEventWriter:
    """Builds and appends the events of calls; ``call_of`` finds a live call's context."""

    def __init__(
        self, sink: EventSink, clock: Clock, call_of: Callable[[CallId], Call | None]
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._call_of = call_of
        self.written = 0
        self.refused = 0
        self.answered_at: dict[CallId, datetime] = {}
        """When each live call was first answered by an operator (UTC; for the desk)."""

    def _emit(
        self,
        kind: EventKind,
        call: Call | None,
        *,
        call_id: str | None = None,
        queue_id: str | None = None,
        operator_id: str | None = None,
        payload: Mapping[str, PayloadValue] | None = None,
    ) -> None:
        try:
            event = CallCentreEvent(
                kind=kind,
                timestamp=self._clock.utcnow(),
                call_id=call_id if call_id is not None else (call.call_id if call else None),
                queue_id=queue_id,
                operator_id=operator_id,
                topic=call.route.topic if call is not None else None,
                trunk=call.trunk if call is not None else None,
                payload=payload or {},
            )
        except LocalProtocolError as exc:  # our bug: log it, never break the call
            self.refused += 1
            log.error("event refused", kind=kind.value, call_id=call_id, error=str(exc))
            return
        self._sink.append(event)
        self.written += 1

    # -- the call's own facts --------------------------------------------------------

    def arrived(self, call: Call) -> None:
        self._emit(
            EventKind.CALL_ARRIVED,
            call,
            payload={"caller": call.caller_number, "called": call.called_number},
        )

    def ended(self, call: Call, who: HungUpBy, cause: str) -> None:
        self.answered_at.pop(call.call_id, None)
        self._emit(
            EventKind.CALL_ENDED,
            call,
            queue_id=call.queue_id,
            operator_id=call.operator_id,
            payload={"who_hung_up": who.value, "cause": cause},
        )

    def bot_started(self, call: Call) -> None:
        """``call.bot_started``: the voice assistant took the call."""
        self._emit(EventKind.CALL_BOT_STARTED, call)

    def bot_ended(self, call: Call, result: BotResult, reason: str | None = None) -> None:
        """``call.bot_ended``: ``result`` (metrics.md, bot containment), the transcript, the answer."""
        transcript = " | ".join(call.bot_transcript)
        self._emit(
            EventKind.CALL_BOT_ENDED,
            call,
            payload={
                "result": result.value,
                "reason": reason,
                "transcript": transcript[:MAX_PAYLOAD_STRING_CHARS],
                "answer_id": call.bot_answer_id,
            },
        )

    def held(self, call: Call, by: str) -> None:
        """``call.held``: ``by`` (caller or operator) put the other party on hold."""
        self._emit(EventKind.CALL_HELD, call, operator_id=call.operator_id, payload={"by": by})

    def resumed(self, call: Call, by: str) -> None:
        """``call.resumed``: ``by`` took the other party off hold."""
        self._emit(EventKind.CALL_RESUMED, call, operator_id=call.operator_id, payload={"by": by})

    def transferred(
        self,
        call: Call,
        kind: TransferKind,
        to: str,
        to_type: TransferTarget,
        from_operator: OperatorId,
    ) -> None:
        """``call.transferred``: ``from_operator`` sent the call to ``to`` (ctl_transfer)."""
        self._emit(
            EventKind.CALL_TRANSFERRED,
            call,
            queue_id=call.queue_id,
            operator_id=from_operator,
            payload={"kind": kind.value, "to": to, "to_type": to_type.value},
        )

    def recording_stored(self, call_id: CallId, stored: RecordingStored) -> None:
        self._emit(
            EventKind.RECORDING_STORED,
            self._call_of(call_id),
            call_id=call_id,
            payload={
                "path": stored.path,
                "sha256": stored.sha256,
                "size_bytes": stored.size_bytes,
                "duration_s": stored.duration_s,
            },
        )

    def fact(
        self,
        kind: EventKind,
        *,
        call_id: CallId,
        queue_id: str | None = None,
        operator_id: str | None = None,
        topic: str | None = None,
        trunk: str | None = None,
        payload: Mapping[str, PayloadValue] | None = None,
    ) -> None:
        """An event of a call the controller does not hold (call-backs, outbound calls)."""
        try:
            event = CallCentreEvent(
                kind=kind,
                timestamp=self._clock.utcnow(),
                call_id=call_id,
                queue_id=queue_id,
                operator_id=operator_id,
                topic=topic,
                trunk=trunk,
                payload=payload or {},
            )
        except LocalProtocolError as exc:  # our bug: log it, never break the call
            self.refused += 1
            log.error("event refused", kind=kind.value, call_id=call_id, error=str(exc))
            return
        self._sink.append(event)
        self.written += 1

    # -- the ACD's facts -----------------------------------------------------------------

    def decision(self, decision: Decision) -> None:
        """Write the event of an ACD fact (commands other than OfferCall write none)."""
        match decision:
            case CallQueued(call_id=cid, queue_id=qid, position=position):
                self._emit(
                    EventKind.QUEUE_ENTERED,
                    self._call_of(cid),
                    call_id=cid,
                    queue_id=qid,
                    payload={"position": position},
                )
            case OfferCall(call_id=cid, operator_id=oid, queue_id=qid):
                self._emit(
                    EventKind.QUEUE_OFFERED,
                    self._call_of(cid),
                    call_id=cid,
                    queue_id=qid,
                    operator_id=oid,
                )
            case OfferFailed(call_id=cid, operator_id=oid, reason=RejectReason.NO_ANSWER):
                call = self._call_of(cid)
                self._emit(
                    EventKind.QUEUE_RING_NOANSWER,
                    call,
                    call_id=cid,
                    queue_id=call.queue_id if call is not None else None,
                    operator_id=oid,
                    payload={"ring_ms": max(0, round(decision.ring_s * 1000))},
                )
            case CallLeftQueue():
                self._left(decision)
            case CallRefused(call_id=cid, queue_id=qid, outcome=outcome, action=action):
                refused = _REFUSED_KINDS.get(outcome)
                if refused is not None:
                    self._emit(
                        refused,
                        self._call_of(cid),
                        call_id=cid,
                        queue_id=qid,
                        payload={"action": action.kind.value},
                    )
            case CallTimedOut(call_id=cid, queue_id=qid, wait_s=wait_s, action=action):
                timed_out: dict[str, PayloadValue] = {"wait_s": wait_s, "action": action.kind.value}
                if action.kind is ExitKind.OVERFLOW and action.target:
                    timed_out["to_queue"] = action.target  # queue.entered there follows
                self._emit(
                    EventKind.QUEUE_TIMED_OUT,
                    self._call_of(cid),
                    call_id=cid,
                    queue_id=qid,
                    payload=timed_out,
                )
            case CallOverflowed(call_id=cid, from_queue=src, to_queue=dst, reason=reason):
                self._emit(
                    EventKind.QUEUE_OVERFLOWED,
                    self._call_of(cid),
                    call_id=cid,
                    queue_id=src,
                    payload={"to_queue": dst, "reason": reason.value},
                )
            case OperatorStateChanged(operator_id=oid, state=state, reason=reason):
                self._emit(
                    EventKind.OPERATOR_STATE,
                    None,
                    operator_id=oid,
                    payload={"state": state.value, "reason": reason[:200]},
                )
            case _:
                pass

    def _left(self, left: CallLeftQueue) -> None:
        kind = _LEFT_KINDS.get(left.outcome)
        if kind is None:
            return
        call = self._call_of(left.call_id)
        payload: dict[str, PayloadValue] = {}
        if kind is EventKind.QUEUE_ANSWERED:
            payload["wait_s"] = left.wait_s
            if call is not None:
                self.answered_at.setdefault(left.call_id, self._clock.utcnow())
        elif kind is EventKind.QUEUE_ABANDONED:
            position = call.position if call is not None and call.position is not None else 0
            payload.update(position=position, wait_s=left.wait_s)
        elif kind is EventKind.QUEUE_CALLBACK_REQUESTED and call is not None:
            payload["number"] = call.caller_number
        self._emit(
            kind,
            call,
            call_id=left.call_id,
            queue_id=left.queue_id,
            operator_id=left.operator_id,
            payload=payload,
        )
