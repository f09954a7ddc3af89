"""Blind transfer of a talking call by REFER from the operator's phone (R8g; layer L3).

The operator's phone sends REFER in the call's dialog (RFC 3515 §2.4.2); the
session has already answered 202 and sent NOTIFY ``100 Trying``
(§2.4.4).  :class:`CallTransfers` reads the Refer-To user part:

``queue-<id>`` (:data:`QUEUE_PREFIX`)
    The call joins that queue again under the same call id (the ACD's
    ``transfer_to_queue``: the operator goes to wrap-up, the call enters
    the queue with entry time *now*).  The phone gets NOTIFY ``200`` at
    once and our BYE; the caller hears music on hold again.

any other user part: an operator id (its extension)
    The target must be READY with a registered phone: the ACD reserves it
    (``transfer_offer``) and its phone is rung with the same INVITE as a
    queue offer (P-Asserted-Identity of the caller, ``X-Hotline-Topic``).
    On the 2xx the caller is bridged to the target, the first operator's
    leg gets NOTIFY ``200`` and then BYE (the NOTIFY travels in that dialog,
    so it goes first), the ACD hears ``transfer_answered`` (the first
    operator wraps up).  A final non-2xx, a ring time-out (CANCEL, then
    ``408``) or a target that is not ready/registered gives the phone a
    final NOTIFY with that status and the ACD ``transfer_failed`` with the
    no-answer/busy policy; the caller stays with the first operator (a held
    caller stays held: the operator resumes from the phone).

Recording: each operator segment is its own stereo file; the first keeps the
call id as its recording id, later ones are ``<call id>-2``, ``-3`` ...
(:func:`next_recording_id`), each stored with the call id, so the call detail
record lists every segment in order.

Not carried out here (final NOTIFY ``501``): REFER from the caller's leg, a
second REFER while one is ringing.  A REFER with ``Replaces`` (attended
transfer) goes to :mod:`hotline.calls.ctl_attended`, which reuses
:meth:`CallTransfers.drop_operator_side` and :meth:`CallTransfers.requeue`;
legs this class does not know are offered to :attr:`CallTransfers.leg_handlers`
(consultations, supervisors' phones).
``call.transferred`` (kind ``blind``; ``to`` the operator id or
``queue:<id>``) is written when the transfer completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

import structlog

from hotline.acd.model import RejectReason
from hotline.calls.api import TargetKind, TransferFailure, TransferMode, TransferResult
from hotline.calls.api import TransferTarget as DeskTarget
from hotline.calls.call import Call, CallPhase, Party
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_ports import MediaPort, PhoneContact, PhoneDirectory, Signalling
from hotline.calls.transfer_outcomes import TransferOutcomes, failure_of_reason
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.media.player import PlaybackItem
from hotline.reports.events import TransferKind, TransferTarget
from hotline.sdp.codecs import PCMA, PCMU, CodecSpec
from hotline.sdp.negotiation import build_offer, process_answer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, ReferReceived, SessionEvent
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

__all__ = [
    "DEFAULT_TRANSFER_RING_S",
    "QUEUE_PREFIX",
    "CallTransfers",
    "FlushingSignalling",
    "PendingTransfer",
    "TransferAcd",
    "TransferHooks",
    "TransferMedia",
    "dial_phone",
    "next_recording_id",
]

log = structlog.get_logger("hotline.calls.transfer")

QUEUE_PREFIX: Final = "queue-"
"""Refer-To ``sip:queue-<queue id>@...`` names a queue rather than an operator."""

DEFAULT_TRANSFER_RING_S: Final = 20.0
"""How long the target operator's phone rings before the transfer fails (408)."""

_MAX_TARGET: Final = 64
_CODECS: Final[dict[str, CodecSpec]] = {"PCMA": PCMA, "PCMU": PCMU}
_RTP_PORT_KEY: Final = "rtp_port"  # same key as ctl_dialog.RTP_PORT_KEY


@runtime_checkable
class TransferAcd(Protocol):
    """The ACD's transfer inputs (:class:`~hotline.acd.service.AcdService`)."""

    def transfer_offer(
        self, call_id: CallId, operator_id: OperatorId, from_operator: OperatorId
    ) -> None: ...

    def transfer_answered(self, call_id: CallId, operator_id: OperatorId) -> None: ...

    def transfer_failed(
        self, call_id: CallId, operator_id: OperatorId, reason: RejectReason | None
    ) -> None: ...

    def transfer_to_queue(
        self, call_id: CallId, queue_id: QueueId, operator_id: OperatorId
    ) -> None: ...

    def has_queue(self, queue_id: QueueId) -> bool: ...


@runtime_checkable
class TransferMedia(Protocol):
    """What a transfer needs of the media engine beyond :class:`MediaPort`."""

    def unbridge(self, leg_id: str) -> None: ...

    def stop_recording(self, recording_id: str) -> None: ...


@runtime_checkable
class FlushingSignalling(Protocol):
    """A user agent that sends what a session queued outside its own event loop."""

    def act(self, leg: Leg) -> None: ...


@dataclass(frozen=True, slots=True)
class TransferHooks:
    """The controller's bookkeeping, lent to the transfers (its maps stay private)."""

    track: Callable[[Call, Leg], None]  # the leg is now the call's operator leg
    untrack: Callable[[Leg], None]
    own_media: Callable[[Call, str], None]
    close_media: Callable[[Call, str], None]
    spawn: Callable[[Coroutine[Any, Any, None], str], None]
    note_recording: Callable[[str, CallId], None]
    release_hold: Callable[[Call], None]
    sig: Callable[[], Signalling]
    now: Callable[[], float]


@dataclass(slots=True, eq=False)
class PendingTransfer:
    """A target operator's phone ringing for a call (one per call at most)."""

    call: Call
    target: OperatorId
    from_operator: OperatorId
    refer_leg: Leg
    refer_id: str
    notify: bool
    since: float = 0.0  # monotonic seconds, when the REFER was taken (the desk shows it)
    media_leg_id: str | None = None
    offer_sdp: bytes | None = None
    sip_leg: Leg | None = None
    done: bool = False
    timer: asyncio.TimerHandle | None = None


def dial_phone(
    sig: Signalling,
    contact: PhoneContact,
    call: Call,
    host: str,
    user: str,
    offer: bytes,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Leg:
    """Send an INVITE for ``call`` to the phone of ``user`` (our address: ``host``).

    The caller's number goes into From and P-Asserted-Identity (RFC 3325
    section 9.1), the call's topic into X-Hotline-Topic, then ``extra_headers``.
    """
    caller, topic = call.caller_number, call.route.topic
    return sig.call(
        contact.uri,
        contact.peer,
        from_=NameAddr(SipUri(host=host, user=caller), caller),
        to=NameAddr(SipUri(host=contact.peer.host, user=user)),
        offer=offer,
        extra_headers=(
            ("P-Asserted-Identity", f"<sip:{caller}@{host}>"),
            ("X-Hotline-Topic", topic),
            *extra_headers,
        ),
    )


def next_recording_id(call_id: CallId, previous: str | None) -> str:
    """The recording id of the call's next operator segment (see the module docstring)."""
    if previous is None:
        return call_id
    if previous == call_id:
        return f"{call_id}-2"
    _, _, tail = previous.rpartition("-")
    return f"{call_id}-{int(tail) + 1}" if tail.isdigit() else f"{call_id}-2"


class CallTransfers:
    """Carries out REFERs from operators' phones; see the module docstring."""

    def __init__(
        self,
        *,
        media: MediaPort,
        acd: object,
        phones: PhoneDirectory,
        events: CallEventWriter,
        hooks: TransferHooks,
        music_on_hold: Callable[[str], PlaybackItem],
        ring_s: float = DEFAULT_TRANSFER_RING_S,
    ) -> None:
        self._media = media
        self._acd = acd if isinstance(acd, TransferAcd) else None
        self._phones = phones
        self._events = events
        self._hooks = hooks
        self._moh = music_on_hold
        self.ring_s = ring_s
        self._pending: dict[CallId, PendingTransfer] = {}
        self._by_leg: dict[int, PendingTransfer] = {}
        self.refused = 0
        self.completed = 0
        self.failed = 0
        self.outcomes = TransferOutcomes()  # how transfers ended, for the desk (every owner's)
        # Legs of other call features (ctl_attended, ctl_monitor), asked in order.
        self.leg_handlers: list[Callable[[Leg, SessionEvent], bool]] = []

    @property
    def media(self) -> MediaPort:
        return self._media

    @property
    def acd(self) -> TransferAcd | None:
        return self._acd

    @property
    def phones(self) -> PhoneDirectory:
        return self._phones

    @property
    def events(self) -> CallEventWriter:
        return self._events

    @property
    def hooks(self) -> TransferHooks:
        return self._hooks

    @property
    def music_on_hold(self) -> Callable[[str], PlaybackItem]:
        return self._moh

    def pending(self, call_id: CallId) -> PendingTransfer | None:
        """The target operator's phone ringing for ``call_id`` (read-only for the desk), or None."""
        return self._pending.get(call_id)

    def legs(self) -> int:
        """SIP legs of ringing transfer targets (0 when nothing leaks)."""
        return len(self._by_leg)

    # -- REFER ------------------------------------------------------------------------------

    def on_refer(self, call: Call, party: Party, leg: Leg, event: ReferReceived) -> bool:
        """Take a REFER on ``call``; False: not ours to carry out (the caller refuses it)."""
        if (
            self._acd is None
            or not isinstance(self._media, TransferMedia)
            or party is not Party.OPERATOR
            or leg is not call.operator_leg
            or call.phase is not CallPhase.TALKING
            or call.operator_id is None
            or event.replaces is not None
            or event.refer_to.replaces is not None
            or call.call_id in self._pending
        ):
            return False
        uri = event.refer_to.uri
        user = uri.user if isinstance(uri, SipUri) else None
        if not user or len(user) > _MAX_TARGET:
            self._notify(leg, event.refer_id, event.subscription, 404)
            return True
        if user.startswith(QUEUE_PREFIX):
            self._to_queue(call, leg, event, QueueId(user[len(QUEUE_PREFIX) :]))
        else:
            self._to_operator(call, leg, event, OperatorId(user))
        return True

    # -- to a queue -------------------------------------------------------------------------

    def _to_queue(self, call: Call, leg: Leg, event: ReferReceived, queue_id: QueueId) -> None:
        acd = self._acd
        assert acd is not None
        if not acd.has_queue(queue_id):
            self._notify(leg, event.refer_id, event.subscription, 404)
            return
        self._notify(leg, event.refer_id, event.subscription, 200)
        first = call.operator_id
        self.requeue(call, queue_id, TransferKind.BLIND)
        self._outcome(call, DeskTarget(TargetKind.QUEUE, queue_id), first, TransferResult.COMPLETED)

    def requeue(self, call: Call, queue_id: QueueId, kind: TransferKind) -> None:
        """The first operator leaves; the call joins ``queue_id`` again (a checked queue)."""
        acd, first = self._acd, call.operator_id
        assert acd is not None and first is not None
        self.drop_operator_side(call)
        call.move(CallPhase.QUEUED)
        call.queue_id = queue_id
        if call.caller_media is not None:
            call.moh_item = f"moh-{call.call_id}"
            self._media.play(call.caller_media, self._moh(call.moh_item))
        call.in_acd = True
        self._events.transferred(call, kind, f"queue:{queue_id}", TransferTarget.QUEUE, first)
        self.completed += 1
        log.info("call transferred to a queue", call_id=call.call_id, queue=queue_id)
        acd.transfer_to_queue(call.call_id, queue_id, first)

    # -- to an operator ------------------------------------------------------------------------

    def _to_operator(self, call: Call, leg: Leg, event: ReferReceived, target: OperatorId) -> None:
        acd, first = self._acd, call.operator_id
        assert acd is not None and first is not None
        if target == first or not self._phones.contacts(target):
            self._notify(leg, event.refer_id, event.subscription, 480)
            return
        try:
            acd.transfer_offer(call.call_id, target, first)
        except LocalProtocolError as exc:  # not ready, unknown, already ringing
            log.info("transfer target unavailable", call_id=call.call_id, error=str(exc))
            self._notify(leg, event.refer_id, event.subscription, 486)
            return
        pending = PendingTransfer(
            call, target, first, leg, event.refer_id, event.subscription, since=self._hooks.now()
        )
        self._pending[call.call_id] = pending
        self._hooks.spawn(self._ring(pending), f"transfer-{call.call_id}-{target}")

    async def _ring(self, pending: PendingTransfer) -> None:
        call = pending.call
        try:
            info = await self._media.create_leg(codec=call.codec)
        except HotlineError as exc:
            log.warning("no media for the transfer", call_id=call.call_id, error=str(exc))
            self._fail(pending, RejectReason.BUSY, 503)
            return
        if pending.done:
            self._media.close_leg(info.leg_id)
            return
        pending.media_leg_id = info.leg_id
        self._hooks.own_media(call, info.leg_id)
        contacts = self._phones.contacts(pending.target)
        if not contacts:
            self._fail(pending, RejectReason.BUSY, 480)
            return
        contact, host = contacts[0], self._media.host
        sdp = bytes(
            build_offer(
                host, info.rtp_port, secrets.randbelow(2**31), 1, codecs=(_CODECS[call.codec],)
            )
        )
        pending.offer_sdp = sdp
        leg = dial_phone(self._hooks.sig(), contact, call, host, pending.target, sdp)
        if leg.session.finished:
            self._fail(pending, RejectReason.BUSY, 503)
            return
        pending.sip_leg = leg
        leg.user_data[_RTP_PORT_KEY] = info.rtp_port
        self._by_leg[leg.leg_id] = pending
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(self.ring_s, self.ring_timed_out, call.call_id)

    def on_leg_event(self, leg: Leg, event: SessionEvent) -> bool:
        """An event on a target's leg; False when the leg is not a transfer's."""
        pending = self._by_leg.get(leg.leg_id)
        if pending is None:
            return any(handler(leg, event) for handler in self.leg_handlers)
        if isinstance(event, DialogConfirmed):
            self._answered(pending, leg, event)
        elif isinstance(event, DialogTerminated):
            del self._by_leg[leg.leg_id]
            pending.sip_leg = None
            status = event.status if event.status and event.status >= 300 else 487
            self._fail(pending, _reject_reason(status), status)
        return True

    def ring_timed_out(self, call_id: CallId) -> None:
        """The target did not answer in :attr:`ring_s`: CANCEL, NOTIFY 408."""
        pending = self._pending.get(call_id)
        if pending is not None and not pending.done:
            self._fail(pending, RejectReason.NO_ANSWER, 408)

    def _answered(self, pending: PendingTransfer, leg: Leg, event: DialogConfirmed) -> None:
        call, acd = pending.call, self._acd
        assert acd is not None and pending.offer_sdp is not None
        assert pending.media_leg_id is not None
        try:
            if event.body is None:
                raise RemoteProtocolError("2xx without an SDP answer", status_hint=488)
            media = process_answer(
                parse_sdp(pending.offer_sdp), parse_sdp(event.body), codecs=(_CODECS[call.codec],)
            )
        except RemoteProtocolError as exc:
            log.info("transfer target's answer refused", call_id=call.call_id, error=str(exc))
            self._fail(pending, RejectReason.REJECT, 488)
            return
        remote = (media.remote_address, media.remote_rtp_port) if media.remote_rtp_port else None
        rtcp = (media.remote_rtcp_address, media.remote_rtcp_port)
        self._media.set_remote(pending.media_leg_id, remote, remote_rtcp=rtcp)
        try:
            acd.transfer_answered(call.call_id, pending.target)
        except LocalProtocolError as exc:  # the target logged out while its phone rang
            log.warning("ACD refused the transfer", call_id=call.call_id, error=str(exc))
            self._fail(pending, None, 480)  # BYE to the target; the caller stays
            return
        self._close(pending)
        del self._by_leg[leg.leg_id]
        self._notify(pending.refer_leg, pending.refer_id, pending.notify, 200)
        self.drop_operator_side(call)
        call.operator_id = pending.target
        call.operator_leg = leg
        call.operator_media = pending.media_leg_id
        self._hooks.track(call, leg)
        caller_media = call.caller_media
        assert caller_media is not None
        self._media.bridge(caller_media, pending.media_leg_id)
        rec = next_recording_id(call.call_id, call.recording_id)
        call.recording_id = self._media.start_recording(
            caller_media, pending.media_leg_id, recording_id=rec
        )
        self._hooks.note_recording(call.recording_id, call.call_id)
        self._events.transferred(
            call, TransferKind.BLIND, pending.target, TransferTarget.OPERATOR, pending.from_operator
        )
        self.completed += 1
        self._outcome(
            call,
            DeskTarget(TargetKind.OPERATOR, pending.target),
            pending.from_operator,
            TransferResult.COMPLETED,
        )
        log.info("call transferred", call_id=call.call_id, to=pending.target)

    # -- shared steps ------------------------------------------------------------------------

    def drop_operator_side(self, call: Call) -> None:
        """Detach the first operator: hold music, recording, bridge, media leg, then BYE."""
        media = self._media
        assert isinstance(media, TransferMedia)
        self._hooks.release_hold(call)
        if call.recording_id is not None:
            with contextlib.suppress(HotlineError):
                media.stop_recording(call.recording_id)
        if call.caller_media is not None:
            media.unbridge(call.caller_media)
        if call.operator_media is not None:
            self._hooks.close_media(call, call.operator_media)
        if call.operator_leg is not None:
            self._hooks.untrack(call.operator_leg)
            self._hooks.sig().hang_up(call.operator_leg)
        call.operator_id = call.operator_leg = call.operator_media = None

    def _fail(self, pending: PendingTransfer, reason: RejectReason | None, status: int) -> None:
        if pending.done:
            return
        self._close(pending)
        if pending.sip_leg is not None:
            self._by_leg.pop(pending.sip_leg.leg_id, None)
            self._hooks.sig().hang_up(pending.sip_leg)  # CANCEL while ringing (§9.1)
            pending.sip_leg = None
        if pending.media_leg_id is not None:
            self._hooks.close_media(pending.call, pending.media_leg_id)
        if self._acd is not None:
            with contextlib.suppress(LocalProtocolError):
                self._acd.transfer_failed(pending.call.call_id, pending.target, reason)
        if not pending.call.ended:
            leg = pending.refer_leg
            self._notify(leg, pending.refer_id, pending.notify, status)
            sig = self._hooks.sig()
            if isinstance(sig, FlushingSignalling) and not leg.session.finished:
                sig.act(leg)  # the NOTIFY is on another leg than the event's
        self.failed += 1
        withdrawn = reason is None and status == 487  # the call is ending (forget)
        self._outcome(
            pending.call,
            DeskTarget(TargetKind.OPERATOR, pending.target),
            pending.from_operator,
            TransferResult.CANCELLED if withdrawn else TransferResult.FAILED,
            failure_of_reason(reason, status),
        )
        log.info("transfer failed", call_id=pending.call.call_id, status=status)

    def _outcome(
        self,
        call: Call,
        target: DeskTarget,
        first: OperatorId | None,
        result: TransferResult,
        reason: TransferFailure | None = None,
    ) -> None:
        """Note how a blind transfer ended (:mod:`hotline.calls.transfer_outcomes`)."""
        self.outcomes.record(
            call.call_id,
            mode=TransferMode.BLIND,
            target=target,
            result=result,
            reason=reason,
            from_operator=first,
            now=self._hooks.now(),
        )

    def _close(self, pending: PendingTransfer) -> None:
        pending.done = True
        self._pending.pop(pending.call.call_id, None)
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None

    def forget(self, call: Call) -> None:
        """The call is ending: withdraw a ringing transfer (the target is READY at once)."""
        pending = self._pending.get(call.call_id)
        if pending is not None:
            self._fail(pending, None, 487)

    def _notify(self, leg: Leg, refer_id: str, subscription: bool, status: int) -> None:
        if status >= 300:
            self.refused += 1
        if not subscription or leg.session.finished:
            return
        try:
            leg.session.notify_refer(self._hooks.now(), refer_id, status)
        except HotlineError as exc:  # the dialog is ending
            log.info("refer NOTIFY not sent", error=str(exc))


def _reject_reason(status: int) -> RejectReason:
    if status in (486, 600):
        return RejectReason.BUSY
    if status == 603:
        return RejectReason.REJECT
    return RejectReason.NO_ANSWER
