"""Stream framing of SIP over TCP/TLS (RFC 3261 §18.3, RFC 5626 §3.5.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.core.errors import LimitExceededError
from hotline.sip.framing import (
    FramerState,
    KeepAlive,
    KeepAliveKind,
    StreamFramer,
    is_keepalive_datagram,
)
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_parse import ParseLimits, SipParseError, parse_message

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "sip" / "rfc4475"

BODY = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
INVITE = (
    b"INVITE sip:122@h SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKabc\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:122@h>\r\n"
    b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
BYE = (
    b"BYE sip:122@h SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKdef\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:122@h>;tag=2\r\n"
    b"Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
)

Event = SipRequest | SipResponse | KeepAlive


def drain(framer: StreamFramer) -> list[Event]:
    events: list[Event] = []
    while (event := framer.next_message()) is not None:
        events.append(event)
    return events


def test_one_message_split_at_every_byte() -> None:
    expected = parse_message(INVITE)
    for cut in range(len(INVITE) + 1):
        framer = StreamFramer()
        framer.feed(INVITE[:cut])
        first = drain(framer)
        framer.feed(INVITE[cut:])
        events = first + drain(framer)
        assert events == [expected], cut
        assert framer.buffered_bytes == 0


def test_stream_fed_byte_by_byte() -> None:
    stream = b"\r\n\r\n" + INVITE + BYE + b"\r\n\r\n" + INVITE
    framer = StreamFramer()
    events: list[Event] = []
    for index in range(len(stream)):
        framer.feed(stream[index : index + 1])
        events.extend(drain(framer))
    ping = KeepAlive(KeepAliveKind.PING)
    pong = KeepAlive(KeepAliveKind.PONG)  # a ping cut in two is first taken for a pong
    invite, bye = parse_message(INVITE), parse_message(BYE)
    assert events == [pong, ping, invite, bye, pong, ping, invite]


def test_keepalives() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n\r\n\r\n\r\n")
    assert drain(framer) == [KeepAlive(KeepAliveKind.PING)] * 2
    framer.feed(b"\r\n")
    assert drain(framer) == [KeepAlive(KeepAliveKind.PONG)]
    framer.feed(b"\r\n")  # the second half of a ping that arrived in two pieces
    assert drain(framer) == [KeepAlive(KeepAliveKind.PING)]
    framer.feed(b"\r\n" + BYE)
    assert drain(framer) == [KeepAlive(KeepAliveKind.PONG), parse_message(BYE)]
    framer.feed(b"\r\n\r")
    assert drain(framer) == []
    framer.feed(b"\n")
    assert drain(framer) == [KeepAlive(KeepAliveKind.PING)]
    assert framer.state is FramerState.OPEN


def test_bad_message_with_sound_framing_is_not_fatal() -> None:
    framer = StreamFramer()
    framer.feed(BYE.replace(b"CSeq: 2 BYE", b"CSeq: 2 INVITE") + BYE)
    with pytest.raises(SipParseError, match="CSeq") as info:
        framer.next_message()
    assert info.value.partial is not None
    assert framer.state is FramerState.OPEN
    assert drain(framer) == [parse_message(BYE)]


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (BYE.replace(b"Content-Length: 0\r\n", b""), "missing Content-Length"),
        (BYE.replace(b"Content-Length: 0", b"Content-Length: -999"), "Content-Length"),
        (BYE.replace(b"Content-Length: 0", b"Content-Length: five"), "Content-Length"),
        (BYE.replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 5"), "Content-Length"),
        (BYE.replace(b"Content-Length: 0", b"Content-Length: 100000"), "over"),
        (b"NOT A SIP MESSAGE\r\nno colon here\r\n\r\n", "header line"),
    ],
)
def test_framing_errors_are_fatal(data: bytes, word: str) -> None:
    framer = StreamFramer()
    framer.feed(data + BYE)
    with pytest.raises(SipParseError, match=word) as info:
        framer.next_message()
    assert framer.state is FramerState.FAILED
    assert framer.buffered_bytes == 0
    with pytest.raises(SipParseError) as again:
        framer.next_message()
    assert again.value is info.value
    with pytest.raises(SipParseError):
        framer.feed(BYE)


def test_large_content_length_waits_without_allocating() -> None:
    framer = StreamFramer()
    framer.feed((CORPUS / "clerr.sip").read_bytes())  # Content-Length 9999, fewer bytes sent
    assert framer.next_message() is None
    assert framer.state is FramerState.OPEN
    assert framer.buffered_bytes < 1000


def test_dblreq_is_two_messages_on_a_stream() -> None:
    data = (CORPUS / "dblreq.sip").read_bytes()
    framer = StreamFramer()
    framer.feed(data)
    events = [framer.next_message() for _ in range(3)]
    assert isinstance(events[0], SipRequest)
    assert events[0].method == "REGISTER"
    assert events[1] == KeepAlive(KeepAliveKind.PONG)  # the stray CRLF before the INVITE
    invite = events[2]
    assert isinstance(invite, SipRequest)
    assert invite.method == "INVITE"
    assert len(invite.body) == 150
    # The file's SDP is longer than its Content-Length: the rest is not a message.
    with pytest.raises(SipParseError, match="Content-Length"):
        framer.next_message()


def test_buffer_and_header_limits() -> None:
    framer = StreamFramer(max_buffer_bytes=100)
    with pytest.raises(LimitExceededError):
        framer.feed(INVITE)
    assert framer.state is FramerState.FAILED
    small = StreamFramer(ParseLimits(max_message_bytes=200), max_buffer_bytes=10_000)
    small.feed(b"INVITE sip:a@h SIP/2.0\r\n" + b"X: y\r\n" * 50)
    with pytest.raises(SipParseError) as info:
        small.next_message()
    assert info.value.status_hint == 513


def test_keepalive_datagram() -> None:
    assert is_keepalive_datagram(b"\r\n\r\n")
    assert is_keepalive_datagram(b"\r\n")
    assert is_keepalive_datagram(b"\x00\x00\x00\x00")
    assert not is_keepalive_datagram(b"")
    assert not is_keepalive_datagram(BYE)
