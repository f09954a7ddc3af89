"""Uploaded recordings in the voice menu: preferred over the text rendering, picked up live."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hotline.app.stored_config import UploadedPrompts
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.ivr.runner import IvrRunner, RenderedPrompts
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart, SilencePart
from hotline.media.prompts import EncodedPrompt

FLOW = """
format: 1
name: uploaded
start: greeting
prompts:
  greeting: Здравствуйте.
nodes:
  - {id: greeting, kind: play, prompts: [greeting, {prompt: jingle}], next: queue}
  - {id: queue, kind: queue, queue: general}
"""


def _tone(path: Path, *, rate: int = 16000, seconds: float = 0.5, hz: float = 1000.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    pcm = (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


@dataclass
class Timer:
    def cancel(self) -> None:
        pass


@dataclass
class Rig:
    clock: FakeClock = field(default_factory=FakeClock)
    played: list[PlaybackItem] = field(default_factory=list)

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        self.played.append(item)

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        raise AssertionError("nothing is stopped here")

    def menu_topic(self, call_id: CallId, topic: TopicId) -> None:
        pass

    def menu_choice(self, call_id: CallId, menu: str, digit: str, info_message: bool) -> None:
        pass

    def menu_to_queue(self, call_id: CallId, queue_id: QueueId) -> None:
        pass

    def menu_hang_up(self, call_id: CallId, self_service: bool) -> None:
        raise AssertionError("the flow does not hang up")

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return Timer()


def _runner(recordings: Callable[[str, str], EncodedPrompt | None] | None) -> tuple[Rig, IvrRunner]:
    rig = Rig()
    text = EncodedPrompt("/tts/greeting.wav", "PCMA", (b"tts",) * 50, 1.0)
    runner = IvrRunner(
        load_flow_yaml(FLOW, known_prompts=("jingle",), known_queues=("general",)),
        media=rig,
        clock=rig.clock,
        call_later=rig.call_later,
        fallback_queue=QueueId("general"),
        prompts=RenderedPrompts({("Здравствуйте.", "PCMA"): text}),
    )
    runner.attach(rig)
    runner.recordings = recordings
    return rig, runner


def _parts(rig: Rig) -> list[str]:
    return [
        part.prompt.path if isinstance(part, PromptPart) else "silence"
        for item in rig.played
        for part in item.parts
        if isinstance(part, PromptPart | SilencePart)
    ]


def test_uploaded_recordings_are_encoded_once_per_codec_and_picked_up_live(tmp_path: Path) -> None:
    uploaded = UploadedPrompts(tmp_path, ("PCMA", "PCMU"))
    assert uploaded.refresh() == 0 and uploaded.get("jingle", "PCMA") is None
    _tone(tmp_path / "custom" / "jingle.wav")
    assert uploaded.refresh() == 1
    pcma, pcmu = uploaded.get("jingle", "PCMA"), uploaded.get("jingle", "PCMU")
    assert pcma is not None and pcmu is not None
    assert (pcma.codec_name, pcmu.codec_name) == ("PCMA", "PCMU")
    assert pcma.duration_s == 0.5 and len(pcma.frames) == 25  # 16 kHz → 8 kHz, 20 ms frames
    assert uploaded.refresh() == 1 and uploaded.get("jingle", "PCMA") is pcma  # not re-encoded
    (tmp_path / "custom" / "broken.wav").write_bytes(b"RIFF....not a wave")
    assert uploaded.refresh() == 1 and uploaded.get("broken", "PCMA") is None
    (tmp_path / "custom" / "jingle.wav").unlink()
    assert uploaded.refresh() == 0 and uploaded.get("jingle", "PCMA") is None


def test_menu_plays_the_upload_instead_of_the_text_and_silence_without_either(
    tmp_path: Path,
) -> None:
    uploaded = UploadedPrompts(tmp_path, ("PCMA",))
    rig, runner = _runner(uploaded.get)
    runner.start(CallId("c1"), "leg1", "PCMA")
    assert _parts(rig) == ["/tts/greeting.wav", "silence"]  # nothing uploaded yet
    assert runner.missing_prompts == 1

    _tone(tmp_path / "custom" / "jingle.wav")
    _tone(tmp_path / "custom" / "greeting.wav", hz=400.0)  # a recording of a library text
    uploaded.refresh()
    rig.played.clear()
    runner.start(CallId("c2"), "leg2", "PCMA")
    assert [Path(p).name for p in _parts(rig)] == ["greeting.wav", "jingle.wav"]
    assert all("custom" in p for p in _parts(rig))
    rig.clock.advance(1.0)
    runner.on_media_event(CallId("c2"), PlaybackFinished("leg2", rig.played[-1].item_id))


def test_without_a_recordings_lookup_the_text_rendering_plays() -> None:
    rig, runner = _runner(None)
    runner.start(CallId("c1"), "leg1", "PCMA")
    assert _parts(rig) == ["/tts/greeting.wav", "silence"]
