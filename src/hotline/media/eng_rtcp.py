"""RTCP of a media leg: the socket protocol and our reports (RFC 3550 §6).

Incoming compound packets are latched like RTP (RFC 4961), parsed, and
their sender reports remembered for the LSR/DLSR fields of our reception
reports (§6.4.1); any RTCP counts as media activity for the inactivity
timeout.  Our report is an SR once we have sent something (an RR before),
always with an SDES CNAME (§6.1), and with a BYE when the leg closes (§6.6).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from hotline.core.errors import RemoteProtocolError
from hotline.media.eng_leg import MediaLeg
from hotline.media.rtcp import (
    Bye,
    RtcpPacket,
    Sdes,
    SdesChunk,
    SdesItemType,
    SenderReport,
    parse_rtcp,
    serialize_rtcp,
)
from hotline.media.rtp import RTP_HEADER_SIZE
from hotline.media.stats import SendStats, build_report

__all__ = ["RtcpProtocol", "send_report"]


def send_report(leg: MediaLeg, now: float, ntp_timestamp: int, *, bye: bool = False) -> bool:
    """Send the leg's SR (or RR) with SDES CNAME, and BYE if it is leaving; False if nowhere."""
    remote = leg.rtcp_latch.latched or leg.rtcp_latch.signalled
    transport = leg.rtcp_transport
    if remote is None or transport is None:
        return False
    sender = SendStats()
    sender.packet_count = leg.tx_packets
    # Payload octets: what we sent minus the fixed headers (we send no CSRC or extension).
    sender.octet_count = max(leg.tx_bytes - RTP_HEADER_SIZE * leg.tx_packets, 0)
    ssrc = leg.stream.ssrc
    packets: list[RtcpPacket] = [
        build_report(
            ssrc,
            (leg.stats,),
            now,
            sender=sender,
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=leg.stream.last_timestamp,
        ),
        Sdes((SdesChunk(ssrc, ((SdesItemType.CNAME, leg.ctx.cname),)),)),
    ]
    if bye:
        packets.append(Bye((ssrc,)))
    transport.sendto(serialize_rtcp(packets), remote)
    return True


class RtcpProtocol(asyncio.DatagramProtocol):
    """The RTCP socket of a leg."""

    __slots__ = ("leg",)

    def __init__(self, leg: MediaLeg) -> None:
        self.leg = leg

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.leg.rtcp_transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier sendto: the far end is not listening (yet).
        self.leg.ctx.metrics.send_errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.leg.closed:
            self.leg.ctx.on_lost(self.leg, exc)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self._receive(data, addr)
        except Exception as exc:  # noqa: BLE001 - one bad packet must not stop the socket
            self.leg.fail(exc)

    def _receive(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        leg = self.leg
        ctx = leg.ctx
        metrics = ctx.metrics
        now = ctx.now()
        latch = leg.rtcp_latch
        if addr != latch.latched and not latch.accept(data, addr, now):
            if latch.latched is None:
                metrics.dropped_invalid += 1
            else:
                metrics.dropped_unlatched += 1
            return
        try:
            packets = parse_rtcp(data)
        except RemoteProtocolError:
            metrics.malformed += 1
            leg.malformed += 1
            return
        metrics.rtcp_in += 1
        ctx.monitor.on_packet(leg.leg_id, now)
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == leg.stats.ssrc:
                leg.stats.on_sender_report(packet.ntp_timestamp, now)
