"""An uploaded WAV greeting plays to a SIPp caller instead of the synthesised text.

The node of ``test_call_menu`` runs a flow whose greeting has a library text
(rendered by espeak-ng) and, once the node is running, an uploaded
recording: a 1 kHz tone stored the way the administration stores an upload
(converted once to 8 kHz).  The SIPp caller's SDP points at an RTP sink of
the test; the audio it receives must be the tone (its energy at 1 kHz), not
speech.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from pathlib import Path

import numpy as np
import pytest
from test_call_menu import menu_node
from test_call_path import TRUNK_IP

from hotline.app.stored_config import UploadedPrompts
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.media.codecs import get_codec
from hotline.web.admin_prompts import CUSTOM_DIR, store_prompt
from support.peers import free_udp_port, require, run_sipp

pytestmark = pytest.mark.integration

FLOW = """
format: 1
name: uploaded
start: greeting
prompts:
  greeting: Здравствуйте, вы позвонили на горячую линию.
nodes:
  - {id: greeting, kind: play, prompts: [greeting], next: queue}
  - {id: queue, kind: queue, queue: general}
"""
TONE_HZ = 1000.0

_PARTY = """From: caller <sip:79161234567@[local_ip]:[local_port]>;tag=[pid]up[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: <sip:79161234567@[local_ip]:[local_port]>
Max-Forwards: 70"""
_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"


def _scenario(sink_port: int, listen_ms: int) -> str:
    sdp = f"""v=0
o=caller 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio {sink_port} RTP/AVP 8
a=rtpmap:8 PCMA/8000"""
    head = "sip:[service]@[remote_ip]:[remote_port] SIP/2.0"
    invite = (
        f"INVITE {head}\n{_VIA}\n{_PARTY.format(to_tag='', cseq='1 INVITE')}\n"
        f"Content-Type: application/sdp\nContent-Length: [len]\n\n{sdp}\n"
    )
    ack = f"ACK {head}\n{_VIA}\n{_PARTY.format(to_tag='[peer_tag_param]', cseq='1 ACK')}\n"
    bye = f"BYE {head}\n{_VIA}\n{_PARTY.format(to_tag='[peer_tag_param]', cseq='2 BYE')}\n"
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="listen to the greeting">
  <send retrans="500"><![CDATA[
{invite}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
{ack}Content-Length: 0
]]></send>
  <pause milliseconds="{listen_ms}"/>
  <send retrans="500"><![CDATA[
{bye}Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 8:  # RTP, PCMA
            self.payloads.append(data[12:])


def _source_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> None:
    t = np.arange(int(rate * seconds)) / rate
    pcm = (12000 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def _tone_share(pcm: np.ndarray) -> float:
    """The share of the signal's energy within ±50 Hz of the tone."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    band = (freqs > TONE_HZ - 50) & (freqs < TONE_HZ + 50)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


async def test_an_uploaded_greeting_plays_instead_of_the_text(tmp_path: Path) -> None:
    require("sipp")
    require("espeak-ng")
    flow = load_flow_yaml(FLOW, known_queues=("general",))
    prompts_dir = tmp_path / "prompts"
    uploaded = UploadedPrompts(prompts_dir, ("PCMA", "PCMU"))
    loop = asyncio.get_running_loop()
    sink_port = free_udp_port()
    transport, sink = await loop.create_datagram_endpoint(
        _Sink, local_addr=("127.0.0.1", sink_port)
    )
    workdir = tmp_path / "sipp"
    workdir.mkdir()
    (workdir / "call.xml").write_text(_scenario(sink_port, 2500), encoding="ascii")
    try:
        async with menu_node(tmp_path, flow) as node:
            spoken = node.prompts.get(flow.prompts["greeting"], "PCMA")
            assert spoken is not None and spoken.duration_s > 1.0  # the text was synthesised
            node.menu.recordings = uploaded.get
            watcher = loop.create_task(uploaded.watch(0.1))
            try:
                # Uploaded while running, converted as the administration does.
                _source_wav(tmp_path / "upload.wav")
                await asyncio.to_thread(
                    store_prompt,
                    tmp_path / "upload.wav",
                    prompts_dir / CUSTOM_DIR / "greeting.wav",
                )
                for _ in range(50):
                    if "greeting" in uploaded.ids():
                        break
                    await asyncio.sleep(0.1)
                assert uploaded.ids() == {"greeting"}
                args = ["-sf", "call.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
                args += ["-i", TRUNK_IP]
                result = await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=30)
                await node.wait_idle()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            assert result.returncode == 0 and result.successful == 1, (
                f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
            )
            assert node.menu.missing_prompts == 0
    finally:
        transport.close()
    assert len(sink.payloads) >= 75, f"only {len(sink.payloads)} RTP packets reached the caller"
    pcm = np.concatenate([get_codec("PCMA").decode(p) for p in sink.payloads[:75]])  # 1.5 s
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    assert rms > 3000, f"the greeting is too quiet (rms {rms:.0f})"
    assert _tone_share(pcm) > 0.8, "the caller heard something other than the uploaded tone"
