"""Fuzzing the message layer: bad input raises RemoteProtocolError and nothing else."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.core.errors import RemoteProtocolError
from hotline.sip.framing import StreamFramer
from hotline.sip.hdr_types import is_valid_name_addr, parse_name_addr
from hotline.sip.message import SipMessage, SipRequest
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "sip" / "rfc4475"
SAMPLES = [path.read_bytes() for path in sorted(CORPUS.glob("*.sip"))]
SIP_BYTES = b" \t\r\n:;,=<>\"@/\\%?&.0123456789SIPsipVvTtFfiIlLCcm-_+*~'!`()[]{}\x00\xff\xd0\xbc"

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def exercise(message: SipMessage) -> None:
    """Call every accessor the way a driver would; only RemoteProtocolError may escape."""
    for accessor in (
        lambda: message.via(),
        lambda: message.top_via,
        lambda: message.cseq,
        lambda: message.call_id,
        lambda: message.from_,
        lambda: message.to,
        lambda: message.contacts(),
        lambda: message.route(),
        lambda: message.record_route(),
        lambda: message.max_forwards,
        lambda: message.expires,
        lambda: message.require(),
        lambda: message.supported(),
        lambda: message.allow(),
    ):
        with contextlib.suppress(RemoteProtocolError):
            accessor()
    again = parse_message(bytes(message))
    assert bytes(again) == bytes(message)


def check(data: bytes) -> None:
    error: RemoteProtocolError | None = None
    try:
        message = parse_message(data)
    except RemoteProtocolError as exc:
        error = exc
    if error is None:
        exercise(message)
        return
    assert error.status_hint in (400, 416, 505, 513)
    partial = getattr(error, "partial", None)
    if isinstance(partial, SipRequest):
        make_response(partial, error.status_hint)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.lists(st.sampled_from(list(SIP_BYTES)), max_size=400).map(bytes))
def test_sip_looking_bytes(data: bytes) -> None:
    check(b"INVITE sip:a@h SIP/2.0\r\n" + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if action == "flip" and data:
            data[position] = draw(st.sampled_from(list(SIP_BYTES)))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 20))]
        else:
            data[position:position] = data[position : position + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_torture_messages(data: bytes) -> None:
    check(data)


@FUZZ
@given(mutated(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_framer_on_mutated_streams(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    stream = data + b"\r\n\r\n" + data
    position = 0
    for size in [*cuts, len(stream)]:
        try:
            framer.feed(stream[position : position + size])
            while framer.next_message() is not None:
                pass
        except RemoteProtocolError:
            pass
        position += size


NAME_ADDR_PIECES = [
    '"', '"Bob"', "Bob ", " ", "\t", "<", ">", "sip:", "SIPS:", "sip:a@", "h", "host.example",
    ":5060", ":99999", ":0", ";", ";lr", ";tag=", "x", "=", "@", ",", "?", "%41", "[::1]", "tel:+1",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(NAME_ADDR_PIECES), max_size=12).map("".join))
def test_cheap_name_addr_check_never_vouches_for_a_bad_value(value: str) -> None:
    valid = is_valid_name_addr(value)
    try:
        parse_name_addr(value, "To")
    except RemoteProtocolError:
        assert not valid
