"""Attended (consultative) transfer of a talking call (R8g; layer L3).

The first operator consults the target before handing the caller over.  A
:class:`Consultation` belongs to one call; the caller waits with music on
hold while it lasts.  Two ways in:

From the operator's phone (RFC 5589 §7, RFC 3515, RFC 3891)
    The phone holds the caller (re-INVITE, :mod:`hotline.calls.ctl_dialog`),
    then dials another operator's extension (``1002``) or a queue
    (``queue-<id>``).  That INVITE comes from an authenticated operator
    account with a talking call (:meth:`AttendedTransfers.on_incoming`): it
    becomes the call's consultation, a B2BUA pair of legs — the phone's
    inbound leg and our INVITE to the target's registered phone (a queue:
    we answer at once and the phone hears music on hold).  When the target
    answers, the phone's leg is answered and the two media legs are bridged.
    The phone then sends REFER on the caller's dialog with a Refer-To
    embedding ``Replaces`` that names the consultation dialog (its Call-ID
    and tags, compared as RFC 3891 §3 says; either tag order is accepted):
    :meth:`AttendedTransfers.on_refer` completes the transfer.  An unknown
    dialog gets a final NOTIFY ``481``, a target still ringing ``491``.  A
    REFER on the consultation dialog naming the caller's (the other way
    round) completes it too, and the API's complete/cancel work on it as well.

Through the API (:class:`~hotline.calls.api.CallActions` ``consult``,
``complete_transfer``, ``cancel_consult``; the ``ConsultPort`` of actions)
    :meth:`AttendedTransfers.consult` holds the caller (music on hold) and
    rings the target operator's phone from us; on the answer the first
    operator's media leg is bridged with the target's, so the two talk on
    the first operator's existing call.  A queue target has no one to ring:
    the caller waits on hold until :meth:`AttendedTransfers.complete`.

Completion (both ways): the ACD hears ``transfer_answered`` (the target,
reserved with ``transfer_offer`` when the consultation started, talks; the
first operator wraps up) or ``transfer_to_queue``; the first operator's legs
end (NOTIFY ``200`` then BYE on the caller's dialog, BYE on the consultation
dialog), the caller is bridged with the target's leg, which becomes the
call's operator leg.  The call keeps its id and topic; its recording goes on
as the next segment (``<call id>-2`` …, :func:`~hotline.calls.ctl_transfer.next_recording_id`:
the engine records a fixed pair of legs).  ``call.transferred`` is written
with kind ``attended``.

Cancel, a target that does not answer (ring time-out ``408``, busy), hangs
up, or a first operator who hangs up the consultation: the consultation legs
end, the ACD hears ``transfer_failed`` (the no-answer policy, or a withdrawal)
and the caller is taken off our hold (a hold from the phone stays: the phone
resumes it).  The call's end ends its consultation.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Final

import structlog

from hotline.acd.model import RejectReason
from hotline.calls.api import ActionRefusal, CallActionError, TargetKind, TransferTarget
from hotline.calls.call import Call, CallPhase, Party
from hotline.calls.ctl_consult import (
    CallLookup,
    Consultation,
    ConsultState,
    hold_caller,
    names_dialog,
    note_outcome,
    operator_of,
    reject_reason_of,
    send_refer_notify,
    unhold_caller,
)
from hotline.calls.ctl_dialog import CallDialogs
from hotline.calls.ctl_phone_leg import RTP_PORT_KEY, PhoneLeg, invite_phone, read_answer
from hotline.calls.ctl_transfer import (
    QUEUE_PREFIX,
    CallTransfers,
    TransferMedia,
    next_recording_id,
)
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.reports.events import TransferKind
from hotline.reports.events import TransferTarget as TargetType
from hotline.sdp.negotiation import answer_offer
from hotline.sdp.parser import parse_sdp
from hotline.sip.dlg_events import (
    DialogConfirmed,
    DialogTerminated,
    ReferReceived,
    ReInviteReceived,
    SessionEvent,
)
from hotline.sip.uri import SipUri
from hotline.sip.useragent import Leg

__all__ = ["DEFAULT_CONSULT_RING_S", "AttendedTransfers", "wire_attended"]

log = structlog.get_logger("hotline.calls.attended")

DEFAULT_CONSULT_RING_S: Final = 30.0
"""How long the consulted operator's phone rings before the consultation fails (408)."""
_MAX_TARGET: Final = 64
_PLACEHOLDER_PORT: Final = 9


class AttendedTransfers:
    """Consultations and attended transfers of every call; see the module docstring."""

    def __init__(
        self,
        *,
        transfers: CallTransfers,
        dialogs: CallDialogs,
        calls: CallLookup,
        ring_s: float = DEFAULT_CONSULT_RING_S,
    ) -> None:
        self._transfers = transfers
        self._media = transfers.media
        self._acd = transfers.acd
        self._phones = transfers.phones
        self._events = transfers.events
        self._hooks = transfers.hooks
        self._moh = transfers.music_on_hold
        self._dialogs = dialogs
        self._calls = calls
        self.ring_s = ring_s
        self._by_call: dict[CallId, Consultation] = {}
        self._by_leg: dict[int, Consultation] = {}
        self.completed = 0
        self.failed = 0
        transfers.leg_handlers.append(self.on_leg_event)
        dialogs.on_attended_refer = self.on_refer
        dialogs.observers.append(self)
        dialogs.unbridged_checks.append(self._by_call.__contains__)

    def consultation(self, call_id: CallId) -> Consultation | None:
        return self._by_call.get(call_id)

    def active(self) -> int:
        """Consultations in progress (0 when nothing leaks)."""
        return len(self._by_call)

    def legs(self) -> int:
        """SIP legs of consultations (0 when nothing leaks)."""
        return len(self._by_leg)

    # -- the API (ConsultPort) ------------------------------------------------------------

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        """Hold the caller and ring ``target`` for the first operator (see the docstring)."""
        call = self._talking(call_id)
        if target.kind is TargetKind.ORGANISATION:
            raise CallActionError(
                ActionRefusal.NOT_ALLOWED, "an organisation takes blind transfers only"
            )
        if target.kind is TargetKind.QUEUE:
            consult = self._open_queue(call, QueueId(target.id))
        else:
            consult = self._open_operator(call, OperatorId(target.id))
        hold_caller(consult, self._media, self._dialogs, self._moh, since=self._hooks.now())
        if consult.operator is not None:
            self._hooks.spawn(self._ring(consult), f"consult-{call_id}-{consult.operator}")
        else:
            consult.state = ConsultState.TALKING
        log.info("consultation started", call_id=call_id, to=consult.to)

    def complete(self, call_id: CallId) -> None:
        """Join the caller with the consulted party; the first operator leaves the call."""
        consult = self._by_call.get(call_id)
        if consult is None:
            raise CallActionError(ActionRefusal.WRONG_STATE, "no consultation to complete")
        if consult.state is not ConsultState.TALKING:
            raise CallActionError(ActionRefusal.WRONG_STATE, "the target has not answered yet")
        if not self._complete(consult):
            raise CallActionError(ActionRefusal.TARGET_UNAVAILABLE, "the target cannot take it")

    def cancel(self, call_id: CallId) -> None:
        """Drop the consultation; the caller talks with the first operator again."""
        consult = self._by_call.get(call_id)
        if consult is None:
            raise CallActionError(ActionRefusal.WRONG_STATE, "no consultation to cancel")
        self._fail(consult, None, 487)

    def _talking(self, call_id: CallId) -> Call:
        call = self._calls.call(call_id)
        if call is None or call.ended:
            raise CallActionError(ActionRefusal.NOT_FOUND, f"no live call {call_id}")
        if (
            call.phase is not CallPhase.TALKING
            or call.operator_id is None
            or call.operator_media is None
            or self._acd is None
            or not isinstance(self._media, TransferMedia)
        ):
            raise CallActionError(ActionRefusal.WRONG_STATE, "the call is not talking")
        if call_id in self._by_call or self._transfers.pending(call_id) is not None:
            raise CallActionError(ActionRefusal.WRONG_STATE, "a transfer is in progress")
        return call

    def _open_queue(self, call: Call, queue_id: QueueId) -> Consultation:
        assert self._acd is not None and call.operator_id is not None
        if not self._acd.has_queue(queue_id):
            raise CallActionError(ActionRefusal.NOT_FOUND, f"no queue {queue_id}")
        consult = Consultation(call, call.operator_id, None, queue_id, PhoneLeg(call.codec))
        self._by_call[call.call_id] = consult
        return consult

    def _open_operator(self, call: Call, target: OperatorId) -> Consultation:
        acd, first = self._acd, call.operator_id
        assert acd is not None and first is not None
        if target == first or not self._phones.contacts(target):
            raise CallActionError(ActionRefusal.TARGET_UNAVAILABLE, f"{target} has no phone")
        try:
            acd.transfer_offer(call.call_id, target, first)
        except LocalProtocolError as exc:  # not ready, unknown, reserved already
            raise CallActionError(ActionRefusal.TARGET_UNAVAILABLE, str(exc)) from exc
        consult = Consultation(call, first, target, None, PhoneLeg(call.codec), reserved=True)
        self._by_call[call.call_id] = consult
        return consult

    # -- from the operator's phone ---------------------------------------------------------

    def on_incoming(self, leg: Leg, offer: bytes | None) -> bool:
        """An INVITE: a consultation when an operator with a talking call dials; else False."""
        first = operator_of(leg, self._phones)
        call = next(
            (
                c
                for c in self._calls.calls()
                if first is not None and c.operator_id == first and c.phase is CallPhase.TALKING
            ),
            None,
        )
        uri = leg.session.invite.uri
        user = uri.user if isinstance(uri, SipUri) else None
        if call is None or not user or len(user) > _MAX_TARGET:
            return False
        sig = self._hooks.sig()
        if offer is None:
            sig.reject(leg, 488)
            return True
        try:
            answer_offer(
                parse_sdp(offer), self._media.host, _PLACEHOLDER_PORT, session_id=0, version=0
            )
            call = self._talking(call.call_id)
            if user.startswith(QUEUE_PREFIX):
                consult = self._open_queue(call, QueueId(user[len(QUEUE_PREFIX) :]))
            else:
                consult = self._open_operator(call, OperatorId(user))
        except RemoteProtocolError:
            sig.reject(leg, 488)
            return True
        except CallActionError as exc:
            status = 404 if exc.refusal is ActionRefusal.NOT_FOUND else 486
            sig.reject(leg, 480 if exc.refusal is ActionRefusal.TARGET_UNAVAILABLE else status)
            return True
        consult.inbound = leg
        consult.inbound_offer = offer
        self._by_leg[leg.leg_id] = consult
        sig.ring(leg)
        hold_caller(consult, self._media, self._dialogs, self._moh, since=self._hooks.now())
        self._hooks.spawn(self._ring(consult), f"consult-{call.call_id}-{user}")
        log.info("consultation from the phone", call_id=call.call_id, to=consult.to)
        return True

    def on_refer(self, call: Call, party: Party, leg: Leg, event: ReferReceived) -> bool:
        """A REFER with Replaces on the caller's dialog (RFC 5589 §7); False: not ours."""
        if party is not Party.OPERATOR or leg is not call.operator_leg or call.ended:
            return False
        replaces = event.refer_to.replaces or event.replaces
        assert replaces is not None
        consult = self._by_call.get(call.call_id)
        if (
            consult is None
            or consult.inbound is None
            or not names_dialog(replaces, consult.inbound)
        ):
            self._notify(leg, event, 481)
            return True
        if consult.state is not ConsultState.TALKING:
            self._notify(leg, event, 491)
            return True
        if not self._complete(consult, refer=(leg, event)):
            self._notify(leg, event, 480)
        return True

    # -- ringing the target ------------------------------------------------------------------

    async def _ring(self, consult: Consultation) -> None:
        call = consult.call
        try:
            if consult.inbound is not None:
                await self._inbound_media(consult)
            if consult.operator is None:  # a queue: the phone hears music until the REFER
                self._answer_inbound(consult)
                return
            info = await self._media.create_leg(codec=call.codec)
        except HotlineError as exc:
            log.warning("no media for the consultation", call_id=call.call_id, error=str(exc))
            self._fail(consult, RejectReason.BUSY, 503)
            return
        if consult.state is ConsultState.ENDED:
            self._media.close_leg(info.leg_id)
            return
        consult.out.media_leg_id = info.leg_id
        self._hooks.own_media(call, info.leg_id)
        contacts = self._phones.contacts(consult.operator)
        if not contacts:
            self._fail(consult, RejectReason.BUSY, 480)
            return
        sip_leg = invite_phone(
            self._hooks.sig(),
            self._media,
            consult.out,
            info.rtp_port,
            contacts[0],
            from_user=consult.from_operator,
            display=consult.from_operator,
            to_user=consult.operator,
            extra_headers=(
                ("P-Asserted-Identity", f"<sip:{consult.from_operator}@{self._media.host}>"),
                ("X-Hotline-Topic", call.route.topic),
                ("X-Hotline-Consult", call.call_id),
            ),
        )
        if sip_leg is None:
            self._fail(consult, RejectReason.BUSY, 503)
            return
        self._by_leg[sip_leg.leg_id] = consult
        loop = asyncio.get_running_loop()
        consult.timer = loop.call_later(self.ring_s, self.ring_timed_out, call.call_id)

    async def _inbound_media(self, consult: Consultation) -> None:
        assert consult.inbound_offer is not None
        probe = answer_offer(
            parse_sdp(consult.inbound_offer),
            self._media.host,
            _PLACEHOLDER_PORT,
            session_id=0,
            version=0,
        ).media
        remote = (probe.remote_address, probe.remote_rtp_port) if probe.remote_rtp_port else None
        info = await self._media.create_leg(
            codec=probe.codec_name,
            payload_type=probe.payload_type,
            telephone_event_pt=probe.telephone_event_pt,
            ptime_ms=probe.ptime_ms,
            remote=remote,
            remote_rtcp=(probe.remote_rtcp_address, probe.remote_rtcp_port) if remote else None,
        )
        if consult.state is ConsultState.ENDED:
            self._media.close_leg(info.leg_id)
            raise LocalProtocolError("consultation ended while its media was bound")
        consult.inbound_media = info.leg_id
        self._hooks.own_media(consult.call, info.leg_id)
        assert consult.inbound is not None
        consult.inbound.user_data[RTP_PORT_KEY] = info.rtp_port

    def _answer_inbound(self, consult: Consultation) -> None:
        """200 to the phone's consultation INVITE; a queue's consultation hears music."""
        leg = consult.inbound
        assert leg is not None and consult.inbound_offer is not None
        port = leg.user_data.get(RTP_PORT_KEY)
        assert isinstance(port, int)
        answer = answer_offer(
            parse_sdp(consult.inbound_offer),
            self._media.host,
            port,
            session_id=secrets.randbelow(2**31),
            version=1,
        )
        self._hooks.sig().answer(leg, bytes(answer.answer))
        consult.inbound_answered = True
        consult.state = ConsultState.TALKING
        if consult.operator is None and consult.inbound_media is not None:
            self._media.play(consult.inbound_media, self._moh(f"consult-q-{consult.call.call_id}"))

    def ring_timed_out(self, call_id: CallId) -> None:
        """The target did not answer in :attr:`ring_s`: CANCEL, 408."""
        consult = self._by_call.get(call_id)
        if consult is not None and consult.state is ConsultState.RINGING:
            self._fail(consult, RejectReason.NO_ANSWER, 408)

    def on_leg_event(self, leg: Leg, event: SessionEvent) -> bool:
        """An event on a consultation's leg; False when the leg is not one."""
        consult = self._by_leg.get(leg.leg_id)
        if consult is None:
            return False
        outbound = consult.out.sip_leg is leg
        if isinstance(event, DialogConfirmed):
            if outbound and consult.state is ConsultState.RINGING:
                self._target_answered(consult, event)
        elif isinstance(event, ReferReceived) and not outbound:
            self._refer_on_consultation(consult, leg, event)
        elif isinstance(event, ReInviteReceived) and not leg.session.finished:
            with contextlib.suppress(HotlineError):  # the consultation's media stays as it is
                leg.session.reject_modify(self._hooks.now(), 488)
        elif isinstance(event, DialogTerminated):
            self._by_leg.pop(leg.leg_id, None)
            if outbound:
                consult.out.sip_leg = None
            else:
                consult.inbound = None
            answered = consult.state is ConsultState.TALKING
            status = event.status if event.status and event.status >= 300 else 487
            reason = None if answered or not outbound else reject_reason_of(status)
            self._fail(consult, reason, 487 if answered else status)
        return True

    def _refer_on_consultation(self, consult: Consultation, leg: Leg, event: ReferReceived) -> None:
        """The phone's REFER on the consultation dialog naming the caller's (RFC 5589 §7.2 style).

        The same transfer as a REFER on the caller's dialog naming the
        consultation: the caller joins the consulted party.
        """
        replaces = event.refer_to.replaces or event.replaces
        call = consult.call
        operator_leg = call.operator_leg
        if replaces is None or operator_leg is None or not names_dialog(replaces, operator_leg):
            self._notify(leg, event, 481 if replaces is not None else 501)
            return
        if consult.state is not ConsultState.TALKING:
            self._notify(leg, event, 491)
            return
        self._notify(leg, event, 200)  # before this dialog's BYE
        if not self._complete(consult):
            log.info("attended transfer refused", call_id=call.call_id)

    def _target_answered(self, consult: Consultation, event: DialogConfirmed) -> None:
        if consult.timer is not None:
            consult.timer.cancel()
            consult.timer = None
        out_media = consult.out.media_leg_id
        assert out_media is not None
        try:
            remote, rtcp = read_answer(consult.out, event)
        except RemoteProtocolError as exc:
            log.info(
                "consulted phone's answer refused", call_id=consult.call.call_id, error=str(exc)
            )
            self._fail(consult, RejectReason.REJECT, 488)
            return
        consult.out.answered = True
        self._media.set_remote(out_media, remote, remote_rtcp=rtcp)
        if consult.inbound is not None:
            self._answer_inbound(consult)
            assert consult.inbound_media is not None
            self._media.bridge(consult.inbound_media, out_media)
        else:
            consult.state = ConsultState.TALKING
            operator_media = consult.call.operator_media
            assert operator_media is not None
            self._media.bridge(operator_media, out_media)
        log.info("consultation answered", call_id=consult.call.call_id, to=consult.to)

    # -- completion --------------------------------------------------------------------------

    def _complete(
        self, consult: Consultation, refer: tuple[Leg, ReferReceived] | None = None
    ) -> bool:
        """Hand the caller to the consulted party; False: the ACD refused (consult failed)."""
        call, acd = consult.call, self._acd
        assert acd is not None
        if consult.operator is not None:
            try:
                acd.transfer_answered(call.call_id, consult.operator)
            except LocalProtocolError as exc:  # the target logged out meanwhile
                log.warning(
                    "ACD refused the attended transfer", call_id=call.call_id, error=str(exc)
                )
                self._fail(consult, None, 480)
                return False
            consult.reserved = False
        if refer is not None:
            self._notify(refer[0], refer[1], 200)  # before the BYE on the same dialog
        self._close(consult)
        note_outcome(self._transfers.outcomes, consult, None, 200, now=self._hooks.now())
        if consult.moh_item is not None and call.caller_media is not None:
            self._media.stop_playback(call.caller_media, consult.moh_item)
            consult.moh_item = None
        self._drop_inbound(consult)
        if consult.queue_id is not None:
            self._transfers.requeue(call, consult.queue_id, TransferKind.ATTENDED)
            self.completed += 1
            return True
        self._transfers.drop_operator_side(call)
        out_leg, out_media = consult.out.sip_leg, consult.out.media_leg_id
        assert out_leg is not None and out_media is not None and consult.operator is not None
        self._by_leg.pop(out_leg.leg_id, None)
        call.operator_id = consult.operator
        call.operator_leg = out_leg
        call.operator_media = out_media
        self._hooks.track(call, out_leg)
        caller_media = call.caller_media
        assert caller_media is not None
        self._media.bridge(caller_media, out_media)
        rec = next_recording_id(call.call_id, call.recording_id)
        call.recording_id = self._media.start_recording(caller_media, out_media, recording_id=rec)
        self._hooks.note_recording(call.recording_id, call.call_id)
        self._events.transferred(
            call,
            TransferKind.ATTENDED,
            consult.operator,
            TargetType.OPERATOR,
            consult.from_operator,
        )
        self.completed += 1
        log.info("attended transfer completed", call_id=call.call_id, to=consult.operator)
        return True

    # -- failure and endings -----------------------------------------------------------------

    def _fail(self, consult: Consultation, reason: RejectReason | None, status: int) -> None:
        if consult.state is ConsultState.ENDED:
            return
        self._close(consult)
        call = consult.call
        out = consult.out
        if out.sip_leg is not None:
            self._by_leg.pop(out.sip_leg.leg_id, None)
            self._hooks.sig().hang_up(out.sip_leg)  # CANCEL while ringing (RFC 3261 §9.1)
            out.sip_leg = None
        if out.media_leg_id is not None:
            self._hooks.close_media(call, out.media_leg_id)
            out.media_leg_id = None
        inbound = consult.inbound
        if inbound is not None and not consult.inbound_answered and not inbound.session.finished:
            self._by_leg.pop(inbound.leg_id, None)
            self._hooks.sig().reject(inbound, status if 400 <= status < 700 else 480)
            consult.inbound = None
        self._drop_inbound(consult)
        if consult.reserved and self._acd is not None and consult.operator is not None:
            consult.reserved = False
            with contextlib.suppress(LocalProtocolError):
                self._acd.transfer_failed(call.call_id, consult.operator, reason)
        unhold_caller(consult, self._media, self._dialogs)
        note_outcome(self._transfers.outcomes, consult, reason, status, now=self._hooks.now())
        self.failed += 1
        log.info("consultation ended", call_id=call.call_id, status=status)

    def _drop_inbound(self, consult: Consultation) -> None:
        """BYE the phone's consultation leg (it is replaced or over) and close its media."""
        inbound = consult.inbound
        if inbound is not None:
            self._by_leg.pop(inbound.leg_id, None)
            self._hooks.sig().hang_up(inbound)
            consult.inbound = None
        if consult.inbound_media is not None:
            self._hooks.close_media(consult.call, consult.inbound_media)
            consult.inbound_media = None

    def _close(self, consult: Consultation) -> None:
        consult.state = ConsultState.ENDED
        self._by_call.pop(consult.call.call_id, None)
        if consult.timer is not None:
            consult.timer.cancel()
            consult.timer = None

    def _notify(self, leg: Leg, event: ReferReceived, status: int) -> None:
        send_refer_notify(self._hooks, leg, event, status)  # RFC 3515 §2.4.4, sent at once

    # -- CallObserver (ctl_dialog) ------------------------------------------------------------

    def suspend(self, call_id: CallId) -> None:
        """Nothing to do: the consultation itself changes the bridge."""

    def resume(self, call_id: CallId) -> None:
        """Nothing to do."""

    def operator_leaving(self, call_id: CallId) -> None:
        """A blind transfer took the call: a consultation left over ends."""
        consult = self._by_call.get(call_id)
        if consult is not None:
            self._fail(consult, None, 487)

    def call_ended(self, call_id: CallId) -> None:
        """The call is over: its consultation ends (the target is READY again)."""
        consult = self._by_call.get(call_id)
        if consult is not None:
            self._fail(consult, None, 487)


def wire_attended(
    transfers: CallTransfers | None, dialogs: CallDialogs | None, calls: CallLookup
) -> AttendedTransfers | None:
    """The attended transfers of a controller (None without a hold-capable media engine)."""
    if transfers is None or dialogs is None:
        return None
    return AttendedTransfers(transfers=transfers, dialogs=dialogs, calls=calls)
