"""Captured packets as fixtures: the SIPp (Debian package sip-tester) RTP captures.

A tiny pcap reader (classic libpcap format, Ethernet/IPv4/UDP) is enough for
these files.  Every RTP packet must round-trip byte for byte; the G.711 stream
must decode, and its statistics agree with what tshark reports for the same
capture; each RFC 2833/4733 capture must yield exactly one digit.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hotline.media.codecs import PCMA
from hotline.media.dtmf import DtmfSource, TelephoneEventReceiver
from hotline.media.rtp import RtpPacket, peek_rtp_header, rtp_payload_end
from hotline.media.seq import SeqVerdict
from hotline.media.stats import ReceiveStats

SIPP_DIR = Path("/usr/share/sip-tester")
INSTALL_HINT = "install the Debian package sip-tester: apt-get install sip-tester"

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_PCAP_MAGIC_LE = 0xA1B2C3D4
_LINKTYPE_ETHERNET = 1
_ETHERTYPE_IPV4 = 0x0800


@dataclass(frozen=True, slots=True)
class UdpRecord:
    time_s: float
    source: tuple[str, int]
    destination: tuple[str, int]
    payload: bytes


def read_pcap_udp(path: Path) -> list[UdpRecord]:
    """UDP datagrams of a little-endian, microsecond, Ethernet pcap file."""
    data = path.read_bytes()
    magic, _major, _minor, _zone, _sigfigs, _snaplen, linktype = _PCAP_HEADER.unpack_from(data)
    assert magic == _PCAP_MAGIC_LE, f"{path.name}: unsupported pcap magic {magic:#x}"
    assert linktype == _LINKTYPE_ETHERNET, f"{path.name}: link type {linktype}"
    records: list[UdpRecord] = []
    offset = _PCAP_HEADER.size
    while offset < len(data):
        seconds, micros, captured, _original = _RECORD_HEADER.unpack_from(data, offset)
        frame = data[offset + _RECORD_HEADER.size : offset + _RECORD_HEADER.size + captured]
        offset += _RECORD_HEADER.size + captured
        (ethertype,) = struct.unpack_from("!H", frame, 12)
        if ethertype != _ETHERTYPE_IPV4:
            continue
        ip = frame[14:]
        header_len = (ip[0] & 0x0F) * 4
        (total_len,) = struct.unpack_from("!H", ip, 2)
        if ip[9] != 17:  # not UDP
            continue
        udp = ip[header_len:total_len]
        source_port, destination_port, udp_len, _checksum = struct.unpack_from("!HHHH", udp)
        records.append(
            UdpRecord(
                time_s=seconds + micros / 1e6,
                source=(".".join(map(str, ip[12:16])), source_port),
                destination=(".".join(map(str, ip[16:20])), destination_port),
                payload=bytes(udp[8:udp_len]),
            )
        )
    return records


def sipp_capture(name: str) -> list[UdpRecord]:
    path = SIPP_DIR / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: {INSTALL_HINT}")
    return read_pcap_udp(path)


DTMF_CAPTURES = {
    **{f"dtmf_2833_{digit}.pcap": digit for digit in "0123456789"},
    "dtmf_2833_star.pcap": "*",
    "dtmf_2833_pound.pcap": "#",
}


@pytest.mark.parametrize("name", ["g711a.pcap", *DTMF_CAPTURES])
def test_every_rtp_packet_round_trips(name: str) -> None:
    records = sipp_capture(name)
    assert records
    for record in records:
        packet = RtpPacket.parse(record.payload)
        assert bytes(packet) == record.payload
        pt, seq, ts, ssrc, marker, offset = peek_rtp_header(record.payload)
        assert (pt, seq, ts, ssrc, marker) == (
            packet.payload_type,
            packet.sequence_number,
            packet.timestamp,
            packet.ssrc,
            packet.marker,
        )
        assert record.payload[offset : rtp_payload_end(record.payload)] == packet.payload


def test_g711a_capture_decodes_to_audio() -> None:
    packets = [RtpPacket.parse(record.payload) for record in sipp_capture("g711a.pcap")]
    assert len(packets) == 236
    assert {packet.payload_type for packet in packets} == {8}
    assert {len(packet.payload) for packet in packets} == {240}  # 30 ms frames
    audio = np.concatenate([PCMA.decode(packet.payload) for packet in packets])
    assert len(audio) == 236 * 240
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert 100 < rms < 20000
    # A-law decode then encode is the identity on every code.
    for packet in packets[:20]:
        assert PCMA.encode(PCMA.decode(packet.payload)) == packet.payload


def test_g711a_capture_statistics_match_tshark() -> None:
    stats = ReceiveStats(8000, min_sequential=1)
    jitter_trace: list[float] = []
    for record in sipp_capture("g711a.pcap"):
        _pt, seq, ts, ssrc, _marker, offset = peek_rtp_header(record.payload)
        verdict = stats.receive(ssrc, seq, ts, record.time_s, len(record.payload) - offset)
        assert verdict is SeqVerdict.IN_ORDER
        jitter_trace.append(stats.jitter_ms)
    assert (stats.received, stats.expected, stats.lost, stats.duplicates) == (236, 236, 0, 0)
    assert stats.bytes_received == 236 * 240
    # `tshark -q -z rtp,streams` on this capture: max jitter 0.829 ms, mean 0.350 ms (tshark
    # averages from the second packet on: the first has no jitter yet).
    assert max(jitter_trace) == pytest.approx(0.829, abs=0.001)
    assert sum(jitter_trace[1:]) / (len(jitter_trace) - 1) == pytest.approx(0.350, abs=0.001)


@pytest.mark.parametrize(("name", "digit"), DTMF_CAPTURES.items())
def test_telephone_event_capture_yields_one_digit(name: str, digit: str) -> None:
    receiver = TelephoneEventReceiver(8000)
    records = sipp_capture(name)
    for record in records:
        _pt, _seq, ts, ssrc, _marker, offset = peek_rtp_header(record.payload)
        receiver.receive(ssrc, ts, record.payload[offset:], record.time_s)
    event = receiver.next_event()
    assert event is not None
    assert receiver.next_event() is None
    assert event.digit == digit
    assert event.source is DtmfSource.RFC4733
    assert event.end_seen
    # The capture's duration field ends at 2240 units: 280 ms at 8 kHz.
    assert event.duration_ms == 280
    assert event.volume_dbm0 == 10
    # Seven updates plus three identical end packets: the last two are redundant copies.
    assert receiver.duplicates == 2
    assert receiver.get_timer() is None
    assert len(records) == 10


def test_dtmf_1_capture_on_top_of_audio_with_another_ssrc() -> None:
    """SIPp plays dtmf_2833_1.pcap into a call whose audio has another SSRC and sequence."""
    audio = sipp_capture("g711a.pcap")[:20]
    events = sipp_capture("dtmf_2833_1.pcap")
    receiver = TelephoneEventReceiver(8000)
    stats = ReceiveStats(8000)
    start = audio[0].time_s
    shift = start + 0.2 - events[0].time_s
    merged = sorted(
        [(record.time_s, record.payload) for record in audio]
        + [(record.time_s + shift, record.payload) for record in events]
    )
    for now, payload in merged:
        pt, seq, ts, ssrc, _marker, offset = peek_rtp_header(payload)
        if pt == 101:
            receiver.receive(ssrc, ts, payload[offset:], now)
        else:
            stats.receive(ssrc, seq, ts, now)
    assert stats.ssrc_changes == 0
    assert stats.lost == 0
    event = receiver.next_event()
    assert event is not None
    assert (event.digit, event.duration_ms) == ("1", 280)
    assert receiver.next_event() is None
