"""In-dialog requests of an INVITE session: re-INVITE, UPDATE, BYE, INFO, OPTIONS, PRACK, REFER, NOTIFY.

Received (RFC 3261 §12.2.2, §14.2, §15.1.2; RFC 3311 §5.2; RFC 3515 §2.4):

- re-INVITE while our own INVITE is pending: 491 (§14.2); while an earlier
  INVITE of the peer is not answered yet: 500 with ``Retry-After`` 0-10 s.
  Otherwise :class:`ReInviteReceived`; the TU answers with ``accept_modify``
  or ``reject_modify``.
- UPDATE without a body (a session refresh) is answered 200 at once; with an
  offer: 491 if our offer is outstanding, 500 if the peer's is, else
  :class:`UpdateReceived`.
- A refresh request asking a session interval below our Min-SE: 422.
- BYE: 200, :class:`ByeReceived`, :class:`DialogTerminated`; pending requests
  of the peer get 487.
- INFO: 200 and :class:`InfoReceived`; OPTIONS: 200 with Allow/Supported;
  PRACK: 200 when its RAck matches our reliable 1xx, else 481.
- REFER: 202, an immediate ``NOTIFY`` (100 Trying) and :class:`ReferReceived`;
  NOTIFY of the refer package: 200 and :class:`NotifyReceived`.
- Other methods: 405 with Allow.

Sent: re-INVITE/UPDATE (``reinvite``, ``update``, ``refresh``), INFO, REFER,
NOTIFY (``notify_refer``).  A 491 to our re-INVITE/UPDATE arms the §14.1
retry timer (:class:`GlareRetryDue`), a 422 is retried at once with the
larger interval, 481 ends the dialog, 408 (or a timeout) ends it with BYE.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import Dialog
from hotline.sip.dlg_events import (
    AckReceived,
    ByeReceived,
    DialogConfirmed,
    InfoReceived,
    ModifyCompleted,
    NotifyReceived,
    ReferAnswered,
    ReferReceived,
    ReInviteReceived,
    RequestAnswered,
    TerminationReason,
    UpdateReceived,
)
from hotline.sip.dlg_headers import ReasonHeader, ReferTo, SipfragStatus, parse_rack
from hotline.sip.dlg_offer_answer import OaInput, OfferAnswerState, sdp_body, sdp_hold_state
from hotline.sip.dlg_refer import (
    SIPFRAG_CONTENT_TYPE,
    notify_headers,
    read_notify,
    read_refer,
    refer_headers,
)
from hotline.sip.dlg_session_base import SessionInput, SessionState, _SessionBase
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import reason_phrase

__all__: list[str] = []

_S = SessionState
_KNOWN_METHODS = frozenset({"SUBSCRIBE", "MESSAGE", "PUBLISH", "REGISTER"})


class _InDialog(_SessionBase):
    """Requests inside an established (or early) INVITE dialog."""

    __slots__ = ()

    # -- requests we receive -----------------------------------------------------------

    def _dispatch_in_dialog(self, request: SipRequest, now: float) -> None:
        method = request.method
        if method == "ACK":
            self._on_ack(request)
        elif method == "BYE":
            self._on_bye(request)
        elif method == "INVITE":
            self._on_reinvite(request, now)
        elif method == "UPDATE":
            self._on_update(request, now)
        elif method == "INFO":
            self._respond(request, 200)
            self._emit(InfoReceived(request.content_type, request.body))
        elif method == "OPTIONS":
            self._respond(
                request, 200, headers=[*self._capabilities(), ("Accept", "application/sdp")]
            )
        elif method == "PRACK":
            self._on_prack(request)
        elif method == "REFER":
            self._on_refer(request)
        elif method == "NOTIFY":
            self._on_notify(request)
        else:
            status = 405 if method in _KNOWN_METHODS else 501
            self._respond(request, status, headers=[("Allow", ", ".join(self._config.allow))])

    def _on_ack(self, request: SipRequest) -> None:
        number = request.cseq.number
        if self._awaiting_ack is None or number != self._awaiting_ack:
            return
        self._awaiting_ack = None
        sdp = sdp_body(request)
        if self._ack_needs_answer:
            self._ack_needs_answer = False
            if sdp is None:
                self._oa.apply(OaInput.OFFER_FAILED)
                self._terminate_with_bye(TerminationReason.BAD_ANSWER, by_remote=True)
                return
            self._oa.apply(OaInput.RECEIVE_ANSWER)
            self._exchange_completed(self._last_local_sdp, offered_by_remote=False)
        elif sdp is not None:
            sdp = None  # an ACK may only carry an answer to our offer in the 2xx (§13.2.1)
        dialog = self._dialog
        if not self._is_uac and number == self._invite.cseq.number and dialog is not None:
            self._emit(DialogConfirmed(dialog.remote_tag, sdp))
        else:
            self._emit(AckReceived(sdp))

    def _on_bye(self, request: SipRequest) -> None:
        self._respond(request, 200)
        if self._state is _S.INCOMING_RINGING:
            self._respond(self._invite, 487)
        self._fail_server_modify(487)
        cause = self._reason_of(request)
        was_ending = self._state is _S.TERMINATING
        self._transition(SessionInput.BYE_RECEIVED)
        if not was_ending:
            self._emit(ByeReceived(cause))
        self._end(TerminationReason.REMOTE_BYE, by_remote=True, cause=cause)

    def _too_small(self, request: SipRequest) -> bool:
        min_se = self._timer.check_request(request)
        if min_se is None:
            return False
        self._respond(request, 422, headers=[("Min-SE", str(min_se))])
        return True

    def _busy_with_offer(self, request: SipRequest) -> bool:
        """Answer 491/500 when an exchange is under way (§14.2, RFC 3311 §5.2)."""
        if self._client_modify is not None or self._oa.state is OfferAnswerState.LOCAL_OFFER:
            self._respond(request, 491)
            return True
        if (
            self._server_modify is not None
            or self._awaiting_ack is not None
            or self._oa.state is OfferAnswerState.REMOTE_OFFER
        ):
            self._respond(request, 500, headers=[("Retry-After", self._retry_after_s())])
            return True
        return False

    def _on_reinvite(self, request: SipRequest, now: float) -> None:
        if self._state is not _S.CONFIRMED:
            self._respond(request, 491 if self._is_uac else 500, headers=self._retry_header())
            return
        if self._busy_with_offer(request) or self._too_small(request):
            return
        offer = sdp_body(request)
        if offer is not None:
            self._oa.apply(OaInput.RECEIVE_OFFER)
        self._server_modify, self._server_modify_offer = request, offer
        self._emit(ReInviteReceived(offer, None if offer is None else sdp_hold_state(offer)))

    def _retry_header(self) -> list[tuple[str, str]]:
        return [] if self._is_uac else [("Retry-After", self._retry_after_s())]

    def _on_update(self, request: SipRequest, now: float) -> None:
        if self._too_small(request):
            return
        offer = sdp_body(request)
        if offer is None:
            self._respond(request, 200, headers=self._modify_response_headers(request, now))
            return
        if self._busy_with_offer(request):
            return
        self._oa.apply(OaInput.RECEIVE_OFFER)
        self._server_modify, self._server_modify_offer = request, offer
        self._emit(UpdateReceived(offer, sdp_hold_state(offer)))

    def _on_prack(self, request: SipRequest) -> None:
        rack_value = request.headers.get("RAck")
        if rack_value is None:
            raise RemoteProtocolError("PRACK without RAck", status_hint=400)
        if self._reliable.acknowledge(parse_rack(rack_value)):
            self._respond(request, 200)
        else:
            self._respond(request, 481)

    def _on_refer(self, request: SipRequest) -> None:
        refer = read_refer(request)
        refer_id = str(request.cseq.number)
        headers = [] if refer.subscription else [("Refer-Sub", "false")]
        self._respond(request, 202, headers=[*headers, ("Contact", str(self._local_contact))])
        if refer.subscription and self._dialog is not None:
            self._refer.add_theirs(refer_id)
            self._send_notify(self._dialog, refer_id, SipfragStatus(100, "Trying"))
        self._emit(
            ReferReceived(
                refer_id, refer.refer_to, refer.refer_to.replaces, refer.referred_by,
                refer.subscription,
            )
        )  # fmt: skip

    def _on_notify(self, request: SipRequest) -> None:
        event, state, sipfrag = read_notify(request)
        refer_id = self._refer.match_ours(event.event_id)
        if refer_id is None:
            self._respond(request, 481)
            return
        self._respond(request, 200)
        if state.terminated:
            self._refer.end_ours(refer_id)
        self._emit(NotifyReceived(refer_id, sipfrag, state.terminated))

    # -- answering the peer's re-INVITE / UPDATE ----------------------------------------

    def _modify_response_headers(self, request: SipRequest, now: float) -> list[tuple[str, str]]:
        headers = [("Contact", str(self._local_contact)), *self._capabilities()]
        return headers + self._timer.response_headers(request, now)

    def accept_modify(
        self,
        now: float,
        body: bytes | None = None,
        *,
        content_type: str = "application/sdp",
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Answer the peer's pending re-INVITE or UPDATE with 200 (§14.2, RFC 3311 §5.2).

        ``body`` is our answer to its offer or, for a re-INVITE without SDP,
        our offer (the answer then comes in the ACK).
        """
        request = self._server_modify
        if request is None:
            raise LocalProtocolError("no re-INVITE or UPDATE of the peer is waiting for an answer")
        if not body:
            raise LocalProtocolError("a 2xx to a re-INVITE or UPDATE here needs an SDP body")
        offer = self._server_modify_offer
        self._server_modify = self._server_modify_offer = None
        if offer is not None:
            self._oa.apply(OaInput.SEND_ANSWER)
        else:
            self._oa.apply(OaInput.SEND_OFFER)
            self._ack_needs_answer = True
        self._last_local_sdp = body
        headers = [*self._modify_response_headers(request, now), *extra_headers]
        self._respond(request, 200, headers=headers, body=body, content_type=content_type)
        if request.method == "INVITE":
            self._awaiting_ack = request.cseq.number
        self._exchange_completed(offer, offered_by_remote=True)

    def reject_modify(self, now: float, status: int = 488, reason: str | None = None) -> None:
        """Refuse the peer's pending re-INVITE or UPDATE; the session stays as it was (§14.2)."""
        if self._server_modify is None:
            raise LocalProtocolError("no re-INVITE or UPDATE of the peer is waiting for an answer")
        if not 300 <= status <= 699:
            raise LocalProtocolError("reject_modify needs a final non-2xx status")
        self._fail_server_modify(status, reason)

    def _fail_server_modify(self, status: int, reason: str | None = None) -> None:
        request = self._server_modify
        if request is None:
            return
        if self._server_modify_offer is not None:
            self._oa.apply(OaInput.OFFER_FAILED)
        self._server_modify = self._server_modify_offer = None
        self._respond(request, status, reason=reason)

    # -- requests we send --------------------------------------------------------------

    def _confirmed_dialog(self, what: str) -> Dialog:
        if self._state is not _S.CONFIRMED or self._dialog is None:
            raise LocalProtocolError(f"{what} needs a confirmed dialog (state {self._state.value})")
        return self._dialog

    def _send_modify(
        self,
        method: str,
        body: bytes | None,
        content_type: str,
        extra_headers: Iterable[tuple[str, str]],
        *,
        refresh: bool,
    ) -> SipRequest:
        dialog = self._confirmed_dialog(method)
        if not self.can_modify():
            raise LocalProtocolError(f"cannot send {method}: another exchange is in progress")
        if body:
            self._oa.apply(OaInput.SEND_OFFER)
        headers = [*self._capabilities(), *self._timer.request_headers(), *extra_headers]
        request = self._create(
            dialog, method, body=body or b"", content_type=content_type, headers=headers
        )
        self._client_modify = (request, refresh, body or None)
        self._glare_at = None
        self._send(request, refresh=refresh)
        return request

    def reinvite(
        self,
        now: float,
        body: bytes | None,
        *,
        content_type: str = "application/sdp",
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """Send a re-INVITE (hold, resume, new media); ``body=None`` asks the peer to offer."""
        return self._send_modify("INVITE", body, content_type, extra_headers, refresh=False)

    def update(
        self,
        now: float,
        body: bytes | None = None,
        *,
        content_type: str = "application/sdp",
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """Send an UPDATE (RFC 3311): with an offer, or without a body as a session refresh."""
        return self._send_modify("UPDATE", body, content_type, extra_headers, refresh=False)

    def refresh(self, now: float) -> bool:
        """Refresh the session (RFC 4028 §7.4): UPDATE without SDP, or re-INVITE repeating ours.

        False (nothing sent) when no refresh can go now; a pending exchange
        refreshes the session anyway when it succeeds.
        """
        if not self.can_modify():
            return False
        if self._peer_allows_update or self._last_local_sdp is None:
            self._send_modify("UPDATE", None, "application/sdp", (), refresh=True)
        else:
            self._send_modify("INVITE", self._last_local_sdp, "application/sdp", (), refresh=True)
        return True

    def send_info(self, now: float, content_type: str, body: bytes) -> SipRequest:
        """Send INFO (e.g. ``application/dtmf-relay``) in the confirmed dialog."""
        dialog = self._confirmed_dialog("INFO")
        request = self._create(dialog, "INFO", body=body, content_type=content_type)
        self._send(request)
        return request

    def refer(
        self,
        now: float,
        refer_to: ReferTo,
        *,
        referred_by: NameAddr | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> str:
        """Send REFER (RFC 3515); returns the subscription id its NOTIFYs will carry."""
        dialog = self._confirmed_dialog("REFER")
        headers = [*refer_headers(refer_to, referred_by), *extra_headers]
        request = self._create(dialog, "REFER", headers=headers)
        refer_id = str(request.cseq.number)
        self._refer.add_ours(refer_id)
        self._send(request)
        return refer_id

    def notify_refer(
        self, now: float, refer_id: str, status: int, reason: str | None = None
    ) -> None:
        """Report the progress of the peer's REFER ``refer_id``; a final status ends it."""
        if refer_id not in self._refer.theirs:
            raise LocalProtocolError(f"no open refer subscription {refer_id!r}")
        dialog = self._dialog
        if dialog is None or self._state is _S.TERMINATED:
            raise LocalProtocolError("the dialog is gone")
        self._send_notify(dialog, refer_id, SipfragStatus(status, reason or reason_phrase(status)))

    def _send_notify(self, dialog: Dialog, refer_id: str, sipfrag: SipfragStatus) -> None:
        request = self._create(
            dialog,
            "NOTIFY",
            body=sipfrag.to_body(),
            content_type=SIPFRAG_CONTENT_TYPE,
            headers=notify_headers(refer_id, sipfrag),
        )
        if sipfrag.final:
            self._refer.end_theirs(refer_id)
        self._send(request)

    # -- responses to our in-dialog requests -------------------------------------------

    def _on_in_dialog_response(
        self, request: SipRequest, refresh: bool, response: SipResponse, now: float
    ) -> None:
        status, method = response.status, request.method
        dialog = self._dialog
        if dialog is None or request.to.tag != dialog.remote_tag:
            return  # a BYE of a surplus fork, a PRACK of a dropped early dialog
        dialog.receive_response(response)
        if method == "BYE":
            if self._state is _S.TERMINATING:
                self._transition(SessionInput.BYE_COMPLETED)
            return
        if self._is_client_modify(request):
            self._on_modify_response(request, refresh, response, now)
        elif method == "REFER":
            refer_id = str(request.cseq.number)
            if status >= 300:
                self._refer.end_ours(refer_id)
            self._emit(ReferAnswered(refer_id, status))
        elif method != "PRACK":
            self._emit(RequestAnswered(method, status))
        if status == 481:
            self._dialog_gone(status, send_bye=False)
        elif status == 408:
            self._dialog_gone(status, send_bye=True)

    def _is_client_modify(self, request: SipRequest) -> bool:
        pending = self._client_modify
        return pending is not None and pending[0] is request

    def _on_modify_response(
        self, request: SipRequest, refresh: bool, response: SipResponse, now: float
    ) -> None:
        status, method = response.status, request.method
        offer = None if self._client_modify is None else self._client_modify[2]
        self._client_modify = None
        if 200 <= status < 300:
            self._modify_succeeded(request, refresh, offer, response, now)
            return
        if offer is not None:
            self._oa.apply(OaInput.OFFER_FAILED)
        if status == 422 and self._timer.on_too_small(response) and self.can_modify():
            self._send_modify(
                method, offer, request.content_type or "application/sdp", (), refresh=refresh
            )
            return
        if status == 491:
            self._schedule_glare_retry(method, now)
        self._emit(ModifyCompleted(method, status, None, refresh))

    def _modify_succeeded(
        self,
        request: SipRequest,
        refresh: bool,
        offer: bytes | None,
        response: SipResponse,
        now: float,
    ) -> None:
        method = request.method
        self._timer.on_success(request, response, now)
        sdp = sdp_body(response)
        dialog = self._dialog
        needs_ack_body = False
        if offer is not None:
            if sdp is None:
                self._oa.apply(OaInput.OFFER_FAILED)
            else:
                self._oa.apply(OaInput.RECEIVE_ANSWER)
                self._last_local_sdp = offer
                self._exchange_completed(offer, offered_by_remote=False)
        elif method == "INVITE" and sdp is not None:
            self._oa.apply(OaInput.RECEIVE_OFFER)
            needs_ack_body = True
        if method == "INVITE" and dialog is not None:
            if needs_ack_body:
                self._ack_wanted = (dialog, request.cseq.number, sdp or b"")
            else:
                self._send_ack(dialog, request.cseq.number, None)
        self._emit(ModifyCompleted(method, response.status, sdp, refresh))

    def _send_ack(
        self, dialog: Dialog, cseq: int, body: bytes | None, content_type: str = "application/sdp"
    ) -> None:
        ack = self._create(dialog, "ACK", body=body or b"", content_type=content_type, cseq=cseq)
        self._ack_cache[cseq] = ack
        while len(self._ack_cache) > 4:
            del self._ack_cache[next(iter(self._ack_cache))]
        self._send(ack)

    # -- ending ------------------------------------------------------------------------

    def _dialog_gone(self, status: int, *, send_bye: bool) -> None:
        """481/408 to an in-dialog request (§12.2.1.2): the dialog is over."""
        if self._state in (_S.TERMINATING, _S.TERMINATED):
            return
        self._client_modify = None
        self._fail_server_modify(487)
        if send_bye and self._dialog is not None and self._allowed(SessionInput.BYE_SENT):
            self._send_bye(self._dialog)
            self._transition(SessionInput.BYE_SENT)
        elif self._allowed(SessionInput.DIALOG_FAILED):
            self._transition(SessionInput.DIALOG_FAILED)
        self._end(TerminationReason.DIALOG_GONE, by_remote=True, status=status)

    def _terminate_with_bye(
        self,
        reason: TerminationReason,
        *,
        by_remote: bool,
        cause: ReasonHeader | None = None,
    ) -> None:
        """Send BYE on the confirmed dialog and report the end."""
        self._fail_server_modify(487)
        if self._dialog is not None and self._allowed(SessionInput.BYE_SENT):
            self._send_bye(self._dialog, cause)
            self._transition(SessionInput.BYE_SENT)
        self._end(reason, by_remote=by_remote)
