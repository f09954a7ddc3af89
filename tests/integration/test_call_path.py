"""The call path on loopback: SIPp as the trunk's caller, baresip as operators' phones.

The node is assembled in-process (SIP endpoint, user agent, media engine,
ACD service, call controller), as the app's CallService does; the trunk is
SIPp on 127.0.0.2 (trusted by address), the phones are baresip on 127.0.0.1
(digest).  Every run is bounded; logs stay in the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hotline.acd.agent import OperatorState
from hotline.acd.model import QueueConfig
from hotline.acd.service import AcdService
from hotline.calls.controller import CallController
from hotline.core.ids import OperatorId, QueueId, TopicId
from hotline.media.engine import MediaEngine
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.sip.useragent import UserAgent
from support.callnode import LoopbackNode, presence_sync, trunk_node_core
from support.peers import Baresip, baresip, require, run_sipp, write_tone_wav

pytestmark = pytest.mark.integration

TRUNK_IP = "127.0.0.2"
PASSWORDS = {"1001": "op-secret-1001", "1002": "op-secret-1002"}
GENERAL = QueueId("general")
PCAP_DIR = Path("/usr/share/sip-tester")


@dataclass(frozen=True)
class Span:
    first: int
    last: int


@dataclass
class EventList:
    events: list[CallCentreEvent] = field(default_factory=list)

    def append(self, event: CallCentreEvent) -> None:
        self.events.append(event)

    def of(self, kind: EventKind) -> list[CallCentreEvent]:
        return [e for e in self.events if e.kind is kind]


async def wait_operator_ready(acd: AcdService, operator: str, timeout_s: float = 15.0) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if acd.operator_state(OperatorId(operator)) is OperatorState.READY:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"operator {operator} never became READY")


async def wait_calls_idle(
    controller: CallController, media: MediaEngine, timeout_s: float = 10.0
) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if not controller.active() and not media.active():
            return
        await asyncio.sleep(0.1)


@dataclass
class CallNode(LoopbackNode):
    media: MediaEngine
    acd: AcdService
    controller: CallController
    ua: UserAgent
    events: EventList
    recordings: Path

    async def wait_ready(self, operator: str, timeout_s: float = 15.0) -> None:
        await wait_operator_ready(self.acd, operator, timeout_s)

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        await wait_calls_idle(self.controller, self.media, timeout_s)


@contextlib.asynccontextmanager
async def call_node(tmp_path: Path, queue: QueueConfig) -> AsyncIterator[CallNode]:
    events = EventList()
    async with trunk_node_core(
        tmp_path,
        users=PASSWORDS,
        trunk_ip=TRUNK_IP,
        operators=PASSWORDS,
        queue=queue,
        events=events,
    ) as (ep, core):
        await core.acd.start()
        ua = UserAgent(ep, core.controller)
        core.controller.attach(ua)
        async with presence_sync(core.acd, core.phones):
            yield CallNode(
                ep, core.media, core.acd, core.controller, ua, events, tmp_path / "recordings"
            )


def account(user: str, port: int, *, auto: bool) -> str:
    mode = "auto" if auto else "manual"
    return (
        f"<sip:{user}@127.0.0.1:{port};transport=udp>;auth_pass={PASSWORDS[user]};"
        f"answermode={mode};audio_codecs=PCMA,PCMU;regint=120"
    )


def phone(
    tmp_path: Path, user: str, port: int, *, auto: bool
) -> contextlib.AbstractContextManager[Baresip]:
    """A baresip operator phone sending a 440 Hz tone for 30 s (it hangs up when its source ends)."""
    workdir = tmp_path / f"op{user}"
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "tone440.wav"
    write_tone_wav(source, frequency_hz=440.0, seconds=30.0)
    return baresip(workdir, account=account(user, port, auto=auto), source_wav=source)


def sipp_args(node: CallNode, scenario: str, *extra: str) -> list[str]:
    return [
        "-sn", scenario, f"127.0.0.1:{node.port}", "-s", "122", "-m", "1",
        "-i", TRUNK_IP, "-mi", TRUNK_IP, *extra,
    ]  # fmt: skip


def queue(**overrides: float) -> QueueConfig:
    return QueueConfig(
        queue_id=GENERAL,
        name="General",
        topic=TopicId("general"),
        **overrides,  # type: ignore[arg-type]
    )


def channel_levels(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The left and right channels of a stereo 16-bit WAV, as floats, and its rate."""
    assert path.is_file(), f"no recording at {path}"
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return data[:, 0].astype(np.float64), data[:, 1].astype(np.float64), rate


def tone_power(signal: np.ndarray, rate: int, freq: float) -> float:
    """Share of the signal's energy within ±20 Hz of ``freq``."""
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / rate)
    band = (freqs > freq - 20) & (freqs < freq + 20)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


async def test_caller_reaches_a_registered_operator_and_is_recorded(tmp_path: Path) -> None:
    require("sipp")
    sipp_dir = tmp_path / "sipp"
    (sipp_dir / "pcap").mkdir(parents=True)
    for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(PCAP_DIR / name, sipp_dir / "pcap" / name)
    async with call_node(tmp_path, queue(ring_timeout_s=10.0)) as node:
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            await node.wait_ready("1001")
            result = await asyncio.to_thread(
                run_sipp, sipp_args(node, "uac_pcap"), workdir=sipp_dir, timeout_s=40
            )
            await node.wait_idle()
            assert result.returncode == 0, (
                f"SIPp failed, logs in {result.workdir}\n{result.stdout[-2000:]}\n"
                f"baresip:\n{op.log()[-3000:]}"
            )
        for _ in range(50):
            if node.events.of(EventKind.RECORDING_STORED):
                break
            await asyncio.sleep(0.1)
        assert node.controller.active() == 0 and node.media.active() == 0
    kinds = [e.kind.value for e in node.events.events if e.kind is not EventKind.OPERATOR_STATE]
    assert kinds[:4] == ["call.arrived", "queue.entered", "queue.offered", "queue.answered"]
    assert set(kinds[4:]) == {"call.ended", "recording.stored"}
    (answered,) = node.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001" and answered.number("wait_s") is not None
    assert answered.number("wait_s") < 5.0  # type: ignore[operator]
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    left, right, rate = channel_levels(Path(stored.text("path") or ""))
    assert len(left) > 4 * rate  # most of the 8 s of the pcap after the answer
    window = left[: 4 * rate]
    assert np.sqrt(np.mean(window**2)) > 100.0  # the caller's audio on the left channel
    assert tone_power(right[: 4 * rate], rate, 440.0) > 0.5  # baresip's 440 Hz on the right


async def test_caller_hanging_up_while_waiting_is_abandoned(tmp_path: Path) -> None:
    async with call_node(tmp_path, queue()) as node:
        result = await asyncio.to_thread(
            run_sipp, sipp_args(node, "uac", "-d", "3000"), workdir=tmp_path / "sipp", timeout_s=30
        )
        await node.wait_idle()
        assert result.returncode == 0, f"logs in {result.workdir}\n{result.stdout[-2000:]}"
        assert node.controller.active() == 0 and node.media.active() == 0
    (abandoned,) = node.events.of(EventKind.QUEUE_ABANDONED)
    assert abandoned.number("position") == 1
    wait_s = abandoned.number("wait_s")
    assert wait_s is not None and 2.5 < wait_s < 5.0
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.text("cause") == "remote-bye"


async def test_unanswered_phone_is_cancelled_and_the_next_operator_answers(tmp_path: Path) -> None:
    async with call_node(tmp_path, queue(ring_timeout_s=2.0)) as node:
        with (
            phone(tmp_path, "1001", node.port, auto=False) as silent,
            contextlib.ExitStack() as stack,
        ):
            await node.wait_ready("1001")
            await asyncio.sleep(0.2)  # 1001 has been idle longest: it is rung first
            stack.enter_context(phone(tmp_path, "1002", node.port, auto=True))
            await node.wait_ready("1002")
            result = await asyncio.to_thread(
                run_sipp,
                sipp_args(node, "uac", "-d", "6000"),
                workdir=tmp_path / "sipp",
                timeout_s=40,
            )
            await node.wait_idle()
            assert result.returncode == 0, f"logs in {result.workdir}\n{result.stdout[-2000:]}"
            assert silent.wait_log("CANCEL", timeout_s=1.0) or "487" in silent.log()
        assert node.controller.active() == 0 and node.media.active() == 0
    (noanswer,) = node.events.of(EventKind.QUEUE_RING_NOANSWER)
    assert noanswer.operator_id == "1001"
    ring_ms = noanswer.number("ring_ms")
    assert ring_ms is not None and 1900 <= ring_ms <= 2100
    (answered,) = node.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1002"
    offered = [e.operator_id for e in node.events.of(EventKind.QUEUE_OFFERED)]
    assert offered == ["1001", "1002"]
