"""A queue's wait norm sends the caller on to an outside number (ctl_queue_external), live.

SIPp is the trunk's caller on 127.0.0.2 (the node of ``test_call_path``, no
operator logged in); after the queue's wait norm the call is dialled through
a trunk at 127.0.0.3, where a SIPp UAS stands in for the destination (the
scenarios and helpers of ``test_call_external``): answered with PCMA and
``-rtp_echo`` (bridged, recorded, the caller hangs up), or refused with 503
(the queue's goodbye plays, then our BYE).  The queue's phrases are one-second
tones tagged with their text (``test_call_queue_norms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_call_external import ORG_IP, ORG_NUMBER, UAS_503, UAS_ANSWER, _org_args
from test_call_path import GENERAL, PCAP_DIR, TRUNK_IP, CallNode, call_node
from test_call_queue_norms import Heard, tone_prompts

from hotline.acd.model import ExitAction, ExitKind, QueueConfig
from hotline.calls.controller import default_music_on_hold
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_queue import ExitReason, QueuePhrases, QueueVoice, build_queue_phrases
from hotline.calls.ctl_queue_external import QueueExternal
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.clock import SystemClock
from hotline.core.ids import CallId, TopicId
from hotline.reports.events import EventKind
from support.peers import SippResult, free_udp_port, require, run_sipp
from support.scenarios import ANSWER_BYE_STEPS, bye_steps, caller_scenario

pytestmark = pytest.mark.integration

MAX_WAIT_S = 2.0
PLAY = '  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>\n'
TALK_THEN_BYE = caller_scenario(
    "wait, talk to the destination, hang up",
    PLAY + '  <pause milliseconds="7000"/>\n' + bye_steps("qext"),
    tag="qext",
)
WAIT_FOR_BYE = caller_scenario("wait until we are let go", PLAY + ANSWER_BYE_STEPS, tag="qext")


class _NoMenu:
    def external_failed(self, call_id: CallId) -> None:
        raise AssertionError("a queue's exit never falls back to the menu")


@contextlib.asynccontextmanager
async def queue_external_node(
    tmp_path: Path, org_port: int, phrases: QueuePhrases
) -> AsyncIterator[tuple[CallNode, Heard, ExternalRedirector, TrunkTable]]:
    config = QueueConfig(
        queue_id=GENERAL,
        name="General",
        topic=TopicId("general"),
        max_wait_s=MAX_WAIT_S,
        max_wait_action=ExitAction(ExitKind.EXTERNAL, ORG_NUMBER),
        announce_on_entry=False,
    )
    async with call_node(tmp_path, config) as node:
        controller = node.controller
        heard = Heard(node.media)
        controller.voice = QueueVoice(
            heard, default_music_on_hold, phrases=phrases, prompts=tone_prompts(phrases)
        )
        trunks = TrunkTable([TrunkConfig(name="org-trunk", host=ORG_IP, port=org_port)])
        external = ExternalRedirector(
            media=node.media,
            trunks=trunks,
            directory=DirectoryMap(),
            events=node.events,
            clock=SystemClock(),
        )
        controller.external = external
        external.attach(node.ua, menu=_NoMenu(), calls=controller, recordings=controller.events)
        controller.queue_external = QueueExternal(external=external, host=controller, media=heard)
        try:
            yield node, heard, external, trunks
        finally:
            await controller.close()
            await external.settle()
    assert external.active() == 0 and trunks.active_calls("org-trunk") == 0


async def _run(
    tmp_path: Path, node: CallNode, scenario: str, org_port: int, org_scenario: tuple[str, ...]
) -> tuple[SippResult, SippResult, Path]:
    workdir = tmp_path / "sipp"
    (workdir / "pcap").mkdir(parents=True)
    shutil.copy(PCAP_DIR / "g711a.pcap", workdir / "pcap" / "g711a.pcap")
    (workdir / "caller.xml").write_text(scenario, encoding="ascii")
    orgdir = tmp_path / "org"
    orgdir.mkdir()
    (orgdir / "org.xml").write_text(org_scenario[0], encoding="ascii")
    org_args = _org_args(org_port, "-sf", "org.xml", *org_scenario[1:])
    org = asyncio.create_task(asyncio.to_thread(run_sipp, org_args, workdir=orgdir, timeout_s=40))
    await asyncio.sleep(0.5)  # the UAS is listening
    args = ["-sf", "caller.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
    result = await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)
    org_result = await org
    await node.wait_idle()
    assert result.returncode == 0 and result.successful == 1, (
        f"caller SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
    )
    return result, org_result, orgdir


async def test_the_wait_norm_puts_the_caller_through_bridged_and_recorded(tmp_path: Path) -> None:
    require("sipp")
    org_port = free_udp_port()
    phrases = await asyncio.to_thread(build_queue_phrases)
    async with queue_external_node(tmp_path, org_port, phrases) as (node, heard, external, _t):
        _r, org_result, _dir = await _run(
            tmp_path, node, TALK_THEN_BYE, org_port, (UAS_ANSWER, "-rtp_echo")
        )
        assert org_result.successful == 1, f"destination SIPp: {org_result.stdout[-2000:]}"
        for _ in range(50):
            if node.events.of(EventKind.RECORDING_STORED):
                break
            await asyncio.sleep(0.1)
        assert external.redirected == 1 and node.media.active() == 0
        assert node.controller.internal_errors == 0
    assert heard.played == []  # no goodbye: the caller was put through
    (timed_out,) = node.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.text("action") == "external"
    (redirected,) = node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.payload == {"number": ORG_NUMBER} and redirected.trunk == "org-trunk"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    assert stored.call_id == ended.call_id
    with wave.open(str(stored.payload["path"])) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000  # > 1 s, caller | destination


async def test_a_refusing_destination_means_the_goodbye_and_bye(tmp_path: Path) -> None:
    require("sipp")
    org_port = free_udp_port()
    phrases = await asyncio.to_thread(build_queue_phrases)
    async with queue_external_node(tmp_path, org_port, phrases) as (node, heard, external, _t):
        _r, org_result, _dir = await _run(tmp_path, node, WAIT_FOR_BYE, org_port, (UAS_503,))
        assert org_result.successful == 1, f"destination SIPp: {org_result.stdout[-2000:]}"
        assert external.failed == 1 and node.media.active() == 0
        assert node.controller.internal_errors == 0
    assert heard.played == [(phrases.messages[ExitReason.TIMED_OUT],)]
    assert node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "system" and ended.text("cause") == "queue_timed_out"
    assert node.events.of(EventKind.RECORDING_STORED) == []
