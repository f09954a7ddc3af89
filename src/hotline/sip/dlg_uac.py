"""The UAC side of an INVITE session: the answers to our INVITE (RFC 3261 §13.2.2).

- 1xx with a To tag: an early dialog per tag (forking, §12.1.2); a reliable
  1xx (RFC 3262 §4) is PRACKed when its RSeq is the next one expected,
  carrying our answer when it brought an offer (:class:`PrackNeeded`).
- The first 2xx confirms its dialog and is ACKed (§13.2.2.4), with the
  answer from the TU (``send_ack``) when it carried an offer; a later 2xx
  repeats the ACK; a 2xx of another fork is ACKed and ended with BYE.
  A 2xx without the answer to our offer is ACKed and ended with BYE, unless
  the same fork sent its answer in an unreliable 183 (some PSTN gateways do).
- 401/407: :class:`AuthenticationRequired`, then ``resend_invite`` with
  credentials; 422: resent at once with the larger Session-Expires
  (RFC 4028 §7.3); any other final response ends the call (REJECTED).
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import Dialog
from hotline.sip.dlg_events import (
    AuthenticationRequired,
    DialogConfirmed,
    PrackNeeded,
    ProvisionalReceived,
    TerminationReason,
)
from hotline.sip.dlg_indialog import _InDialog
from hotline.sip.dlg_offer_answer import OaInput, OfferAnswerState, sdp_body
from hotline.sip.dlg_prack import MAX_TRACKED_FORKS, is_reliable, rack_for
from hotline.sip.dlg_session_base import SendRequest, SessionConfig, SessionInput, SessionState
from hotline.sip.headers import header_key
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_cancel
from hotline.sip.txn_model import new_branch

__all__: list[str] = []

_S = SessionState
_I = SessionInput


class _UacSide(_InDialog):
    """Responses to our INVITE, PRACK, ACK, and INVITE retries."""

    __slots__ = ()

    @staticmethod
    def _via(config: SessionConfig) -> str:
        return f"SIP/2.0/{config.via_transport} {config.via_sent_by};branch={new_branch()};rport"

    def _new_dialog_uac(self, response: SipResponse) -> Dialog:
        return Dialog.from_response(
            self._invite, response, via_sent_by=self._config.via_sent_by,
            via_transport=self._config.via_transport, rng=self._rng,
        )  # fmt: skip

    def _on_invite_response(self, response: SipResponse, now: float) -> None:
        status = response.status
        if status == 100:
            return
        if status < 200:
            self._on_invite_provisional(response)
        elif status < 300:
            self._on_invite_success(response, now)
        else:
            self._on_invite_failure(response, now, timed_out=False)

    def _early_dialog(self, response: SipResponse) -> Dialog | None:
        tag = response.to.tag
        if not tag:
            return None
        dialog = self._early.get(tag)
        if dialog is not None:
            dialog.receive_response(response)
            return dialog
        if len(self._early) >= MAX_TRACKED_FORKS:
            return None
        dialog = self._new_dialog_uac(response)
        self._early[tag] = dialog
        return dialog

    def _on_invite_provisional(self, response: SipResponse) -> None:
        if self._state not in (_S.OUTGOING_CALLING, _S.EARLY, _S.TERMINATING):
            return
        self._got_provisional = True
        if self._cancel_pending:
            self._cancel_pending = False
            self._out.append(SendRequest(make_cancel(self._invite)))
        dialog = self._early_dialog(response)
        reliable = dialog is not None and is_reliable(response)
        rseq = 0
        if dialog is not None and reliable:
            try:
                rseq = rack_for(response).rseq
            except RemoteProtocolError:
                reliable = False
            if reliable and not self._prack_rx.accept(dialog.remote_tag, rseq):
                return
        if self._state is _S.TERMINATING:
            if dialog is not None and reliable:
                self._send_prack(dialog, response, None)
            return
        sdp = sdp_body(response)
        if dialog is not None:
            self._dialog = dialog
            self._transition(_I.PROVISIONAL_RECEIVED)
        self._emit(
            ProvisionalReceived(response.status, response.reason, response.to.tag, sdp, reliable)
        )
        if dialog is None or not reliable:
            if dialog is not None and sdp is not None:
                self._early_answer = (dialog.remote_tag, sdp)
            return
        if sdp is not None and self._oa.state is OfferAnswerState.LOCAL_OFFER:
            self._oa.apply(OaInput.RECEIVE_ANSWER)
            self._exchange_completed(self._last_local_sdp, offered_by_remote=False, report=False)
        elif sdp is not None and self._oa.state is OfferAnswerState.NO_SESSION:
            self._oa.apply(OaInput.RECEIVE_OFFER)
            self._prack_offer = (dialog, response)
            self._emit(PrackNeeded(rseq, sdp))
            return
        self._send_prack(dialog, response, None)

    def _send_prack(
        self, dialog: Dialog, response: SipResponse, body: bytes | None, content_type: str = ""
    ) -> None:
        headers = [("RAck", str(rack_for(response)))]
        self._send(
            self._create(
                dialog, "PRACK", body=body or b"", content_type=content_type, headers=headers
            )
        )

    def send_prack(self, now: float, body: bytes, *, content_type: str = "application/sdp") -> None:
        """PRACK a reliable 1xx that carried an offer, with our answer (RFC 3262 §5)."""
        pending, self._prack_offer = self._prack_offer, None
        if pending is None:
            raise LocalProtocolError("no reliable provisional response waits for an answer")
        self._oa.apply(OaInput.SEND_ANSWER)
        self._last_local_sdp = body
        self._send_prack(pending[0], pending[1], body, content_type)

    def _on_invite_success(self, response: SipResponse, now: float) -> None:
        tag = response.to.tag
        if not tag:
            return
        number = response.cseq.number
        if self._answered_tag is not None:
            if tag == self._answered_tag:
                ack = self._ack_cache.get(number)
                if ack is not None:
                    self._out.append(SendRequest(ack))
            else:
                self._ack_and_bye_fork(response)
            return
        self._answered_tag = tag
        dialog = self._early.pop(tag, None)
        if dialog is None:
            dialog = self._new_dialog_uac(response)
        else:
            dialog.receive_response(response)
        self._early.clear()
        self._dialog = dialog
        if self._state is _S.TERMINATING:  # our CANCEL lost the race (§9.1, §15)
            self._send_ack(dialog, number, None)
            self._send_bye(dialog)
            self._transition(_I.SUCCESS_RECEIVED)
            return
        self._transition(_I.SUCCESS_RECEIVED)
        self._peer_allows_update = "UPDATE" in {m.upper() for m in response.allow()}
        self._timer.on_success(self._invite, response, now)
        self._confirm_offer_answer(dialog, response)

    def _confirm_offer_answer(self, dialog: Dialog, response: SipResponse) -> None:
        number, tag = response.cseq.number, dialog.remote_tag
        sdp = sdp_body(response)
        state = self._oa.state
        early = self._early_answer
        if sdp is None and state is OfferAnswerState.LOCAL_OFFER and early and early[0] == tag:
            sdp = early[1]  # a gateway that sent its answer only in an unreliable 183
        if state is OfferAnswerState.LOCAL_OFFER and sdp is not None:
            self._oa.apply(OaInput.RECEIVE_ANSWER)
            self._exchange_completed(self._last_local_sdp, offered_by_remote=False, report=False)
        elif state in (OfferAnswerState.NO_SESSION, OfferAnswerState.REMOTE_OFFER):
            pending, self._prack_offer = self._prack_offer, None
            offer = sdp if pending is None else sdp_body(pending[1])
            if offer is None:
                self._bad_answer(dialog, number)
                return
            if state is OfferAnswerState.NO_SESSION:
                self._oa.apply(OaInput.RECEIVE_OFFER)
            self._ack_wanted = (dialog, number, offer)
            self._emit(DialogConfirmed(tag, offer, needs_ack_body=True))
            return
        elif state is OfferAnswerState.LOCAL_OFFER:
            self._oa.apply(OaInput.OFFER_FAILED)
            self._bad_answer(dialog, number)
            return
        self._send_ack(dialog, number, None)
        self._emit(DialogConfirmed(tag, sdp))

    def _bad_answer(self, dialog: Dialog, number: int) -> None:
        """The 2xx lacks the SDP it must carry (§13.2.1): acknowledge it, then end with BYE."""
        self._send_ack(dialog, number, None)
        self._terminate_with_bye(TerminationReason.BAD_ANSWER, by_remote=True)

    def _ack_and_bye_fork(self, response: SipResponse) -> None:
        """A 2xx of another fork after ours (§13.2.2.4): ACK it, then BYE it."""
        try:
            fork = self._new_dialog_uac(response)
        except RemoteProtocolError:
            return
        self._out.append(SendRequest(self._create(fork, "ACK", cseq=response.cseq.number)))
        self._send_bye(fork)

    def send_ack(self, now: float, body: bytes, *, content_type: str = "application/sdp") -> None:
        """ACK a 2xx that carried an offer, with our answer (§13.2.2.4)."""
        wanted, self._ack_wanted = self._ack_wanted, None
        if wanted is None:
            raise LocalProtocolError("no 2xx waits for an ACK with an answer")
        dialog, number, offer = wanted
        self._oa.apply(OaInput.SEND_ANSWER)
        self._last_local_sdp = body
        self._send_ack(dialog, number, body, content_type)
        initial = number == self._invite.cseq.number
        self._exchange_completed(offer, offered_by_remote=True, report=not initial)

    def _on_invite_failure(self, response: SipResponse, now: float, *, timed_out: bool) -> None:
        status = response.status
        self._early.clear()
        self._prack_offer = None
        self._early_answer = None
        if self._state is _S.TERMINATING and self._answered_tag is None:
            self._transition(_I.FAILURE_RECEIVED)
            return
        if self._state not in (_S.OUTGOING_CALLING, _S.EARLY):
            return
        if not self._oa.can_offer():
            self._oa.apply(OaInput.OFFER_FAILED)
        self._dialog = None
        if not timed_out and status in (401, 407):
            self._transition(_I.CHALLENGE_RECEIVED)
            self._challenged = True
            self._emit(AuthenticationRequired(response))
            return
        if not timed_out and status == 422 and self._timer.on_too_small(response):
            self._transition(_I.CHALLENGE_RECEIVED)
            self._reissue_invite(self._timer.request_headers())
            return
        self._transition(_I.FAILURE_RECEIVED)
        reason = TerminationReason.REQUEST_TIMEOUT if timed_out else TerminationReason.REJECTED
        self._end(reason, by_remote=True, status=status, cause=self._reason_of(response))

    def resend_invite(self, now: float, headers: Iterable[tuple[str, str]]) -> SipRequest:
        """Send the INVITE again after 401/407 with ``headers`` set (Authorization...)."""
        if not self._is_uac or self._state is not _S.OUTGOING_CALLING or not self._challenged:
            raise LocalProtocolError("resend_invite needs a challenged outgoing INVITE")
        return self._reissue_invite(list(headers))

    def _reissue_invite(self, set_headers: list[tuple[str, str]]) -> SipRequest:
        """The INVITE again with CSeq + 1, a new branch, and ``set_headers`` replaced (§8.1.3.5)."""
        old = self._invite
        headers = old.headers.copy()
        for key in {header_key(name) for name, _ in set_headers} | {"via", "cseq"}:
            headers.remove(key)
        headers.prepend("Via", self._via(self._config))
        headers.add("CSeq", f"{old.cseq.number + 1} INVITE")
        for name, value in set_headers:
            headers.add(name, value)
        invite = SipRequest("INVITE", old.uri, headers, old.body)
        self._invite = invite
        self._challenged = False
        self._got_provisional = False
        if old.body:
            self._oa.apply(OaInput.SEND_OFFER)
        self._out.append(SendRequest(invite))
        return invite
