"""Blind transfer of a talking call to an organisation of the directory (R7, R8g; layer L3).

The desk's transfer (:meth:`~hotline.calls.actions.LiveActions.transfer_blind`
with an ``organisation`` target) hands the call to :class:`OrganisationTransfers`,
which asks the :class:`~hotline.calls.ctl_external.ExternalRedirector` to dial
the organisation's number through the trunks exactly as the voice menu's
redirect does, with this class as its
:class:`~hotline.calls.ctl_external.RedirectListener`:

- while the organisation's phone rings the caller stays with the operator
  (as in a blind transfer to another operator, :mod:`hotline.calls.ctl_transfer`);
- on its answer the operator leaves the call
  (:meth:`~hotline.calls.ctl_transfer.CallTransfers.drop_operator_side`: its
  recording segment is finished, its leg hung up, a monitoring session or a
  consultation ends), the ACD hears ``call_ended`` (the operator wraps up),
  and the caller is bridged with the organisation; the conversation is
  recorded as the call's next segment (``<call id>-2`` …,
  :func:`~hotline.calls.ctl_transfer.next_recording_id`, the same naming as
  the operator segments of transfers), so the operator's segment is never
  overwritten; ``call.redirected_external`` is written by the redirector;
- a failure (no trunk, a refusal, no answer) leaves the caller with the
  operator (logged);
- the organisation's hang-up (or an RTP time-out of its leg) ends the call;
  the caller's or the operator's hang-up while it rings ends the call and
  cancels the INVITE (the controller ends the redirect of every ending call).

The call keeps its id, topic and phase (``talking``, without an operator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    TargetKind,
    TransferFailure,
    TransferMode,
    TransferResult,
    TransferTarget,
)
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_external import ExternalRedirector
from hotline.calls.ctl_transfer import CallTransfers, next_recording_id
from hotline.calls.transfer_outcomes import failure_of_text
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_nodes import ExternalTarget
from hotline.ivr.ivr_events import TransferExternal
from hotline.reports.events import HungUpBy

__all__ = [
    "MAX_ORGANISATION_ID",
    "OrgDialling",
    "OrgTransferAcd",
    "OrgTransferCalls",
    "OrganisationTransfers",
    "wire_org_transfers",
]

log = structlog.get_logger("hotline.calls.org_transfer")

MAX_ORGANISATION_ID: Final = 64


@dataclass(frozen=True, slots=True)
class OrgDialling:
    """An organisation being dialled for a call (what the desk shows of it)."""

    organisation_id: str
    recording_id: str  # the organisation segment's recording id, once it answers
    since: float  # monotonic seconds, when the transfer started
    from_operator: OperatorId | None = None  # the operator who started it


class OrgTransferAcd(Protocol):
    """The ACD's input when the operator leaves (:class:`~hotline.acd.service.AcdService`)."""

    def call_ended(self, operator_id: OperatorId) -> None: ...


class OrgTransferCalls(Protocol):
    """The controller: its live calls and its hang-up."""

    def call(self, call_id: CallId) -> Call | None: ...

    def hang_up(self, call_id: CallId, who: HungUpBy, cause: str) -> bool: ...


class OrganisationTransfers:
    """Carries out desk transfers to organisations; see the module docstring."""

    def __init__(
        self,
        *,
        external: ExternalRedirector,
        transfers: CallTransfers,
        acd: OrgTransferAcd,
        calls: OrgTransferCalls,
    ) -> None:
        self._external = external
        self._transfers = transfers
        self._acd = acd
        self._calls = calls
        self._pending: dict[CallId, OrgDialling] = {}
        self.completed = 0
        self.failed = 0

    def pending(self, call_id: CallId) -> bool:
        """True while the organisation is being dialled for ``call_id``."""
        return call_id in self._pending

    def dialling(self, call_id: CallId) -> OrgDialling | None:
        """The organisation being dialled for ``call_id`` (read-only for the desk), or None."""
        return self._pending.get(call_id)

    def transfer(self, call: Call, organisation_id: str) -> None:
        """Dial ``organisation_id`` for the talking ``call``; CallActionError when refused."""
        if not organisation_id or len(organisation_id) > MAX_ORGANISATION_ID:
            raise CallActionError(ActionRefusal.NOT_FOUND, "bad organisation id")
        try:
            where = ExternalTarget(organisation=organisation_id)
        except FlowError as exc:
            raise CallActionError(ActionRefusal.NOT_FOUND, f"bad organisation id: {exc}") from exc
        if self._external.directory.number_of(organisation_id) is None:
            raise CallActionError(
                ActionRefusal.NOT_FOUND, f"no organisation {organisation_id} in the directory"
            )
        if (
            call.phase is not CallPhase.TALKING
            or call.operator_id is None
            or call.caller_media is None
        ):
            raise CallActionError(ActionRefusal.WRONG_STATE, f"call {call.call_id} is not talking")
        if call.call_id in self._pending or self._transfers.pending(call.call_id) is not None:
            raise CallActionError(
                ActionRefusal.WRONG_STATE, f"call {call.call_id} is being transferred"
            )
        recording_id = next_recording_id(call.call_id, call.recording_id)
        now = self._transfers.hooks.now()
        self._pending[call.call_id] = OrgDialling(
            organisation_id, recording_id, now, call.operator_id
        )
        target = TransferExternal(target=where, topic=call.route.topic, fallback=None)
        self._external.redirect(
            call.call_id,
            call.caller_media,
            call.codec,
            target,
            recording_id=recording_id,
            listener=self,
        )
        log.info("transfer to an organisation", call_id=call.call_id, organisation=organisation_id)

    # -- RedirectListener ---------------------------------------------------------------------

    def redirect_answered(self, call_id: CallId) -> None:
        """The organisation answered: the operator leaves, the caller's leg is free to bridge."""
        dialling = self._pending.pop(call_id, None)
        call = self._calls.call(call_id)
        if call is None or call.ended or dialling is None:
            return  # the redirector's own end follows (the call's end cancels it)
        first = call.operator_id
        self._transfers.drop_operator_side(call)
        if first is not None:
            try:
                self._acd.call_ended(first)  # the operator wraps up
            except LocalProtocolError as exc:
                log.warning("ACD refused call_ended", call_id=call_id, error=str(exc))
        call.recording_id = dialling.recording_id
        self.completed += 1
        self._outcome(call_id, dialling, TransferResult.COMPLETED)
        log.info("call transferred to an organisation", call_id=call_id, operator=first)

    def redirect_failed(self, call_id: CallId, reason: str) -> None:
        """Not reached: the caller goes on talking with the operator."""
        dialling = self._pending.pop(call_id, None)
        self.failed += 1
        if dialling is not None:
            self._outcome(call_id, dialling, TransferResult.FAILED, failure_of_text(reason))
        log.info("transfer to an organisation failed", call_id=call_id, reason=reason)

    def _outcome(
        self,
        call_id: CallId,
        dialling: OrgDialling,
        result: TransferResult,
        reason: TransferFailure | None = None,
    ) -> None:
        """Note how the transfer ended (:mod:`hotline.calls.transfer_outcomes`)."""
        self._transfers.outcomes.record(
            call_id,
            mode=TransferMode.BLIND,
            target=TransferTarget(TargetKind.ORGANISATION, dialling.organisation_id),
            result=result,
            reason=reason,
            from_operator=dialling.from_operator,
            now=self._transfers.hooks.now(),
        )

    def redirect_ended(self, call_id: CallId, who: HungUpBy, cause: str) -> None:
        """The organisation's side ended the bridged call: the call ends."""
        self._pending.pop(call_id, None)
        self._calls.hang_up(call_id, who, cause)


def wire_org_transfers(
    external: ExternalRedirector | None,
    transfers: CallTransfers | None,
    acd: OrgTransferAcd,
    calls: OrgTransferCalls,
) -> OrganisationTransfers | None:
    """The desk's transfers to organisations (None without a redirector or transfers)."""
    if external is None or transfers is None:
        return None
    return OrganisationTransfers(external=external, transfers=transfers, acd=acd, calls=calls)
