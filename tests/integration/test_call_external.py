"""Redirect to an organisation from the voice menu (R7), live: SIPp caller → menu → trunk → SIPp UAS.

The node is assembled in-process as in ``test_call_menu`` (whose helpers are
reused) with an :class:`ExternalRedirector` and a trunk whose host is
127.0.0.3, where a SIPp UAS stands in for the organisation: a ``uas``
scenario answering PCMA with ``-rtp_echo`` (answered, bridged, recorded), or
a tiny scenario that answers 503 (the trunk failed: the caller falls back to the
operator queue).  Prompts are not rendered (silence stands in), so no speech
engine is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_call_menu import key_scenario, sipp_dir
from test_call_path import TRUNK_IP, EventList, Span

from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import GENERAL_QUEUE, RegistrarPhones, default_queues
from hotline.calls.controller import CallController
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.clock import SystemClock
from hotline.core.ids import TopicId
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.ivr.runner import IvrRunner
from hotline.media.eng_events import MediaEvent
from hotline.media.engine import MediaEngine
from hotline.reports.events import EventKind
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.useragent import UserAgent
from support.peers import SippResult, free_udp_port, require, run_sipp
from support.scenarios import ack_then_answer_bye
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration

ORG_IP = "127.0.0.3"
ORG_NUMBER = "+78000000303"
FLOW = """
format: 1
name: redirect
start: menu
operator: {key: "0", node: operator}
nodes:
  - id: menu
    kind: menu
    prompts: [{text: "Нажмите один для МФЦ."}]
    branches: {"1": mfc}
    timeout_s: 5
  - id: mfc
    kind: external
    organisation: mfc
    fallback: operator
    fallback_prompts: [{text: "МФЦ не отвечает, соединяем с оператором."}]
  - id: operator
    kind: queue
    queue: general
"""

# SIPp's built-in ``uas`` answers PCMU only; the caller (and so our offer) is PCMA.
UAS_ANSWER = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="organisation: answer with PCMA, echo the audio, wait for our BYE">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagOrg[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagOrg[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=org 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
{ack_then_answer_bye(30000)}</scenario>
"""

UAS_503 = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="organisation behind a failing trunk: 503">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 503 Service Unavailable
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag503[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"""


@dataclass
class ExternalNode:
    endpoint: SipEndpoint
    media: MediaEngine
    controller: CallController
    menu: IvrRunner
    external: ExternalRedirector
    trunks: TrunkTable
    events: EventList

    @property
    def port(self) -> int:
        assert self.endpoint.local_udp is not None
        return self.endpoint.local_udp[1]

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        for _ in range(int(timeout_s / 0.1)):
            if not self.controller.active() and not self.media.active():
                return
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def external_node(tmp_path: Path, org_port: int) -> AsyncIterator[ExternalNode]:
    clock = SystemClock()
    events = EventList()
    base = 46000 + 2 * random.randrange(0, 4000)
    flow = load_flow_yaml(FLOW, known_queues=("general",))
    async with sip_endpoint(trusted=[(f"{TRUNK_IP}/32", "local-test")]) as ep:
        holder: list[CallController] = []

        def on_media(event: MediaEvent) -> None:
            holder[0].on_media_event(event)

        media = MediaEngine(
            clock, Span(base, base + 199), "127.0.0.1", tmp_path / "recordings", on_event=on_media
        )
        await media.start()
        acd = AcdService(AcdEngine(seed=7), clock, auto_ready_on_register=True)
        for queue in default_queues():
            acd.add_queue(queue)
        trunks = TrunkTable([TrunkConfig(name="org-trunk", host=ORG_IP, port=org_port)])
        external = ExternalRedirector(
            media=media,
            trunks=trunks,
            directory=DirectoryMap({"mfc": ORG_NUMBER}),
            events=events,
            clock=clock,
        )
        loop = asyncio.get_running_loop()
        runner = IvrRunner(
            flow,
            media=media,
            clock=clock,
            call_later=loop.call_later,
            fallback_queue=GENERAL_QUEUE,
            external=external,
        )
        controller = CallController(
            media=media,
            acd=acd,
            phones=RegistrarPhones(ep),
            routing=FixedRouting({"122": Route(GENERAL_QUEUE, TopicId("general"), menu=runner)}),
            events=events,
            clock=clock,
        )
        holder.append(controller)
        runner.attach(controller)
        acd.handler = controller
        controller.external = external
        await acd.start()
        ua = UserAgent(ep, controller)
        controller.attach(ua)
        external.attach(ua, menu=runner, calls=controller, recordings=controller.events)
        try:
            yield ExternalNode(ep, media, controller, runner, external, trunks, events)
        finally:
            await controller.close()
            await external.settle()
            await acd.stop()
            await media.close()
    assert media.ports.in_use == 0  # every port pair released
    assert runner.active() == 0 and external.active() == 0
    assert trunks.active_calls("org-trunk") == 0


async def _call(node: ExternalNode, workdir: Path, *, talk_ms: int) -> SippResult:
    (workdir / "menu.xml").write_text(
        key_scenario("1", key_after_ms=800, talk_ms=talk_ms), encoding="ascii"
    )
    args = ["-sf", "menu.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
    return await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)


def _org_args(org_port: int, *scenario: str) -> list[str]:
    where = ["-i", ORG_IP, "-mi", ORG_IP, "-p", str(org_port), "-mp", str(free_udp_port())]
    return [*scenario, *where, "-m", "1"]


async def _call_the_organisation(
    node: ExternalNode,
    workdir: Path,
    orgdir: Path,
    org_args: list[str],
    *,
    talk_ms: int,
    org_calls: int,
    org_log_chars: int,
) -> None:
    """The organisation's SIPp UAS listens, the caller calls; both succeed, the recording lands."""
    org = asyncio.create_task(asyncio.to_thread(run_sipp, org_args, workdir=orgdir, timeout_s=40))
    await asyncio.sleep(0.5)  # the UAS is listening
    result = await _call(node, workdir, talk_ms=talk_ms)
    org_result = await org
    await node.wait_idle()
    assert result.returncode == 0 and result.successful == 1, (
        f"caller SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
    )
    assert org_result.successful == org_calls, (
        f"organisation SIPp: {org_result.stdout[-org_log_chars:]}"
    )
    for _ in range(50):
        if node.events.of(EventKind.RECORDING_STORED):
            break
        await asyncio.sleep(0.1)


async def test_key_1_redirects_to_the_organisation_bridged_and_recorded(tmp_path: Path) -> None:
    require("sipp")
    org_port = free_udp_port()
    workdir = sipp_dir(tmp_path, "g711a.pcap", "dtmf_2833_1.pcap")
    orgdir = tmp_path / "org"
    orgdir.mkdir()
    (orgdir / "uas.xml").write_text(UAS_ANSWER, encoding="ascii")
    async with external_node(tmp_path, org_port) as node:
        await _call_the_organisation(
            node,
            workdir,
            orgdir,
            _org_args(org_port, "-sf", "uas.xml", "-rtp_echo"),
            talk_ms=4000,
            org_calls=1,
            org_log_chars=2000,
        )
    kinds = [e.kind.value for e in node.events.events if e.kind is not EventKind.OPERATOR_STATE]
    assert kinds[:3] == ["call.arrived", "call.ivr_choice", "call.redirected_external"]
    assert set(kinds[3:]) == {"call.ended", "recording.stored"}
    (redirected,) = node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.payload == {"number": ORG_NUMBER} and redirected.trunk == "org-trunk"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    path = Path(str(stored.payload["path"]))
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000  # > 1 s, caller | org


async def test_a_failing_organisation_falls_back_to_the_operator_queue(tmp_path: Path) -> None:
    require("sipp")
    org_port = free_udp_port()
    workdir = sipp_dir(tmp_path, "g711a.pcap", "dtmf_2833_1.pcap")
    orgdir = tmp_path / "org"
    orgdir.mkdir()
    (orgdir / "uas503.xml").write_text(UAS_503, encoding="ascii")
    async with external_node(tmp_path, org_port) as node:
        org = asyncio.create_task(
            asyncio.to_thread(
                run_sipp, _org_args(org_port, "-sf", "uas503.xml"), workdir=orgdir, timeout_s=40
            )
        )
        await asyncio.sleep(0.5)
        result = await _call(node, workdir, talk_ms=6000)
        org_result = await org
        await node.wait_idle()
        assert result.returncode == 0 and result.successful == 1, (
            f"caller SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
        )
        assert org_result.successful == 1, f"organisation SIPp: {org_result.stdout[-2000:]}"
        assert node.external.failed == 1
    assert node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    (entered,) = node.events.of(EventKind.QUEUE_ENTERED)
    assert entered.queue_id == "general"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
