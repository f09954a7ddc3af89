"""The audio tap of a media leg: decoded PCM of every received audio packet, in order.

The leg's receive path is driven directly (no socket, fake time); the tap's
PCM is compared with the codec's reference decoding of the sent payloads.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from hotline.media.codecs import PCMA, PCMU, Codec
from hotline.media.dtmf import telephone_event_frames
from hotline.media.eng_events import MediaEngineMetrics
from hotline.media.eng_leg import LegContext, MediaLeg
from hotline.media.player import PlayerSet
from hotline.media.ports import PortPair
from hotline.media.timeouts import RtpInactivityMonitor

SOURCE = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 40002)


class FakeNow:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def make_leg(codec: Codec, now: FakeNow) -> tuple[MediaLeg, MediaEngineMetrics]:
    metrics = MediaEngineMetrics()
    ctx = LegContext(
        metrics=metrics,
        now=now,
        monitor=RtpInactivityMonitor(timeout_s=30.0),
        cname=b"test",
        on_lost=lambda leg, exc: None,
    )
    leg = MediaLeg(
        ctx,
        "leg-1",
        pair=PortPair(30000),
        host="127.0.0.1",
        codec=codec,
        payload_type=codec.payload_type,
        telephone_event_pt=101,
        ptime_ms=20,
        player=PlayerSet().create("leg-1", codec),
        inband_dtmf=False,
        dtmf_end_timeout_s=1.0,
        timeout_s=30.0,
    )
    return leg, metrics


def packet(pt: int, seq: int, ts: int, payload: bytes, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def ramp(codec: Codec, start: int) -> bytes:
    return codec.encode(np.arange(start, start + 160 * 50, 50, dtype=np.int16))


@pytest.mark.parametrize("codec", [PCMA, PCMU])
def test_tap_gets_decoded_little_endian_pcm_in_arrival_order(codec: Codec) -> None:
    now = FakeNow()
    leg, _metrics = make_leg(codec, now)
    got: list[bytes] = []
    leg.tap = got.append
    payloads = [ramp(codec, -4000 + 100 * i) for i in range(5)]
    order = [0, 2, 1, 3, 4]  # reordered on the wire: the tap keeps arrival order
    for i in order:
        leg.datagram_received(packet(codec.payload_type, 10 + i, 160 * i, payloads[i]), SOURCE)
        now.value += 0.02
    assert len(got) == 5
    for chunk, i in zip(got, order, strict=True):
        assert len(chunk) == 320
        expected = codec.decode(payloads[i])
        assert np.array_equal(np.frombuffer(chunk, dtype="<i2"), expected)
    assert leg.stats.ssrc == 0x1234  # the statistics saw the stream too


def test_tap_skips_telephone_events_foreign_sources_and_padding() -> None:
    now = FakeNow()
    leg, metrics = make_leg(PCMA, now)
    got: list[bytes] = []
    leg.tap = got.append
    audio = ramp(PCMA, 0)
    leg.datagram_received(packet(8, 1, 0, audio), SOURCE)
    event = telephone_event_frames("1", 101)[0].payload
    leg.datagram_received(packet(101, 2, 160, event), SOURCE)
    leg.datagram_received(packet(8, 3, 320, audio), OTHER)  # not the latched source
    padded = packet(8, 4, 480, audio[:80]) + b"\x00\x00\x03"
    leg.datagram_received(bytes((0xA0,)) + padded[1:], SOURCE)
    assert [len(chunk) for chunk in got] == [320, 160]
    assert np.array_equal(np.frombuffer(got[1], dtype="<i2"), PCMA.decode(audio[:80]))
    assert metrics.dropped_unlatched == 1


def test_a_raising_sink_is_dropped_and_the_leg_goes_on() -> None:
    now = FakeNow()
    leg, metrics = make_leg(PCMA, now)
    calls: list[int] = []

    def broken(pcm: bytes) -> None:
        calls.append(len(pcm))
        raise RuntimeError("consumer bug")

    leg.tap = broken
    for i in range(3):
        leg.datagram_received(packet(8, 1 + i, 160 * i, ramp(PCMA, 0)), SOURCE)
        now.value += 0.02
    assert calls == [320]
    assert metrics.tap_errors == 1
    assert metrics.internal_errors == 0
    assert leg.packets_in == 3
    assert leg.tap is None


def test_removing_the_tap_stops_delivery() -> None:
    now = FakeNow()
    leg, _metrics = make_leg(PCMU, now)
    got: list[bytes] = []
    leg.tap = got.append
    leg.datagram_received(packet(0, 1, 0, ramp(PCMU, 0)), SOURCE)
    leg.tap = None
    leg.datagram_received(packet(0, 2, 160, ramp(PCMU, 0)), SOURCE)
    assert len(got) == 1
