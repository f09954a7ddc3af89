"""A queue's wait norm sends the caller to the voice assistant, who hands it back to an operator.

The node is ``test_bot_call``'s (the demo flow, real media engine, ACD,
controller, the voice assistant with the Korean Vosk model in grammar mode,
Silero VAD and espeak-ng speech), wired as ``CallService`` wires it: the
assistant's exit is a :class:`~hotline.calls.ctl_queue_bot.QueueBot`, which is
also the controller's ``queue_bot``.  The social queue (key 1 in the main
menu) has a two-second wait norm whose action is ``ExitKind.BOT``.  The
caller is SIPp:

1. it presses 1 in the main menu and waits in the social queue; no operator
   is logged in, so the norm runs out and the assistant takes the call;
2. after the assistant's greeting it says the Korean test phrase; the
   assistant answers with the test entry (its audio comes back to the caller);
3. only once ``queue.timed_out`` has been written does the baresip operator
   phone start; when the caller then presses 0 the assistant hands the call
   back to the social queue, and the operator answers it.

Timing is generous and nothing asserts on durations.  The caller's RTP is
captured on loopback with dumpcap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from test_bot_call import (
    answer_packets,
    bot_node,
    capture,
    korean_speech,
    rendered_seconds,
    scenario,
    write_rtp_pcap,
)
from test_bot_call_engines import KOREAN_PHRASE, TEST_ANSWER, TEST_ANSWER_ID
from test_call_menu import MenuNode, sipp_dir
from test_call_path import TRUNK_IP, phone

from hotline.acd.model import ExitAction, ExitKind
from hotline.bot.phrases_ru import Phrase
from hotline.calls.ctl_bot import BotCalls
from hotline.calls.ctl_queue_bot import QueueBot
from hotline.core.ids import QueueId
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.reports.events import CallCentreEvent, EventKind
from support.peers import free_udp_port, require, run_sipp

pytestmark = pytest.mark.integration

QUEUE = QueueId("social")
# The demo flow's main menu: 1 → topic social → queue social.  SIPp replays the stock
# RFC 4733 pcaps verbatim (one SSRC, fixed timestamps), and the media DTMF detector
# takes a key whose timestamp is less than 2 s of samples behind the previous key's for
# a late packet of that older event: the menu key's timestamp must be below 0's
# (key 1: 13280 < 17632) or far above it (keys 4-9); keys 2 and 3 would lose the 0.
QUEUE_KEY = "1"
MAX_WAIT_S = 2.0


def wire_queue_bot(node: MenuNode, bots: BotCalls) -> QueueBot:
    """The assistant as ``CallService`` wires it: QueueBot is its exit and the controller's."""
    queue_bot = QueueBot(
        bots=bots, menu=node.menu, host=node.controller, calls=node.controller.call,
        media=node.media, voice=node.controller.voice, has_queue=node.acd.has_queue,
    )  # fmt: skip
    node.controller.queue_bot = queue_bot
    bots.attach(queue_bot)  # replaces bot_node's menu exit: menu calls pass on through QueueBot
    return queue_bot


async def wait_for_event(
    node: MenuNode, kind: EventKind, caller_done: Callable[[], bool], timeout_s: float
) -> CallCentreEvent:
    """The first event of ``kind``; fails early when the SIPp caller is already done."""
    for _ in range(int(timeout_s / 0.1)):
        found = node.events.of(kind)
        if found:
            return found[0]
        if caller_done():
            break
        await asyncio.sleep(0.1)
    kinds = [e.kind.value for e in node.events.events]
    raise AssertionError(f"no {kind.value} event; events so far: {kinds}")


async def test_queue_wait_norm_sends_the_caller_to_the_assistant_then_back_to_an_operator(
    tmp_path: Path,
) -> None:
    require("sipp")
    require("espeak-ng")
    flow = load_demo_flow()
    workdir = sipp_dir(tmp_path, f"dtmf_2833_{QUEUE_KEY}.pcap", "dtmf_2833_0.pcap")
    speech_s = write_rtp_pcap(
        workdir / "pcap" / "question.pcap", korean_speech(workdir), lead_s=0.5, tail_s=1.5
    )
    async with bot_node(tmp_path) as (node, bots, speech):
        queue_bot = wire_queue_bot(node, bots)
        (config,) = [q for q in node.acd.queue_configs() if q.queue_id == QUEUE]
        node.acd.update_queue(
            dataclasses.replace(
                config, max_wait_s=MAX_WAIT_S, max_wait_action=ExitAction(ExitKind.BOT)
            )
        )
        greeting = node.prompts.get(flow.prompts["greeting"], "PCMA")
        assert greeting is not None
        bot_greeting_s = await rendered_seconds(speech, Phrase.GREETING.value)
        answer_s = await rendered_seconds(speech, TEST_ANSWER)
        handover_s = await rendered_seconds(speech, Phrase.HANDOVER.value)
        (workdir / "qbot.xml").write_text(
            scenario(
                key=QUEUE_KEY,
                tag="qbot",
                key_after_ms=round(greeting.duration_s * 1000) + 2500,
                speak_after_ms=round((MAX_WAIT_S + bot_greeting_s) * 1000) + 3000,
                speech_ms=round(speech_s * 1000),
                key0_after_ms=round(answer_s * 1000) + 4000,
                talk_ms=round(handover_s * 1000) + 8000,
            ),
            encoding="ascii",
        )
        # Other tests may run SIPp on the same address: our own ports, and capture only ours.
        media_port = random.randrange(20000, 29000, 2)
        args = ["-sf", "qbot.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
        args += ["-i", TRUNK_IP, "-mi", TRUNK_IP, "-mp", str(media_port)]
        args += ["-p", str(free_udp_port())]
        with capture(tmp_path / "rtp.pcap", media_port):
            sipp = asyncio.ensure_future(
                asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=150)
            )
            try:
                timed_out = await wait_for_event(node, EventKind.QUEUE_TIMED_OUT, sipp.done, 90)
                with phone(tmp_path, "1001", node.port, auto=True) as op:
                    await node.wait_ready("1001", timeout_s=20)
                    # The operator is ready before the caller asks for one.
                    early = node.events.of(EventKind.CALL_BOT_ENDED)
                    result = await sipp
                    await node.wait_idle(timeout_s=20)
                    assert result.returncode == 0 and result.successful == 1, (
                        f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}\n"
                        f"baresip:\n{op.log()[-3000:]}"
                    )
            finally:
                if not sipp.done():  # a failure above: SIPp ends by its own timeout
                    with contextlib.suppress(Exception):
                        await sipp
        assert node.controller.active() == 0 and node.media.active() == 0
        assert queue_bot.active() == 0 and bots.active() == 0
        assert queue_bot.taken == 1 and queue_bot.refused == 0
    assert early == [], "the caller asked for an operator before the operator's phone was ready"
    kinds = [e.kind.value for e in node.events.events if e.kind is not EventKind.OPERATOR_STATE]
    expected = [
        "call.arrived",
        "call.ivr_choice",
        "queue.entered",
        "queue.timed_out",
        "call.bot_started",
        "call.bot_ended",
        "queue.entered",
        "queue.answered",
        "call.ended",
    ]
    rest = iter(kinds)
    assert all(kind in rest for kind in expected), kinds  # in this order, others between
    assert timed_out.queue_id == QUEUE and timed_out.text("action") == "bot"
    assert timed_out.number("wait_s") == MAX_WAIT_S
    (started,) = node.events.of(EventKind.CALL_BOT_STARTED)
    (ended_bot,) = node.events.of(EventKind.CALL_BOT_ENDED)
    assert ended_bot.text("result") == "handed_over"
    assert ended_bot.text("reason") == "caller_asked"
    assert ended_bot.text("answer_id") == TEST_ANSWER_ID
    assert ended_bot.text("transcript") == KOREAN_PHRASE
    first, second = node.events.of(EventKind.QUEUE_ENTERED)
    assert first.queue_id == QUEUE and second.queue_id == QUEUE  # None target: the same queue
    assert first.call_id == second.call_id == started.call_id == ended_bot.call_id
    (answered,) = node.events.of(EventKind.QUEUE_ANSWERED)
    assert answered.operator_id == "1001" and answered.queue_id == QUEUE
    assert node.events.of(EventKind.QUEUE_TIMED_OUT) == [timed_out]  # only once to the bot
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.call_id == started.call_id
    # The answer's audio reached the caller: energy in the RTP sent to it after its speech.
    assert answer_packets(tmp_path / "rtp.pcap") >= 25, f"no answer audio, capture in {tmp_path}"
