"""The voice menu in the live call path: SIPp presses a key (RFC 4733), baresip answers.

The node is assembled in-process as in ``test_call_path`` (whose helpers are
reused), with the app's per-topic queues and the voice-menu runner in the
route of 122; the prompts are rendered by the real speech path (normaliser,
espeak-ng, sox) into the test's tmp_path, as ``CallService.start`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_call_path import (
    PASSWORDS,
    PCAP_DIR,
    TRUNK_IP,
    EventList,
    Span,
    phone,
    wait_calls_idle,
    wait_operator_ready,
)

from hotline.acd.model import OperatorProfile
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import (
    GENERAL_QUEUE,
    RegistrarPhones,
    default_queues,
    render_flow_prompts,
)
from hotline.app.demo import DEMO_TOPICS
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import load_demo_flow, load_flow_yaml
from hotline.ivr.runner import IvrRunner, RenderedPrompts
from hotline.media.eng_events import MediaEvent
from hotline.media.engine import MediaEngine
from hotline.media.player import PlaybackFinished
from hotline.reports.events import EventKind
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.useragent import UserAgent
from support.peers import require, run_sipp
from support.scenarios import bye_steps, caller_scenario
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration


@dataclass
class MenuNode:
    endpoint: SipEndpoint
    media: MediaEngine
    acd: AcdService
    controller: CallController
    menu: IvrRunner
    prompts: RenderedPrompts
    events: EventList
    media_events: list[MediaEvent]

    @property
    def port(self) -> int:
        assert self.endpoint.local_udp is not None
        return self.endpoint.local_udp[1]

    async def wait_ready(self, operator: str, timeout_s: float = 15.0) -> None:
        await wait_operator_ready(self.acd, operator, timeout_s)

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        await wait_calls_idle(self.controller, self.media, timeout_s)


@contextlib.asynccontextmanager
async def menu_node(tmp_path: Path, flow: Flow) -> AsyncIterator[MenuNode]:
    """SIP endpoint, media, ACD with the app's queues, the menu runner and the controller."""
    clock = SystemClock()
    events = EventList()
    media_events: list[MediaEvent] = []
    base = 46000 + 2 * random.randrange(0, 4000)
    prompts = await render_flow_prompts(flow, tmp_path / "tts")
    async with sip_endpoint(users=PASSWORDS, trusted=[(f"{TRUNK_IP}/32", "local-test")]) as ep:
        holder: list[CallController] = []

        def on_media(event: MediaEvent) -> None:
            media_events.append(event)
            holder[0].on_media_event(event)

        media = MediaEngine(
            clock, Span(base, base + 199), "127.0.0.1", tmp_path / "recordings", on_event=on_media
        )
        await media.start()
        acd = AcdService(AcdEngine(seed=7), clock, auto_ready_on_register=True)
        for queue in default_queues():
            acd.add_queue(queue)
        acd.set_operators(
            OperatorProfile(
                operator_id=OperatorId(op),
                skills={topic: 5 for topic in DEMO_TOPICS},
                queue_levels={GENERAL_QUEUE: 5},
            )
            for op in PASSWORDS
        )
        loop = asyncio.get_running_loop()
        runner = IvrRunner(
            flow,
            media=media,
            clock=clock,
            call_later=loop.call_later,
            fallback_queue=GENERAL_QUEUE,
            prompts=prompts,
        )
        phones = RegistrarPhones(ep)
        controller = CallController(
            media=media,
            acd=acd,
            phones=phones,
            routing=FixedRouting({"122": Route(GENERAL_QUEUE, TopicId("general"), menu=runner)}),
            events=events,
            clock=clock,
        )
        holder.append(controller)
        runner.attach(controller)
        acd.handler = controller
        await acd.start()
        controller.attach(UserAgent(ep, controller))

        async def presence() -> None:
            while True:
                acd.sync_phones(phones.registered())
                await asyncio.sleep(0.1)

        watcher = loop.create_task(presence())
        try:
            yield MenuNode(ep, media, acd, controller, runner, prompts, events, media_events)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await controller.close()
            await acd.stop()
            await media.close()
    assert media.ports.in_use == 0  # every port pair released
    assert runner.active() == 0  # no call left in the menu, no timer armed


def key_scenario(digit: str, *, key_after_ms: int, talk_ms: int) -> str:
    """A SIPp caller: INVITE with PCMA and telephone-event, audio, one RFC 4733 key, BYE."""
    steps = f"""  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
  <pause milliseconds="{key_after_ms}"/>
  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{digit}.pcap"/></action></nop>
  <pause milliseconds="{talk_ms}"/>
{bye_steps("menu")}"""
    return caller_scenario(f"menu key {digit}", steps, tag="menu")


def sipp_dir(tmp_path: Path, *pcaps: str) -> Path:
    workdir = tmp_path / "sipp"
    (workdir / "pcap").mkdir(parents=True)
    for name in pcaps:
        shutil.copy(PCAP_DIR / name, workdir / "pcap" / name)
    return workdir


async def test_key_2_in_the_demo_menu_reaches_an_operator_of_the_health_queue(
    tmp_path: Path,
) -> None:
    require("sipp")
    require("espeak-ng")
    flow = load_demo_flow()
    workdir = sipp_dir(tmp_path, "g711a.pcap", "dtmf_2833_2.pcap")
    async with menu_node(tmp_path, flow) as node:
        greeting = flow.prompts["greeting"]
        rendered = node.prompts.get(greeting, "PCMA")
        assert rendered is not None and rendered.duration_s > 2.0  # espeak-ng really spoke
        # The key arrives while the main menu plays (the greeting has no barge-in).
        key_after_ms = round(rendered.duration_s * 1000) + 2500
        (workdir / "menu.xml").write_text(
            key_scenario("2", key_after_ms=key_after_ms, talk_ms=5000), encoding="ascii"
        )
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            await node.wait_ready("1001")
            args = ["-sf", "menu.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
            args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
            result = await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)
            await node.wait_idle()
            assert result.returncode == 0 and result.successful == 1, (
                f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}\n"
                f"baresip:\n{op.log()[-3000:]}"
            )
            assert "X-Hotline-Topic: health" in op.log()  # baresip logs the INVITE it got
        for _ in range(50):
            if node.events.of(EventKind.RECORDING_STORED):
                break
            await asyncio.sleep(0.1)
    kinds = [e.kind.value for e in node.events.events if e.kind is not EventKind.OPERATOR_STATE]
    assert kinds[:5] == [
        "call.arrived",
        "call.ivr_choice",
        "queue.entered",
        "queue.offered",
        "queue.answered",
    ]
    assert set(kinds[5:]) == {"call.ended", "recording.stored"}
    (choice,) = node.events.of(EventKind.CALL_IVR_CHOICE)
    assert choice.payload == {"menu": "main_menu", "choice": "2", "info_message": False}
    assert choice.topic == "health" and choice.trunk == "local-test"
    (entered,) = node.events.of(EventKind.QUEUE_ENTERED)
    assert entered.queue_id == "health" and entered.topic == "health"
    (answered,) = node.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001" and answered.queue_id == "health"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.topic == "health"


SHORT_FLOW = """
format: 1
name: short
start: greeting
operator: {key: "0", node: operator}
prompts:
  greeting: Здравствуйте.
  menu: Нажмите один.
  no_choice: Вы не выбрали.
nodes:
  - id: greeting
    kind: play
    prompts: [greeting]
    next: menu
  - id: menu
    kind: menu
    prompts: [menu]
    branches: {"1": social}
    timeout_s: 1
    max_retries: 2
    timeout_prompts: [no_choice]
  - id: social
    kind: set_topic
    topic: social
    next: social_queue
  - id: social_queue
    kind: queue
    queue: social
  - id: operator
    kind: queue
    queue: general
"""


async def test_no_key_repeats_the_menu_then_the_call_waits_in_the_operator_queue(
    tmp_path: Path,
) -> None:
    require("sipp")
    flow = load_flow_yaml(SHORT_FLOW, known_queues=("social", "general"))
    async with menu_node(tmp_path, flow) as node:
        args = ["-sn", "uac", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
        args += ["-i", TRUNK_IP, "-mi", TRUNK_IP, "-d", "15000"]
        result = await asyncio.to_thread(run_sipp, args, workdir=tmp_path / "sipp", timeout_s=40)
        await node.wait_idle()
        assert result.returncode == 0, f"logs in {result.workdir}\n{result.stdout[-2000:]}"
        assert node.controller.active() == 0 and node.media.active() == 0
    finished = [e.item_id for e in node.media_events if isinstance(e, PlaybackFinished)]
    menu_items = [i for i in finished if ".ivr." in i]
    assert len(menu_items) == 4  # greeting, the menu, then twice "no choice" + the menu
    assert node.events.of(EventKind.CALL_IVR_CHOICE) == []
    (entered,) = node.events.of(EventKind.QUEUE_ENTERED)
    assert entered.queue_id == "general" and entered.topic == "general"
    (abandoned,) = node.events.of(EventKind.QUEUE_ABANDONED)
    assert abandoned.queue_id == "general"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
