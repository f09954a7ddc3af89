"""Parsing, serialising and building SIP messages (RFC 3261 §7, §8, §18.3)."""

from __future__ import annotations

import importlib

import pytest

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.sip.hdr_types import NameAddr, Via
from hotline.sip.headers import Headers
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import (
    make_ack,
    make_cancel,
    make_request,
    make_response,
    reason_phrase,
)
from hotline.sip.msg_parse import ParseLimits, SipLimitError, SipParseError, parse_message
from hotline.sip.uri import SipUri

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"

INVITE = (
    b"INVITE sip:122@hotline.example.ru SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bKx1;received=203.0.113.10\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Caller" <sip:79161234567@trunk.example.ru>;tag=9fxced76sl\r\n'
    b"To: <sip:122@hotline.example.ru>\r\n"
    b"Call-ID: 3848276298220188511@trunk.example.ru\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:79161234567@192.0.2.1:5060>\r\n"
    b"Record-Route: <sip:p1.example.ru;lr>, <sip:p2.example.ru;lr>\r\n"
    b"Supported: timer, 100rel\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)

RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9\r\n"
    b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def parse_request(data: bytes, **kwargs: ParseLimits) -> SipRequest:
    message = parse_message(data, **kwargs)
    assert isinstance(message, SipRequest)
    return message


def test_typical_invite() -> None:
    message = parse_request(INVITE)
    assert message.method == "INVITE"
    assert message.uri == SipUri("hotline.example.ru", user="122")
    assert message.top_via.branch == "z9hG4bK74bf9"
    assert [v.sent_by for v in message.via()] == ["192.0.2.1:5060", "203.0.113.9"]
    assert message.max_forwards == 70
    assert message.from_.display_name == "Caller"
    assert message.from_.tag == "9fxced76sl"
    assert message.to.tag is None
    assert message.call_id == "3848276298220188511@trunk.example.ru"
    assert (message.cseq.number, message.cseq.method) == (314159, "INVITE")
    assert [str(c.uri) for c in message.contacts()] == ["sip:79161234567@192.0.2.1:5060"]
    assert [str(r.uri) for r in message.record_route()] == [
        "sip:p1.example.ru;lr",
        "sip:p2.example.ru;lr",
    ]
    assert message.route() == ()
    assert message.supported() == ("timer", "100rel")
    assert message.allow() == ("INVITE", "ACK", "CANCEL", "BYE")
    assert message.require() == ()
    assert message.unsupported() == ()
    assert message.content_type == "application/sdp"
    assert message.content_length == len(SDP)
    assert message.expires is None
    assert message.body == SDP
    assert bytes(message) == INVITE
    assert message.to_bytes() == INVITE


def test_response_parse_and_round_trip() -> None:
    message = parse_message(RESPONSE)
    assert isinstance(message, SipResponse)
    assert (message.status, message.reason) == (180, "Ringing")
    assert message.is_provisional
    assert not message.is_success
    assert message.to.tag == "2"
    assert bytes(message) == RESPONSE


def test_compact_forms_folding_and_lws_round_trip() -> None:
    data = (
        b"OPTIONS sip:a@h SIP/2.0\r\n"
        b"v:  SIP/2.0/UDP h;branch=z9hG4bKq\r\n"
        b"f: <sip:a@h>\r\n  ;tag=1\r\n"
        b"t :<sip:b@h>\r\n"
        b"i: x\r\nMax-Forwards: 01\r\n"
        b"CSeq: 1\r\n\tOPTIONS\r\n"
        b"k: a, b\r\nl: 0\r\n\r\n"
    )
    message = parse_request(data)
    assert message.from_.tag == "1"
    assert message.cseq.method == "OPTIONS"
    assert message.supported() == ("a", "b")
    assert message.max_forwards == 1
    assert list(message.headers)[:3] == [
        ("v", "SIP/2.0/UDP h;branch=z9hG4bKq"),
        ("f", "<sip:a@h> ;tag=1"),
        ("t", "<sip:b@h>"),
    ]
    wire = bytes(message)
    assert b"f: <sip:a@h> ;tag=1\r\n" in wire
    assert parse_message(wire) == message


def test_bare_lf_accepted() -> None:
    message = parse_request(
        INVITE.replace(b"\r\n", b"\n").replace(SDP.replace(b"\r\n", b"\n"), SDP)
    )
    assert message.call_id == "3848276298220188511@trunk.example.ru"
    assert bytes(message).count(b"\r\n") > 10


def test_leading_crlf_skipped_and_trailing_bytes_ignored() -> None:
    message = parse_request(b"\r\n\r\n" + INVITE + b"garbage after the body")
    assert message.body == SDP


def test_no_content_length_on_udp_takes_rest() -> None:
    data = INVITE.replace(b"Content-Length: " + str(len(SDP)).encode() + b"\r\n", b"")
    message = parse_request(data)
    assert message.body == SDP
    assert message.content_length is None
    assert f"Content-Length: {len(SDP)}".encode() in bytes(message)


def test_serialisation_fixes_content_length() -> None:
    message = parse_request(INVITE)
    message.body = b"v=0\r\n"
    assert b"Content-Length: 5\r\n\r\nv=0\r\n" in bytes(message)
    message.headers.add("Content-Length", "99")  # duplicates are dropped on output
    wire = bytes(message)
    assert wire.count(b"Content-Length") == 1
    assert parse_request(wire).body == b"v=0\r\n"


def test_header_change_invalidates_memo_and_wire() -> None:
    message = parse_request(INVITE)
    before = message.top_via
    assert before.received is None
    message.headers.replace_first_value("Via", str(before.with_source("198.51.100.2", 6000)))
    after = message.top_via
    assert after.received == "198.51.100.2"
    assert after.rport == 6000
    assert b"rport=6000;received=198.51.100.2\r\n" in bytes(message)
    assert len(message.via()) == 2


@pytest.mark.parametrize(
    ("data", "status", "word"),
    [
        (b"", 400, "empty line"),
        (b"\r\n\r\n", 400, "empty line"),
        (b"INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", 400, "empty line"),
        (b"INVITE sip:a@h SIP/2.0\r\nNo colon\r\n\r\n", 400, "header line"),
        (b"INVITE sip:a@h SIP/2.0\r\n folded first\r\n\r\n", 400, "continuation"),
        (b"INVITE sip:a@h SIP/2.0\r\nX: a\rb\r\n\r\n", 400, "bare CR"),
        (b"INVITE sip:a@h SIP/3.0\r\nX: a\r\n\r\n", 505, "version"),
        (b"INVITE sip:a@h SIP/2\r\nX: a\r\n\r\n", 400, "SIP-Version"),
        (b"IN VITE sip:a@h SIP/2.0\r\nX: a\r\n\r\n", 400, "request line"),
        (b"INV@TE sip:a@h SIP/2.0\r\nX: a\r\n\r\n", 400, "request line"),
        (b"SIP/2.0 2000 OK\r\nX: a\r\n\r\n", 400, "status code"),
        (b"SIP/2.0 099 Low\r\nX: a\r\n\r\n", 400, "status code"),
        (b"SIP/1.0 200 OK\r\nX: a\r\n\r\n", 400, "SIP-Version"),
    ],
)
def test_malformed(data: bytes, status: int, word: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status_hint == status
    assert word.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    ("header", "value", "word"),
    [
        ("Max-Forwards", "256", "Max-Forwards"),
        ("Max-Forwards", "-1", "Max-Forwards"),
        ("CSeq", "1 BYE", "CSeq"),
        ("Call-ID", "a b", "Call-ID"),
        ("Content-Length", "five", "Content-Length"),
        ("Content-Length", "+5", "Content-Length"),
        ("Content-Length", "1000", "Content-Length"),
        ("Via", "SIP/2.0/UDP", "Via"),
        ("From", "<sip:a@h", "From"),
    ],
)
def test_bad_key_header_gives_400_with_partial(header: str, value: str, word: str) -> None:
    message = parse_request(INVITE)
    message.headers.set(header, value)
    wire = message.to_bytes() if header != "Content-Length" else _with_raw(message, header, value)
    with pytest.raises(SipParseError) as info:
        parse_message(wire)
    assert info.value.status_hint == 400
    assert word in str(info.value)
    assert info.value.partial is not None
    assert info.value.partial.method == "INVITE"


def _with_raw(message: SipRequest, header: str, value: str) -> bytes:
    """The message with ``header: value`` as written (serialising would fix Content-Length)."""
    wire = message.to_bytes()
    line = f"{header}: {len(message.body)}".encode()
    return wire.replace(line, f"{header}: {value}".encode())


def test_missing_mandatory_headers() -> None:
    for name in ("Via", "CSeq", "Call-ID", "From", "To"):
        message = parse_request(INVITE)
        message.headers.remove(name)
        with pytest.raises(SipParseError, match=name) as info:
            parse_message(bytes(message))
        assert info.value.status_hint == 400


def test_limits() -> None:
    with pytest.raises(SipLimitError) as info:
        parse_message(INVITE + b" " * 70000)
    assert info.value.status_hint == 513
    assert isinstance(info.value, LimitExceededError)
    many = INVITE.replace(b"Max-Forwards: 70\r\n", b"X: 1\r\n" * 300 + b"Max-Forwards: 70\r\n")
    with pytest.raises(SipLimitError, match="header lines"):
        parse_message(many)
    long_line = INVITE.replace(
        b"Max-Forwards: 70\r\n", b"X: " + b"a" * 9000 + b"\r\nMax-Forwards: 70\r\n"
    )
    with pytest.raises(SipLimitError, match="longer than"):
        parse_message(long_line)
    vias = INVITE.replace(b"Max-Forwards", b"Via: SIP/2.0/UDP h\r\n" * 80 + b"Max-Forwards")
    with pytest.raises(SipLimitError, match="Via") as via_info:
        parse_message(vias)
    assert via_info.value.status_hint == 400
    assert via_info.value.partial is not None
    small = ParseLimits(max_message_bytes=100)
    with pytest.raises(SipLimitError):
        parse_message(INVITE, limits=small)


def test_lazy_accessors_raise_with_header_name() -> None:
    message = parse_request(INVITE)
    message.headers.add("Expires", "soon")
    message.headers.add("Require", "a b")
    message.headers.add("Contact", "*")
    with pytest.raises(RemoteProtocolError, match="Expires"):
        _ = message.expires
    with pytest.raises(RemoteProtocolError, match="Require"):
        message.require()
    with pytest.raises(RemoteProtocolError, match="Contact"):
        message.contacts()
    register = SipRequest("REGISTER", SipUri("h"), Headers([("Contact", "*"), ("Expires", "0")]))
    assert register.contact_is_wildcard
    assert register.contacts() == ()
    assert register.expires == 0
    with pytest.raises(RemoteProtocolError, match="missing Via"):
        _ = register.top_via
    with pytest.raises(RemoteProtocolError, match="missing CSeq"):
        _ = register.cseq


# -- builders --------------------------------------------------------------------


def test_make_response_copies_8_2_6() -> None:
    request = parse_request(INVITE)
    response = make_response(
        request, 200, to_tag="as83kd", headers=[("Contact", "<sip:122@10.0.0.1>")], body=b"x"
    )
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers.get_all("Via") == request.headers.get_all("Via")
    assert response.headers.get("From") == request.headers.get("From")
    assert response.to.tag == "as83kd"
    assert response.call_id == request.call_id
    assert response.cseq == request.cseq
    assert "Record-Route" not in response.headers
    reparsed = parse_message(bytes(response))
    assert isinstance(reparsed, SipResponse)
    assert reparsed.body == b"x"
    assert reparsed.headers.get("Contact") == "<sip:122@10.0.0.1>"
    dialog = make_response(request, 180, to_tag="t", copy_record_route=True)
    assert dialog.headers.get("Record-Route") == request.headers.get("Record-Route")
    assert dialog.reason == "Ringing"


def test_make_response_keeps_existing_tag_and_timestamp() -> None:
    request = parse_request(INVITE)
    request.headers.set("To", "<sip:122@hotline.example.ru>;tag=old")
    request.headers.add("Timestamp", "54")
    trying = make_response(request, 100, to_tag="new")
    assert trying.to.tag == "old"
    assert trying.headers.get("Timestamp") == "54"
    assert "Timestamp" not in make_response(request, 180).headers
    assert make_response(request, 499).reason == "Client Error"
    assert make_response(request, 486, "Занято").reason == "Занято"
    assert reason_phrase(606) == "Not Acceptable"
    for bad in (99, 700):
        with pytest.raises(LocalProtocolError):
            make_response(request, bad)
    with pytest.raises(LocalProtocolError):
        make_response(request, 200, to_tag="a b")
    with pytest.raises(LocalProtocolError):
        make_response(request, 200, "OK\r\nX: 1")


def test_make_request() -> None:
    request = make_request(
        "INVITE",
        "sip:operator1@10.0.0.5:5062",
        from_=NameAddr(SipUri("hotline.example.ru", user="122"), "Горячая линия").with_tag("f1"),
        to="<sip:operator1@hotline.example.ru>",
        call_id="abc@hotline",
        cseq=1,
        via=Via("UDP", "10.0.0.1", 5060).with_param("branch", "z9hG4bKnew"),
        contact="<sip:122@10.0.0.1:5060>",
        route=["<sip:proxy.example.ru;lr>"],
        headers=[("Supported", "timer")],
        body=SDP,
        content_type="application/sdp",
    )
    wire = bytes(request)
    parsed = parse_request(wire)
    assert parsed == parse_request(bytes(parsed))
    assert parsed.uri == SipUri("10.0.0.5", user="operator1", port=5062)
    assert parsed.from_.display_name == "Горячая линия"
    assert parsed.top_via.branch == "z9hG4bKnew"
    assert parsed.max_forwards == 70
    assert [str(r.uri) for r in parsed.route()] == ["sip:proxy.example.ru;lr"]
    assert parsed.body == SDP
    assert wire.startswith(
        b"INVITE sip:operator1@10.0.0.5:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnew\r\n"
    )
    without_via = make_request(
        "OPTIONS", SipUri("h"), from_="<sip:a@h>;tag=1", to="<sip:h>", call_id="c", cseq=2
    )
    assert "Via" not in without_via.headers
    for cseq, max_forwards in ((-1, 70), (2**32, 70), (1, 256)):
        with pytest.raises(LocalProtocolError):
            make_request(
                "OPTIONS",
                "sip:h",
                from_="<sip:a@h>",
                to="<sip:h>",
                call_id="c",
                cseq=cseq,
                max_forwards=max_forwards,
            )
    with pytest.raises(LocalProtocolError):
        make_request("BAD METHOD", "sip:h", from_="<sip:a@h>", to="<sip:h>", call_id="c", cseq=1)
    with pytest.raises(LocalProtocolError):
        make_request("OPTIONS", "sip:", from_="<sip:a@h>", to="<sip:h>", call_id="c", cseq=1)


def test_make_cancel_and_ack() -> None:
    request = parse_request(INVITE)
    request.headers.add("Route", "<sip:edge.example.ru;lr>")
    cancel = make_cancel(request)
    assert cancel.method == "CANCEL"
    assert cancel.uri == request.uri
    assert cancel.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport"]
    assert (cancel.cseq.number, cancel.cseq.method) == (314159, "CANCEL")
    assert cancel.headers.get("To") == request.headers.get("To")
    assert cancel.headers.get("Route") == "<sip:edge.example.ru;lr>"
    assert bytes(parse_message(bytes(cancel))) == bytes(cancel)
    busy = make_response(request, 486, to_tag="b1")
    ack = make_ack(request, busy)
    assert ack.method == "ACK"
    assert ack.to.tag == "b1"
    assert (ack.cseq.number, ack.cseq.method) == (314159, "ACK")
    assert ack.call_id == request.call_id
    with pytest.raises(LocalProtocolError):
        make_ack(request, make_response(request, 200, to_tag="x"))


def test_values_with_colon_space_and_no_space_after_colon() -> None:
    data = INVITE.replace(
        b"Max-Forwards: 70\r\n",
        b'Max-Forwards:70\r\nWarning: 399 host "a: b"\r\nSubject: Re: hello  \r\n',
    )
    message = parse_request(data)
    assert message.max_forwards == 70
    assert message.headers.get("Warning") == '399 host "a: b"'
    assert message.headers.get("Subject") == "Re: hello"
    assert parse_message(bytes(message)) == message


@pytest.mark.parametrize(
    "module",
    ["uri", "headers", "hdr_types", "message", "msg_grammar", "msg_parse", "msg_build", "framing"],
)
def test_public_surface(module: str) -> None:
    imported = importlib.import_module(f"hotline.sip.{module}")
    names = imported.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(imported, name), name


def test_non_utf8_bytes_survive_byte_exactly() -> None:
    data = (
        b"SIP/2.0 486 Occup\xe9 \xff\r\n"
        b"Via: SIP/2.0/UDP h;branch=z9hG4bKz\r\n"
        b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        b"X-Raw: \x00\x07\x7f\xc3\x28\xfe\r\nContent-Length: 3\r\n\r\n\x00\xff\r"
    )
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    assert message.status == 486
    assert message.reason.startswith("Occup")
    assert message.body == b"\x00\xff\r"
    assert bytes(message) == data
    message.headers.add("X-Other", "1")  # drop the kept wire bytes: rebuilt, still exact
    assert bytes(message) == data.replace(b"\r\n\r\n", b"\r\nX-Other: 1\r\n\r\n", 1)


def test_malformed_header_line_still_leaves_a_partial_request() -> None:
    data = INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nNo colon here\r\n")
    with pytest.raises(SipParseError, match="No colon here") as info:
        parse_message(data)
    partial = info.value.partial
    assert partial is not None
    assert partial.call_id == "3848276298220188511@trunk.example.ru"
    assert make_response(partial, 400).headers.get_all("Via") == partial.headers.get_all("Via")
    with pytest.raises(SipParseError) as response_info:
        parse_message(RESPONSE.replace(b"Call-ID: c\r\n", b"Call-ID c\r\n"))
    assert response_info.value.partial is None
