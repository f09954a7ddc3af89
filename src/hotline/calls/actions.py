"""The web workplace's actions on live calls and queues (:mod:`hotline.calls.api`; layer L3).

:class:`LiveActions` implements both :class:`~hotline.calls.api.CallActions`
and :class:`~hotline.calls.api.QueueActions` over the call controller, the
ACD service and the outbound desks.  Every action takes effect at once on the
event loop or raises :class:`~hotline.calls.api.CallActionError` with the
:class:`~hotline.calls.api.ActionRefusal` the web layer turns into 404/409.

Hold and resume from the desk
    The API's hold is the operator's hold, carried out exactly as when the
    operator's phone holds (:class:`~hotline.calls.ctl_dialog.CallDialogs`):
    the caller's and operator's media are unbridged, the caller hears music
    on hold, ``call.held``/``call.resumed`` are written and the ACD hears
    ``call_held``/``call_resumed``.  No re-INVITE is sent: the operator's
    phone leg stays up as it is (its audio is simply not relayed), so any
    phone works and resume is instant.  Only a call held this way (or from
    the operator's phone) can be resumed from the desk.

Transfers
    A blind transfer to an operator or a queue goes through the same code as
    a REFER from the operator's phone (:class:`~hotline.calls.ctl_transfer.CallTransfers`),
    without the NOTIFYs (RFC 4488 ``Refer-Sub: false`` semantics).  Targets
    are checked first, so a refusal is reported here, not only in events.
    A blind transfer to an organisation of the directory is carried out by
    the :class:`OrganisationPort` (:mod:`hotline.calls.ctl_org_transfer`):
    the organisation is dialled through the trunks, the caller stays with
    the operator until it answers, and its leg is recorded as the call's
    next segment.
    Attended transfers and supervisor monitoring are delegated to the
    :class:`ConsultPort` and :class:`MonitorPort` given at construction.

Outbound
    :meth:`LiveActions.dial_out` is click-to-call
    (:class:`~hotline.calls.ctl_dialout.DialOutDesk`); outbound calls are
    listed among the live calls (direction ``outbound``) and can be hung up.

Transfers in progress
    An inbound call's snapshot carries the transfer in progress
    (:class:`~hotline.calls.api.TransferInProgress`), read from its owner:
    the target operator's phone ringing (``CallTransfers.pending``), the
    organisation being dialled (``OrganisationPort.dialling``) or the
    consultation (``ConsultQuery.consultation``).  The owners forget a
    transfer that fails or completes, so the snapshot carries None again.
    How the last transfer ended (:class:`~hotline.calls.api.TransferOutcome`,
    noted by the owners in ``CallTransfers.outcomes``) rides along as
    ``last_transfer`` for :data:`~hotline.calls.transfer_outcomes.OUTCOME_KEEP_S`
    seconds, while no other transfer is in progress and only while the call
    is with the operator who started it (never after it completed away).

Hang-up
    The desk's hang-up ends the call as the operator; while the consulted
    party of an attended transfer talks, it completes the transfer instead
    (transfer on hang-up, as the phone's hang-up does in the controller).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from hotline.acd.agent import OperatorState
from hotline.acd.model import QueueConfig
from hotline.acd.status import CallStatus, OperatorStatus, QueueStatus
from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    LiveCall,
    MonitorMode,
    OperatorSnapshot,
    QueueSnapshot,
    TargetKind,
    TransferInProgress,
    TransferMode,
    TransferOutcome,
    TransferTarget,
    WaitingCall,
)
from hotline.calls.call import Call, CallPhase, Party
from hotline.calls.ctl_consult import Consultation, ConsultState
from hotline.calls.ctl_dialog import CallDialogs
from hotline.calls.ctl_dialout import DialOutRefusal, DialOutRefused, OutboundDesks
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_org_transfer import OrgDialling
from hotline.calls.ctl_outbound import OutboundCall
from hotline.calls.ctl_ports import Clock
from hotline.calls.ctl_transfer import QUEUE_PREFIX, CallTransfers
from hotline.core.errors import HotlineError, LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.reports.events import HungUpBy
from hotline.sip.dlg_events import HoldChanged, ReferReceived
from hotline.sip.dlg_headers import ReferTo
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri

__all__ = [
    "ActionsAcd",
    "ConsultPort",
    "ConsultQuery",
    "ControllerView",
    "LiveActions",
    "MonitorPort",
    "OrganisationPort",
]

_SETTABLE: Final = frozenset(
    {OperatorState.READY, OperatorState.NOT_READY, OperatorState.LOGGED_OUT}
)
_DIAL_REFUSALS: Final = {
    DialOutRefusal.BAD_NUMBER: ActionRefusal.NOT_ALLOWED,
    DialOutRefusal.NO_ROUTE: ActionRefusal.TARGET_UNAVAILABLE,
    DialOutRefusal.OPERATOR_BUSY: ActionRefusal.WRONG_STATE,
    DialOutRefusal.NO_PHONE: ActionRefusal.TARGET_UNAVAILABLE,
}
_API_REFER_ID: Final = "api"


class ConsultPort(Protocol):
    """Attended transfer (``ctl_attended``): consult, then complete or cancel."""

    def consult(self, call_id: CallId, target: TransferTarget) -> None: ...

    def complete(self, call_id: CallId) -> None: ...

    def cancel(self, call_id: CallId) -> None: ...


@runtime_checkable
class ConsultQuery(Protocol):
    """A :class:`ConsultPort` that also tells a call's consultation (``ctl_attended``)."""

    def consultation(self, call_id: CallId) -> Consultation | None: ...


class OrganisationPort(Protocol):
    """Blind transfer to an organisation (``ctl_org_transfer``); CallActionError when refused."""

    def pending(self, call_id: CallId) -> bool: ...

    def dialling(self, call_id: CallId) -> OrgDialling | None: ...

    def transfer(self, call: Call, organisation_id: str) -> None: ...


class MonitorPort(Protocol):
    """Supervisor monitoring (``ctl_monitor``): returns and ends a session id."""

    def start(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str: ...

    def stop(self, session_id: str) -> None: ...


class ActionsAcd(Protocol):
    """What the actions ask of the ACD (:class:`~hotline.acd.service.AcdService`)."""

    def queue_configs(self) -> tuple[QueueConfig, ...]: ...

    def queue_status(self, queue_id: QueueId) -> QueueStatus: ...

    def call_status(self, call_id: CallId) -> CallStatus: ...

    def operator_status(self, operator_id: OperatorId) -> OperatorStatus: ...

    def operator_ids(self) -> tuple[OperatorId, ...]: ...

    def waiting_calls(self) -> tuple[CallId, ...]: ...

    def state_since(self, operator_id: OperatorId) -> float | None: ...

    def call_position(self, call_id: CallId) -> int | None: ...

    def operator_state(self, operator_id: OperatorId) -> OperatorState: ...

    def set_operator_state(
        self, operator_id: OperatorId, state: OperatorState, reason: str = "supervisor"
    ) -> None: ...

    def wrapup_done(self, operator_id: OperatorId) -> None: ...

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None: ...

    def set_call_priority(self, call_id: CallId, priority: int) -> None: ...

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None: ...


class ControllerView(Protocol):
    """What the actions ask of the call controller (:class:`~hotline.calls.controller.CallController`)."""

    dialogs: CallDialogs | None
    transfers: CallTransfers | None
    events: CallEventWriter

    def call(self, call_id: CallId) -> Call | None: ...

    def calls(self) -> tuple[Call, ...]: ...

    def hang_up(self, call_id: CallId, who: HungUpBy, cause: str) -> bool: ...


def _refuse(refusal: ActionRefusal, message: str) -> CallActionError:
    return CallActionError(refusal, message)


class LiveActions:
    """:class:`~hotline.calls.api.CallActions` and :class:`~hotline.calls.api.QueueActions`."""

    def __init__(
        self,
        *,
        controller: ControllerView,
        acd: ActionsAcd,
        clock: Clock,
        outbound: OutboundDesks | None = None,
        consult: ConsultPort | None = None,
        monitor: MonitorPort | None = None,
        organisations: OrganisationPort | None = None,
    ) -> None:
        self._ctl = controller
        self._acd = acd
        self._clock = clock
        self._outbound = outbound
        self._consult = consult
        self._consults: ConsultQuery | None = consult if isinstance(consult, ConsultQuery) else None
        self._monitor = monitor
        self._organisations = organisations

    # -- helpers ----------------------------------------------------------------------------------

    def _wall(self, monotonic_s: float) -> datetime:
        return self._clock.utcnow() - timedelta(seconds=self._clock.monotonic() - monotonic_s)

    def _live(self, call_id: CallId) -> Call:
        call = self._ctl.call(call_id)
        if call is None or call.ended:
            raise _refuse(ActionRefusal.NOT_FOUND, f"no live call {call_id}")
        return call

    def _talking(self, call_id: CallId) -> Call:
        call = self._live(call_id)
        if call.phase is not CallPhase.TALKING or call.operator_leg is None:
            raise _refuse(ActionRefusal.WRONG_STATE, f"call {call_id} is {call.phase.value}")
        return call

    def _known_operator(self, operator_id: OperatorId) -> None:
        if operator_id not in self._acd.operator_ids():
            raise _refuse(ActionRefusal.NOT_FOUND, f"unknown operator {operator_id}")

    def _known_queue(self, queue_id: QueueId) -> QueueConfig:
        for config in self._acd.queue_configs():
            if config.queue_id == queue_id:
                return config
        raise _refuse(ActionRefusal.NOT_FOUND, f"unknown queue {queue_id}")

    def _waiting(self, call_id: CallId) -> None:
        if call_id not in self._acd.waiting_calls():
            raise _refuse(ActionRefusal.NOT_FOUND, f"call {call_id} is not waiting in a queue")

    # -- live calls -------------------------------------------------------------------------------

    def _inbound_view(self, call: Call) -> LiveCall:
        dialogs = self._ctl.dialogs
        answered = self._ctl.events.answered_at
        held = dialogs is not None and dialogs.held_by(call.call_id) is not None
        queued = call.phase is CallPhase.QUEUED
        transfer = self._transfer_of(call.call_id)
        return LiveCall(
            call_id=call.call_id,
            phase=call.phase.value,
            direction="inbound",
            caller_number=call.caller_number,
            topic=call.route.topic,
            queue_id=call.queue_id,
            operator_id=call.operator_id,
            started_at=self._wall(call.arrived_at),
            answered_at=answered.get(call.call_id),
            on_hold=held,
            recording_id=call.recording_id,
            position=self._acd.call_position(call.call_id) if queued else None,
            transfer=transfer,
            last_transfer=None if transfer is not None else self._outcome_of(call),
        )

    def _outcome_of(self, call: Call) -> TransferOutcome | None:
        """How the call's last transfer ended, while the call is still with its operator."""
        transfers = self._ctl.transfers
        if transfers is None or call.operator_id is None:
            return None
        last = transfers.outcomes.last(call.call_id, self._clock.monotonic())
        if last is None or last.from_operator != call.operator_id:
            return None
        return TransferOutcome(
            last.mode, last.target, last.result, last.reason, self._wall(last.at)
        )

    def _transfer_of(self, call_id: CallId) -> TransferInProgress | None:
        """The call's transfer in progress, asked of its owners (see the module docstring)."""
        transfers, orgs = self._ctl.transfers, self._organisations
        ringing = transfers.pending(call_id) if transfers is not None else None
        if ringing is not None and not ringing.done:
            target = TransferTarget(TargetKind.OPERATOR, ringing.target)
            return TransferInProgress(TransferMode.BLIND, target, self._wall(ringing.since))
        dialling = orgs.dialling(call_id) if orgs is not None else None
        if dialling is not None:
            target = TransferTarget(TargetKind.ORGANISATION, dialling.organisation_id)
            return TransferInProgress(TransferMode.BLIND, target, self._wall(dialling.since))
        consult = self._consults.consultation(call_id) if self._consults is not None else None
        if consult is not None and consult.state is not ConsultState.ENDED:
            return self._consult_view(consult)
        return None

    def _consult_view(self, consult: Consultation) -> TransferInProgress:
        if consult.operator is not None:
            target = TransferTarget(TargetKind.OPERATOR, consult.operator)
        else:
            target = TransferTarget(TargetKind.QUEUE, consult.queue_id or "")
        return TransferInProgress(
            TransferMode.CONSULT,
            target,
            self._wall(consult.since),
            answered=consult.state is ConsultState.TALKING,
        )

    def _outbound_view(self, out: OutboundCall) -> LiveCall:
        talking = out.answered_at is not None
        return LiveCall(
            call_id=out.call_id,
            phase=CallPhase.TALKING.value if talking else CallPhase.ANSWERING.value,
            direction="outbound",
            caller_number=out.request.number.number,
            topic=out.request.topic,
            queue_id=None,
            operator_id=out.request.operator_id,
            started_at=self._wall(out.started_at),
            answered_at=self._wall(out.answered_at) if out.answered_at is not None else None,
            on_hold=False,
            recording_id=out.recording_id,
            position=None,
        )

    def live_calls(self) -> Sequence[LiveCall]:
        found = [self._inbound_view(c) for c in self._ctl.calls() if not c.ended]
        if self._outbound is not None:
            found += [self._outbound_view(o) for o in self._outbound.dialer.calls()]
        return found

    def live_call(self, call_id: CallId) -> LiveCall | None:
        call = self._ctl.call(call_id)
        if call is not None and not call.ended:
            return self._inbound_view(call)
        out = self._outbound.dialer.call(call_id) if self._outbound is not None else None
        return self._outbound_view(out) if out is not None else None

    # -- in-call controls -------------------------------------------------------------------------

    def _set_hold(self, call_id: CallId, on_hold: bool) -> None:
        call = self._talking(call_id)
        dialogs = self._ctl.dialogs
        if dialogs is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, "hold needs a media engine with hold")
        holder = dialogs.held_by(call_id)
        if on_hold and holder is not None:
            raise _refuse(ActionRefusal.WRONG_STATE, f"call {call_id} is on hold already")
        if not on_hold and holder is not Party.OPERATOR:
            raise _refuse(ActionRefusal.WRONG_STATE, f"call {call_id} is not held by its operator")
        leg = call.operator_leg
        assert leg is not None  # _talking checked it
        # The operator's hold, as from its phone (see the module docstring).
        dialogs.on_event(call, Party.OPERATOR, leg, HoldChanged(on_hold=on_hold, by_remote=True))

    def hold(self, call_id: CallId) -> None:
        self._set_hold(call_id, True)

    def resume(self, call_id: CallId) -> None:
        self._set_hold(call_id, False)

    def hang_up(self, call_id: CallId) -> None:
        """The operator hangs up; during a talking consultation the transfer completes instead."""
        dialogs = self._ctl.dialogs
        if self._consult is not None and dialogs is not None and dialogs.unbridged(call_id):
            try:  # held, maybe consulting: transfer on hang-up (ctl_attended)
                self._consult.complete(call_id)
            except HotlineError:  # no consultation, or the target still rings: hang up
                pass
            else:
                return
        if self._ctl.hang_up(call_id, HungUpBy.OPERATOR, "desk_hang_up"):
            return
        if self._outbound is not None and self._outbound.dialer.hang_up(call_id):
            return
        raise _refuse(ActionRefusal.NOT_FOUND, f"no live call {call_id}")

    def transfer_blind(self, call_id: CallId, target: TransferTarget) -> None:
        call = self._talking(call_id)
        transfers = self._ctl.transfers
        if transfers is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, "transfers need a media engine with bridging")
        orgs = self._organisations
        if transfers.pending(call_id) is not None or (orgs is not None and orgs.pending(call_id)):
            raise _refuse(ActionRefusal.WRONG_STATE, f"call {call_id} is being transferred")
        if target.kind is TargetKind.ORGANISATION:
            if orgs is None:
                raise _refuse(ActionRefusal.NOT_ALLOWED, "no transfers to organisations here")
            self._guard(lambda: orgs.transfer(call, target.id))
            return
        if target.kind is TargetKind.QUEUE:
            self._known_queue(QueueId(target.id))
            user = f"{QUEUE_PREFIX}{target.id}"
        elif target.kind is TargetKind.OPERATOR:
            operator_id = OperatorId(target.id)
            self._known_operator(operator_id)
            if operator_id == call.operator_id:
                raise _refuse(ActionRefusal.NOT_ALLOWED, "an operator cannot transfer to itself")
            if self._acd.operator_state(operator_id) is not OperatorState.READY:
                raise _refuse(ActionRefusal.TARGET_UNAVAILABLE, f"operator {target.id} not ready")
            user = operator_id
        else:
            raise _refuse(ActionRefusal.NOT_ALLOWED, f"unknown target kind {target.kind}")
        refused = transfers.refused
        refer = ReferReceived(
            refer_id=_API_REFER_ID,
            refer_to=ReferTo(NameAddr(SipUri(host="hotline.invalid", user=user))),
            replaces=None,
            referred_by=None,
            subscription=False,
        )
        assert call.operator_leg is not None
        if not transfers.on_refer(call, Party.OPERATOR, call.operator_leg, refer):
            raise _refuse(ActionRefusal.WRONG_STATE, f"call {call_id} cannot be transferred now")
        if transfers.refused != refused:
            raise _refuse(ActionRefusal.TARGET_UNAVAILABLE, f"{target.id} cannot take the call")

    def _consult_port(self) -> ConsultPort:
        if self._consult is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, "attended transfer is not available")
        return self._consult

    def _monitor_port(self) -> MonitorPort:
        if self._monitor is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, "monitoring is not available")
        return self._monitor

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        port = self._consult_port()
        self._guard(lambda: port.consult(call_id, target))

    def complete_transfer(self, call_id: CallId) -> None:
        port = self._consult_port()
        self._guard(lambda: port.complete(call_id))

    def cancel_consult(self, call_id: CallId) -> None:
        port = self._consult_port()
        self._guard(lambda: port.cancel(call_id))

    def monitor(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        port = self._monitor_port()
        sessions: list[str] = []
        self._guard(lambda: sessions.append(port.start(call_id, supervisor_id, mode)))
        return sessions[0]

    def stop_monitor(self, session_id: str) -> None:
        port = self._monitor_port()
        self._guard(lambda: port.stop(session_id))

    @staticmethod
    def _guard(action: Callable[[], object]) -> None:
        """Run a delegated action; the port's own errors become refusals."""
        try:
            action()
        except CallActionError:
            raise
        except LocalProtocolError as exc:
            raise _refuse(ActionRefusal.WRONG_STATE, str(exc)) from exc
        except HotlineError as exc:
            raise _refuse(ActionRefusal.TARGET_UNAVAILABLE, str(exc)) from exc

    def dial_out(self, operator_id: OperatorId, number: str) -> CallId:
        if self._outbound is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, "outbound calls are not available")
        self._known_operator(operator_id)
        try:
            return self._outbound.dial_out.dial_out(operator_id, number)
        except DialOutRefused as exc:
            raise _refuse(_DIAL_REFUSALS[exc.refusal], str(exc)) from exc

    # -- QueueActions -----------------------------------------------------------------------------

    def queues(self) -> Sequence[QueueSnapshot]:
        found = []
        for config in self._acd.queue_configs():
            status = self._acd.queue_status(config.queue_id)
            found.append(
                QueueSnapshot(
                    queue_id=config.queue_id,
                    name=config.name,
                    waiting=status.waiting,
                    longest_wait_s=status.oldest_wait_s or 0.0,
                    norm_s=config.sl_norm_s,
                    operators_ready=status.idle,
                    operators_busy=max(0, status.staffed - status.idle),
                )
            )
        return found

    def operators(self) -> Sequence[OperatorSnapshot]:
        found = []
        now = self._clock.utcnow()
        for operator_id in self._acd.operator_ids():
            since = self._acd.state_since(operator_id)
            try:
                status = self._acd.operator_status(operator_id)
            except LocalProtocolError:  # configured, never logged in
                found.append(
                    OperatorSnapshot(operator_id, OperatorState.LOGGED_OUT.value, None, now, None)
                )
                continue
            found.append(
                OperatorSnapshot(
                    operator_id=operator_id,
                    state=status.state.value,
                    reason=status.reason or None,
                    since=self._wall(since) if since is not None else now,
                    call_id=status.talking_call or status.offered_call,
                )
            )
        return found

    def _caller_of(self, call_id: CallId) -> str:
        call = self._ctl.call(call_id)
        if call is not None:
            return call.caller_number
        if self._outbound is not None:
            request = self._outbound.callbacks.request(call_id)
            if request is not None:
                return request.number.number
        return ""

    def waiting_calls(self, queue_id: QueueId | None = None) -> Sequence[WaitingCall]:
        found = []
        for call_id in self._acd.waiting_calls():
            status = self._acd.call_status(call_id)
            if queue_id is not None and status.queue_id != queue_id:
                continue
            found.append(
                WaitingCall(
                    call_id=call_id,
                    queue_id=status.queue_id,
                    position=status.position,
                    priority=status.priority,
                    waited_s=status.total_wait_s,
                    caller_number=self._caller_of(call_id),
                )
            )
        found.sort(key=lambda w: (w.queue_id, w.position))
        return found

    def set_operator_state(
        self, operator_id: OperatorId, state: str, reason: str | None = None
    ) -> None:
        self._known_operator(operator_id)
        wanted = next((s for s in _SETTABLE if s.value == state), None)
        if wanted is None:
            raise _refuse(ActionRefusal.NOT_ALLOWED, f"state {state!r} cannot be set")
        why = reason or "supervisor"
        self._acd_call(lambda: self._acd.set_operator_state(operator_id, wanted, why))

    def wrapup_done(self, operator_id: OperatorId) -> None:
        self._known_operator(operator_id)
        self._acd_call(lambda: self._acd.wrapup_done(operator_id))

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None:
        self._waiting(call_id)
        self._known_queue(queue_id)
        self._acd_call(lambda: self._acd.move_call(call_id, queue_id))

    def set_call_priority(self, call_id: CallId, priority: int) -> None:
        self._waiting(call_id)
        self._acd_call(
            lambda: self._acd.set_call_priority(call_id, priority), ActionRefusal.NOT_ALLOWED
        )

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None:
        self._waiting(call_id)
        self._known_operator(operator_id)
        self._acd_call(
            lambda: self._acd.assign_call(call_id, operator_id), ActionRefusal.TARGET_UNAVAILABLE
        )

    @staticmethod
    def _acd_call(
        action: Callable[[], object], refusal: ActionRefusal = ActionRefusal.WRONG_STATE
    ) -> None:
        """Run an ACD input; its LocalProtocolError (a rule said no) becomes ``refusal``."""
        try:
            action()
        except LocalProtocolError as exc:
            raise _refuse(refusal, str(exc)) from exc
