"""Outgoing RTP stream continuity across player frames and relayed packets."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import RemoteProtocolError
from hotline.media import stream as stream_module
from hotline.media.rtp import peek_rtp_header
from hotline.media.stream import OutgoingStream, StreamSource

SSRC = 0x11223344
PAYLOAD = bytes(range(160))


def make_stream(seq: int = 1000, ts: int = 50_000) -> OutgoingStream:
    return OutgoingStream(ssrc=SSRC, payload_type=8, initial_seq=seq, initial_timestamp=ts)


def fields(packet: bytes) -> tuple[int, int, int, int, bool]:
    pt, seq, ts, ssrc, marker, _offset = peek_rtp_header(packet)
    return pt, seq, ts, ssrc, marker


def remote(seq: int, ts: int, ssrc: int = 0xCAFE, pt: int = 8, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, ssrc) + PAYLOAD


def test_public_surface() -> None:
    assert set(stream_module.__all__) == {
        "MAX_DROPOUT",
        "MAX_MISORDER",
        "OutgoingStream",
        "StreamSource",
    }


def test_own_frames_are_contiguous() -> None:
    stream = make_stream()
    packets = [stream.frame(PAYLOAD, 10.0 + 0.02 * i) for i in range(5)]
    got = [fields(p) for p in packets]
    assert got[0] == (8, 1000, 50_000, SSRC, True)  # first packet of the stream: marker
    for i, (pt, seq, ts, ssrc, marker) in enumerate(got[1:], start=1):
        assert (pt, seq, ts, ssrc, marker) == (8, 1000 + i, 50_000 + 160 * i, SSRC, False)
    assert packets[0][12:] == PAYLOAD
    assert stream.source is StreamSource.PLAYER


def test_ticker_jitter_does_not_move_timestamps() -> None:
    stream = make_stream()
    times = [0.0, 0.027, 0.036, 0.061, 0.080]
    got = [fields(stream.frame(PAYLOAD, t)) for t in times]
    assert [g[2] - 50_000 for g in got] == [0, 160, 320, 480, 640]
    assert [g[4] for g in got] == [True, False, False, False, False]


def test_wall_gap_advances_timestamp_and_sets_marker() -> None:
    stream = make_stream()
    stream.frame(PAYLOAD, 1.0)
    stream.frame(PAYLOAD, 1.02)
    _pt, seq, ts, _ssrc, marker = fields(stream.frame(PAYLOAD, 1.52))  # 500 ms of nothing
    assert seq == 1002  # sequence numbers never jump
    assert ts == 50_000 + 160 + 4000
    assert marker


def test_sequence_and_timestamp_wrap() -> None:
    stream = make_stream(seq=65535, ts=2**32 - 160)
    first = fields(stream.frame(PAYLOAD, 0.0))
    second = fields(stream.frame(PAYLOAD, 0.02))
    assert (first[1], first[2]) == (65535, 2**32 - 160)
    assert (second[1], second[2]) == (0, 0)


def test_relay_rewrites_header_and_keeps_loss_and_reordering() -> None:
    stream = make_stream()
    stream.frame(PAYLOAD, 0.0)
    stream.frame(PAYLOAD, 0.02)  # last own: seq 1001, ts 50160
    out = [
        stream.relay(remote(7000, 900_000), 0.04),
        stream.relay(remote(7001, 900_160), 0.06),
        stream.relay(remote(7003, 900_480), 0.10),  # 7002 lost
        stream.relay(remote(7002, 900_320), 0.101),  # ... arrives late
    ]
    got = [fields(p) for p in out]
    assert got[0] == (8, 1002, 50_320, SSRC, True)  # switch → marker, timeline continued
    assert got[1] == (8, 1003, 50_480, SSRC, False)
    assert got[2] == (8, 1005, 50_800, SSRC, False)
    assert got[3] == (8, 1004, 50_640, SSRC, False)
    assert all(p[12:] == PAYLOAD for p in out)
    assert stream.last_seq == 1005
    assert stream.source is StreamSource.RELAY


def test_relay_keeps_remote_marker_and_csrc_extension_bytes() -> None:
    stream = make_stream()
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    packet = struct.pack("!BBHII", 0x91, 8, 5, 1000, 77) + struct.pack("!I", 0xDEAD) + ext + PAYLOAD
    first = stream.relay(packet, 0.0)
    assert first[12:] == packet[12:]  # CSRC, extension and payload untouched
    second = stream.relay(
        struct.pack("!BBHII", 0x80, 0x80 | 8, 6, 5000, 77) + PAYLOAD, 0.5
    )  # the remote starts a talkspurt
    assert fields(second)[4]
    assert fields(second)[2] - fields(first)[2] == 4000


def test_relay_ssrc_change_reanchors() -> None:
    stream = make_stream()
    stream.relay(remote(100, 1000, ssrc=1), 0.0)
    stream.relay(remote(101, 1160, ssrc=1), 0.02)
    _pt, seq, ts, _ssrc, marker = fields(stream.relay(remote(40_000, 3_000_000, ssrc=2), 0.04))
    assert seq == 1002
    assert ts == 50_000 + 320
    assert marker


def test_relay_sequence_jump_reanchors() -> None:
    stream = make_stream()
    stream.relay(remote(100, 1000), 0.0)
    _pt, seq, ts, _ssrc, marker = fields(stream.relay(remote(20_000, 1160), 0.02))
    assert (seq, ts, marker) == (1001, 50_160, True)


def test_back_to_player_after_relay_continues() -> None:
    stream = make_stream()
    stream.relay(remote(100, 1000), 0.0)
    stream.relay(remote(101, 1160), 0.02)
    _pt, seq, ts, _ssrc, marker = fields(stream.frame(PAYLOAD, 0.04))
    assert (seq, ts, marker) == (1002, 50_320, True)
    _pt, seq, ts, _ssrc, marker = fields(stream.frame(PAYLOAD, 0.06))
    assert (seq, ts, marker) == (1003, 50_480, False)


def test_relay_payload_type_override() -> None:
    stream = make_stream()
    assert fields(stream.relay(remote(1, 1, pt=101), 0.0, payload_type=96))[0] == 96


def test_relay_rejects_non_rtp() -> None:
    stream = make_stream()
    with pytest.raises(RemoteProtocolError):
        stream.relay(b"\x00" * 5, 0.0)
    with pytest.raises(RemoteProtocolError):
        stream.relay(b"\x40" + b"\x00" * 20, 0.0)


def test_random_stream_fields_in_range() -> None:
    stream = OutgoingStream.random(payload_type=0)
    pt, seq, ts, ssrc, _marker = fields(stream.frame(PAYLOAD, 0.0))
    assert pt == 0
    assert ssrc == stream.ssrc
    assert 0 <= seq < 2**16
    assert 0 <= ts < 2**32


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.floats(min_value=0.0, max_value=2.0)), min_size=1, max_size=40
    ),
    seq0=st.integers(0, 2**16 - 1),
    ts0=st.integers(0, 2**32 - 1),
)
def test_sequence_always_increments_by_one_on_in_order_input(
    steps: list[tuple[bool, float]], seq0: int, ts0: int
) -> None:
    stream = OutgoingStream(ssrc=1, payload_type=8, initial_seq=seq0, initial_timestamp=ts0)
    now = 0.0
    remote_seq, remote_ts = 500, 10_000
    expected_seq = seq0
    last_ts = None
    for own, gap in steps:
        now += 0.02 + gap
        if own:
            packet = stream.frame(PAYLOAD, now)
        else:
            packet = stream.relay(remote(remote_seq, remote_ts), now)
            remote_seq += 1
            remote_ts += 160
        _pt, seq, ts, ssrc, _marker = fields(packet)
        assert seq == expected_seq
        assert ssrc == 1
        if last_ts is not None:
            assert 0 < (ts - last_ts) % 2**32 < 2**31  # timestamps only move forward
        last_ts = ts
        expected_seq = (expected_seq + 1) % 2**16
