"""An operator whose phone does not register is offered calls at its fixed SIP URI (R4).

The node of ``test_call_menu`` (built here with the phone directory in
hand) routes 122 straight to the general queue.  Operator 1001 has no
registration, only a fixed URI where a SIPp UAS listens; it is made ready
through the ACD API (as the desk does), not by a registration.  The UAS must
get the offer (the caller's number in P-Asserted-Identity, the topic
header), answer it, and get the BYE when the caller hangs up.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from test_call_path import TRUNK_IP, EventList, Span, wait_calls_idle

from hotline.acd.model import OperatorProfile
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import GENERAL_QUEUE, RegistrarPhones, default_queues
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId, TopicId
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.ivr.runner import IvrRunner
from hotline.media.eng_events import MediaEvent
from hotline.media.engine import MediaEngine
from hotline.reports.events import EventKind
from hotline.sip.useragent import UserAgent
from support.peers import free_udp_port, require, run_sipp
from support.scenarios import ack_then_answer_bye, bye_steps, caller_scenario
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration

DESK_IP = "127.0.0.4"
FLOW = """
format: 1
name: straight
start: queue
nodes:
  - {id: queue, kind: queue, queue: general}
"""

_HEADERS = """      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]desk[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:1001@[local_ip]:[local_port]>"""

DESK_UAS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="desk phone at a fixed URI">
  <recv request="INVITE">
    <action>
      <ereg regexp="79161234567" search_in="hdr" header="P-Asserted-Identity:"
            check_it="true" assign_to="pai"/>
      <ereg regexp="general" search_in="hdr" header="X-Hotline-Topic:"
            check_it="true" assign_to="topic"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
{_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
{_HEADERS}
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=desk 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000

    ]]>
  </send>
{ack_then_answer_bye(20000)}  <Reference variables="pai,topic"/>
</scenario>
"""


async def test_a_fixed_uri_operator_made_ready_by_the_desk_answers_the_offer(
    tmp_path: Path,
) -> None:
    require("sipp")
    desk_port = free_udp_port()
    deskdir, callerdir = tmp_path / "desk", tmp_path / "caller"
    deskdir.mkdir()
    callerdir.mkdir()
    (deskdir / "uas.xml").write_text(DESK_UAS, encoding="ascii")
    steps = f'  <pause milliseconds="3000"/>\n{bye_steps("fixed")}'
    (callerdir / "call.xml").write_text(
        caller_scenario("call the fixed desk", steps, tag="fixed"), encoding="ascii"
    )
    clock = SystemClock()
    events = EventList()
    base = 46000 + 2 * random.randrange(0, 4000)
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
        operator = OperatorId("1001")
        acd.set_operators(
            [OperatorProfile(operator_id=operator, skills={}, queue_levels={GENERAL_QUEUE: 5})]
        )
        phones = RegistrarPhones(ep)
        phones.set_fixed(operator, f"sip:1001@{DESK_IP}:{desk_port}")
        loop = asyncio.get_running_loop()
        runner = IvrRunner(
            load_flow_yaml(FLOW, known_queues=("general",)),
            media=media,
            clock=clock,
            call_later=loop.call_later,
            fallback_queue=GENERAL_QUEUE,
        )
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
        try:
            acd.sync_phones(phones.registered())  # nothing registered: the desk decides
            acd.operator_login(operator, ready=True)  # the desk/API makes the operator ready
            assert ep.local_udp is not None
            desk_args = ["-sf", "uas.xml", "-i", DESK_IP, "-p", str(desk_port), "-m", "1"]
            desk_args += ["-mi", DESK_IP, "-mp", str(free_udp_port()), "-rtp_echo"]
            desk = loop.create_task(
                asyncio.to_thread(run_sipp, desk_args, workdir=deskdir, timeout_s=30)
            )
            await asyncio.sleep(0.5)  # the desk phone listens
            args = ["-sf", "call.xml", f"127.0.0.1:{ep.local_udp[1]}", "-s", "122", "-m", "1"]
            args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
            caller = await asyncio.to_thread(run_sipp, args, workdir=callerdir, timeout_s=30)
            desk_result = await desk
            await wait_calls_idle(controller, media, 10.0)
        finally:
            await controller.close()
            await acd.stop()
            await media.close()
    assert caller.returncode == 0 and caller.successful == 1, (
        f"caller SIPp failed, logs in {callerdir}\n{caller.stdout[-2000:]}"
    )
    assert desk_result.successful == 1 and desk_result.failed == 0, (
        f"desk SIPp failed, logs in {deskdir}\n{desk_result.stdout[-3000:]}"
    )
    (answered,) = events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001"
    (ended,) = events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
