"""Blind transfer by REFER on loopback: a SIPp operator phone transfers to a baresip phone.

Reuses the node of :mod:`test_call_path`: SIPp is the trunk's caller (RTP
from a pcap); operator 1001 is a SIPp UAS (``scenarios/transfer_uas.xml``)
bound into the registrar directly (a fixed contact, as the registrar would
store it after a REGISTER); 1002 is a baresip phone that auto-answers and
sends a 440 Hz tone.  The UAS answers, waits 2.5 s and sends REFER to
1002; the caller must end up talking to 1002, audibly, with nothing leaked.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from test_call_path import (
    PCAP_DIR,
    CallNode,
    account,
    call_node,
    channel_levels,
    queue,
    sipp_args,
    tone_power,
)

from hotline.acd.agent import OperatorState
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId
from hotline.reports.events import EventKind
from support.peers import baresip, require, run_sipp, write_tone_wav
from support.sipnode import bind_udp_phone

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parent / "scenarios"
OP1, OP2 = OperatorId("1001"), OperatorId("1002")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bind_sipp_phone(node: CallNode, port: int) -> None:
    """Put 1001's contact into the registrar as a REGISTER from the SIPp UAS would."""
    bind_udp_phone(node.endpoint, "1001", port, "sipp-transfer-test")


async def wait_for(predicate: object, timeout_s: float = 15.0) -> bool:
    assert callable(predicate)
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_blind_transfer_by_refer_reaches_the_second_operator(tmp_path: Path) -> None:
    require("sipp")
    require("baresip")
    sipp_dir = tmp_path / "sipp"
    (sipp_dir / "pcap").mkdir(parents=True)
    for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
        shutil.copy(PCAP_DIR / name, sipp_dir / "pcap" / name)
    shutil.copy(SCENARIOS / "transfer_uas.xml", sipp_dir / "transfer_uas.xml")
    uas_dir = tmp_path / "uas"
    uas_port = free_udp_port()
    workdir = tmp_path / "op1002"
    workdir.mkdir()
    source = workdir / "tone440.wav"
    write_tone_wav(source, frequency_hz=440.0, seconds=30.0)
    async with call_node(tmp_path, queue(ring_timeout_s=10.0)) as node:
        with baresip(
            workdir, account=account("1002", node.port, auto=True), source_wav=source
        ) as op2:
            await node.wait_ready("1002")
            engine, clock = node.acd.engine, SystemClock()
            engine.set_not_ready(OP2, "test: 1001 first", clock.monotonic())  # 1001 gets the call
            bind_sipp_phone(node, uas_port)
            await node.wait_ready("1001")
            uas_args = [
                "-sf", str(sipp_dir / "transfer_uas.xml"), "-i", "127.0.0.1",
                "-p", str(uas_port), "-m", "1", "-key", "target", "1002",
                "-mp", str(uas_port + 2), "-key", "node_host", "127.0.0.1",
            ]  # fmt: skip
            uas = asyncio.create_task(
                asyncio.to_thread(run_sipp, uas_args, workdir=uas_dir, timeout_s=40)
            )
            caller = asyncio.create_task(
                asyncio.to_thread(
                    run_sipp, sipp_args(node, "uac_pcap"), workdir=sipp_dir, timeout_s=40
                )
            )
            talking = await wait_for(lambda: node.acd.operator_state(OP1) is OperatorState.TALKING)
            engine.set_ready(OP2, clock.monotonic())  # 1002 may now take the transfer
            node.acd.poll()
            uas_result, caller_result = await uas, await caller
            await node.wait_idle()
            assert talking, "1001 never answered"
            assert uas_result.returncode == 0, (
                f"SIPp UAS failed, logs in {uas_result.workdir}\n{uas_result.stdout[-2000:]}"
            )
            assert caller_result.returncode == 0, (
                f"SIPp caller failed\n{caller_result.stdout[-2000:]}\nbaresip:\n{op2.log()[-2000:]}"
            )
        for _ in range(50):
            if len(node.events.of(EventKind.RECORDING_STORED)) >= 2:
                break
            await asyncio.sleep(0.1)
        assert node.controller.active() == 0 and node.media.active() == 0
        transfers = node.controller.transfers
        assert transfers is not None and transfers.legs() == 0
        assert node.acd.engine.open_transfers() == ()
        assert node.acd.operator_state(OP1) in (OperatorState.WRAP_UP, OperatorState.READY)
        assert node.acd.operator_state(OP2) in (OperatorState.WRAP_UP, OperatorState.READY)
    (moved,) = node.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.operator_id == "1001"
    assert (moved.text("kind"), moved.text("to"), moved.text("to_type")) == (
        "blind",
        "1002",
        "operator",
    )
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == "1002" and ended.text("who_hung_up") == "caller"
    stored = node.events.of(EventKind.RECORDING_STORED)
    assert len(stored) == 2  # one segment per operator
    left, right, rate = channel_levels(Path(stored[-1].text("path") or ""))
    assert len(left) > rate  # the second segment has audio
    assert np.sqrt(np.mean(left**2)) > 100.0  # the caller's audio towards 1002
    assert tone_power(right[: 2 * rate], rate, 440.0) > 0.5  # 1002's 440 Hz came back
    assert "incoming rtp for 'audio' established" in op2.log()  # 1002 received our RTP
