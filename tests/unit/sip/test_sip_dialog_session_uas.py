"""InviteSession as the UAS: answering, refusing, hold/resume, glare, BYE, INFO, PRACK."""

from __future__ import annotations

import pytest
from test_sip_dialog_wire import (
    ASTERISK_ACK,
    ASTERISK_BYE,
    BARESIP_INVITE_NO_SDP,
    NO_TIMER,
    OUR_TAG,
    SDP_SIPP,
    SIPP_UAC_INVITE,
    answered_asterisk_call,
    asterisk_invite,
    asterisk_request,
    drain,
    events,
    incoming,
    our_sdp,
    parse_request,
    sdp,
    wire,
    yealink_sdp,
)

from hotline.core.errors import LocalProtocolError
from hotline.sip.dialog import DialogState
from hotline.sip.dlg_events import (
    AckReceived,
    ByeReceived,
    DialogConfirmed,
    DialogTerminated,
    GlareRetryDue,
    HoldChanged,
    InfoReceived,
    InviteReceived,
    ModifyCompleted,
    ReInviteReceived,
    TerminationReason,
    UpdateReceived,
)
from hotline.sip.dlg_headers import ReasonHeader
from hotline.sip.dlg_offer_answer import OfferAnswerState
from hotline.sip.dlg_session_base import SessionState
from hotline.sip.message import SipRequest

CT_SDP = "Content-Type: application/sdp\n"


def baresip_ack(cseq: int = 41523, body: bytes = b"") -> SipRequest:
    return parse_request(
        wire(
            "ACK sip:hotline@10.0.0.1:5060 SIP/2.0\n"
            "Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK11f2e3d4c5b6a798;rport\n"
            "Max-Forwards: 70\nTo: <sip:122@10.0.0.1>;tag={tag}\n"
            'From: "Operator 1" <sip:operator1@10.0.0.1>;tag=2f1c3b8a0e9d7c65\n'
            "Call-ID: 7c3e1a5f2b8d4e60\nCSeq: {cseq} ACK\n"
            + ("Content-Type: application/sdp\n" if body else "")
            + "Content-Length: 0\n\n",
            body, tag=OUR_TAG, cseq=cseq,
        )
    )  # fmt: skip


# -- answering --------------------------------------------------------------------------


def test_asterisk_call_answered_with_record_route_timer_and_ack() -> None:
    session = incoming(asterisk_invite())
    (received,) = events(session)
    assert isinstance(received, InviteReceived) and received.offer is not None
    assert b"m=audio 14592" in received.offer
    assert session.state is SessionState.INCOMING_RINGING
    assert session.offer_answer.state is OfferAnswerState.REMOTE_OFFER

    session.ring(0.1)
    _, (ringing,) = drain(session)
    assert ringing.status == 180 and ringing.to.tag == OUR_TAG
    assert session.dialog is not None and session.dialog.state is DialogState.EARLY

    session.answer(0.5, our_sdp())
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.to.tag == OUR_TAG
    assert [str(c.uri) for c in ok.contacts()] == ["sip:hotline@10.0.0.1:5060"]
    assert [str(r.uri) for r in ok.record_route()] == [
        "sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c",
        "sip:10.1.1.1;r2=on;lr",
    ]
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert "timer" in ok.require()
    assert "UPDATE" in ok.allow() and "100rel" in ok.supported()
    assert ok.content_type == "application/sdp" and ok.body == our_sdp()
    assert session.state is SessionState.CONFIRMED
    assert session.offer_answer.state is OfferAnswerState.STABLE
    assert events(session) == []

    session.receive_request(parse_request(wire(ASTERISK_ACK, tag=OUR_TAG)), 0.6)
    assert events(session) == [DialogConfirmed("as6d3b2f1c", None)]
    assert drain(session) == ([], [])


def test_invite_without_sdp_gets_our_offer_in_200_and_the_answer_in_ack() -> None:
    session = incoming(parse_request(wire(BARESIP_INVITE_NO_SDP)))
    assert events(session) == [InviteReceived(None, None, None)]
    with pytest.raises(LocalProtocolError):
        session.answer(0.2)
    session.answer(0.2, our_sdp())
    _, (ok,) = drain(session)
    assert ok.body == our_sdp()
    assert session.offer_answer.state is OfferAnswerState.LOCAL_OFFER
    answer = sdp(
        "v=0\no=- 1 1 IN IP4 10.0.0.7\ns=-\nc=IN IP4 10.0.0.7\nt=0 0\nm=audio 10004 RTP/AVP 8\n"
    )
    session.receive_request(baresip_ack(body=answer), 0.3)
    assert events(session) == [DialogConfirmed("2f1c3b8a0e9d7c65", answer)]
    assert session.offer_answer.state is OfferAnswerState.STABLE


def test_ack_without_the_answer_we_asked_for_ends_the_call_with_bye() -> None:
    session = incoming(parse_request(wire(BARESIP_INVITE_NO_SDP)))
    session.answer(0.2, our_sdp())
    drain(session)
    events(session)
    session.receive_request(baresip_ack(), 0.3)
    (bye,), _ = drain(session)
    assert (
        bye.method == "BYE" and str(bye.uri) == "sip:operator1-0x55d1@10.0.0.7:5060;transport=udp"
    )
    assert events(session) == [DialogTerminated(TerminationReason.BAD_ANSWER, True)]
    assert session.state is SessionState.TERMINATING


def test_reject_sends_final_response_with_our_tag() -> None:
    session = incoming(parse_request(wire(SIPP_UAC_INVITE, sdp(SDP_SIPP))))
    events(session)
    session.reject(1.0, 486)
    _, (busy,) = drain(session)
    assert busy.status == 486 and busy.reason == "Busy Here" and busy.to.tag == OUR_TAG
    assert busy.top_via.branch == "z9hG4bK-12345-1-0"
    assert events(session) == [DialogTerminated(TerminationReason.DECLINED, False, 486)]
    assert session.finished
    with pytest.raises(LocalProtocolError):
        session.answer(1.1, our_sdp())


def test_cancel_before_answer_gets_487_and_records_the_caller() -> None:
    session = incoming(asterisk_invite())
    events(session)
    session.ring(0.1)
    drain(session)
    session.receive_cancel(2.0)
    _, (terminated,) = drain(session)
    assert terminated.status == 487 and terminated.cseq.method == "INVITE"
    assert events(session) == [DialogTerminated(TerminationReason.REMOTE_CANCEL, True)]
    assert session.finished


def test_unknown_required_extension_gets_420() -> None:
    invite = asterisk_invite()
    invite.headers.add("Require", "precondition")
    session = incoming(invite)
    _, (bad,) = drain(session)
    assert bad.status == 420 and bad.headers.get("Unsupported") == "precondition"
    assert events(session) == [DialogTerminated(TerminationReason.DECLINED, False, 420)]


def test_invite_without_contact_gets_400() -> None:
    invite = asterisk_invite()
    invite.headers.remove("Contact")
    session = incoming(invite)
    _, (bad,) = drain(session)
    assert bad.status == 400 and session.finished


def test_short_session_interval_gets_422_with_our_min_se() -> None:
    session = incoming(asterisk_invite(session_expires=60))
    _, (too_small,) = drain(session)
    assert too_small.status == 422 and too_small.headers.get("Min-SE") == "90"
    assert events(session) == [DialogTerminated(TerminationReason.DECLINED, False, 422)]


# -- BYE both ways ------------------------------------------------------------------------


def test_bye_from_asterisk_is_answered_and_its_cause_recorded() -> None:
    session = answered_asterisk_call()
    session.receive_request(parse_request(wire(ASTERISK_BYE, tag=OUR_TAG, cseq=103)), 30.0)
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.cseq.method == "BYE"
    cause = ReasonHeader("Q.850", 16, "Normal Clearing")
    assert events(session) == [
        ByeReceived(cause),
        DialogTerminated(TerminationReason.REMOTE_BYE, True, None, cause),
    ]
    assert session.finished
    session.receive_request(asterisk_request("INFO", 104), 31.0)
    _, (gone,) = drain(session)
    assert gone.status == 481


def test_we_hang_up_with_bye_through_the_route_set() -> None:
    session = answered_asterisk_call()
    session.hang_up(40.0, cause=ReasonHeader("Q.850", 16))
    (bye,), _ = drain(session)
    assert bye.method == "BYE"
    assert str(bye.uri) == "sip:79161234567@198.51.100.20:5060"
    assert bye.headers.get_all("Route") == [
        "<sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c>",
        "<sip:10.1.1.1;r2=on;lr>",
    ]
    assert bye.headers.get("Reason") == "Q.850;cause=16"
    assert bye.from_.tag == OUR_TAG and bye.to.tag == "as6d3b2f1c"
    assert events(session) == [
        DialogTerminated(TerminationReason.LOCAL_BYE, False, None, ReasonHeader("Q.850", 16))
    ]
    assert session.state is SessionState.TERMINATING
    session.hang_up(40.5)
    assert drain(session) == ([], [])
    from test_sip_dialog_wire import yealink_response

    session.receive_response(yealink_response(bye, 200, "OK", tag="as6d3b2f1c"), 40.1)
    assert session.finished and events(session) == []


def test_hang_up_before_the_ack_waits_for_it() -> None:
    session = incoming(asterisk_invite())
    session.answer(0.5, our_sdp())
    drain(session)
    events(session)
    session.hang_up(0.6)
    assert drain(session) == ([], [])
    assert events(session) == [DialogTerminated(TerminationReason.LOCAL_BYE, False)]
    session.receive_request(parse_request(wire(ASTERISK_ACK, tag=OUR_TAG)), 0.7)
    (bye,), _ = drain(session)
    assert bye.method == "BYE" and events(session) == []


def test_ack_timeout_ends_the_call_with_bye() -> None:
    session = incoming(asterisk_invite())
    session.answer(0.5, our_sdp())
    drain(session)
    events(session)
    session.ack_timeout(32.5)
    (bye,), _ = drain(session)
    assert bye.method == "BYE"
    assert events(session) == [DialogTerminated(TerminationReason.ACK_TIMEOUT, True)]


def test_hang_up_while_ringing_rejects_with_480() -> None:
    session = incoming(asterisk_invite())
    events(session)
    session.hang_up(3.0)
    _, (unavailable,) = drain(session)
    assert unavailable.status == 480
    assert events(session) == [DialogTerminated(TerminationReason.DECLINED, False, 480)]


# -- re-INVITE: hold, resume, glare ---------------------------------------------------------


def test_reinvite_hold_with_sendonly_then_resume() -> None:
    session = answered_asterisk_call()
    hold = asterisk_request("INVITE", 103, headers=CT_SDP, body=yealink_sdp("sendonly", 20025))
    session.receive_request(hold, 10.0)
    assert events(session) == [ReInviteReceived(yealink_sdp("sendonly", 20025), True)]
    session.accept_modify(10.1, our_sdp("recvonly", 2))
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.cseq.number == 103 and ok.body == our_sdp("recvonly", 2)
    assert events(session) == [HoldChanged(True, by_remote=True)]
    assert session.remote_hold
    session.receive_request(asterisk_request("ACK", 103), 10.2)
    assert events(session) == [AckReceived(None)]

    resume = asterisk_request("INVITE", 104, headers=CT_SDP, body=yealink_sdp("sendrecv", 20026))
    session.receive_request(resume, 20.0)
    assert events(session) == [ReInviteReceived(yealink_sdp("sendrecv", 20026), False)]
    session.accept_modify(20.1, our_sdp("sendrecv", 3))
    drain(session)
    assert events(session) == [HoldChanged(False, by_remote=True)]
    assert not session.remote_hold


def test_reinvite_hold_with_null_connection_address() -> None:
    session = answered_asterisk_call()
    old_style = yealink_sdp("sendrecv", 20025, address="0.0.0.0")
    session.receive_request(asterisk_request("INVITE", 103, headers=CT_SDP, body=old_style), 10.0)
    assert events(session) == [ReInviteReceived(old_style, True)]


def test_rejected_reinvite_keeps_the_session_as_it_was() -> None:
    session = answered_asterisk_call()
    body = yealink_sdp("sendonly", 20025)
    session.receive_request(asterisk_request("INVITE", 103, headers=CT_SDP, body=body), 10.0)
    events(session)
    session.reject_modify(10.1, 488)
    _, (refused,) = drain(session)
    assert refused.status == 488
    assert session.offer_answer.state is OfferAnswerState.STABLE
    assert not session.remote_hold and events(session) == []
    with pytest.raises(LocalProtocolError):
        session.reject_modify(10.2)


def test_reinvite_without_sdp_gets_our_offer_and_the_answer_comes_in_ack() -> None:
    session = answered_asterisk_call()
    session.receive_request(asterisk_request("INVITE", 103), 10.0)
    assert events(session) == [ReInviteReceived(None, None)]
    session.accept_modify(10.1, our_sdp("sendrecv", 2))
    drain(session)
    answer = yealink_sdp("sendrecv", 20025)
    session.receive_request(asterisk_request("ACK", 103, headers=CT_SDP, body=answer), 10.2)
    assert events(session) == [AckReceived(answer)]
    assert session.offer_answer.state is OfferAnswerState.STABLE


def test_glare_our_reinvite_pending_gets_491_and_retry_timer_in_rfc_range() -> None:
    session = answered_asterisk_call(seed=11)
    ours = session.reinvite(10.0, our_sdp("sendonly", 2))
    drain(session)
    theirs = asterisk_request("INVITE", 103, headers=CT_SDP, body=yealink_sdp("sendonly", 20025))
    session.receive_request(theirs, 10.05)
    _, (pending,) = drain(session)
    assert pending.status == 491 and pending.cseq.number == 103
    assert events(session) == []

    from test_sip_dialog_wire import yealink_response

    session.receive_response(yealink_response(ours, 491, "Request Pending", tag="as6d3b2f1c"), 10.1)
    assert events(session) == [ModifyCompleted("INVITE", 491, None, False)]
    assert session.offer_answer.state is OfferAnswerState.STABLE
    deadline = session.get_timer()
    assert deadline is not None
    # We did not create the Call-ID (Asterisk did): 0 to 2 s in 10 ms steps (§14.1).
    delay = deadline - 10.1
    assert 0.0 <= delay <= 2.0 and round(delay * 100) == pytest.approx(delay * 100, abs=1e-6)
    session.handle_timer(deadline - 0.001)
    assert events(session) == []
    session.handle_timer(deadline)
    assert events(session) == [GlareRetryDue("INVITE")]


def test_second_reinvite_before_we_answered_the_first_gets_500_retry_after() -> None:
    session = answered_asterisk_call(seed=4)
    session.receive_request(
        asterisk_request("INVITE", 103, headers=CT_SDP, body=yealink_sdp()), 10.0
    )
    session.receive_request(
        asterisk_request("INVITE", 104, headers=CT_SDP, body=yealink_sdp()), 10.1
    )
    _, (busy,) = drain(session)
    assert busy.status == 500 and busy.cseq.number == 104
    retry = busy.headers.get("Retry-After")
    assert retry is not None and 0 <= int(retry) <= 10


# -- UPDATE, INFO, OPTIONS, PRACK, others -----------------------------------------------------


def test_update_without_body_is_a_refresh_answered_at_once() -> None:
    session = answered_asterisk_call()
    session.receive_request(
        asterisk_request(
            "UPDATE", 103, headers="Supported: timer\nSession-Expires: 1800;refresher=uac\n"
        ),
        900.0,
    )
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert events(session) == []


def test_update_with_an_offer_waits_for_our_answer() -> None:
    session = answered_asterisk_call()
    offer = yealink_sdp("inactive", 20025)
    session.receive_request(asterisk_request("UPDATE", 103, headers=CT_SDP, body=offer), 50.0)
    assert events(session) == [UpdateReceived(offer, True)]
    session.accept_modify(50.1, our_sdp("inactive", 2))
    _, (ok,) = drain(session)
    assert ok.status == 200 and ok.cseq.method == "UPDATE"
    assert events(session) == [HoldChanged(True, by_remote=True)]


def test_info_dtmf_relay_is_answered_and_passed_up() -> None:
    session = answered_asterisk_call()
    body = b"Signal=5\r\nDuration=160\r\n"
    session.receive_request(
        asterisk_request("INFO", 103, headers="Content-Type: application/dtmf-relay\n", body=body),
        5.0,
    )
    _, (ok,) = drain(session)
    assert ok.status == 200
    assert events(session) == [InfoReceived("application/dtmf-relay", body)]


def test_options_in_dialog_is_answered_with_our_capabilities() -> None:
    session = answered_asterisk_call()
    session.receive_request(asterisk_request("OPTIONS", 103), 5.0)
    _, (ok,) = drain(session)
    assert ok.status == 200 and "REFER" in ok.allow() and "timer" in ok.supported()


@pytest.mark.parametrize(("method", "status"), [("MESSAGE", 405), ("FROBNICATE", 501)])
def test_methods_we_do_not_handle(method: str, status: int) -> None:
    session = answered_asterisk_call()
    session.receive_request(asterisk_request(method, 103), 5.0)
    _, (refused,) = drain(session)
    assert refused.status == status and "INVITE" in refused.allow()


def test_prack_without_a_reliable_provisional_is_481_and_bad_rack_is_400() -> None:
    session = answered_asterisk_call()
    session.receive_request(asterisk_request("PRACK", 103, headers="RAck: 1 102 INVITE\n"), 5.0)
    session.receive_request(asterisk_request("PRACK", 104, headers="RAck: one 102 INVITE\n"), 5.1)
    _, (unknown, malformed) = drain(session)
    assert (unknown.status, malformed.status) == (481, 400)
    assert session.state is SessionState.CONFIRMED


def test_cseq_going_backwards_gets_500() -> None:
    session = answered_asterisk_call()
    session.receive_request(asterisk_request("INFO", 101), 5.0)
    _, (error,) = drain(session)
    assert error.status == 500 and events(session) == []


# -- reliable provisionals we send -------------------------------------------------------------


def test_required_100rel_makes_ringing_reliable_until_prack() -> None:
    invite = asterisk_invite()
    invite.headers.add("Require", "100rel")
    session = incoming(invite, NO_TIMER, seed=2)
    events(session)
    session.ring(0.0)
    _, (ringing,) = drain(session)
    assert "100rel" in ringing.require()
    rseq = int(ringing.headers.get("RSeq") or "0")
    assert 1 <= rseq < 2**31
    assert session.get_timer() == pytest.approx(0.5)
    session.handle_timer(0.5)
    _, (again,) = drain(session)
    assert again.headers.get("RSeq") == str(rseq)
    assert session.get_timer() == pytest.approx(1.5)
    session.ring(0.6)  # one unacknowledged reliable 1xx at a time
    assert drain(session) == ([], [])
    session.receive_request(
        asterisk_request("PRACK", 103, headers=f"RAck: {rseq} 102 INVITE\n"), 0.7
    )
    _, (ok,) = drain(session)
    assert ok.status == 200 and session.get_timer() is None


def test_reliable_provisional_never_acknowledged_fails_the_invite() -> None:
    invite = asterisk_invite()
    invite.headers.add("Require", "100rel")
    session = incoming(invite, NO_TIMER)
    events(session)
    session.ring(0.0)
    drain(session)
    now = 0.0
    while (deadline := session.get_timer()) is not None:
        now = deadline
        session.handle_timer(now)
    assert now == pytest.approx(32.0)
    _, responses = drain(session)
    assert responses[-1].status == 500
    assert events(session) == [DialogTerminated(TerminationReason.DECLINED, False, 500)]


def test_supported_100rel_alone_keeps_ringing_unreliable() -> None:
    session = incoming(parse_request(wire(BARESIP_INVITE_NO_SDP)))
    session.ring(0.0)
    _, (ringing,) = drain(session)
    assert ringing.headers.get("RSeq") is None and session.get_timer() is None
    session.ring(0.1, 183, reliable=True)
    _, (progress,) = drain(session)
    assert progress.headers.get("RSeq") is not None
