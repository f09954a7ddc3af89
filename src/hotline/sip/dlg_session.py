"""The INVITE session usage of a dialog (RFC 3261 §13-§15), sans-IO.

One :class:`InviteSession` is one call leg's signalling, from the UAS view
(:meth:`InviteSession.incoming`) or the UAC view (:meth:`InviteSession.outgoing`).
The driver feeds it and drains it::

    session.receive_request(request, now)      # requests of this dialog (ACK too)
    session.receive_response(response, now)    # responses to our requests
    session.receive_cancel(now)                # the transaction layer matched a CANCEL
    session.request_failed(request, now)       # our client transaction timed out
    session.ack_timeout(now)                   # no ACK for our 2xx within 64*T1
    while (event := session.next_event()) is not None: ...   # dlg_events
    for output in session.messages_to_send(): ...            # SendRequest / SendResponse
    deadline = session.get_timer(); session.handle_timer(now)

Commands from the TU: UAS ``ring``, ``answer``, ``reject``; UAC ``send_ack``
(when the 2xx carried an offer), ``send_prack`` (when a reliable 1xx did),
``resend_invite`` (after 401/407); both ``hang_up``, ``reinvite``,
``update``, ``refresh``, ``accept_modify``, ``reject_modify``, ``send_info``,
``refer``, ``notify_refer``.

SDP is opaque ``bytes`` here; the TU builds and reads it with
:mod:`hotline.sdp` (``LocalSdpSession``).  The session tracks whose offer is
outstanding (RFC 3264/6337), detects hold and resume from the direction of
each accepted offer (:class:`HoldChanged`), and enforces the rules: an
INVITE without SDP is answered with our offer in the 2xx and the answer
comes in the ACK; an ACK or PRACK answer is required where one is due.

UAS checks on a new INVITE: an unknown ``Require`` gets 420, a session
interval below our Min-SE gets 422 (RFC 4028), a To tag (a dialog we do
not know, §12.2.2) 481, a missing Contact or From tag 400.  An INVITE with
``Replaces`` is reported as is: the TU matches it with
:meth:`~hotline.sip.dlg_table.DialogTable.match_replaces` and rejects with
the status that gives, or answers and hangs up the replaced session with
``hang_up(replaced=True)``.  We send provisionals reliably (RFC 3262) only when the INVITE
requires 100rel or the TU asks and the INVITE supports it; an offer in a
provisional response of ours is not supported.

A 2xx from a second fork after the first one is acknowledged and then
ended with BYE (§13.2.2.4).  A CANCEL is sent only after a provisional
response arrived (§9.1); hanging up before that sends it on the first one.
The callee does not send BYE before the ACK of its 2xx (§15): a hang-up in
that window is sent when the ACK arrives or times out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import Dialog, new_call_id, new_tag
from hotline.sip.dlg_events import (
    InviteReceived,
    SessionExpired,
    TerminationReason,
)
from hotline.sip.dlg_headers import ReasonHeader, Replaces, parse_referred_by, parse_replaces
from hotline.sip.dlg_offer_answer import OaInput, OfferAnswerState, sdp_body
from hotline.sip.dlg_prack import (
    ReliableTimerResult,
    supports_100rel,
)
from hotline.sip.dlg_session_base import (
    SendRequest,
    SendResponse,
    SessionConfig,
    SessionInput,
    SessionState,
    capability_headers,
)
from hotline.sip.dlg_session_timer import SessionTimer
from hotline.sip.dlg_uac import _UacSide
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_cancel, make_request, make_response
from hotline.sip.uri import Uri

__all__ = ["InviteSession"]

_S = SessionState
_I = SessionInput
_INITIAL_CSEQ_LIMIT = 2**31


class InviteSession(_UacSide):
    """One call leg's INVITE usage; see the module docstring for the driving loop."""

    __slots__ = ()

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def incoming(
        cls,
        invite: SipRequest,
        *,
        now: float,
        config: SessionConfig,
        local_contact: NameAddr,
        local_tag: str | None = None,
        rng: random.Random | None = None,
    ) -> InviteSession:
        """The UAS side of a new INVITE; check :attr:`state` or the events for a refusal."""
        session = cls(
            config=config, is_uac=False, invite=invite, local_tag=local_tag or new_tag(),
            local_contact=local_contact, state=_S.INCOMING_RINGING, rng=rng,
        )  # fmt: skip
        session._start_incoming()
        return session

    @classmethod
    def outgoing(
        cls,
        *,
        now: float,
        config: SessionConfig,
        request_uri: Uri,
        from_: NameAddr,
        to: NameAddr,
        contact: NameAddr,
        body: bytes | None = None,
        content_type: str = "application/sdp",
        call_id: str | None = None,
        local_tag: str | None = None,
        route: Iterable[NameAddr] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
        rng: random.Random | None = None,
    ) -> InviteSession:
        """The UAC side: build the INVITE (§8.1.1, §13.2.1) and queue it for sending."""
        rng = rng or random.Random()
        tag = local_tag or new_tag()
        timer_headers = SessionTimer(config.session_timer).request_headers()
        invite = make_request(
            "INVITE",
            request_uri,
            from_=from_.with_tag(tag),
            to=NameAddr(to.uri, to.display_name, to.params.without("tag")),
            call_id=call_id or new_call_id(config.via_sent_by),
            cseq=rng.randrange(1, _INITIAL_CSEQ_LIMIT),
            via=cls._via(config),
            contact=contact,
            route=route,
            headers=[*capability_headers(config), *timer_headers, *extra_headers],
            body=body or b"",
            content_type=content_type if body else None,
        )
        session = cls(
            config=config, is_uac=True, invite=invite, local_tag=tag,
            local_contact=contact, state=_S.OUTGOING_CALLING, rng=rng,
        )  # fmt: skip
        if body:
            session._oa.apply(OaInput.SEND_OFFER)
            session._last_local_sdp = body
        session._out.append(SendRequest(invite))
        return session

    def _new_dialog_uas(self, response: SipResponse) -> Dialog:
        return Dialog.from_incoming_invite(
            self._invite, response, via_sent_by=self._config.via_sent_by,
            via_transport=self._config.via_transport, rng=self._rng,
        )  # fmt: skip

    # -- UAS ---------------------------------------------------------------------------

    def _start_incoming(self) -> None:
        invite = self._invite
        supported = {tag.lower() for tag in self._config.supported}
        try:
            unsupported = [tag for tag in invite.require() if tag.lower() not in supported]
            if unsupported:
                self._decline(420, [("Unsupported", ", ".join(unsupported))])
                return
            if invite.to.tag:
                raise RemoteProtocolError("INVITE for a dialog we do not know", status_hint=481)
            if not invite.from_.tag:
                raise RemoteProtocolError("INVITE without a From tag", status_hint=400)
            if len(invite.contacts()) != 1:
                raise RemoteProtocolError("INVITE needs exactly one Contact", status_hint=400)
            min_se = self._timer.check_request(invite)
            if min_se is not None:
                self._decline(422, [("Min-SE", str(min_se))])
                return
            replaces_values = invite.headers.get_all("Replaces")
            if len(replaces_values) > 1:
                raise RemoteProtocolError("more than one Replaces", status_hint=400)
            replaces: Replaces | None = (
                parse_replaces(replaces_values[0]) if replaces_values else None
            )
            by_value = invite.headers.get("Referred-By")
            referred_by = None if by_value is None else parse_referred_by(by_value)
            offer = sdp_body(invite)
            allows_update = "UPDATE" in {m.upper() for m in invite.allow()}
        except RemoteProtocolError as exc:
            self._decline(exc.status_hint, [])
            return
        if offer is not None:
            self._oa.apply(OaInput.RECEIVE_OFFER)
        self._peer_allows_update = allows_update
        self._emit(InviteReceived(offer, replaces, referred_by))

    def _decline(
        self, status: int, headers: list[tuple[str, str]], reason: str | None = None
    ) -> None:
        self._respond(self._invite, status, reason=reason, headers=headers)
        self._transition(_I.FAILURE_SENT)
        self._end(TerminationReason.DECLINED, by_remote=False, status=status)

    def _require_ringing(self, what: str) -> None:
        if self._is_uac or self._state is not _S.INCOMING_RINGING:
            raise LocalProtocolError(f"{what} needs an unanswered incoming INVITE")

    def ring(
        self,
        now: float,
        status: int = 180,
        *,
        reason: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/sdp",
        reliable: bool | None = None,
    ) -> None:
        """Send a provisional response (180 Ringing, 183 with early media SDP...).

        Reliable (RFC 3262) when the INVITE requires 100rel, or when
        ``reliable`` is True and the INVITE supports it.  While a reliable
        1xx waits for its PRACK, further provisionals are not sent (§3).
        """
        self._require_ringing("ring")
        if not 101 <= status <= 199:
            raise LocalProtocolError("ring needs a 101-199 status")
        required = "100rel" in {tag.lower() for tag in self._invite.require()}
        send_reliably = required or (bool(reliable) and supports_100rel(self._invite))
        if send_reliably and self._reliable.pending is not None:
            return
        if body and self._oa.state is not OfferAnswerState.REMOTE_OFFER:
            raise LocalProtocolError(
                "SDP in our provisional response must answer the INVITE's offer"
            )
        headers = [("Contact", str(self._local_contact)), *self._capabilities()]
        response = self._respond(
            self._invite, status, reason=reason, headers=headers, body=body or b"",
            content_type=content_type, copy_record_route=True,
        )  # fmt: skip
        if send_reliably:
            self._reliable.stamp(response, now)
            if body:
                self._oa.apply(OaInput.SEND_ANSWER)
                self._last_local_sdp = body
                self._exchange_completed(
                    sdp_body(self._invite), offered_by_remote=True, report=False
                )
        if self._dialog is None:
            self._dialog = self._new_dialog_uas(response)
        self._transition(_I.PROVISIONAL_SENT)

    def answer(
        self,
        now: float,
        body: bytes | None = None,
        *,
        content_type: str = "application/sdp",
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Answer the INVITE with 200 OK (§13.3.1.4).

        ``body`` is the answer to the INVITE's offer, or our offer when the
        INVITE had none (the answer then comes in the ACK).
        """
        self._require_ringing("answer")
        state = self._oa.state
        if state is not OfferAnswerState.STABLE and not body:
            raise LocalProtocolError("the 200 OK needs SDP (an answer, or our offer)")
        headers = [
            ("Contact", str(self._local_contact)),
            *self._capabilities(),
            *self._timer.response_headers(self._invite, now),
            *extra_headers,
        ]
        response = self._respond(
            self._invite, 200, headers=headers, body=body or b"", content_type=content_type,
            copy_record_route=True,
        )  # fmt: skip
        if state is OfferAnswerState.REMOTE_OFFER:
            self._oa.apply(OaInput.SEND_ANSWER)
            self._exchange_completed(sdp_body(self._invite), offered_by_remote=True, report=False)
        elif state is OfferAnswerState.NO_SESSION:
            self._oa.apply(OaInput.SEND_OFFER)
            self._ack_needs_answer = True
        if body:
            self._last_local_sdp = body
        self._reliable.stop()
        if self._dialog is None:
            self._dialog = self._new_dialog_uas(response)
        else:
            self._dialog.confirm()
        self._awaiting_ack = self._invite.cseq.number
        self._transition(_I.SUCCESS_SENT)

    def reject(
        self,
        now: float,
        status: int = 486,
        *,
        reason: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Refuse the INVITE with a final non-2xx (486 Busy Here, 480, 603...)."""
        self._require_ringing("reject")
        if not 300 <= status <= 699:
            raise LocalProtocolError("reject needs a 300-699 status")
        self._decline(status, list(extra_headers), reason)

    def receive_cancel(self, now: float, cancel: SipRequest | None = None) -> None:
        """The transaction layer matched a CANCEL to our INVITE (and answered it 200, §9.2)."""
        if self._state is _S.INCOMING_RINGING and not self._is_uac:
            self._respond(self._invite, 487)
            self._transition(_I.CANCEL_RECEIVED)
            cause = None if cancel is None else self._reason_of(cancel)
            self._end(TerminationReason.REMOTE_CANCEL, by_remote=True, cause=cause)
        elif self._server_modify is not None and self._server_modify.method == "INVITE":
            self._fail_server_modify(487)

    def ack_timeout(self, now: float) -> None:
        """No ACK came for our 2xx within 64*T1 (§13.3.1.4): end the call with BYE."""
        if self._awaiting_ack is None:
            return
        self._awaiting_ack = None
        self._ack_needs_answer = False
        if self._bye_after_ack is not None:
            self._send_deferred_bye()
            return
        self._terminate_with_bye(TerminationReason.ACK_TIMEOUT, by_remote=True)

    def _send_deferred_bye(self) -> None:
        pending, self._bye_after_ack = self._bye_after_ack, None
        if pending is not None and self._dialog is not None and self._allowed(_I.BYE_SENT):
            self._send_bye(self._dialog, pending[0])
            self._transition(_I.BYE_SENT)

    def _on_ack(self, request: SipRequest) -> None:
        deferred = self._bye_after_ack is not None and request.cseq.number == self._awaiting_ack
        if deferred:
            self._awaiting_ack = None
            self._ack_needs_answer = False
            self._send_deferred_bye()
            return
        super()._on_ack(request)

    # -- both sides ----------------------------------------------------------------------

    def receive_response(self, response: SipResponse, now: float) -> None:
        """A response to one of our requests (the transaction layer matched it).

        A response whose CSeq, Call-ID or tags cannot be read is dropped (§18.1.2).
        """
        try:
            cseq = response.cseq
            if cseq.method == "CANCEL" or response.call_id != self.call_id:
                return
            to_tag = response.to.tag or ""
        except RemoteProtocolError:
            return
        if self._is_uac and cseq.method == "INVITE" and cseq.number == self._invite.cseq.number:
            self._on_invite_response(response, now)
            return
        if response.status < 200:
            return
        entry = self._pending.pop((to_tag, cseq.number, cseq.method), None)
        if entry is not None:
            self._on_in_dialog_response(entry[0], entry[1], response, now)
        elif cseq.method == "INVITE" and response.status < 300:
            ack = self._ack_cache.get(cseq.number)  # a 2xx retransmission (§13.2.2.4)
            if ack is not None:
                self._out.append(SendRequest(ack))

    def request_failed(self, request: SipRequest, now: float) -> None:
        """Our client transaction for ``request`` timed out or could not be sent (acts as 408)."""
        timeout = make_response(request, 408)
        if request.method == "INVITE" and self._is_uac and request is self._invite:
            self._on_invite_failure(timeout, now, timed_out=True)
            return
        key = (request.to.tag or "", request.cseq.number, request.method)
        entry = self._pending.pop(key, None)
        if entry is not None:
            self._on_in_dialog_response(entry[0], entry[1], timeout, now)

    def _dialog_for(self, request: SipRequest) -> Dialog | None:
        if request.call_id != self.call_id or request.to.tag != self._local_tag:
            return None
        remote = request.from_.tag
        if self._dialog is not None and remote == self._dialog.remote_tag:
            return self._dialog
        return self._early.get(remote or "")

    def receive_request(self, request: SipRequest, now: float) -> None:
        """A request of this dialog (the driver found it by Call-ID and tags), ACK included."""
        method = request.method
        try:
            dialog = self._dialog_for(request)
            if dialog is None or self._state is _S.TERMINATED:
                raise RemoteProtocolError("no such dialog", status_hint=481)
            dialog.receive_request(request)
            if dialog is not self._dialog:
                raise RemoteProtocolError("request on a surplus early dialog", status_hint=481)
            if self._state is _S.TERMINATING and method not in ("ACK", "BYE"):
                raise RemoteProtocolError("dialog is being terminated", status_hint=481)
            self._dispatch_in_dialog(request, now)
        except RemoteProtocolError as exc:
            if method != "ACK":
                self._respond(request, exc.status_hint)

    def hang_up(
        self, now: float, *, cause: ReasonHeader | None = None, replaced: bool = False
    ) -> None:
        """End the call whatever its state: CANCEL, reject (480), or BYE (§9.1, §15.1.1).

        ``replaced`` records that an INVITE with Replaces took this call's
        place (RFC 3891 §3).  Does nothing once the call is ending.
        """
        state = self._state
        if state in (_S.OUTGOING_CALLING, _S.EARLY):
            if self._got_provisional:
                cancel = make_cancel(self._invite)
                if cause is not None:
                    cancel.headers.add("Reason", str(cause))
                self._out.append(SendRequest(cancel))
            else:
                self._cancel_pending = True
            self._prack_offer = None
            self._transition(_I.CANCEL_SENT)
            reason = TerminationReason.REPLACED if replaced else TerminationReason.LOCAL_CANCEL
            self._end(reason, by_remote=False, cause=cause)
        elif state is _S.INCOMING_RINGING:
            self._decline(480, [] if cause is None else [("Reason", str(cause))])
        elif state is _S.CONFIRMED:
            reason = TerminationReason.REPLACED if replaced else TerminationReason.LOCAL_BYE
            self._fail_server_modify(487)
            if not self._is_uac and self._awaiting_ack == self._invite.cseq.number:
                self._bye_after_ack = (cause, reason)
                self._end(reason, by_remote=False, cause=cause)
                return
            if self._dialog is not None:
                self._send_bye(self._dialog, cause)
            self._transition(_I.BYE_SENT)
            self._end(reason, by_remote=False, cause=cause)

    def handle_timer(self, now: float) -> None:
        """Run every deadline due at ``now`` (reliable 1xx, glare retry, session timer)."""
        result = self._reliable.handle_timer(now)
        pending = self._reliable.pending
        if result is ReliableTimerResult.RETRANSMIT and pending is not None:
            self._out.append(SendResponse(self._invite, pending))
        elif result is ReliableTimerResult.GIVE_UP and self._state is _S.INCOMING_RINGING:
            self._decline(500, [], "Reliable Provisional Response Not Acknowledged")
        self._glare_timer(now)
        event = self._timer.handle_timer(now)
        if event is None or self._state is not _S.CONFIRMED:
            return
        self._emit(event)
        if isinstance(event, SessionExpired):
            self._terminate_with_bye(TerminationReason.SESSION_EXPIRED, by_remote=False)
