"""A desk transfer to an organisation, live (R7, R8g): baresip caller and operator, SIPp organisation.

The node is assembled in-process (as in ``test_call_monitor``) with an
:class:`ExternalRedirector` whose trunk points at 127.0.0.3, where a SIPp UAS
stands in for the organisation (answers PCMA, echoes the audio, waits for our
BYE).  Caller 3001 (a baresip phone sending 1000 Hz) dials 122, operator 1001
(baresip, auto-answer, 440 Hz) talks, then the API's blind transfer sends the
call to the organisation ``mfc``: the operator's phone is hung up once the
organisation answers, the caller talks with it, the organisation's leg is
recorded as the call's second segment, and the call has exactly one outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_call_external import ORG_IP, ORG_NUMBER, UAS_ANSWER
from test_call_monitor import CALLER_HZ, OPERATOR_HZ, PASSWORDS, tone_phone
from test_call_path import TRUNK_IP, EventList, queue, tone_power

from hotline.acd.agent import OperatorState
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.actions import LiveActions
from hotline.calls.api import TargetKind, TransferTarget
from hotline.calls.call import CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_org_transfer import OrganisationTransfers, wire_org_transfers
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.ids import CallId, OperatorId
from hotline.media.engine import MediaEngine
from hotline.reports.events import EventKind
from hotline.sip.useragent import UserAgent
from support.callnode import LoopbackNode, presence_sync, trunk_node_core
from support.peers import free_udp_port, require, run_sipp

pytestmark = pytest.mark.integration

OPERATOR = OperatorId("1001")
QUEUE_OUTCOMES = {
    EventKind.QUEUE_ANSWERED,
    EventKind.QUEUE_ABANDONED,
    EventKind.QUEUE_TIMED_OUT,
    EventKind.QUEUE_LEFT_EMPTY,
    EventKind.QUEUE_LEFT_FULL,
    EventKind.QUEUE_CALLBACK_REQUESTED,
}


class _NoMenu:
    def external_failed(self, call_id: CallId) -> None:
        raise AssertionError(f"the desk transfer of {call_id} fell back to a menu")


@dataclass
class OrgNode(LoopbackNode):
    media: MediaEngine
    acd: AcdService
    controller: CallController
    external: ExternalRedirector
    orgs: OrganisationTransfers
    actions: LiveActions
    trunks: TrunkTable
    ua: UserAgent
    events: EventList


@contextlib.asynccontextmanager
async def org_node(tmp_path: Path, org_port: int) -> AsyncIterator[OrgNode]:
    """Operator 1001, caller account 3001, the organisation ``mfc`` behind 127.0.0.3."""
    events = EventList()
    async with trunk_node_core(
        tmp_path,
        users={u: PASSWORDS[u] for u in ("1001", "3001")},
        trunk_ip=TRUNK_IP,
        operators=[OPERATOR],
        queue=queue(ring_timeout_s=10.0),
        events=events,
    ) as (ep, core):
        controller, acd, clock = core.controller, core.acd, core.clock
        trunks = TrunkTable([TrunkConfig(name="org-trunk", host=ORG_IP, port=org_port)])
        external = ExternalRedirector(
            media=core.media,
            trunks=trunks,
            directory=DirectoryMap({"mfc": ORG_NUMBER}),
            events=events,
            clock=clock,
        )
        controller.external = external
        core.on_close.append(external.settle)
        await acd.start()
        ua = UserAgent(ep, controller)
        controller.attach(ua)
        external.attach(ua, menu=_NoMenu(), calls=controller, recordings=controller.events)
        orgs = wire_org_transfers(external, controller.transfers, acd, controller)
        assert orgs is not None
        actions = LiveActions(controller=controller, acd=acd, clock=clock, organisations=orgs)
        async with presence_sync(acd, core.phones):
            yield OrgNode(
                ep, core.media, acd, controller, external, orgs, actions, trunks, ua, events
            )
    assert external.active() == 0 and trunks.active_calls("org-trunk") == 0


def channels(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    return data[0::2], data[1::2], rate


async def test_api_transfer_hands_the_caller_to_the_organisation_recorded(tmp_path: Path) -> None:
    require("sipp")
    require("baresip")
    org_port = free_udp_port()
    orgdir = tmp_path / "org"
    orgdir.mkdir()
    (orgdir / "uas.xml").write_text(UAS_ANSWER, encoding="ascii")
    org_args = ["-sf", "uas.xml", "-rtp_echo", "-i", ORG_IP, "-mi", ORG_IP]
    org_args += ["-p", str(org_port), "-mp", str(free_udp_port()), "-m", "1"]
    async with org_node(tmp_path, org_port) as node:
        org = asyncio.create_task(
            asyncio.to_thread(run_sipp, org_args, workdir=orgdir, timeout_s=60)
        )
        with (
            tone_phone(tmp_path, "3001", node.port, CALLER_HZ, auto=False) as caller,
            tone_phone(tmp_path, "1001", node.port, OPERATOR_HZ, auto=True) as operator,
        ):
            ready = await node.wait(
                lambda: node.acd.operator_state(OPERATOR) is OperatorState.READY
            )
            assert ready, f"1001 never became READY\n{operator.log()[-2000:]}"
            phones = RegistrarPhones(node.endpoint)
            assert await node.wait(lambda: OperatorId("3001") in phones.registered())
            reply = caller.command("dial", f"sip:122@127.0.0.1:{node.port}")
            assert '"ok":true' in reply.replace(" ", ""), reply
            talking = await node.wait(
                lambda: any(c.phase is CallPhase.TALKING for c in node.controller.calls())
            )
            assert talking, f"no operator answered\n{caller.log()[-2000:]}"
            (call,) = node.controller.calls()
            await asyncio.sleep(1.5)  # the operator's segment has some audio
            node.actions.transfer_blind(
                call.call_id, TransferTarget(TargetKind.ORGANISATION, "mfc")
            )
            answered = await node.wait(
                lambda: bool(node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL))
            )
            assert answered, f"the organisation never answered; SIPp logs in {orgdir}"
            assert call.operator_id is None and call.recording_id == f"{call.call_id}-2"
            assert node.orgs.completed == 1
            # The operator's phone was hung up; it wraps up.
            assert node.acd.operator_state(OPERATOR) is OperatorState.WRAP_UP
            await asyncio.sleep(3.0)  # caller ⇄ organisation (it echoes the caller's tone)
            caller.command("hangup")
            assert await node.wait(lambda: node.controller.active() == 0)
            org_result = await org
            assert org_result.successful == 1, f"organisation SIPp: {org_result.stdout[-2000:]}"
            stored = await node.wait(lambda: len(node.events.of(EventKind.RECORDING_STORED)) == 2)
            assert stored, [e.kind.value for e in node.events.events]
        assert node.ua.active_legs == 0
    by_id = {e.call_id for e in node.events.events if e.call_id is not None}
    assert by_id == {call.call_id}  # one call, whatever happened to it
    outcomes = [e.kind for e in node.events.events if e.kind in QUEUE_OUTCOMES]
    assert outcomes == [EventKind.QUEUE_ANSWERED]  # exactly one outcome
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    (redirected,) = node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.payload == {"number": ORG_NUMBER} and redirected.trunk == "org-trunk"
    first, second = (
        Path(str(e.payload["path"])) for e in node.events.of(EventKind.RECORDING_STORED)
    )
    paths = sorted([first, second], key=lambda p: len(p.name))  # the call id first
    assert [p.name for p in paths] == [f"{call.call_id}.wav", f"{call.call_id}-2.wav"]
    # The operator's segment: caller left, operator right.
    left, right, rate = channels(paths[0])
    assert tone_power(left, rate, CALLER_HZ) > 0.3 and tone_power(right, rate, OPERATOR_HZ) > 0.3
    # The organisation's segment: caller left, the organisation (echoing the caller) right.
    left, right, rate = channels(paths[1])
    assert len(left) > 2 * rate, f"organisation segment too short: {len(left) / rate:.1f} s"
    assert tone_power(left, rate, CALLER_HZ) > 0.3
    assert tone_power(right, rate, CALLER_HZ) > 0.3 and tone_power(right, rate, OPERATOR_HZ) < 0.05
