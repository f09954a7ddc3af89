"""Server transactions (RFC 3261 §17.2, §9.2, §13.3.1.4, RFC 6026) on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.core.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.transaction import TimerConfig, TransactionLayer
from hotline.sip.txn_model import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    DialogKey,
    RequestReceived,
    ServerTransactionId,
    TransactionEvent,
    TransactionState,
    TransactionTimedOut,
)

CALLER = Peer(TransportKind.UDP, "198.51.100.7", 5062)
CALLER_TCP = Peer(TransportKind.TCP, "198.51.100.7", 40123, connection_id=3)
CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "sip" / "rfc4475"


def request_bytes(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bK-caller-1",
    cseq: int = 1,
    cseq_method: str | None = None,
    to_tag: str | None = None,
    sent_by: str = "198.51.100.7:5062",
    transport: str = "UDP",
    call_id: str = "incoming-1@198.51.100.7",
) -> bytes:
    via = f"SIP/2.0/{transport} {sent_by}" + (f";branch={branch}" if branch else "")
    to = "<sip:122@hotline.example>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:122@hotline.example SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        "From: <sip:citizen@198.51.100.7>;tag=caller-tag",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:citizen@198.51.100.7:5062>",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def events(layer: TransactionLayer) -> list[TransactionEvent]:
    out = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def sent(layer: TransactionLayer) -> list[bytes]:
    return [data for data, _ in layer.datagrams_to_send()]


def status_of(data: bytes) -> tuple[int, str]:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message.status, message.cseq.method


def run_until(layer: TransactionLayer, end: float) -> list[tuple[float, bytes]]:
    out: list[tuple[float, bytes]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= end:
        layer.handle_timer(deadline)
        out.extend((deadline, data) for data in sent(layer))
    return out


def incoming(
    layer: TransactionLayer, data: bytes, source: Peer = CALLER, now: float = 0.0
) -> tuple[ServerTransactionId, SipRequest]:
    layer.receive_datagram(data, source, now)
    [event] = events(layer)
    assert isinstance(event, RequestReceived) and event.source == source
    return event.txn_id, event.request


# -- INVITE server (§17.2.1) ------------------------------------------------------------------


def test_invite_gets_100_and_retransmissions_resend_the_last_provisional() -> None:
    layer = TransactionLayer()
    invite = request_bytes()
    sid, request = incoming(layer, invite)
    [trying] = sent(layer)
    assert status_of(trying) == (100, "INVITE")
    assert parse_message(trying).to.tag is None
    layer.receive_datagram(invite, CALLER, 0.3)
    assert events(layer) == []
    assert sent(layer) == [trying]
    layer.send_response(sid, make_response(request, 180, to_tag="uas-1"), 0.4)
    [ringing] = sent(layer)
    layer.receive(parse_message(invite), CALLER, 0.6)  # parsed path, same absorption
    assert sent(layer) == [ringing]
    assert layer.stats.retransmissions_absorbed == 2
    assert layer.state_of(sid) is TransactionState.PROCEEDING
    assert layer.get_timer() is None


def test_final_response_retransmitted_by_timer_g_and_on_request_until_ack() -> None:
    layer = TransactionLayer()
    invite = request_bytes()
    sid, request = incoming(layer, invite)
    sent(layer)
    layer.send_response(sid, make_response(request, 486, to_tag="uas-1"), 1.0)
    [busy] = sent(layer)
    assert layer.state_of(sid) is TransactionState.COMPLETED
    retransmissions = run_until(layer, 9.0)
    assert [t for t, _ in retransmissions] == [1.5, 2.5, 4.5, 8.5]
    assert all(data == busy for _, data in retransmissions)
    layer.receive_datagram(invite, CALLER, 9.1)
    assert sent(layer) == [busy]
    ack = request_bytes("ACK", to_tag="uas-1", cseq_method="ACK")
    layer.receive_datagram(ack, CALLER, 9.2)
    assert layer.state_of(sid) is TransactionState.CONFIRMED
    assert events(layer) == []  # the ACK of a non-2xx stays in the transaction
    layer.receive_datagram(ack, CALLER, 9.3)  # absorbed in Confirmed
    assert layer.get_timer() == pytest.approx(14.2)  # Timer I = T4
    assert run_until(layer, 15.0) == []
    assert layer.live_transactions == 0


def test_timer_h_reports_a_missing_ack() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes())
    layer.send_response(sid, make_response(request, 603, to_tag="uas-1"), 0.0)
    assert [status_of(d) for d in sent(layer)] == [(100, "INVITE"), (603, "INVITE")]
    times = [t for t, _ in run_until(layer, 31.99)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    layer.handle_timer(32.0)
    assert events(layer) == [TransactionTimedOut(sid)]
    assert layer.live_transactions == 0


def test_tu_cannot_send_a_second_final_response() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes())
    layer.send_response(sid, make_response(request, 486, to_tag="t"), 0.0)
    with pytest.raises(LocalProtocolError, match="Completed"):
        layer.send_response(sid, make_response(request, 200, to_tag="t"), 0.1)
    with pytest.raises(LocalProtocolError, match="no live server transaction"):
        layer.send_response(ServerTransactionId(999), make_response(request, 200), 0.1)
    sid2, request2 = incoming(layer, request_bytes(branch="z9hG4bK-other"))
    with pytest.raises(LocalProtocolError, match="To tag"):
        layer.send_response(sid2, make_response(request2, 200), 0.2)
    assert layer.state_of(sid2) is TransactionState.PROCEEDING


# -- 2xx retransmission by the UAS core (§13.3.1.4) and Accepted (RFC 6026) -----------------------


def test_2xx_is_retransmitted_until_the_ack_arrives() -> None:
    layer = TransactionLayer()
    invite = request_bytes()
    sid, request = incoming(layer, invite)
    sent(layer)
    layer.send_response(sid, make_response(request, 200, to_tag="uas-1"), 0.0)
    [ok] = sent(layer)
    assert layer.state_of(sid) is TransactionState.ACCEPTED
    assert [t for t, _ in run_until(layer, 4.0)] == [0.5, 1.5, 3.5]
    layer.receive_datagram(invite, CALLER, 4.1)  # absorbed in Accepted, no resend (RFC 6026)
    assert sent(layer) == []
    ack = request_bytes("ACK", branch="z9hG4bK-ack-for-2xx", to_tag="uas-1")
    layer.receive_datagram(ack, CALLER, 5.0)
    [event] = events(layer)
    assert isinstance(event, AckReceived) and event.request.method == "ACK"
    assert layer.pending_2xx == 0
    assert run_until(layer, 31.9) == []  # no more 2xx
    layer.handle_timer(32.0)  # Timer L
    assert layer.live_transactions == 0
    assert events(layer) == []
    assert ok.startswith(b"SIP/2.0 200")


def test_lost_ack_gives_2xx_retransmissions_then_ack_timeout() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes(call_id="lost-ack"))
    sent(layer)
    layer.send_response(sid, make_response(request, 200, to_tag="uas-9"), 0.0)
    [ok] = sent(layer)
    retransmissions = run_until(layer, 31.99)
    times = [t for t, _ in retransmissions]
    assert [b - a for a, b in zip([0.0, *times], times, strict=False)][:6] == [
        0.5, 1.0, 2.0, 4.0, 4.0, 4.0,
    ]  # fmt: skip
    assert times[-1] == 31.5
    assert all(data is ok for _, data in retransmissions)
    layer.handle_timer(32.0)
    assert events(layer) == [AckTimeout(DialogKey("lost-ack", 1, "uas-9"))]
    assert layer.pending_2xx == 0
    assert layer.live_transactions == 0


def test_2xx_is_retransmitted_even_over_tcp_but_the_transaction_is_not() -> None:
    """§13.3.1.4: 2xx retransmission is end to end, "independent of" the transport."""
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes(transport="TCP"), CALLER_TCP)
    sent(layer)
    layer.send_response(sid, make_response(request, 200, to_tag="uas-1"), 0.0)
    layer.datagrams_to_send()
    assert layer.get_timer() == 0.5
    layer.handle_timer(0.5)
    assert [peer for _, peer in layer.datagrams_to_send()] == [CALLER_TCP]
    sid2, request2 = incoming(layer, request_bytes(branch="z9hG4bK-2", transport="TCP"), CALLER_TCP)
    layer.send_response(sid2, make_response(request2, 486, to_tag="x"), 1.0)
    layer.datagrams_to_send()
    layer.receive_datagram(
        request_bytes("ACK", branch="z9hG4bK-2", transport="TCP", to_tag="x"), CALLER_TCP, 1.1
    )
    assert layer.state_of(sid2) is TransactionState.TERMINATED  # no G, and Timer I = 0
    assert layer.datagrams_to_send() == []


# -- non-INVITE server (§17.2.2) -------------------------------------------------------------------


def test_non_invite_server_absorbs_then_resends_its_final_response() -> None:
    layer = TransactionLayer()
    options = request_bytes("OPTIONS")
    sid, request = incoming(layer, options)
    assert sent(layer) == []  # no 100 for non-INVITE
    layer.receive_datagram(options, CALLER, 0.1)
    assert (sent(layer), events(layer)) == ([], [])
    layer.send_response(sid, make_response(request, 200, to_tag="o"), 0.2)
    [ok] = sent(layer)
    layer.receive_datagram(options, CALLER, 3.0)
    assert sent(layer) == [ok]
    assert layer.get_timer() == pytest.approx(32.2)  # Timer J = 64*T1
    layer.handle_timer(32.2)
    assert layer.live_transactions == 0
    assert layer.state_of(sid) is TransactionState.TERMINATED


def test_non_invite_server_over_tcp_ends_with_its_final_response() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes("OPTIONS", transport="TCP"), CALLER_TCP)
    layer.send_response(sid, make_response(request, 100), 0.0)
    assert layer.state_of(sid) is TransactionState.PROCEEDING
    layer.send_response(sid, make_response(request, 200, to_tag="o"), 0.1)
    assert [peer for _, peer in layer.datagrams_to_send()] == [CALLER_TCP, CALLER_TCP]
    assert layer.live_transactions == 0  # Timer J = 0


def test_overload_answers_503_without_state() -> None:
    layer = TransactionLayer(max_transactions=1)
    incoming(layer, request_bytes("OPTIONS"))
    layer.receive_datagram(request_bytes("OPTIONS", branch="z9hG4bK-second"), CALLER, 0.1)
    assert events(layer) == []
    assert [status_of(d) for d in sent(layer)] == [(503, "OPTIONS")]
    assert layer.stats.overload_rejections == 1
    assert layer.live_transactions == 1


# -- CANCEL (§9.2) ------------------------------------------------------------------------------


def test_cancel_first_then_487_then_ack() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes())
    sent(layer)
    layer.send_response(sid, make_response(request, 180, to_tag="uas-1"), 0.1)
    sent(layer)
    cancel = request_bytes("CANCEL")
    layer.receive_datagram(cancel, CALLER, 1.0)
    [cancel_ok] = sent(layer)
    assert status_of(cancel_ok) == (200, "CANCEL")
    assert parse_message(cancel_ok).to.tag == "uas-1"  # same tag as the INVITE's responses
    [event] = events(layer)
    assert isinstance(event, CancelReceived) and event.txn_id == sid
    assert event.request.method == "CANCEL"
    layer.receive_datagram(cancel, CALLER, 1.2)  # retransmitted CANCEL: same 200, no event
    assert sent(layer) == [cancel_ok]
    assert events(layer) == []
    layer.send_response(sid, make_response(request, 487, to_tag="uas-1"), 1.3)
    assert [status_of(d) for d in sent(layer)] == [(487, "INVITE")]
    layer.receive_datagram(request_bytes("ACK", to_tag="uas-1"), CALLER, 1.4)
    assert layer.state_of(sid) is TransactionState.CONFIRMED
    assert events(layer) == []


def test_cancel_racing_a_200_the_200_wins() -> None:
    layer = TransactionLayer()
    sid, request = incoming(layer, request_bytes())
    layer.send_response(sid, make_response(request, 200, to_tag="uas-1"), 0.5)
    sent(layer)
    layer.receive_datagram(request_bytes("CANCEL"), CALLER, 0.6)
    assert [status_of(d) for d in sent(layer)] == [(200, "CANCEL")]
    assert events(layer) == []  # no CancelReceived: the INVITE already has its final response
    with pytest.raises(LocalProtocolError):
        layer.send_response(sid, make_response(request, 487, to_tag="uas-1"), 0.7)
    assert layer.state_of(sid) is TransactionState.ACCEPTED


def test_unmatched_cancel_gets_481_and_its_retransmission_the_same_bytes() -> None:
    layer = TransactionLayer()
    cancel = request_bytes("CANCEL", branch="z9hG4bK-nothing")
    layer.receive_datagram(cancel, CALLER, 0.0)
    [nope] = sent(layer)
    assert status_of(nope) == (481, "CANCEL")
    assert parse_message(nope).to.tag
    layer.receive(parse_message(cancel), CALLER, 0.5)
    assert sent(layer) == [nope]
    assert events(layer) == []
    assert layer.stats.unmatched_cancels == 1


# -- matching (§17.2.3) ---------------------------------------------------------------------


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer = TransactionLayer()
    incoming(layer, request_bytes("OPTIONS"))
    incoming(layer, request_bytes("OPTIONS", sent_by="203.0.113.9:5060"))
    incoming(layer, request_bytes("REGISTER", cseq_method="REGISTER"))  # same branch, method
    assert layer.live_transactions == 3


def test_rfc2543_matching_without_magic_cookie() -> None:
    layer = TransactionLayer()
    old = request_bytes(branch=None)
    sid, request = incoming(layer, old)
    sent(layer)
    layer.receive_datagram(old, CALLER, 0.1)  # same R-URI, tags, Call-ID, CSeq, Via
    assert events(layer) == []
    incoming(layer, request_bytes(branch=None, cseq=2))  # another CSeq: another transaction
    sent(layer)
    layer.send_response(sid, make_response(request, 404, to_tag="nf"), 0.2)
    sent(layer)
    layer.receive_datagram(request_bytes("ACK", branch=None, to_tag="wrong"), CALLER, 0.3)
    assert [type(e) for e in events(layer)] == [AckReceived]  # To tag differs: not ours
    assert layer.state_of(sid) is TransactionState.COMPLETED
    layer.receive_datagram(request_bytes("ACK", branch=None, to_tag="nf"), CALLER, 0.4)
    assert events(layer) == []
    assert layer.state_of(sid) is TransactionState.CONFIRMED


@pytest.mark.parametrize(("name", "source"), [("wsinv", CALLER), ("longreq", CALLER_TCP)])
def test_rfc4475_messages_without_cookie_match_their_retransmissions(
    name: str, source: Peer
) -> None:
    assert CORPUS.is_dir(), f"RFC 4475 corpus missing at {CORPUS}"
    data = (CORPUS / f"{name}.sip").read_bytes()
    layer = TransactionLayer()
    _, request = incoming(layer, data, source)
    assert not request.top_via.has_rfc3261_branch
    layer.receive(parse_message(data), source, 0.1)  # parsed anew: RFC 2543 rule
    layer.receive_datagram(data, source, 0.2)  # raw bytes: absorbed before parsing
    assert events(layer) == []
    assert layer.live_transactions == 1
    assert layer.stats.retransmissions_absorbed == 2


def test_rfc4475_badbranch_falls_back_to_rfc2543_matching() -> None:
    data = (CORPUS / "badbranch.sip").read_bytes()
    layer = TransactionLayer()
    sid, request = incoming(layer, data)
    assert request.top_via.branch == "z9hG4bK"
    layer.receive(parse_message(data), CALLER, 0.1)
    assert events(layer) == []
    assert layer.state_of(sid) is TransactionState.TRYING


# -- configuration and malformed input -------------------------------------------------------------


def test_without_automatic_100_retransmissions_are_absorbed_silently() -> None:
    layer = TransactionLayer(send_100_trying=False)
    invite = request_bytes()
    incoming(layer, invite)
    layer.receive_datagram(invite, CALLER, 0.1)
    assert layer.datagrams_to_send() == []
    assert layer.stats.retransmissions_absorbed == 1


def test_timers_scale_with_t1() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.1, t2=0.4, t4=1.0))
    sid, request = incoming(layer, request_bytes("OPTIONS"))
    layer.send_response(sid, make_response(request, 200, to_tag="o"), 0.0)
    assert layer.get_timer() == pytest.approx(6.4)  # Timer J = 64*T1


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [({"t1": 0.0}, "sip.t1"), ({"t2": 0.1}, "sip.t2"), ({"t4": -1.0}, "sip.t4")],
)
def test_bad_timer_config_is_refused(kwargs: dict[str, float], setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        TimerConfig(**kwargs)
    assert info.value.setting == setting
    with pytest.raises(ConfigurationError):
        TransactionLayer(max_transactions=0)


def test_a_request_without_via_raises_remote_protocol_error() -> None:
    layer = TransactionLayer()
    request = parse_message(request_bytes("OPTIONS"))
    assert isinstance(request, SipRequest)
    request.headers.remove("Via")
    with pytest.raises(RemoteProtocolError) as info:
        layer.receive(request, CALLER, 0.0)
    assert info.value.status_hint == 400
    assert layer.live_transactions == 0


def test_stateless_send_is_queued_as_is() -> None:
    layer = TransactionLayer()
    ack = parse_message(request_bytes("ACK", to_tag="x"))
    layer.send_stateless(ack, CALLER)
    layer.send_stateless(b"raw", CALLER_TCP)
    assert layer.datagrams_to_send() == [(bytes(ack), CALLER), (b"raw", CALLER_TCP)]
