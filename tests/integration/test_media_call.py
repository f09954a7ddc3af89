"""Issue 4's integration check: SIPp plays G.711 audio and an RFC 2833 digit from pcaps into a
call; we detect the digit "1", record the audio, and tshark on loopback sees our outgoing RTP
stream with no sequence gaps."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_call_path import PCAP_DIR, call_node, channel_levels, phone, queue, sipp_args

from hotline.media.eng_events import LegDtmfReceived, MediaEvent
from hotline.reports.events import EventKind
from support.peers import require, run_sipp

pytestmark = pytest.mark.integration


def _rtp_streams(capture: Path) -> list[dict[str, str]]:
    """tshark's RTP stream table (-z rtp,streams) as dicts."""
    out = subprocess.run(
        ["tshark", "-r", str(capture), "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        parts = line.split()
        # Start, End, Src IP, Src port, Dst IP, Dst port, SSRC, Payload, Pkts, Lost (pct), ...
        ip_at = next((i for i, p in enumerate(parts) if p.count(".") == 3), None)
        if ip_at is None or len(parts) < ip_at + 8 or not parts[ip_at + 4].startswith("0x"):
            continue
        rows.append(
            {
                "src_port": parts[ip_at + 1],
                "dst_port": parts[ip_at + 3],
                "ssrc": parts[ip_at + 4],
                "payload": parts[ip_at + 5],
                "packets": parts[ip_at + 6],
                "lost": parts[ip_at + 7],
            }
        )
    return rows


async def test_pcap_call_digit_recording_and_gapless_outgoing_stream(tmp_path: Path) -> None:
    require("tshark")
    sipp_dir = tmp_path / "sipp"
    (sipp_dir / "pcap").mkdir(parents=True)
    for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(PCAP_DIR / name, sipp_dir / "pcap" / name)
    capture = tmp_path / "loopback.pcapng"
    async with call_node(tmp_path, queue(ring_timeout_s=10.0)) as node:
        seen: list[MediaEvent] = []
        original = node.controller.on_media_event

        def spy(event: MediaEvent) -> None:
            seen.append(event)
            original(event)

        node.controller.on_media_event = spy  # type: ignore[method-assign]
        ports = node.media.ports
        tshark = subprocess.Popen(  # noqa: ASYNC220 - a capture running beside the call
            ["tshark", "-i", "lo", "-q", "-w", str(capture), "-a", "duration:60",
             "-f", f"udp and (port {node.port} or portrange {ports.first}-{ports.last})"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.sleep(2.0)  # let dumpcap open the interface
            with phone(tmp_path, "1001", node.port, auto=True):
                await node.wait_ready("1001")
                result = await asyncio.to_thread(
                    run_sipp, sipp_args(node, "uac_pcap"), workdir=sipp_dir, timeout_s=40
                )
                await node.wait_idle()
            assert result.returncode == 0, result.stdout[-2000:]
            await asyncio.sleep(0.5)
        finally:
            tshark.terminate()
            await asyncio.to_thread(tshark.wait, 15)
        for _ in range(50):
            if node.events.of(EventKind.RECORDING_STORED):
                break
            await asyncio.sleep(0.1)
    digits = [e.dtmf for e in seen if isinstance(e, LegDtmfReceived)]
    assert [d.digit for d in digits] == ["1"], digits
    assert 150 <= digits[0].duration_ms <= 400  # the capture's event lasts 280 ms
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    left, _right, rate = channel_levels(Path(stored.text("path") or ""))
    assert np.sqrt(np.mean(left[: 4 * rate] ** 2)) > 100.0  # the pcap's audio, caller channel
    streams = _rtp_streams(capture)
    ours = [
        s
        for s in streams
        if ports.first <= int(s["src_port"]) <= ports.last and s["payload"] != "telephone-event"
    ]
    assert ours, f"no RTP from our ports in the capture: {streams}"
    for stream in ours:
        assert int(stream["packets"]) > 100, stream
        assert int(stream["lost"]) == 0, f"sequence gap in our outgoing stream {stream}"
