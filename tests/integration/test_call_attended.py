"""Attended transfer on loopback: a SIPp operator phone consults 1002, then REFERs with Replaces.

The node is the one of ``test_call_monitor``.  SIPp on 127.0.0.2 is the
trunk's caller (RTP from a pcap, twice); operator 1001 is a SIPp UAS
(``scenarios/attended_uas.xml``) bound into the registrar directly; it
answers, holds the caller, calls 1002 with digest credentials (the
consultation), then sends REFER on the caller's dialog naming the
consultation dialog in ``Replaces`` (RFC 5589 §7).  1002 is a baresip phone
that auto-answers, sends 440 Hz and dumps what it hears.  The caller must end
up talking with 1002 under the same call id, recorded, with nothing leaked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from test_call_monitor import PASSWORDS, FeatureNode, feature_node, heard, tone_phone
from test_call_path import PCAP_DIR, TRUNK_IP, channel_levels, tone_power
from test_call_transfer import free_udp_port

from hotline.acd.agent import OperatorState
from hotline.calls.api import TargetKind, TransferTarget
from hotline.calls.ctl_consult import ConsultState
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId
from hotline.reports.events import EventKind
from support.peers import require, run_sipp
from support.scenarios import bye_steps, caller_scenario
from support.sipnode import bind_udp_phone

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parent / "scenarios"
OP1, OP2 = OperatorId("1001"), OperatorId("1002")


def bind_sipp_phone(node: FeatureNode, port: int) -> None:
    """Put 1001's contact into the registrar as a REGISTER from the SIPp UAS would."""
    bind_udp_phone(node.endpoint, "1001", port, "sipp-attended-test")


def long_caller() -> str:
    """The trunk's caller: the pcap twice (about 14 s of speech-like audio), then BYE."""
    play = '  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>\n'
    steps = f'{play}  <pause milliseconds="7000"/>\n{play}  <pause milliseconds="7000"/>\n'
    return caller_scenario("long caller", steps + bye_steps("long"), tag="long")


def phone_scenario(node: FeatureNode) -> str:
    text = (SCENARIOS / "attended_uas.xml").read_text(encoding="ascii")
    for key, value in {
        "[target]": "1002",
        "[node_host]": "127.0.0.1",
        "[node_port]": str(node.port),
        "[user]": "1001",
        "[password]": PASSWORDS["1001"],
    }.items():
        text = text.replace(key, value)
    return text


async def test_attended_transfer_from_the_phone_hands_the_caller_to_1002(tmp_path: Path) -> None:
    require("sipp")
    require("baresip")
    caller_dir = tmp_path / "caller"
    (caller_dir / "pcap").mkdir(parents=True)
    (caller_dir / "pcap" / "g711a.pcap").write_bytes((PCAP_DIR / "g711a.pcap").read_bytes())
    (caller_dir / "caller.xml").write_text(long_caller(), encoding="ascii")
    uas_dir = tmp_path / "uas"
    uas_dir.mkdir()
    uas_port = free_udp_port()
    async with feature_node(tmp_path) as node:
        (uas_dir / "attended.xml").write_text(phone_scenario(node), encoding="ascii")
        with tone_phone(tmp_path, "1002", node.port, 440.0, auto=True) as op2:
            await node.wait_ready("1002")
            engine, clock = node.acd.engine, SystemClock()
            engine.set_not_ready(OP2, "test: 1001 first", clock.monotonic())
            bind_sipp_phone(node, uas_port)
            await node.wait_ready("1001")
            uas_args = [
                "-sf", str(uas_dir / "attended.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                "-m", "1", "-mp", str(uas_port + 2),
            ]  # fmt: skip
            caller_args = [
                "-sf", str(caller_dir / "caller.xml"), f"127.0.0.1:{node.port}", "-s", "122",
                "-m", "1", "-i", TRUNK_IP, "-mi", TRUNK_IP,
            ]  # fmt: skip
            uas = asyncio.create_task(
                asyncio.to_thread(run_sipp, uas_args, workdir=uas_dir, timeout_s=40)
            )
            caller = asyncio.create_task(
                asyncio.to_thread(run_sipp, caller_args, workdir=caller_dir, timeout_s=40)
            )
            talking = await node.wait(lambda: node.acd.operator_state(OP1) is OperatorState.TALKING)
            engine.set_ready(OP2, clock.monotonic())  # 1002 may now be consulted
            node.acd.poll()
            uas_result, caller_result = await uas, await caller
            await node.wait_idle()
            assert talking, "1001 never answered"
            assert uas_result.returncode == 0, (
                f"SIPp phone failed, logs in {uas_dir}\n{uas_result.stdout[-3000:]}"
            )
            assert caller_result.returncode == 0, (
                f"SIPp caller failed\n{caller_result.stdout[-2000:]}\nbaresip:\n{op2.log()[-2000:]}"
            )
            await asyncio.sleep(0.5)  # 1002 closes its dump
            heard_by_1002, rate = heard(op2)
        for _ in range(50):
            if len(node.events.of(EventKind.RECORDING_STORED)) >= 2:
                break
            await asyncio.sleep(0.1)
        attended = node.controller.attended
        assert attended is not None and attended.legs() == 0 and attended.active() == 0
        assert node.controller.active() == 0 and node.media.active() == 0
        assert node.ua.active_legs == 0
        assert node.acd.engine.open_transfers() == ()
        assert node.acd.operator_state(OP1) in (OperatorState.WRAP_UP, OperatorState.READY)
        assert node.acd.operator_state(OP2) in (OperatorState.WRAP_UP, OperatorState.READY)
    (arrived,) = node.events.of(EventKind.CALL_ARRIVED)
    (moved,) = node.events.of(EventKind.CALL_TRANSFERRED)
    assert moved.call_id == arrived.call_id and moved.operator_id == "1001"
    assert (moved.text("kind"), moved.text("to"), moved.text("to_type")) == (
        "attended",
        "1002",
        "operator",
    )
    (held,) = node.events.of(EventKind.CALL_HELD)
    assert held.text("by") == "operator"
    (ended,) = node.events.of(EventKind.CALL_ENDED)  # one call, one outcome
    assert ended.call_id == arrived.call_id
    assert ended.operator_id == "1002" and ended.text("who_hung_up") == "caller"
    stored = node.events.of(EventKind.RECORDING_STORED)
    assert [s.call_id for s in stored] == [arrived.call_id] * 2  # one segment per operator
    left, right, rec_rate = channel_levels(Path(stored[-1].text("path") or ""))
    assert len(left) > 4 * rec_rate  # the caller talked with 1002 for seconds
    assert np.sqrt(np.mean(left**2)) > 100.0  # the caller's audio towards 1002
    assert tone_power(right[: 2 * rec_rate], rec_rate, 440.0) > 0.5  # 1002's voice back
    windows = heard_by_1002[: len(heard_by_1002) // rate * rate].reshape(-1, rate)
    loudest = float(np.max(np.sqrt(np.mean(windows**2, axis=1))))
    assert loudest > 100.0, "1002 never heard the caller"


async def test_attended_transfer_through_the_api_cancels_consults_again_and_completes(
    tmp_path: Path,
) -> None:
    require("sipp")
    require("baresip")
    caller_dir = tmp_path / "caller"
    (caller_dir / "pcap").mkdir(parents=True)
    (caller_dir / "pcap" / "g711a.pcap").write_bytes((PCAP_DIR / "g711a.pcap").read_bytes())
    (caller_dir / "caller.xml").write_text(long_caller(), encoding="ascii")
    async with feature_node(tmp_path) as node:
        with (
            tone_phone(tmp_path, "1001", node.port, 600.0, auto=True) as op1,
            tone_phone(tmp_path, "1002", node.port, 440.0, auto=True) as op2,
        ):
            await node.wait_ready("1002")
            engine, clock = node.acd.engine, SystemClock()
            engine.set_not_ready(OP2, "test: 1001 first", clock.monotonic())
            await node.wait_ready("1001")
            caller_args = [
                "-sf", str(caller_dir / "caller.xml"), f"127.0.0.1:{node.port}", "-s", "122",
                "-m", "1", "-i", TRUNK_IP, "-mi", TRUNK_IP,
            ]  # fmt: skip
            caller = asyncio.create_task(
                asyncio.to_thread(run_sipp, caller_args, workdir=caller_dir, timeout_s=40)
            )
            assert await node.wait(lambda: node.acd.operator_state(OP1) is OperatorState.TALKING)
            engine.set_ready(OP2, clock.monotonic())
            node.acd.poll()
            (call,) = node.controller.calls()
            attended = node.controller.attended
            assert attended is not None
            await asyncio.sleep(1.0)
            to_1002 = TransferTarget(TargetKind.OPERATOR, "1002")
            attended.consult(call.call_id, to_1002)  # first a consultation that is cancelled
            assert await node.wait(
                lambda: (
                    (c := attended.consultation(call.call_id)) is not None
                    and c.state is ConsultState.TALKING
                )
            ), f"1002 never answered the consultation\n{op2.log()[-2000:]}"
            attended.cancel(call.call_id)
            assert attended.legs() == 0 and call.operator_id == OP1
            assert node.acd.operator_state(OP2) is OperatorState.READY
            await asyncio.sleep(1.0)  # the caller talks with 1001 again
            attended.consult(call.call_id, to_1002)
            answered = await node.wait(
                lambda: (
                    (c := attended.consultation(call.call_id)) is not None
                    and c.state is ConsultState.TALKING
                )
            )
            assert answered, f"1002 never answered the consultation\n{op2.log()[-2000:]}"
            await asyncio.sleep(2.0)  # 1001 and 1002 talk; the caller hears music on hold
            attended.complete(call.call_id)
            assert call.operator_id == OP2
            caller_result = await caller
            await node.wait_idle()
            assert caller_result.returncode == 0, (
                f"SIPp caller failed\n{caller_result.stdout[-2000:]}\nbaresip:\n{op2.log()[-2000:]}"
            )
            await asyncio.sleep(0.5)
            heard_by_1002, rate = heard(op2)
            heard_by_1001, _ = heard(op1)
        for _ in range(50):
            if len(node.events.of(EventKind.RECORDING_STORED)) >= 2:
                break
            await asyncio.sleep(0.1)
        assert attended.legs() == 0 and attended.active() == 0
        assert node.controller.active() == 0 and node.media.active() == 0
        assert node.ua.active_legs == 0 and node.acd.engine.open_transfers() == ()
    (moved,) = node.events.of(EventKind.CALL_TRANSFERRED)
    assert (moved.call_id, moved.operator_id, moved.text("kind")) == (
        call.call_id,
        "1001",
        "attended",
    )
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.operator_id == "1002" and ended.text("who_hung_up") == "caller"
    stored = node.events.of(EventKind.RECORDING_STORED)
    assert [s.call_id for s in stored] == [call.call_id] * 2
    left, right, rec_rate = channel_levels(Path(stored[-1].text("path") or ""))
    assert len(left) > 4 * rec_rate and np.sqrt(np.mean(left**2)) > 100.0
    assert tone_power(right[: 2 * rec_rate], rec_rate, 440.0) > 0.5  # 1002 on the right
    # During the consultation 1002 heard 1001 (600 Hz) and 1001 heard 1002 (440 Hz).
    assert tone_power(heard_by_1002[rate // 2 : 2 * rate], rate, 600.0) > 0.3
    assert (
        max(
            tone_power(heard_by_1001[i : i + rate], rate, 440.0)
            for i in range(0, max(1, len(heard_by_1001) - rate), rate // 2)
        )
        > 0.3
    )
