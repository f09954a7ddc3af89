"""Client transactions (RFC 3261 §17.1, RFC 6026) on a fake clock, speaking bytes."""

from __future__ import annotations

import pytest

from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_request
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.transaction import (
    TimerConfig,
    TransactionLayer,
    build_ack_for_non_2xx,
    build_cancel,
)
from hotline.sip.txn_model import (
    ClientTransactionId,
    ResponseReceived,
    StrayResponse,
    TransactionEvent,
    TransactionState,
    TransactionTimedOut,
    TransportError,
)

UDP_PEER = Peer(TransportKind.UDP, "192.0.2.20", 5060)
TCP_PEER = Peer(TransportKind.TCP, "192.0.2.20", 5060, connection_id=7)


def new_request(method: str = "INVITE", *, transport: str = "UDP", cseq: int = 1) -> SipRequest:
    return make_request(
        method,
        "sip:operator@192.0.2.20",
        from_="<sip:122@hotline.example>;tag=uac-tag",
        to="<sip:operator@192.0.2.20>",
        call_id="client-call-1@hotline.example",
        cseq=cseq,
        via=f"SIP/2.0/{transport} 192.0.2.1:5060",
        contact="<sip:122@192.0.2.1:5060>",
    )


def response_to(sent: bytes, status: int, *, to_tag: str | None = "uas-tag") -> bytes:
    """The bytes a peer would answer to the request ``sent``."""
    request = parse_message(sent)
    assert isinstance(request, SipRequest)
    to = request.headers.get("To") or ""
    if to_tag is not None and status > 100:
        to += f";tag={to_tag}"
    lines = [
        f"SIP/2.0 {status} Whatever",
        *(f"Via: {v}" for v in request.headers.get_all("Via")),
        f"From: {request.headers.get('From')}",
        f"To: {to}",
        f"Call-ID: {request.call_id}",
        f"CSeq: {request.cseq}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def events(layer: TransactionLayer) -> list[TransactionEvent]:
    out = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def responses(layer: TransactionLayer) -> list[tuple[ClientTransactionId, int]]:
    """(transaction, status) of every event, which must all be ResponseReceived."""
    out = []
    for event in events(layer):
        assert isinstance(event, ResponseReceived)
        out.append((event.txn_id, event.response.status))
    return out


def run_until(layer: TransactionLayer, end: float) -> list[tuple[float, bytes, Peer]]:
    """Fire every timer up to ``end``; return (time, bytes, peer) of what was sent."""
    sent: list[tuple[float, bytes, Peer]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= end:
        layer.handle_timer(deadline)
        sent.extend((deadline, data, peer) for data, peer in layer.datagrams_to_send())
    return sent


def start(
    layer: TransactionLayer, method: str = "INVITE", peer: Peer = UDP_PEER, now: float = 0.0
) -> tuple[ClientTransactionId, bytes]:
    transport = peer.transport.value
    tid = layer.send_request(new_request(method, transport=transport), peer, now)
    [(data, dest)] = layer.datagrams_to_send()
    assert dest == peer
    return tid, data


# -- INVITE client (§17.1.1) ------------------------------------------------------------


def test_lost_invite_timer_a_doubles_and_timer_b_times_out_at_64_t1() -> None:
    layer = TransactionLayer(TimerConfig())
    tid, first = start(layer)
    branch = parse_message(first).top_via.branch
    assert branch is not None and branch.startswith("z9hG4bK")
    assert layer.get_timer() == 0.5
    sent = run_until(layer, 31.9)
    assert [t for t, _, _ in sent] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(data is first for _, data, _ in sent)  # serialised once
    assert events(layer) == []
    assert layer.get_timer() == 32.0
    layer.handle_timer(32.0)
    assert events(layer) == [TransactionTimedOut(tid)]
    assert layer.datagrams_to_send() == []
    assert layer.live_transactions == 0
    assert layer.get_timer() is None


def test_provisional_response_stops_retransmissions_and_timer_b() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer)
    layer.receive_datagram(response_to(sent, 180), UDP_PEER, 0.2)
    [event] = events(layer)
    assert isinstance(event, ResponseReceived) and event.txn_id == tid
    assert event.response.status == 180
    assert layer.state_of(tid) is TransactionState.PROCEEDING
    assert layer.get_timer() is None
    layer.receive_datagram(response_to(sent, 183), UDP_PEER, 5.0)
    assert [e.response.status for e in events(layer) if isinstance(e, ResponseReceived)] == [183]


def test_non_2xx_final_is_acked_with_the_invite_branch_and_retransmissions_absorbed() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer)
    busy = response_to(sent, 486)
    layer.receive_datagram(busy, UDP_PEER, 1.0)
    assert [type(e) for e in events(layer)] == [ResponseReceived]
    [(ack_bytes, dest)] = layer.datagrams_to_send()
    assert dest == UDP_PEER
    ack = parse_message(ack_bytes)
    invite = parse_message(sent)
    assert isinstance(ack, SipRequest) and isinstance(invite, SipRequest)
    assert ack.method == "ACK"
    assert ack.top_via.branch == invite.top_via.branch
    assert len(ack.via()) == 1
    assert str(ack.cseq) == "1 ACK"
    assert ack.to.tag == "uas-tag"
    assert ack.from_.tag == "uac-tag"
    assert ack.call_id == invite.call_id
    assert str(ack.uri) == str(invite.uri)
    assert layer.state_of(tid) is TransactionState.COMPLETED
    # Retransmitted 486: the same ACK bytes again, nothing for the TU.
    layer.receive_datagram(busy, UDP_PEER, 2.0)
    assert layer.datagrams_to_send() == [(ack_bytes, UDP_PEER)]
    assert events(layer) == []
    assert layer.stats.retransmissions_absorbed == 1
    # Timer D (32 s on UDP) ends it; later copies are stray.
    assert layer.get_timer() == 33.0
    layer.handle_timer(33.0)
    assert layer.live_transactions == 0
    layer.receive_datagram(busy, UDP_PEER, 40.0)
    assert [type(e) for e in events(layer)] == [StrayResponse]
    assert layer.datagrams_to_send() == []


def test_build_ack_for_non_2xx_matches_what_the_transaction_sends() -> None:
    layer = TransactionLayer()
    _, sent = start(layer)
    invite, busy = parse_message(sent), parse_message(response_to(sent, 603))
    assert isinstance(invite, SipRequest) and isinstance(busy, SipResponse)
    layer.receive(busy, UDP_PEER, 1.0)
    [(ack_bytes, _)] = layer.datagrams_to_send()
    assert bytes(build_ack_for_non_2xx(invite, busy)) == ack_bytes
    ok = parse_message(response_to(sent, 200))
    assert isinstance(ok, SipResponse)
    with pytest.raises(LocalProtocolError):
        build_ack_for_non_2xx(invite, ok)


def test_2xx_moves_to_accepted_and_its_retransmissions_reach_the_tu() -> None:
    """RFC 6026 §7.2: Accepted passes every 2xx up (so the TU re-ACKs), Timer M ends it."""
    layer = TransactionLayer()
    tid, sent = start(layer)
    ok = response_to(sent, 200)
    layer.receive_datagram(ok, UDP_PEER, 1.0)
    layer.receive_datagram(ok, UDP_PEER, 1.5)
    assert responses(layer) == [(tid, 200), (tid, 200)]
    assert layer.datagrams_to_send() == []  # the ACK of a 2xx is the TU's job
    assert layer.state_of(tid) is TransactionState.ACCEPTED
    layer.handle_timer(33.0)  # Timer M = 64*T1 after the first 2xx
    assert layer.live_transactions == 0
    layer.receive_datagram(ok, UDP_PEER, 34.0)
    assert [type(e) for e in events(layer)] == [StrayResponse]


def test_invite_over_tcp_has_no_retransmissions_and_timer_d_is_zero() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer, peer=TCP_PEER)
    assert layer.get_timer() == 32.0  # Timer B only: Timer A is off on reliable transports
    layer.receive_datagram(response_to(sent, 404), TCP_PEER, 1.0)
    [(ack, dest)] = layer.datagrams_to_send()
    assert ack.startswith(b"ACK ") and dest == TCP_PEER
    assert layer.live_transactions == 0  # Timer D = 0 on TCP
    assert layer.state_of(tid) is TransactionState.TERMINATED
    assert layer.get_timer() is None


def test_cancel_restarts_timer_b_of_a_proceeding_invite() -> None:
    """§9.1: without a final response 64*T1 after the CANCEL, the INVITE is given up."""
    layer = TransactionLayer()
    invite_request = new_request()
    tid = layer.send_request(invite_request, UDP_PEER, 0.0)
    [(sent, _)] = layer.datagrams_to_send()
    layer.receive_datagram(response_to(sent, 180), UDP_PEER, 0.1)
    cancel = build_cancel(invite_request)
    assert cancel.method == "CANCEL"
    assert cancel.top_via.branch == parse_message(sent).top_via.branch
    assert str(cancel.cseq) == "1 CANCEL"
    assert cancel.headers.get("To") == invite_request.headers.get("To")
    cid = layer.send_request(cancel, UDP_PEER, 2.0)
    [(cancel_bytes, _)] = layer.datagrams_to_send()
    layer.receive_datagram(response_to(cancel_bytes, 200), UDP_PEER, 2.1)
    assert responses(layer) == [(tid, 180), (cid, 200)]
    assert layer.get_timer() == 2.1 + 5.0  # Timer K of the CANCEL
    run_until(layer, 33.9)
    assert layer.live_transactions == 1
    layer.handle_timer(34.0)
    assert events(layer) == [TransactionTimedOut(tid)]
    assert layer.live_transactions == 0


def test_cancel_before_any_provisional_response_is_refused() -> None:
    """§9.1: the client waits for a provisional response before sending CANCEL."""
    layer = TransactionLayer()
    invite = new_request()
    tid = layer.send_request(invite, UDP_PEER, 0.0)
    layer.datagrams_to_send()
    with pytest.raises(LocalProtocolError, match="Calling"):
        layer.send_request(build_cancel(invite), UDP_PEER, 0.1)
    assert layer.live_transactions == 1
    assert layer.datagrams_to_send() == []
    assert layer.state_of(tid) is TransactionState.CALLING


def test_a_response_with_the_right_branch_but_another_method_is_stray() -> None:
    layer = TransactionLayer()
    _, sent = start(layer)
    wrong = response_to(sent, 200).replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
    layer.receive_datagram(wrong, UDP_PEER, 0.1)
    assert [type(e) for e in events(layer)] == [StrayResponse]
    assert layer.stats.stray_responses == 1
    assert layer.get_timer() == 0.5  # the INVITE still retransmits


def test_late_provisional_in_completed_is_counted_and_ignored() -> None:
    layer = TransactionLayer()
    _, sent = start(layer)
    layer.receive_datagram(response_to(sent, 486), UDP_PEER, 0.1)
    events(layer), layer.datagrams_to_send()
    layer.receive_datagram(response_to(sent, 180), UDP_PEER, 0.2)
    assert events(layer) == []
    assert layer.datagrams_to_send() == []
    assert layer.stats.ignored_inputs == 1


# -- non-INVITE client (§17.1.2) ------------------------------------------------------------


def test_non_invite_timer_e_is_capped_at_t2_and_timer_f_times_out() -> None:
    layer = TransactionLayer()
    tid, first = start(layer, "OPTIONS")
    sent = run_until(layer, 31.9)
    times = [t for t, _, _ in sent]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [b - a for a, b in zip([0.0, *times], times, strict=False)] == [
        0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0,
    ]  # fmt: skip
    assert all(data is first for _, data, _ in sent)
    layer.handle_timer(32.0)
    assert events(layer) == [TransactionTimedOut(tid)]
    assert layer.live_transactions == 0


def test_non_invite_in_proceeding_retransmits_every_t2() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer, "REGISTER")
    layer.receive_datagram(response_to(sent, 100), UDP_PEER, 0.1)
    assert layer.state_of(tid) is TransactionState.PROCEEDING
    times = [t for t, _, _ in run_until(layer, 13.0)]
    assert times == [0.5, 4.5, 8.5, 12.5]


def test_non_invite_final_response_then_timer_k() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer, "BYE")
    ok = response_to(sent, 200)
    layer.receive_datagram(ok, UDP_PEER, 1.0)
    layer.receive_datagram(ok, UDP_PEER, 1.2)  # absorbed
    assert [type(e) for e in events(layer)] == [ResponseReceived]
    assert layer.state_of(tid) is TransactionState.COMPLETED
    assert layer.get_timer() == 6.0  # Timer K = T4
    layer.handle_timer(6.0)
    assert layer.live_transactions == 0
    assert layer.datagrams_to_send() == []


def test_non_invite_over_tcp_ends_at_its_final_response() -> None:
    layer = TransactionLayer()
    tid, sent = start(layer, "OPTIONS", peer=TCP_PEER)
    assert layer.get_timer() == 32.0  # Timer F only
    layer.receive_datagram(response_to(sent, 200), TCP_PEER, 0.3)
    assert layer.state_of(tid) is TransactionState.TERMINATED
    assert layer.get_timer() is None


# -- TU misuse, transport errors, limits -------------------------------------------------------


def test_tu_misuse_raises_local_protocol_error() -> None:
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError, match="ACK"):
        layer.send_request(new_request("ACK"), UDP_PEER, 0.0)
    request = new_request()
    request.headers.set("Via", "SIP/2.0/UDP 192.0.2.1;branch=rfc2543-style")
    with pytest.raises(LocalProtocolError, match="cookie"):
        layer.send_request(request, UDP_PEER, 0.0)
    request = new_request()
    layer.send_request(request, UDP_PEER, 0.0)
    with pytest.raises(LocalProtocolError, match="exists"):
        layer.send_request(request, UDP_PEER, 0.0)
    assert layer.live_transactions == 1


def test_transport_error_terminates_and_tells_the_tu() -> None:
    layer = TransactionLayer()
    tid, _ = start(layer)
    layer.report_transport_error(tid, 0.1)
    assert events(layer) == [TransportError(tid)]
    assert layer.live_transactions == 0
    layer.report_transport_error(tid, 0.2)  # already gone: ignored
    assert layer.stats.ignored_inputs == 1
    other, _ = start(layer, "OPTIONS", peer=TCP_PEER)
    layer.report_peer_unreachable(TCP_PEER, 0.3)
    assert events(layer) == [TransportError(other)]


def test_client_transactions_are_capped() -> None:
    layer = TransactionLayer(max_transactions=2)
    start(layer, "OPTIONS")
    start(layer, "OPTIONS")
    with pytest.raises(LimitExceededError) as info:
        layer.send_request(new_request("OPTIONS"), UDP_PEER, 0.0)
    assert info.value.status_hint == 503


def test_rfc4475_stray_responses_are_discarded() -> None:
    from pathlib import Path

    from hotline.sip.msg_parse import SipParseError

    corpus = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "sip" / "rfc4475"
    assert corpus.is_dir(), f"RFC 4475 corpus missing at {corpus}"
    layer = TransactionLayer()
    outcomes = {}
    for name in ("bcast", "bigcode", "noreason", "scalarlg", "unreason"):
        data = (corpus / f"{name}.sip").read_bytes()
        try:
            layer.receive_datagram(data, UDP_PEER, 0.0)
        except SipParseError:
            outcomes[name] = "parse error"
        else:
            [event] = events(layer)
            outcomes[name] = type(event).__name__
    assert outcomes == {
        "bcast": "StrayResponse",
        "bigcode": "parse error",
        "noreason": "StrayResponse",
        "scalarlg": "parse error",
        "unreason": "StrayResponse",
    }
    assert layer.datagrams_to_send() == []
    assert layer.stats.stray_responses == 3
