"""RTCP (RFC 3550 §6): SR, RR, SDES, BYE, APP, compound packets, malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.media.rtcp import (
    MAX_RTCP_PACKETS,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpApp,
    RtcpPacket,
    RtcpUnknown,
    Sdes,
    SdesChunk,
    SdesItemType,
    SenderReport,
    looks_like_rtcp,
    ntp_from_unix,
    ntp_middle32,
    parse_rtcp,
    serialize_rtcp,
)

# Hand-assembled compound packet: SR with one report block, SDES with a CNAME, BYE with reason.
SR_HEX = (
    "81c8000c"  # V=2, RC=1, PT=200, length 12 words
    "11223344"  # SSRC of sender
    "e6b8a5c0"
    "80000000"  # NTP timestamp (seconds since 1900 . 0.5)
    "000003e8"  # RTP timestamp 1000
    "0000000a"  # packet count 10
    "00000640"  # octet count 1600
    # report block
    "55667788"  # SSRC_1
    "40fffffe"  # fraction 0x40 (25 %), cumulative lost -2
    "00010005"  # extended highest seq: 1 cycle, seq 5
    "00000020"  # jitter 32
    "a5c08000"  # LSR
    "00018000"  # DLSR 1.5 s
)
SDES_HEX = (
    "81ca0005"  # SC=1, PT=202, length 5 words
    "11223344"
    "010b"
    "686f746c696e6540313232"  # CNAME "hotline@122" (11 octets)
    "000000"  # null terminator + padding to the word boundary
)
BYE_HEX = (
    "81cb0003"  # SC=1, PT=203, length 3 words
    "11223344"
    "06"
    "68616e67757000"  # reason "hangup" (6 octets), padding 1
)
COMPOUND = bytes.fromhex(SR_HEX + SDES_HEX + BYE_HEX)


def test_parse_hand_assembled_compound() -> None:
    sr, sdes, bye = parse_rtcp(COMPOUND)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0x11223344
    assert sr.ntp_timestamp == 0xE6B8A5C0_80000000
    assert (sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (1000, 10, 1600)
    assert sr.reports == (
        ReportBlock(
            ssrc=0x55667788,
            fraction_lost=64,
            cumulative_lost=-2,
            highest_sequence=0x10005,
            jitter=32,
            lsr=0xA5C08000,
            dlsr=0x18000,
        ),
    )
    assert sdes == Sdes((SdesChunk(0x11223344, ((SdesItemType.CNAME, b"hotline@122"),)),))
    assert isinstance(sdes, Sdes)
    assert sdes.chunks[0].cname == "hotline@122"
    assert bye == Bye((0x11223344,), b"hangup")
    assert serialize_rtcp([sr, sdes, bye]) == COMPOUND


def test_receiver_report_and_multiple_blocks_round_trip() -> None:
    blocks = tuple(ReportBlock(i, i, -i, 65536 + i, i * 10, i, i) for i in range(3))
    rr = ReceiverReport(0xCAFE, blocks)
    data = bytes(rr)
    assert data[:4] == bytes.fromhex("83c90013")  # RC=3, length (4 + 72) / 4 = 19
    assert parse_rtcp(data) == [rr]


def test_sdes_chunk_padding_for_every_length() -> None:
    for length in range(12):
        chunk = SdesChunk(1, ((SdesItemType.CNAME, b"x" * length), (SdesItemType.TOOL, b"t")))
        data = bytes(Sdes((chunk, SdesChunk(2))))
        assert len(data) % 4 == 0
        assert parse_rtcp(data) == [Sdes((chunk, SdesChunk(2)))]


def test_bye_without_reason_and_app_and_unknown_type() -> None:
    packets: list[RtcpPacket] = [
        Bye((1, 2)),
        RtcpApp(3, 0xABCD, b"HTLN", b"\x00\x01\x02\x03"),
        RtcpUnknown(205, 1, bytes(8)),  # RTPFB generic NACK shape (RFC 4585), kept raw
    ]
    data = serialize_rtcp(packets)
    assert parse_rtcp(data) == packets
    assert data[:4] == bytes.fromhex("82cb0002")


def test_padding_on_the_last_packet_is_stripped() -> None:
    body = bytes.fromhex("81cb000200000001") + bytes.fromhex("00000004")
    data = bytes([body[0] | 0x20]) + body[1:]
    assert parse_rtcp(data) == [Bye((1,))]


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("81c8", "shorter"),
        ("41c8000100000000", "version"),
        ("8060000100000000", "not RTCP"),  # an RTP-looking second octet
        ("81c9000700000001", "past the end"),  # length beyond the datagram
        ("81c9000100000001", "do not fit"),  # RC=1 without its block
        ("80c8000100000001", "sender info"),
        ("81ca000100000001", "not terminated"),
        ("81ca00020000000101050000", "item past the end"),
        ("82cb000100000001", "sources"),
        ("81cb00020000000105000000", "reason"),
        ("80cc000100000001", "APP"),
        ("a0cb000100000000", "padding"),  # P=1 with count 0
        ("81cb0001000000018100", "trailing"),
    ],
)
def test_malformed(hex_data: str, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_rtcp(bytes.fromhex(hex_data))


def test_too_many_packets_in_one_compound() -> None:
    data = bytes(Bye(())) * (MAX_RTCP_PACKETS + 1)
    with pytest.raises(LimitExceededError):
        parse_rtcp(data)
    assert len(parse_rtcp(bytes(Bye(())) * MAX_RTCP_PACKETS)) == MAX_RTCP_PACKETS


def test_serializer_rejects_impossible_values() -> None:
    with pytest.raises(LocalProtocolError):
        ReportBlock(1, 256, 0, 0, 0)
    with pytest.raises(LocalProtocolError):
        ReportBlock(1, 0, 1 << 23, 0, 0)
    with pytest.raises(LocalProtocolError):
        bytes(ReceiverReport(1, tuple(ReportBlock(i, 0, 0, 0, 0) for i in range(32))))
    with pytest.raises(LocalProtocolError):
        bytes(RtcpApp(0, 1, b"TOOLONG"))
    with pytest.raises(LocalProtocolError):
        bytes(SdesChunk(1, ((SdesItemType.NOTE, b"x" * 256),)))
    with pytest.raises(LocalProtocolError):
        bytes(SenderReport(1, 0, 0, 0, 0, extension=b"abc"))
    assert SdesChunk(1, ((SdesItemType.NAME, b"n"),)).cname is None


def test_ntp_helpers() -> None:
    assert ntp_from_unix(0.0) == 2_208_988_800 << 32
    assert ntp_from_unix(1.5) == ((2_208_988_801 << 32) | 0x80000000)
    assert ntp_middle32(0x11223344_55667788) == 0x33445566


def test_rtp_rtcp_demultiplexing() -> None:
    assert looks_like_rtcp(COMPOUND)
    assert not looks_like_rtcp(bytes.fromhex("80080001000000a00000002a"))  # PCMA
    assert not looks_like_rtcp(bytes.fromhex("80e50001000000a00000002a"))  # PT 101 + marker
    assert not looks_like_rtcp(b"\x81\xc8")


_blocks = st.builds(
    ReportBlock,
    ssrc=st.integers(0, 0xFFFFFFFF),
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=st.integers(0, 0xFFFFFFFF),
    jitter=st.integers(0, 0xFFFFFFFF),
    lsr=st.integers(0, 0xFFFFFFFF),
    dlsr=st.integers(0, 0xFFFFFFFF),
)
_u32 = st.integers(0, 0xFFFFFFFF)
_packets = st.one_of(
    st.builds(
        SenderReport,
        ssrc=_u32,
        ntp_timestamp=st.integers(0, (1 << 64) - 1),
        rtp_timestamp=_u32,
        packet_count=_u32,
        octet_count=_u32,
        reports=st.lists(_blocks, max_size=4).map(tuple),
    ),
    st.builds(ReceiverReport, ssrc=_u32, reports=st.lists(_blocks, max_size=4).map(tuple)),
    st.builds(
        Sdes,
        st.lists(
            st.builds(
                SdesChunk,
                ssrc=_u32,
                items=st.lists(
                    st.tuples(st.integers(1, 8), st.binary(max_size=40)), max_size=3
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Bye, st.lists(_u32, max_size=4).map(tuple), st.binary(max_size=30)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_packets, min_size=1, max_size=4))
def test_compound_round_trip_property(packets: list[RtcpPacket]) -> None:
    data = serialize_rtcp(packets)
    assert parse_rtcp(data) == packets
    assert serialize_rtcp(parse_rtcp(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_arbitrary_bytes_only_raise_protocol_errors(data: bytes) -> None:
    try:
        packets = parse_rtcp(b"\x80\xc9\x00\x01" + data[:4].ljust(4, b"\0") + data[4:])
    except RemoteProtocolError:
        return
    assert isinstance(packets[0], ReceiverReport)
