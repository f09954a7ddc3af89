"""Symmetric RTP source latching (RFC 4961) and RTP injection protection."""

from __future__ import annotations

from hotline.media.latch import LatchKind, SourceLatch
from hotline.media.rtcp import ReceiverReport
from hotline.media.rtp import pack_rtp_header

SDP_ADDRESS = ("192.0.2.10", 40000)
NAT_ADDRESS = ("198.51.100.7", 61002)
ATTACKER = ("203.0.113.66", 5004)

PCMA_PACKET = pack_rtp_header(8, 1, 160, 0xAA) + bytes(160)
RTCP_PACKET = bytes(ReceiverReport(0xAA))


def test_sends_to_signalled_address_until_latched() -> None:
    latch = SourceLatch(signalled=SDP_ADDRESS)
    assert (latch.remote, latch.latched) == (SDP_ADDRESS, None)
    assert latch.accept(PCMA_PACKET, NAT_ADDRESS, now=1.0)
    assert latch.latched == NAT_ADDRESS
    assert latch.latched_at == 1.0
    assert latch.remote == NAT_ADDRESS
    assert latch.latch_count == 1


def test_other_sources_are_dropped_and_counted_after_latching() -> None:
    latch = SourceLatch(signalled=SDP_ADDRESS)
    latch.accept(PCMA_PACKET, NAT_ADDRESS, now=1.0)
    for _ in range(3):
        assert not latch.accept(PCMA_PACKET, ATTACKER, now=2.0)
    # Even the signalled address is "another source" once latched elsewhere.
    assert not latch.accept(PCMA_PACKET, SDP_ADDRESS, now=2.0)
    assert latch.accept(PCMA_PACKET, NAT_ADDRESS, now=2.0)
    assert latch.rejected_source == 4
    assert latch.latched == NAT_ADDRESS


def test_invalid_packets_do_not_latch() -> None:
    latch = SourceLatch(payload_types=frozenset({8, 101}))
    assert not latch.accept(b"garbage", ATTACKER, now=1.0)
    assert not latch.accept(b"\x40" + PCMA_PACKET[1:], ATTACKER, now=1.0)  # version 1
    assert not latch.accept(pack_rtp_header(0, 1, 1, 1), ATTACKER, now=1.0)  # PCMU not agreed
    assert not latch.accept(RTCP_PACKET, ATTACKER, now=1.0)  # RTCP on the RTP latch
    assert latch.rejected_invalid == 4
    assert latch.latched is None
    assert latch.accept(PCMA_PACKET, NAT_ADDRESS, now=1.5)
    assert latch.latched == NAT_ADDRESS


def test_relatch_only_when_told() -> None:
    latch = SourceLatch(signalled=SDP_ADDRESS)
    latch.accept(PCMA_PACKET, NAT_ADDRESS, now=1.0)
    assert not latch.accept(PCMA_PACKET, ATTACKER, now=50.0)  # no timeout-based re-latch
    new_sdp = ("192.0.2.20", 42000)
    latch.relatch(new_sdp)  # re-INVITE with a new c=/m=
    assert (latch.remote, latch.latched) == (new_sdp, None)
    assert latch.accept(PCMA_PACKET, ("198.51.100.7", 61010), now=60.0)
    assert latch.latched == ("198.51.100.7", 61010)
    assert latch.latch_count == 2
    latch.relatch()
    assert latch.remote == new_sdp


def test_rtcp_latch() -> None:
    latch = SourceLatch(LatchKind.RTCP, signalled=("192.0.2.10", 40001))
    assert not latch.accept(PCMA_PACKET, ATTACKER, now=1.0)
    assert latch.accept(RTCP_PACKET, ("198.51.100.7", 61003), now=1.0)
    assert not latch.accept(RTCP_PACKET, ATTACKER, now=1.1)
    assert latch.rejected_source == 1
