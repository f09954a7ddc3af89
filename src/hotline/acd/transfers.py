"""Transfers of a call already talking, as operator-table transitions (R8g).

A transfer is not a queue visit: the call is talking with a first operator,
so it is in no queue and has no :class:`~hotline.acd.records.CallRecord`.
:class:`TransferBook` keeps the one open transfer per target operator and
takes the rows of :data:`~hotline.acd.agent.OPERATOR_TRANSITIONS` a
transfer needs:

* ``offer``: the target, READY, becomes RESERVED (``OFFER``) for the call;
  no :class:`~hotline.acd.decisions.OfferCall` is emitted, the driver rings
  the target itself (a direct answer, like ``assign_call`` without a queue);
* ``answered``: the target becomes TALKING (``ANSWER``) and inherits the
  first operator's queue and wrap-up time; the first operator goes to
  wrap-up exactly as on ``call_ended`` (``HANG_UP``);
* ``failed``: busy, reject or no answer take the queue offer's policy
  (a delay, or NOT_READY at the ``max_no_answer``-th no-answer in a row:
  ``DECLINE``/``DECLINE_LIMIT``); a withdrawn transfer (the caller left,
  the first operator hung up) is ``CANCEL``, READY at once.

A blind transfer to a queue needs no row here: the router ends the first
operator's talk and the call joins the queue again with ``call_arrived``
under the same call id (see :meth:`hotline.acd.router.AcdEngine.transfer_to_queue`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd.agent import OperatorInput, OperatorState
from hotline.acd.dispatch import Dispatcher
from hotline.acd.model import RejectReason
from hotline.acd.records import OperatorRecord
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId

__all__ = ["OpenTransfer", "TransferBook"]

_I = OperatorInput
_S = OperatorState
_TALK_STATES = (_S.TALKING, _S.HOLD)


@dataclass(frozen=True, slots=True)
class OpenTransfer:
    """A target operator reserved for ``call_id``, which talks with ``from_operator``."""

    call_id: CallId
    target: OperatorId
    from_operator: OperatorId
    offered_at: float


class TransferBook:
    """The open transfers of one router, keyed by target operator."""

    def __init__(self, core: Dispatcher) -> None:
        self._core = core
        self._open: dict[OperatorId, OpenTransfer] = {}

    def open_transfers(self) -> tuple[OpenTransfer, ...]:
        """Every transfer whose target is still reserved, oldest first."""
        return tuple(self._open.values())

    def talking(self, call_id: CallId, operator_id: OperatorId) -> OperatorRecord:
        """The operator talking (or holding) ``call_id``; LocalProtocolError otherwise."""
        op = self._core.roster.get(operator_id)
        if op.state not in _TALK_STATES or op.talk_call != call_id:
            raise LocalProtocolError(f"operator {operator_id} is not talking on call {call_id}")
        return op

    def offer(
        self, call_id: CallId, target: OperatorId, from_operator: OperatorId, now: float
    ) -> None:
        """Reserve the READY ``target`` for ``call_id`` (skills and delays aside)."""
        self.talking(call_id, from_operator)
        if target == from_operator:
            raise LocalProtocolError(f"operator {target} cannot take its own call")
        if any(t.call_id == call_id for t in self._open.values()):
            raise LocalProtocolError(f"call {call_id} is already being transferred")
        op = self._core.roster.get(target)
        if op.state is not _S.READY:
            raise LocalProtocolError(f"operator {target} is {op.state.value}, not ready")
        op.offer_call = call_id
        self._core.roster.transition(op, _I.OFFER, now, f"transfer {call_id}")
        self._open[target] = OpenTransfer(call_id, target, from_operator, now)

    def answered(self, call_id: CallId, target: OperatorId, now: float) -> OperatorRecord:
        """The target answered: TALKING; returns the first operator (the caller ends its talk)."""
        transfer = self._take(call_id, target)
        first = self.talking(call_id, transfer.from_operator)
        op = self._core.roster.get(target)
        op.offer_call = None
        op.no_answer_count = 0
        op.calls_today += 1
        op.answered_at = now
        op.talk_call = call_id
        op.talk_queue = first.talk_queue
        op.wrap_up_s = first.wrap_up_s
        self._core.roster.transition(op, _I.ANSWER, now, call_id)
        return first

    def failed(
        self, call_id: CallId, target: OperatorId, reason: RejectReason | None, now: float
    ) -> None:
        """The target did not take the call; ``reason`` None: the transfer was withdrawn."""
        self._take(call_id, target)
        op = self._core.roster.get(target)
        if op.state is not _S.RESERVED or op.offer_call != call_id:
            return  # logged out or set not ready meanwhile
        op.offer_call = None
        if reason is None:
            self._core.roster.transition(op, _I.CANCEL, now, "transfer withdrawn")
        else:
            self._core.decline(op, reason, now)

    def _take(self, call_id: CallId, target: OperatorId) -> OpenTransfer:
        transfer = self._open.get(target)
        if transfer is None or transfer.call_id != call_id:
            raise LocalProtocolError(f"no transfer of call {call_id} to operator {target}")
        del self._open[target]
        return transfer
