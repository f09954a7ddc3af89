"""A waiting caller on loopback: announcements heard, then the wait norm's message and BYE.

The node is test_call_path's (SIPp as the trunk's caller on 127.0.0.2); no
operator is logged in.  The queue's phrases are "rendered" as one-second
tones (speech synthesis is tested elsewhere), each tagged with its text, and
a thin wrapper around the real media engine notes what was played, so the
test reads back which sentences the caller heard, in order.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from test_call_path import PCAP_DIR, TRUNK_IP, call_node, queue

from hotline.calls.controller import default_music_on_hold
from hotline.calls.ctl_queue import ExitReason, QueuePhrases, QueueVoice, build_queue_phrases
from hotline.ivr.runner import RenderedPrompts
from hotline.media.codecs import get_codec
from hotline.media.engine import MediaEngine
from hotline.media.player import PlaybackItem, PromptPart
from hotline.media.prompts import EncodedPrompt, encode_frames
from hotline.reports.events import EventKind
from support.peers import require, run_sipp
from support.scenarios import ANSWER_BYE_STEPS, caller_scenario

pytestmark = pytest.mark.integration

MAX_WAIT_S = 6.0
ANNOUNCE_EVERY_S = 2.0

SCENARIO = caller_scenario(
    "wait until the queue lets go",
    """  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
"""
    + ANSWER_BYE_STEPS,
    tag="wait",
)


def tone_prompts(phrases: QueuePhrases) -> RenderedPrompts:
    """Every phrase as one second of 600 Hz in PCMA, its path naming the text."""
    t = np.arange(8000) / 8000.0
    pcm = (8000 * np.sin(2 * np.pi * 600.0 * t)).astype(np.int16)
    frames = encode_frames(pcm, get_codec("PCMA"))
    return RenderedPrompts(
        {(text, "PCMA"): EncodedPrompt(text, "PCMA", frames, 1.0) for text in phrases.texts()}
    )


@dataclass
class Heard:
    """The real media engine's playback commands, with the texts of what was played."""

    media: MediaEngine
    played: list[tuple[str, ...]] = field(default_factory=list)

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        self.media.play(leg_id, item)
        texts = tuple(p.prompt.path for p in item.parts if isinstance(p, PromptPart))
        if texts:
            self.played.append(texts)

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        self.media.stop_playback(leg_id, item_id)


async def test_waiting_caller_hears_announcements_then_the_norm_message_and_bye(
    tmp_path: Path,
) -> None:
    require("sipp")
    workdir = tmp_path / "sipp"
    (workdir / "pcap").mkdir(parents=True)
    shutil.copy(PCAP_DIR / "g711a.pcap", workdir / "pcap" / "g711a.pcap")
    (workdir / "wait.xml").write_text(SCENARIO, encoding="ascii")
    phrases = await asyncio.to_thread(build_queue_phrases)
    config = queue(max_wait_s=MAX_WAIT_S, announce_interval_s=ANNOUNCE_EVERY_S)
    async with call_node(tmp_path, config) as node:
        heard = Heard(node.media)
        node.controller.voice = QueueVoice(
            heard, default_music_on_hold, phrases=phrases, prompts=tone_prompts(phrases)
        )
        args = ["-sf", "wait.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
        args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
        result = await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=30)
        await node.wait_idle()
        assert result.returncode == 0 and result.successful == 1, (
            f"SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
        )
        assert node.controller.active() == 0 and node.media.active() == 0
    first = phrases.position_text(1)
    message = phrases.messages[ExitReason.TIMED_OUT]
    announcements = [texts for texts in heard.played if texts != (message,)]
    # On entry, then every 2 s until the norm at 6 s (the one due at 6 s may lose the race).
    assert 3 <= len(announcements) <= 4
    assert all(texts == (first,) for texts in announcements)
    assert heard.played[-1] == (message,)
    (timed_out,) = node.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.number("wait_s") == MAX_WAIT_S
    assert timed_out.text("action") == "message_and_end"
    assert node.events.of(EventKind.QUEUE_ABANDONED) == []
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "system" and ended.text("cause") == "queue_timed_out"
    # The BYE came after the message had played (about one second after the norm).
    wait = (ended.timestamp - timed_out.timestamp).total_seconds()
    assert 0.8 <= wait <= 3.0
