"""A consultation's state, shared by the attended transfers (R8g; layer L3).

See :mod:`hotline.calls.ctl_attended`: a :class:`Consultation` belongs to one
call; ``inbound`` is the first operator's consultation leg when the phone
dialled (RFC 5589 §7), ``out`` our leg to the consulted operator's phone.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from hotline.acd.model import RejectReason
from hotline.calls.api import TargetKind, TransferMode, TransferResult, TransferTarget
from hotline.calls.call import Call
from hotline.calls.ctl_dialog import CallDialogs
from hotline.calls.ctl_phone_leg import PhoneLeg
from hotline.calls.ctl_ports import MediaPort, PhoneDirectory
from hotline.calls.ctl_transfer import FlushingSignalling, TransferHooks, TransferMedia
from hotline.calls.transfer_outcomes import TransferOutcomes, failure_of_reason
from hotline.core.errors import HotlineError
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.media.player import PlaybackItem
from hotline.sip.auth import AuthOutcome
from hotline.sip.dlg_events import ReferReceived
from hotline.sip.dlg_headers import Replaces
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

__all__ = [
    "CallLookup",
    "ConsultState",
    "Consultation",
    "hold_caller",
    "names_dialog",
    "note_outcome",
    "operator_of",
    "reject_reason_of",
    "send_refer_notify",
    "unhold_caller",
]

log = structlog.get_logger("hotline.calls.attended")

MAX_USER: Final = 64


class CallLookup(Protocol):
    """The controller's live calls."""

    def call(self, call_id: CallId) -> Call | None: ...

    def calls(self) -> tuple[Call, ...]: ...


class ConsultState(enum.Enum):
    """Where a consultation stands."""

    RINGING = "ringing"  # the target's phone rings (or its media leg is being bound)
    TALKING = "talking"  # the first operator talks with the target (a queue: waits)
    ENDED = "ended"


@dataclass(slots=True, eq=False)
class Consultation:
    """One call's consultation; ``inbound`` is the first operator's leg when the phone dialled."""

    call: Call
    from_operator: OperatorId
    operator: OperatorId | None  # the target operator, or None for a queue
    queue_id: QueueId | None
    out: PhoneLeg
    inbound: Leg | None = None
    inbound_offer: bytes | None = None
    inbound_media: str | None = None
    state: ConsultState = ConsultState.RINGING
    moh_item: str | None = None  # our hold music on the caller, when we held it
    reserved: bool = False  # the ACD reserved the target (transfer_offer)
    inbound_answered: bool = False
    timer: asyncio.TimerHandle | None = None
    since: float = 0.0  # monotonic seconds, when the caller was put on hold for it

    @property
    def to(self) -> str:
        return self.operator if self.operator is not None else f"queue:{self.queue_id}"


def names_dialog(replaces: Replaces, leg: Leg) -> bool:
    """True when ``replaces`` names ``leg``'s confirmed dialog (Call-ID and both tags, RFC 3891 §3).

    Either tag order is accepted: the receiving UA compares ``to-tag`` with
    its local tag, but in a B2BUA both ends of the dialog are ours to find.
    """
    if replaces.call_id != leg.call_id:
        return False
    dialog = leg.session.dialog
    if dialog is not None:
        local, remote = dialog.id.local_tag, dialog.id.remote_tag
    elif not leg.session.is_uac:  # ringing: our tag, and the INVITE's From tag
        local, remote = leg.local_tag, leg.session.invite.from_.tag or ""
    else:
        return False
    return {replaces.to_tag, replaces.from_tag} == {local, remote}


def reject_reason_of(status: int) -> RejectReason:
    if status in (486, 600):
        return RejectReason.BUSY
    if status == 603:
        return RejectReason.REJECT
    return RejectReason.NO_ANSWER


def operator_of(leg: Leg, phones: PhoneDirectory) -> OperatorId | None:
    """The operator whose phone sent this INVITE: its digest user, or on a trusted network
    (the demo trusts loopback) the From user whose registered binding is this very source."""
    admitted = leg.admitted
    if admitted is None:
        return None
    if admitted.outcome is AuthOutcome.AUTHENTICATED:
        return OperatorId(admitted.user) if admitted.user else None
    uri = leg.session.invite.from_.uri
    user = uri.user if isinstance(uri, SipUri) else None
    if admitted.outcome is not AuthOutcome.TRUSTED or not user or len(user) > MAX_USER:
        return None
    source = (leg.peer.host, leg.peer.port)
    contacts = phones.contacts(OperatorId(user))
    return OperatorId(user) if any((c.peer.host, c.peer.port) == source for c in contacts) else None


def hold_caller(
    consult: Consultation,
    media: MediaPort,
    dialogs: CallDialogs,
    music_on_hold: Callable[[str], PlaybackItem],
    *,
    since: float,
) -> None:
    """The caller waits with music on hold while the consultation lasts (unless held already).

    ``since`` (monotonic seconds) is noted as the consultation's start, which
    the desk shows (:class:`~hotline.calls.api.TransferInProgress`).
    """
    consult.since = since
    call = consult.call
    dialogs.suspend(call)
    if dialogs.held_by(call.call_id) is not None or call.caller_media is None:
        return  # held from a phone already: its music plays
    assert isinstance(media, TransferMedia)
    media.unbridge(call.caller_media)
    consult.moh_item = f"consult-{call.call_id}"
    media.play(call.caller_media, music_on_hold(consult.moh_item))


def unhold_caller(consult: Consultation, media: MediaPort, dialogs: CallDialogs) -> None:
    """The consultation is over without a transfer: the caller talks with the operator again."""
    call = consult.call
    if call.ended:
        return
    if consult.moh_item is not None and call.caller_media is not None:
        media.stop_playback(call.caller_media, consult.moh_item)
        consult.moh_item = None
        if call.operator_media is not None:
            media.bridge(call.caller_media, call.operator_media)
    if dialogs.held_by(call.call_id) is None:
        dialogs.restore(call)  # a hold from the phone stays: the phone resumes it


def note_outcome(
    outcomes: TransferOutcomes,
    consult: Consultation,
    reason: RejectReason | None,
    status: int,
    *,
    now: float,
) -> None:
    """Note how the consultation ended (:mod:`hotline.calls.transfer_outcomes`).

    ``status`` below 300: completed.  ``487`` without a reject reason: the
    first operator cancelled it (from the desk, or the phone hung up its
    consultation leg), the call ended, a blind transfer took the call, or the
    consulted operator hung up after talking (the operator heard that) —
    cancelled, not a failure.  Anything else failed (no answer, busy, a
    refusal, the target gone, no media).
    """
    if status < 300:
        result = TransferResult.COMPLETED
    elif reason is None and status == 487:
        result = TransferResult.CANCELLED
    else:
        result = TransferResult.FAILED
    if consult.operator is not None:
        target = TransferTarget(TargetKind.OPERATOR, consult.operator)
    else:
        target = TransferTarget(TargetKind.QUEUE, consult.queue_id or "")
    outcomes.record(
        consult.call.call_id,
        mode=TransferMode.CONSULT,
        target=target,
        result=result,
        reason=failure_of_reason(reason, status),
        from_operator=consult.from_operator,
        now=now,
    )


def send_refer_notify(hooks: TransferHooks, leg: Leg, event: ReferReceived, status: int) -> None:
    """The REFER's progress (RFC 3515 §2.4.4), sent at once: before the BYEs of the
    transfer on this and the other dialog (RFC 5589 §7: the transferor hears first)."""
    if not event.subscription or leg.session.finished:
        return
    try:
        leg.session.notify_refer(hooks.now(), event.refer_id, status)
    except HotlineError as exc:  # the dialog is ending
        log.info("refer NOTIFY not sent", error=str(exc))
        return
    sig = hooks.sig()
    if isinstance(sig, FlushingSignalling):
        sig.act(leg)
