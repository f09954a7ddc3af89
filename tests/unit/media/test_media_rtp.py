"""RTP packets (RFC 3550 §5.1): parse, serialize, fast peek, malformed input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.media import rtp
from hotline.media.rtp import (
    RtpExtension,
    RtpPacket,
    pack_rtp_header,
    peek_rtp_header,
    rewrite_rtp_header,
    rtp_payload_end,
)

# A hand-assembled packet: V=2, P=1, X=1, CC=2, M=1, PT=8, seq=0xBEEF, ts=0x01020304,
# SSRC=0xDEADBEEF, CSRC 1 and 2, extension profile 0xBEDE with one word, payload "abc",
# padding of 4 (three zeros and the count).
KNOWN = bytes.fromhex(
    "b2" "88" "beef" "01020304" "deadbeef"
    "00000001" "00000002"
    "bede0001" "10ff0000"
    "616263"
    "00000004"
)  # fmt: skip


def test_parse_known_packet_field_by_field() -> None:
    packet = RtpPacket.parse(KNOWN)
    assert packet.payload_type == 8
    assert packet.marker is True
    assert packet.sequence_number == 0xBEEF
    assert packet.timestamp == 0x01020304
    assert packet.ssrc == 0xDEADBEEF
    assert packet.csrc == (1, 2)
    assert packet.extension == RtpExtension(0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"abc"
    assert packet.padding_size == 4
    assert packet.header_size == 12 + 8 + 8
    assert bytes(packet) == KNOWN


def test_peek_matches_parse_and_gives_payload_bounds() -> None:
    pt, seq, ts, ssrc, marker, offset = peek_rtp_header(KNOWN)
    assert (pt, seq, ts, ssrc, marker) == (8, 0xBEEF, 0x01020304, 0xDEADBEEF, True)
    assert KNOWN[offset : rtp_payload_end(KNOWN)] == b"abc"
    assert peek_rtp_header(memoryview(KNOWN)) == peek_rtp_header(bytearray(KNOWN))


def test_minimal_packet_round_trip() -> None:
    packet = RtpPacket(payload_type=0, sequence_number=1, timestamp=160, ssrc=42, payload=b"\xff")
    data = bytes(packet)
    assert data == bytes.fromhex("80000001000000a00000002a") + b"\xff"
    assert RtpPacket.parse(data) == packet
    assert rtp_payload_end(data) == len(data)


def test_pack_rtp_header_matches_full_serializer() -> None:
    header = pack_rtp_header(101, 65535, 0xFFFFFFFF, 7, marker=True)
    assert header == bytes(RtpPacket(101, 65535, 0xFFFFFFFF, 7, marker=True))
    assert len(header) == 12


def test_rewrite_rtp_header_in_place_keeps_the_rest() -> None:
    buffer = bytearray(KNOWN)
    rewrite_rtp_header(buffer, 1, 2, 3)
    packet = RtpPacket.parse(buffer)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (1, 2, 3)
    assert packet.payload == b"abc"
    assert packet.csrc == (1, 2)
    assert buffer[:2] == KNOWN[:2]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter"),
        (bytes(11), "shorter"),
        (bytes.fromhex("40000001000000a00000002a"), "version 1"),
        (bytes.fromhex("00000001000000a00000002a"), "version 0"),
        (bytes.fromhex("c0000001000000a00000002a"), "version 3"),
        # CC=1 but no CSRC follows.
        (bytes.fromhex("81000001000000a00000002a"), "header longer"),
        # X=1 but no extension header.
        (bytes.fromhex("90000001000000a00000002a"), "extension"),
        # Extension says 2 words, only 1 present.
        (bytes.fromhex("90000001000000a00000002a0000000200000000"), "header longer"),
        # P=1 with count 0.
        (bytes.fromhex("a0000001000000a00000002a00"), "padding"),
        # P=1 with a count larger than the payload.
        (bytes.fromhex("a0000001000000a00000002a0005"), "padding"),
    ],
)
def test_malformed_packets_raise_remote_protocol_error(data: bytes, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason) as info:
        RtpPacket.parse(data)
    assert info.value.status_hint == 400
    with pytest.raises(RemoteProtocolError):
        peek_rtp_header(data)


def test_oversized_packet_hits_the_limit() -> None:
    data = pack_rtp_header(0, 0, 0, 0) + bytes(rtp.MAX_RTP_PACKET_SIZE)
    with pytest.raises(LimitExceededError):
        peek_rtp_header(data)


def test_padding_exactly_filling_the_payload_is_valid() -> None:
    data = pack_rtp_header(0, 1, 2, 3)
    data = bytes([data[0] | 0x20]) + data[1:] + b"\x00\x00\x03"
    packet = RtpPacket.parse(data)
    assert packet.payload == b""
    assert packet.padding_size == 3
    assert bytes(packet) == data


def test_extension_without_words() -> None:
    data = bytes.fromhex("90000001000000a00000002aabcd0000") + b"xy"
    packet = RtpPacket.parse(data)
    assert packet.extension == RtpExtension(0xABCD, b"")
    assert packet.payload == b"xy"
    assert bytes(packet) == data


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"payload_type": -1},
        {"sequence_number": 65536},
        {"timestamp": 1 << 32},
        {"ssrc": -1},
        {"csrc": tuple(range(16))},
        {"padding_size": 256},
    ],
)
def test_constructor_rejects_out_of_range_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "payload_type": 0,
        "sequence_number": 0,
        "timestamp": 0,
        "ssrc": 0,
    }
    fields.update(kwargs)
    with pytest.raises(LocalProtocolError):
        RtpPacket(**fields)  # type: ignore[arg-type]


def test_extension_must_be_whole_words() -> None:
    with pytest.raises(LocalProtocolError):
        RtpExtension(1, b"abc")
    with pytest.raises(LocalProtocolError):
        RtpExtension(0x10000, b"")


_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=300),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.integers(0, 8).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding_size=st.integers(0, 255),
)


@settings(max_examples=100, deadline=None)
@given(_packets)
def test_round_trip_property(packet: RtpPacket) -> None:
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data
    pt, seq, ts, ssrc, marker, offset = peek_rtp_header(data)
    assert (pt, seq, ts, ssrc, marker) == (
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
        packet.marker,
    )
    assert offset == packet.header_size
    assert data[offset : rtp_payload_end(data)] == packet.payload


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_never_raise_anything_but_protocol_errors(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RemoteProtocolError:
        return
    assert packet.sequence_number == struct.unpack_from("!H", data, 2)[0]


def test_public_surface() -> None:
    assert set(rtp.__all__) == {
        "MAX_RTP_PACKET_SIZE",
        "RTP_HEADER_SIZE",
        "RTP_VERSION",
        "RtpExtension",
        "RtpHeaderPeek",
        "RtpPacket",
        "pack_rtp_header",
        "peek_rtp_header",
        "rewrite_rtp_header",
        "rtp_payload_end",
    }
