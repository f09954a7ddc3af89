"""Call-backs live: SIPp caller presses 1, baresip operator, SIPp UAS as the caller's phone.

The node is assembled in-process as in ``test_call_path`` with the outbound
desks (:func:`~hotline.calls.ctl_dialout.wire_outbound`) and a trunk whose
host is 127.0.0.3, where a SIPp UAS stands for the caller's phone.  The
operator's phone registers but stays logged out (no automatic readiness)
while the caller waits, presses 1 (RFC 2833) and is hung up on after the
confirmation; then the operator is set READY and the ACD offers the request:
the operator's phone rings first, auto-answers, and the caller is dialled
through the trunk.  Prompts are not rendered (silence stands in).
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_call_menu import sipp_dir
from test_call_path import PASSWORDS, TRUNK_IP, EventList, phone

from hotline.acd.agent import OperatorState
from hotline.acd.model import QueueConfig
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.actions import LiveActions
from hotline.calls.controller import CallController
from hotline.calls.ctl_callback import CallbackPolicy
from hotline.calls.ctl_dialout import OutboundDesks, wire_outbound
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.ids import OperatorId, QueueId, TopicId
from hotline.media.engine import MediaEngine
from hotline.reports.events import EventKind
from hotline.sip.useragent import UserAgent
from support.callnode import LoopbackNode, random_port_base, trunk_node_core
from support.peers import SippResult, free_udp_port, require, run_sipp
from support.scenarios import (
    ANSWER_BYE_STEPS,
    caller_scenario,
    phone_answer_and_bye,
    phone_final,
)

pytestmark = pytest.mark.integration

GENERAL = QueueId("general")
PHONE_IP = "127.0.0.3"  # the citizen's phone behind the local test trunk
OPERATOR = OperatorId("1001")

# The citizen's phone: answers PCMA, echoes the audio, hangs up after 3 s.
UAS_ANSWER_AND_BYE = phone_answer_and_bye(
    "the caller's phone: answer, talk 3 s, hang up", 3000, ringing=True
)

# The citizen's phone is busy: 486 to every INVITE.
UAS_BUSY = phone_final("the caller's phone is busy", "486", "Busy Here", tag="SIPpTagBusy")


@dataclass
class OutboundNode(LoopbackNode):
    media: MediaEngine
    acd: AcdService
    controller: CallController
    desks: OutboundDesks
    actions: LiveActions
    trunks: TrunkTable
    events: EventList
    phones: RegistrarPhones

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        for _ in range(int(timeout_s / 0.1)):
            if predicate():
                return True
            await asyncio.sleep(0.1)
        return predicate()

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        await self.wait_for(
            lambda: (
                not self.controller.active()
                and not self.desks.dialer.active()
                and not self.media.active()
            ),
            timeout_s,
        )


@contextlib.asynccontextmanager
async def outbound_node(
    tmp_path: Path, phone_port: int, *, policy: CallbackPolicy | None = None
) -> AsyncIterator[OutboundNode]:
    """A node with the outbound desks; operators are READY only when a test says so."""
    events = EventList()
    queue = QueueConfig(
        queue_id=GENERAL, name="General", topic=TopicId("general"), wrap_up_s=0.0,
        announce_interval_s=None, ring_timeout_s=10.0,
    )  # fmt: skip
    async with trunk_node_core(
        tmp_path,
        users=PASSWORDS,
        trunk_ip=TRUNK_IP,
        operators=PASSWORDS,
        queue=queue,
        events=events,
        auto_ready=False,
        port_base=random_port_base(38000, 2000),
    ) as (ep, core):
        controller, acd, clock, phones = core.controller, core.acd, core.clock, core.phones
        trunks = TrunkTable([TrunkConfig(name="local-test", host=PHONE_IP, port=phone_port)])
        desks = wire_outbound(
            controller, acd=acd, media=core.media, phones=phones, trunks=trunks, clock=clock,
            policies={GENERAL: policy or CallbackPolicy()},
        )  # fmt: skip
        actions = LiveActions(controller=controller, acd=acd, clock=clock, outbound=desks)
        await acd.start()
        controller.attach(UserAgent(ep, controller))
        try:
            yield OutboundNode(
                ep, core.media, acd, controller, desks, actions, trunks, events, phones
            )
        finally:
            desks.callbacks.close()
            await desks.dialer.close()
    assert trunks.active_calls("local-test") == 0  # every trunk slot given back


def press_1_scenario() -> str:
    """A SIPp caller: audio, key 1 by RFC 2833 after 1.5 s, then our BYE is answered."""
    steps = f"""  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
  <pause milliseconds="1500"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/></action></nop>
{ANSWER_BYE_STEPS}"""
    return caller_scenario("press 1 for a call-back", steps, tag="cb")


def phone_sipp(
    workdir: Path, port: int, scenario: str, calls: int, *, trace: bool = False
) -> asyncio.Task[SippResult]:
    """The caller's phone behind the trunk: a SIPp UAS (``trace``: keep its messages)."""
    args = ["-sf", "phone.xml", "-i", PHONE_IP, "-mi", PHONE_IP, "-p", str(port)]
    args += ["-mp", str(free_udp_port()), "-rtp_echo", "-m", str(calls)]
    if trace:
        args.append("-trace_msg")
    (workdir / "phone.xml").write_text(scenario, encoding="ascii")
    return asyncio.create_task(asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=60))


async def ask_for_callback(node: OutboundNode, tmp_path: Path) -> SippResult:
    workdir = sipp_dir(tmp_path, "g711a.pcap", "dtmf_2833_1.pcap")
    (workdir / "cb.xml").write_text(press_1_scenario(), encoding="ascii")
    args = ["-sf", "cb.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
    return await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)


async def test_a_callback_rings_the_operator_then_the_caller_bridged_and_recorded(
    tmp_path: Path,
) -> None:
    require("sipp")
    phone_port = free_udp_port()
    phonedir = tmp_path / "phone"
    phonedir.mkdir()
    async with outbound_node(tmp_path, phone_port) as node:
        callee = phone_sipp(phonedir, phone_port, UAS_ANSWER_AND_BYE, calls=1)
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            assert await node.wait_for(lambda: bool(node.phones.contacts(OPERATOR)))
            caller = await ask_for_callback(node, tmp_path)
            assert caller.returncode == 0 and caller.successful == 1, (
                f"caller SIPp failed, logs in {caller.workdir}\n{caller.stdout[-2000:]}"
            )
            assert len(node.desks.callbacks.requests()) == 1  # parked, keeping its place
            node.acd.set_operator_state(OPERATOR, OperatorState.READY)
            result = await callee
            assert result.successful == 1, (
                f"phone SIPp: {result.stdout[-2000:]}\n{op.log()[-2000:]}"
            )
            assert await node.wait_for(lambda: bool(node.events.of(EventKind.CALLBACK_COMPLETED)))
            assert await node.wait_for(lambda: bool(node.events.of(EventKind.RECORDING_STORED)))
        await node.wait_idle()
    (requested,) = node.events.of(EventKind.QUEUE_CALLBACK_REQUESTED)
    call_id = requested.call_id
    assert requested.queue_id == "general" and requested.text("number") == "79161234567"
    (first_end,) = node.events.of(EventKind.CALL_ENDED)
    assert first_end.call_id == call_id and first_end.text("cause") == "callback_scheduled"
    (attempt,) = node.events.of(EventKind.CALLBACK_ATTEMPTED)
    assert attempt.call_id == call_id and attempt.operator_id == "1001"
    assert attempt.payload["attempt"] == 1 and attempt.text("result") == "answered"
    assert attempt.trunk == "local-test"
    (done,) = node.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.call_id == call_id and done.payload == {"result": "completed", "attempts": 1}
    assert node.events.of(EventKind.QUEUE_ANSWERED) == []  # the visit's outcome was callback
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    assert stored.call_id == call_id
    with wave.open(str(Path(str(stored.payload["path"])))) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000  # > 1 s: caller | operator
    assert node.desks.callbacks.requests() == ()


async def test_a_busy_caller_is_retried_then_the_callback_fails(tmp_path: Path) -> None:
    require("sipp")
    phone_port = free_udp_port()
    phonedir = tmp_path / "phone"
    phonedir.mkdir()
    policy = CallbackPolicy(max_attempts=2, retry_interval_s=0.5, dial_ring_s=10.0)
    async with outbound_node(tmp_path, phone_port, policy=policy) as node:
        callee = phone_sipp(phonedir, phone_port, UAS_BUSY, calls=2)
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            assert await node.wait_for(lambda: bool(node.phones.contacts(OPERATOR)))
            caller = await ask_for_callback(node, tmp_path)
            assert caller.returncode == 0, f"caller SIPp: {caller.stdout[-2000:]}"
            node.acd.set_operator_state(OPERATOR, OperatorState.READY)
            result = await callee
            assert result.successful == 2, (
                f"phone SIPp: {result.stdout[-2000:]}\n{op.log()[-2000:]}"
            )
            assert await node.wait_for(lambda: bool(node.events.of(EventKind.CALLBACK_COMPLETED)))
        await node.wait_idle()
        assert node.acd.operator_state(OPERATOR) in (OperatorState.READY, OperatorState.LOGGED_OUT)
    attempts = node.events.of(EventKind.CALLBACK_ATTEMPTED)
    assert [(a.payload["attempt"], a.text("result")) for a in attempts] == [
        (1, "busy"),
        (2, "busy"),
    ]
    (done,) = node.events.of(EventKind.CALLBACK_COMPLETED)
    assert done.payload == {"result": "failed", "attempts": 2}
    assert node.events.of(EventKind.RECORDING_STORED) == []
    assert node.desks.callbacks.requests() == ()
