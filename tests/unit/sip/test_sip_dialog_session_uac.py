"""InviteSession as the UAC: early dialogs, forking, ACK, PRACK, CANCEL, auth and 422 retries, hold."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sip_dialog_wire import (
    NO_TIMER,
    OUR_TAG,
    YEALINK_TAG,
    connected_yealink_call,
    drain,
    events,
    our_sdp,
    outgoing,
    parse_response,
    wire,
    yealink_request,
    yealink_response,
    yealink_sdp,
)

from hotline.core.errors import LocalProtocolError
from hotline.sip.dialog import DialogState
from hotline.sip.dlg_events import (
    AuthenticationRequired,
    ByeReceived,
    DialogConfirmed,
    DialogTerminated,
    GlareRetryDue,
    HoldChanged,
    ModifyCompleted,
    PrackNeeded,
    ProvisionalReceived,
    ReInviteReceived,
    TerminationReason,
)
from hotline.sip.dlg_headers import ReasonHeader
from hotline.sip.dlg_offer_answer import OfferAnswerState
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SessionState, glare_retry_delay_s
from hotline.sip.message import SipRequest, SipResponse

CT_SDP = "Content-Type: application/sdp\n"

# A PSTN gateway's 183 with early media sent reliably (RFC 3262), as Asterisk chan_pjsip does.
GATEWAY_183 = """SIP/2.0 183 Session Progress
Via: {via}
From: {from_}
To: <sip:201@10.0.0.1>;tag=as7f3e2a1b
Call-ID: {call_id}
CSeq: {cseq} INVITE
Server: Asterisk PBX 18.10.0
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE, PRACK
Supported: replaces, timer, 100rel
Require: 100rel
RSeq: {rseq}
Contact: <sip:201@198.51.100.20:5060>
Content-Type: application/sdp
Content-Length: 0

"""


def gateway_183(invite: SipRequest, rseq: int, body: bytes) -> SipResponse:
    return parse_response(
        wire(
            GATEWAY_183, body, via=invite.headers.values("Via")[0],
            from_=invite.headers.get("From"), call_id=invite.call_id,
            cseq=invite.cseq.number, rseq=rseq,
        )
    )  # fmt: skip


def sent_invite(body: bytes | None = None) -> tuple[InviteSession, SipRequest]:
    session = outgoing(body if body is not None else our_sdp())
    (invite,), _ = drain(session)
    return session, invite


# -- the INVITE and its answer ------------------------------------------------------------


def test_outgoing_invite_has_what_rfc_3261_and_4028_ask() -> None:
    session = outgoing(our_sdp())
    (invite,), responses = drain(session)
    assert responses == []
    assert invite.method == "INVITE" and str(invite.uri) == "sip:201@10.0.0.1"
    assert invite.from_.tag == OUR_TAG and invite.from_.display_name == "Hotline 122"
    assert invite.to.tag is None
    assert invite.call_id == "0f3c9b2a6d1e4c7b@10.0.0.1"
    assert invite.cseq.method == "INVITE" and 1 <= invite.cseq.number < 2**31
    assert invite.top_via.sent_by == "10.0.0.1:5060" and invite.top_via.has_rfc3261_branch
    assert invite.top_via.has_rport
    assert [str(c.uri) for c in invite.contacts()] == ["sip:hotline@10.0.0.1:5060"]
    assert invite.headers.get("Session-Expires") == "1800"
    assert invite.headers.get("Min-SE") == "90"
    assert "timer" in invite.supported() and "PRACK" in invite.allow()
    assert invite.headers.get("User-Agent") == "Hotline122/test"
    assert invite.body == our_sdp() and invite.content_type == "application/sdp"
    assert session.state is SessionState.OUTGOING_CALLING
    assert session.offer_answer.state is OfferAnswerState.LOCAL_OFFER


def test_ringing_then_answer_confirms_and_acks_through_the_reversed_route_set() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 100, "Trying", tag=None), 0.1)
    assert events(session) == [] and session.state is SessionState.OUTGOING_CALLING
    session.receive_response(yealink_response(invite, 180, "Ringing"), 0.5)
    assert events(session) == [ProvisionalReceived(180, "Ringing", YEALINK_TAG, None, False)]
    assert session.state is SessionState.EARLY
    assert session.dialog is not None and session.dialog.state is DialogState.EARLY

    ok = yealink_response(invite, 200, "OK", body=yealink_sdp(), headers=CT_SDP)
    session.receive_response(ok, 3.0)
    (ack,), _ = drain(session)
    assert ack.method == "ACK" and ack.cseq.number == invite.cseq.number
    assert str(ack.uri) == "sip:201@10.0.0.50:5062"
    assert [str(r.uri) for r in ack.route()] == ["sip:10.0.0.3;lr", "sip:10.0.0.2;lr"]
    assert ack.to.tag == YEALINK_TAG and ack.body == b""
    assert ack.top_via.branch != invite.top_via.branch
    assert events(session) == [DialogConfirmed(YEALINK_TAG, yealink_sdp())]
    assert session.state is SessionState.CONFIRMED
    assert session.offer_answer.state is OfferAnswerState.STABLE

    session.receive_response(ok, 3.5)  # a retransmitted 2xx: the same ACK again
    (again,), _ = drain(session)
    assert bytes(again) == bytes(ack)
    assert events(session) == []


def test_2xx_of_a_second_fork_is_acked_and_released_with_bye() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 180, "Ringing", tag="fork-a"), 0.5)
    session.receive_response(yealink_response(invite, 180, "Ringing", tag="fork-b"), 0.6)
    session.receive_response(
        yealink_response(invite, 200, "OK", tag="fork-a", body=yealink_sdp(), headers=CT_SDP), 2.0
    )
    drain(session)
    events(session)
    session.receive_response(
        yealink_response(invite, 200, "OK", tag="fork-b", body=yealink_sdp(), headers=CT_SDP), 2.1
    )
    (ack, bye), _ = drain(session)
    assert (ack.method, ack.to.tag, ack.cseq.number) == ("ACK", "fork-b", invite.cseq.number)
    assert (bye.method, bye.to.tag) == ("BYE", "fork-b")
    assert events(session) == []
    assert session.dialog is not None and session.dialog.remote_tag == "fork-a"
    session.receive_response(yealink_response(bye, 200, "OK", tag="fork-b"), 2.2)
    assert session.state is SessionState.CONFIRMED


def test_reliable_183_is_pracked_once_and_completes_the_offer_answer() -> None:
    session, invite = sent_invite()
    progress = gateway_183(invite, 1, yealink_sdp())
    session.receive_response(progress, 0.4)
    (prack,), _ = drain(session)
    assert prack.method == "PRACK"
    assert prack.headers.get("RAck") == f"1 {invite.cseq.number} INVITE"
    assert prack.cseq.number == invite.cseq.number + 1
    assert prack.to.tag == "as7f3e2a1b" and str(prack.uri) == "sip:201@198.51.100.20:5060"
    assert events(session) == [
        ProvisionalReceived(183, "Session Progress", "as7f3e2a1b", yealink_sdp(), True)
    ]
    assert session.offer_answer.state is OfferAnswerState.STABLE

    session.receive_response(progress, 0.9)  # retransmission: no second PRACK, not processed
    assert drain(session) == ([], []) and events(session) == []
    session.receive_response(gateway_183(invite, 3, b""), 1.0)  # out of order: ignored too
    assert drain(session) == ([], [])
    session.receive_response(gateway_183(invite, 2, b""), 1.1)
    (second,), _ = drain(session)
    assert second.headers.get("RAck") == f"2 {invite.cseq.number} INVITE"

    session.receive_response(yealink_response(prack, 200, "OK", tag="as7f3e2a1b"), 0.5)
    ok = yealink_response(invite, 200, "OK", tag="as7f3e2a1b")
    session.receive_response(ok, 5.0)
    (ack,), _ = drain(session)
    assert ack.method == "ACK"
    assert events(session)[-1] == DialogConfirmed("as7f3e2a1b", None)


def test_reliable_183_with_an_offer_waits_for_our_prack_answer() -> None:
    session, invite = sent_invite(b"")
    session.receive_response(gateway_183(invite, 7, yealink_sdp()), 0.4)
    assert drain(session) == ([], [])
    assert events(session)[-1] == PrackNeeded(7, yealink_sdp())
    session.send_prack(0.5, our_sdp())
    (prack,), _ = drain(session)
    assert prack.body == our_sdp() and prack.headers.get("RAck") == f"7 {invite.cseq.number} INVITE"
    assert session.offer_answer.state is OfferAnswerState.STABLE


def test_invite_without_sdp_gets_the_offer_in_200_and_we_answer_in_ack() -> None:
    session, invite = sent_invite(b"")
    assert invite.body == b"" and session.offer_answer.state is OfferAnswerState.NO_SESSION
    session.receive_response(
        yealink_response(invite, 200, "OK", body=yealink_sdp(), headers=CT_SDP), 1.0
    )
    assert drain(session) == ([], [])
    assert events(session) == [DialogConfirmed(YEALINK_TAG, yealink_sdp(), needs_ack_body=True)]
    session.send_ack(1.1, our_sdp())
    (ack,), _ = drain(session)
    assert ack.method == "ACK" and ack.body == our_sdp() and ack.content_type == "application/sdp"
    assert session.offer_answer.state is OfferAnswerState.STABLE
    with pytest.raises(LocalProtocolError):
        session.send_ack(1.2, our_sdp())


def test_200_without_the_answer_to_our_offer_is_acked_then_ended() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 200, "OK"), 1.0)
    (ack, bye), _ = drain(session)
    assert (ack.method, bye.method) == ("ACK", "BYE")
    assert events(session) == [DialogTerminated(TerminationReason.BAD_ANSWER, True)]


def test_busy_ends_the_call_with_the_status_and_reason() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 180, "Ringing"), 0.5)
    events(session)
    busy = yealink_response(invite, 486, "Busy Here", headers='Reason: SIP;cause=486;text="Busy"\n')
    session.receive_response(busy, 4.0)
    assert events(session) == [
        DialogTerminated(TerminationReason.REJECTED, True, 486, ReasonHeader("SIP", 486, "Busy"))
    ]
    assert session.finished and session.dialog is None


def test_401_is_reported_and_the_invite_resent_with_credentials() -> None:
    session, invite = sent_invite()
    challenge = yealink_response(
        invite, 401, "Unauthorized", headers='WWW-Authenticate: Digest realm="pbx", nonce="abc"\n'
    )
    session.receive_response(challenge, 0.2)
    (event,) = events(session)
    assert isinstance(event, AuthenticationRequired) and event.response.status == 401
    assert session.state is SessionState.OUTGOING_CALLING
    retry = session.resend_invite(0.3, [("Authorization", 'Digest username="hotline"')])
    (sent,), _ = drain(session)
    assert sent.cseq.number == invite.cseq.number + 1 and sent.cseq.method == "INVITE"
    assert sent.top_via.branch != invite.top_via.branch
    assert sent.call_id == invite.call_id and sent.from_.tag == OUR_TAG
    assert sent.headers.get("Authorization") == 'Digest username="hotline"'
    assert len(sent.headers.get_all("Via")) == 1 and sent.body == invite.body
    assert retry is session.invite
    assert session.offer_answer.state is OfferAnswerState.LOCAL_OFFER
    session.receive_response(
        yealink_response(sent, 200, "OK", body=yealink_sdp(), headers=CT_SDP), 1.0
    )
    (ack,), _ = drain(session)
    assert ack.cseq.number == sent.cseq.number
    with pytest.raises(LocalProtocolError):
        session.resend_invite(2.0, [])


def test_422_retries_with_the_larger_interval() -> None:
    session, invite = sent_invite()
    session.receive_response(
        yealink_response(invite, 422, "Session Interval Too Small", headers="Min-SE: 3600\n"), 0.2
    )
    (retry,), _ = drain(session)
    assert retry.cseq.number == invite.cseq.number + 1
    assert retry.headers.get("Session-Expires") == "3600"
    assert retry.headers.get("Min-SE") == "3600"
    assert events(session) == []


def test_hang_up_before_any_provisional_cancels_on_the_first_one() -> None:
    session, invite = sent_invite()
    session.hang_up(0.1)
    assert drain(session) == ([], [])
    assert events(session) == [DialogTerminated(TerminationReason.LOCAL_CANCEL, False)]
    session.receive_response(yealink_response(invite, 180, "Ringing"), 0.3)
    (cancel,), _ = drain(session)
    assert cancel.method == "CANCEL" and cancel.cseq.number == invite.cseq.number
    assert cancel.top_via.branch == invite.top_via.branch and cancel.to.tag is None
    assert events(session) == []
    session.receive_response(yealink_response(invite, 487, "Request Terminated"), 0.4)
    assert session.finished and events(session) == []


def test_200_racing_our_cancel_is_acked_and_ended_with_bye() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 180, "Ringing"), 0.3)
    session.hang_up(1.0, cause=ReasonHeader("Q.850", 16))
    (cancel,), _ = drain(session)
    assert cancel.headers.get("Reason") == "Q.850;cause=16"
    session.receive_response(
        yealink_response(invite, 200, "OK", body=yealink_sdp(), headers=CT_SDP), 1.01
    )
    (ack, bye), _ = drain(session)
    assert (ack.method, bye.method) == ("ACK", "BYE")
    assert session.state is SessionState.TERMINATING
    session.receive_response(yealink_response(bye, 200, "OK"), 1.1)
    assert session.finished
    assert events(session) == [
        ProvisionalReceived(180, "Ringing", YEALINK_TAG, None, False),
        DialogTerminated(TerminationReason.LOCAL_CANCEL, False, None, ReasonHeader("Q.850", 16)),
    ]


def test_invite_timeout_ends_the_call() -> None:
    session, _ = sent_invite()
    session.request_failed(session.invite, 32.0)
    assert events(session) == [DialogTerminated(TerminationReason.REQUEST_TIMEOUT, True, 408)]
    assert session.finished


# -- in the confirmed dialog ---------------------------------------------------------------


def test_we_hold_with_reinvite_and_ack_its_200() -> None:
    session, invite = connected_yealink_call()
    assert session.session_timer.we_refresh
    reinvite = session.reinvite(60.0, our_sdp("sendonly", 2))
    (sent,), _ = drain(session)
    assert sent.cseq.number == invite.cseq.number + 1 and sent.method == "INVITE"
    assert str(sent.uri) == "sip:201@10.0.0.50:5062"
    assert sent.headers.get("Session-Expires") == "1800;refresher=uac"
    assert [str(c.uri) for c in sent.contacts()] == ["sip:hotline@10.0.0.1:5060"]
    assert not session.can_modify()
    with pytest.raises(LocalProtocolError):
        session.update(60.1)
    answer = yealink_sdp("recvonly", 20025)
    ok = yealink_response(reinvite, 200, "OK", body=answer, headers=CT_SDP)
    session.receive_response(ok, 60.2)
    (ack,), _ = drain(session)
    assert ack.method == "ACK" and ack.cseq.number == sent.cseq.number
    assert events(session) == [
        HoldChanged(True, by_remote=False),
        ModifyCompleted("INVITE", 200, answer, False),
    ]
    assert session.local_hold and session.can_modify()
    session.receive_response(ok, 60.7)  # 2xx retransmission: ACK again
    (again,), _ = drain(session)
    assert bytes(again) == bytes(ack)


def test_glare_as_call_id_owner_waits_2_1_to_4_seconds() -> None:
    session, _ = connected_yealink_call(seed=9)
    reinvite = session.reinvite(60.0, our_sdp("sendonly", 2))
    drain(session)
    session.receive_response(yealink_response(reinvite, 491, "Request Pending"), 60.1)
    assert events(session) == [ModifyCompleted("INVITE", 491, None, False)]
    assert session.offer_answer.state is OfferAnswerState.STABLE and not session.local_hold
    deadline = session.get_timer()
    assert deadline is not None and 2.1 <= deadline - 60.1 <= 4.0
    session.handle_timer(deadline)
    assert events(session) == [GlareRetryDue("INVITE")]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.booleans())
def test_glare_delay_is_in_the_rfc_ranges_in_10_ms_steps(seed: int, owner: bool) -> None:
    delay = glare_retry_delay_s(random.Random(seed), owns_call_id=owner)
    low, high = (2.1, 4.0) if owner else (0.0, 2.0)
    assert low <= delay <= high
    assert abs(delay * 100 - round(delay * 100)) < 1e-9


def test_phone_holds_us_and_resumes() -> None:
    session, _ = connected_yealink_call()
    hold = yealink_request("INVITE", 2, headers=CT_SDP, body=yealink_sdp("sendonly", 20025))
    session.receive_request(hold, 30.0)
    assert events(session) == [ReInviteReceived(yealink_sdp("sendonly", 20025), True)]
    session.accept_modify(30.1, our_sdp("recvonly", 2))
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.to.tag == OUR_TAG and ok.from_.tag == YEALINK_TAG
    assert events(session) == [HoldChanged(True, by_remote=True)]


def test_481_to_our_reinvite_ends_the_dialog_without_bye() -> None:
    session, _ = connected_yealink_call()
    reinvite = session.reinvite(60.0, our_sdp("sendonly", 2))
    drain(session)
    session.receive_response(
        yealink_response(reinvite, 481, "Call/Transaction Does Not Exist"), 60.1
    )
    assert drain(session) == ([], [])
    assert events(session)[-1] == DialogTerminated(TerminationReason.DIALOG_GONE, True, 481)
    assert session.finished


def test_timeout_of_our_info_ends_the_dialog_with_bye() -> None:
    session, _ = connected_yealink_call()
    info = session.send_info(10.0, "application/dtmf-relay", b"Signal=1\r\nDuration=100\r\n")
    drain(session)
    session.request_failed(info, 42.0)
    (bye,), _ = drain(session)
    assert bye.method == "BYE"
    assert events(session)[-1] == DialogTerminated(TerminationReason.DIALOG_GONE, True, 408)
    assert session.state is SessionState.TERMINATING


def test_bye_from_the_phone() -> None:
    session, _ = connected_yealink_call()
    session.receive_request(yealink_request("BYE", 2), 100.0)
    _, (ok,) = drain(session)
    assert ok.status == 200
    assert events(session) == [
        ByeReceived(None),
        DialogTerminated(TerminationReason.REMOTE_BYE, True),
    ]


def test_crossing_byes_end_quietly() -> None:
    session, _ = connected_yealink_call()
    session.hang_up(100.0)
    drain(session)
    session.receive_request(yealink_request("BYE", 2), 100.01)
    _, (ok,) = drain(session)
    assert ok.status == 200 and session.finished
    assert events(session) == [DialogTerminated(TerminationReason.LOCAL_BYE, False)]


def test_no_timer_config_sends_no_session_expires() -> None:
    session = outgoing(our_sdp(), NO_TIMER)
    outputs = session.messages_to_send()
    assert isinstance(outputs[0], SendRequest)
    assert outputs[0].request.headers.get("Session-Expires") is None


def test_answer_only_in_an_unreliable_183_is_used_when_the_200_lacks_it() -> None:
    session, invite = sent_invite()
    early = yealink_sdp("sendrecv", 20030)
    session.receive_response(
        yealink_response(invite, 183, "Session Progress", body=early, headers=CT_SDP), 0.4
    )
    assert events(session) == [
        ProvisionalReceived(183, "Session Progress", YEALINK_TAG, early, False)
    ]
    assert session.offer_answer.state is OfferAnswerState.LOCAL_OFFER  # a preview, not the answer
    session.receive_response(yealink_response(invite, 200, "OK"), 3.0)
    (ack,), _ = drain(session)
    assert ack.method == "ACK"
    assert events(session) == [DialogConfirmed(YEALINK_TAG, early)]
    assert session.offer_answer.state is OfferAnswerState.STABLE


def test_multipart_sip_t_body_yields_its_sdp_part() -> None:
    session, invite = sent_invite()
    answer = yealink_sdp()
    body = (
        b"--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + answer
        + b"\r\n--unique-boundary-1\r\nContent-Type: application/ISUP;version=itu-t92+\r\n"
        b"Content-Disposition: signal;handling=optional\r\n\r\n\x06\x00\x01\x02\r\n"
        b"--unique-boundary-1--\r\n"
    )  # fmt: skip
    ct = 'Content-Type: multipart/mixed;boundary="unique-boundary-1"\nMIME-Version: 1.0\n'
    session.receive_response(yealink_response(invite, 200, "OK", body=body, headers=ct), 1.0)
    assert events(session) == [DialogConfirmed(YEALINK_TAG, answer)]


def test_request_on_a_surplus_early_fork_gets_481_but_the_current_one_is_served() -> None:
    session, invite = sent_invite()
    session.receive_response(yealink_response(invite, 180, "Ringing", tag="fork-a"), 0.5)
    session.receive_response(yealink_response(invite, 180, "Ringing", tag=YEALINK_TAG), 0.6)
    events(session)
    info_current = yealink_request("INFO", 2)
    session.receive_request(info_current, 0.7)
    _, (ok,) = drain(session)
    assert ok.status == 200
    stale = yealink_request("INFO", 3)
    stale.headers.set("From", "<sip:201@10.0.0.1>;tag=fork-a")
    session.receive_request(stale, 0.8)
    _, (gone,) = drain(session)
    assert gone.status == 481
