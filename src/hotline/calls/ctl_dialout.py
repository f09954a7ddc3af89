"""Click-to-call (R8b, issue 6 item 9): an operator dials a number from the desk.

:meth:`DialOutDesk.dial_out` normalises the number
(:func:`~hotline.calls.numbers.NumberingPlan.parse`: +7, 8, short numbers),
checks that a trunk routes it and that the operator may dial now, and hands
the call to the :class:`~hotline.calls.ctl_outbound.OutboundDialer`: the
operator's phone rings first (showing the number and «исходящий звонок»),
then the number is dialled through a trunk presenting 122, bridged and
recorded.

The operator in the ACD (:mod:`hotline.acd.router_outbound`): a READY
operator is reserved while its phone rings (no queue call is offered to
it), TALKING once it answers, and READY again when the call ends (no
wrap-up) or its phone did not answer; a NOT_READY operator stays NOT_READY.
Any other state (ringing, talking, wrap-up, logged out) refuses the dial.

Events (metrics.md; all with direction ``outbound``, so the call detail
record is an outbound one): ``outbound.dialed`` (``number``) when the dial
starts, ``outbound.answered`` when the called party answers or
``outbound.failed`` (``cause``: the :class:`~hotline.calls.ctl_outbound.OutboundCall`
outcome) when it was not reached, ``recording.stored``, and ``call.ended``
(who hung up, the outcome as the cause).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from hotline.acd.agent import OperatorState
from hotline.calls.ctl_callback import CallbackAcd, CallbackDesk, CallbackPolicy
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_outbound import (
    OutboundCall,
    OutboundDialer,
    OutboundKind,
    OutboundRefused,
    OutboundRequest,
)
from hotline.calls.ctl_ports import Clock, MediaPort, PhoneDirectory
from hotline.calls.numbers import DEFAULT_PLAN, NumberingPlan, PhoneNumber
from hotline.calls.trunks import TrunkTable
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId, new_call_id
from hotline.media.recorder import RecordingStored
from hotline.reports.events import EventKind, HungUpBy

__all__ = [
    "DialOutAcd",
    "DialOutDesk",
    "DialOutRefusal",
    "DialOutRefused",
    "OutboundAcd",
    "OutboundDesks",
    "wire_outbound",
]

if TYPE_CHECKING:  # the controller imports the desks' modules
    from hotline.calls.controller import CallController

log = structlog.get_logger("hotline.calls.dialout")


class DialOutRefusal(enum.Enum):
    """Why a dial was refused before anything rang."""

    BAD_NUMBER = "bad_number"
    NO_ROUTE = "no_route"
    OPERATOR_BUSY = "operator_busy"  # ringing, talking, wrap-up or logged out
    NO_PHONE = "no_phone"


class DialOutRefused(HotlineError):
    """A dial that could not start; ``refusal`` says why."""

    def __init__(self, refusal: DialOutRefusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


class OutboundAcd(CallbackAcd, Protocol):
    """Everything the outbound desks ask of the ACD (:class:`~hotline.acd.service.AcdService`)."""

    def operator_state(self, operator_id: OperatorId) -> OperatorState: ...

    def outbound_reserve(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def outbound_answered(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def outbound_failed(self, call_id: CallId, operator_id: OperatorId) -> None: ...


class DialOutAcd(Protocol):
    """The ACD inputs of click-to-call (:class:`~hotline.acd.service.AcdService`)."""

    def operator_state(self, operator_id: OperatorId) -> OperatorState: ...

    def outbound_reserve(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def outbound_answered(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def outbound_failed(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def call_ended(self, operator_id: OperatorId) -> None: ...


class DialOutDesk:
    """The operators' click-to-call calls (see the module docstring)."""

    def __init__(
        self,
        *,
        acd: DialOutAcd,
        dialer: OutboundDialer,
        events: CallEventWriter,
        plan: NumberingPlan = DEFAULT_PLAN,
        operator_ring_s: float = 20.0,
        dial_ring_s: float = 40.0,
    ) -> None:
        self._acd = acd
        self._dialer = dialer
        self._events = events
        self._plan = plan
        self.operator_ring_s = operator_ring_s
        self.dial_ring_s = dial_ring_s
        self._reserved: dict[CallId, bool] = {}  # call id → the operator was reserved in the ACD
        self.dialled_total = 0

    def owns(self, call_id: CallId) -> bool:
        return call_id in self._reserved

    def parse(self, number: str) -> PhoneNumber:
        """The number normalised; DialOutRefused (BAD_NUMBER, NO_ROUTE) when it cannot be dialled."""
        try:
            parsed = self._plan.parse(number)
        except RemoteProtocolError as exc:
            raise DialOutRefused(DialOutRefusal.BAD_NUMBER, f"bad number: {exc}") from exc
        if parsed.is_emergency:
            raise DialOutRefused(DialOutRefusal.BAD_NUMBER, "emergency numbers are not dialled")
        if not self._dialer.trunks.route(parsed):
            raise DialOutRefused(DialOutRefusal.NO_ROUTE, "no trunk routes this number")
        return parsed

    def dial_out(self, operator_id: OperatorId, number: str) -> CallId:
        """Ring ``operator_id``'s phone, then dial ``number``; returns the new call id."""
        parsed = self.parse(number)
        state = self._acd.operator_state(operator_id)
        if state not in (OperatorState.READY, OperatorState.NOT_READY):
            raise DialOutRefused(
                DialOutRefusal.OPERATOR_BUSY, f"operator {operator_id} is {state.value}"
            )
        call_id = new_call_id()
        reserve = state is OperatorState.READY
        if reserve:
            try:
                self._acd.outbound_reserve(call_id, operator_id)
            except LocalProtocolError as exc:  # an offer came first
                raise DialOutRefused(DialOutRefusal.OPERATOR_BUSY, str(exc)) from exc
        request = OutboundRequest(
            call_id=call_id,
            kind=OutboundKind.CLICK_TO_CALL,
            operator_id=operator_id,
            number=parsed,
            operator_ring_s=self.operator_ring_s,
            dial_ring_s=self.dial_ring_s,
        )
        self._reserved[call_id] = reserve
        try:
            self._dialer.start(request, self)
        except (OutboundRefused, LocalProtocolError) as exc:
            del self._reserved[call_id]
            if reserve:
                self._acd.outbound_failed(call_id, operator_id)
            raise DialOutRefused(DialOutRefusal.NO_PHONE, str(exc)) from exc
        self.dialled_total += 1
        self._events.fact(
            EventKind.OUTBOUND_DIALED,
            call_id=call_id,
            operator_id=operator_id,
            payload={"number": parsed.number},
        )
        log.info("click-to-call", call_id=call_id, operator=operator_id, number=parsed.masked())
        return call_id

    # -- OutboundListener ------------------------------------------------------------------------

    def operator_answered(self, call: OutboundCall) -> bool:
        if self._reserved.get(call.call_id):
            try:
                self._acd.outbound_answered(call.call_id, call.request.operator_id)
            except LocalProtocolError as exc:  # logged out or set not ready meanwhile
                log.info("operator no longer reserved", call_id=call.call_id, error=str(exc))
                self._reserved[call.call_id] = False
        return True

    def dialled(self, call: OutboundCall) -> None:
        log.info("dialling out", call_id=call.call_id, trunk=call.trunk)

    def answered(self, call: OutboundCall) -> None:
        self._events.fact(
            EventKind.OUTBOUND_ANSWERED,
            call_id=call.call_id,
            operator_id=call.request.operator_id,
            trunk=call.trunk,
        )

    def finished(self, call: OutboundCall) -> None:
        reserved = self._reserved.pop(call.call_id, False)
        operator_id = call.request.operator_id
        if reserved:
            with contextlib.suppress(LocalProtocolError):  # the operator's state moved on
                if call.operator_up:
                    self._acd.call_ended(operator_id)
                else:
                    self._acd.outbound_failed(call.call_id, operator_id)
        outcome = call.outcome or "failed"
        if call.answered_at is None:
            self._events.fact(
                EventKind.OUTBOUND_FAILED,
                call_id=call.call_id,
                operator_id=operator_id,
                trunk=call.trunk,
                payload={"cause": outcome},
            )
        who = call.who or HungUpBy.SYSTEM
        self._events.fact(
            EventKind.CALL_ENDED,
            call_id=call.call_id,
            operator_id=operator_id,
            trunk=call.trunk,
            payload={"who_hung_up": who.value, "cause": outcome},
        )

    def recording_stored(self, call: OutboundCall, stored: RecordingStored) -> None:
        self._events.recording_stored(call.call_id, stored)


@dataclass(frozen=True, slots=True)
class OutboundDesks:
    """The operator-first dialer and its two users, wired into a controller."""

    dialer: OutboundDialer
    callbacks: CallbackDesk
    dial_out: DialOutDesk


def wire_outbound(
    controller: CallController,
    *,
    acd: OutboundAcd,
    media: MediaPort,
    phones: PhoneDirectory,
    trunks: TrunkTable,
    clock: Clock,
    policies: Mapping[QueueId, CallbackPolicy] | None = None,
) -> OutboundDesks:
    """Make the dialer, the call-back desk and click-to-call, and plug them into ``controller``.

    The queue voice then offers the call-back (key 1) in every announcement.
    """
    dialer = OutboundDialer(
        media=media, phones=phones, trunks=trunks, now=clock.monotonic,
        sig=lambda: controller.sig,
    )  # fmt: skip
    callbacks = CallbackDesk(
        acd=acd, dialer=dialer, events=controller.events, call_of=controller.call,
        policies=policies,
    )  # fmt: skip
    desk = DialOutDesk(acd=acd, dialer=dialer, events=controller.events)
    controller.outbound = dialer
    controller.callbacks = callbacks
    controller.voice.callbacks = callbacks
    return OutboundDesks(dialer, callbacks, desk)
