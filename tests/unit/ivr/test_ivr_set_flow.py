"""Swapping the voice menu's flow while calls are in it (IvrRunner.set_flow), on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.ivr.runner import IvrRunner, RenderedPrompts, flow_prompt_texts
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart, SilencePart
from hotline.media.prompts import EncodedPrompt

OLD_YAML = """
format: 1
name: old
start: greeting
prompts:
  greeting: Старое приветствие.
  notice: Старое объявление.
nodes:
  - {id: greeting, kind: play, prompts: [greeting], next: notice}
  - {id: notice, kind: play, prompts: [notice], next: queue}
  - {id: queue, kind: queue, queue: social}
"""
NEW_YAML = """
format: 1
name: new
start: greeting
prompts:
  greeting: Новое приветствие.
  notice: Новое объявление.
nodes:
  - {id: greeting, kind: play, prompts: [greeting], next: notice}
  - {id: notice, kind: play, prompts: [notice], next: queue}
  - {id: queue, kind: queue, queue: health}
"""
QUEUES = ("social", "health", "general")


def flow_of(text: str) -> Flow:
    return load_flow_yaml(text, known_queues=QUEUES)


def encoded(texts: tuple[str, ...]) -> RenderedPrompts:
    """One distinct second of frames per text (the frames' byte names the text)."""
    return RenderedPrompts(
        {
            (text, "PCMA"): EncodedPrompt(f"/tts/{text}.wav", "PCMA", (text.encode(),) * 50, 1.0)
            for text in texts
        }
    )


@dataclass
class Timer:
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Rig:
    clock: FakeClock = field(default_factory=FakeClock)
    played: dict[str, list[PlaybackItem]] = field(default_factory=dict)
    routed: list[tuple[CallId, QueueId]] = field(default_factory=list)
    asked: list[tuple[str, ...]] = field(default_factory=list)

    # IvrMedia
    def play(self, leg_id: str, item: PlaybackItem) -> None:
        self.played.setdefault(leg_id, []).append(item)

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        raise AssertionError("nothing is stopped in these flows")

    # IvrHost
    def menu_topic(self, call_id: CallId, topic: TopicId) -> None:
        pass

    def menu_choice(self, call_id: CallId, menu: str, digit: str, info_message: bool) -> None:
        pass

    def menu_to_queue(self, call_id: CallId, queue_id: QueueId) -> None:
        self.routed.append((call_id, queue_id))

    def menu_hang_up(self, call_id: CallId, self_service: bool) -> None:
        raise AssertionError("no flow here hangs up")

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return Timer()

    def said(self, leg_id: str) -> list[str]:
        """What each item on ``leg_id`` said (the text of each prompt, or 'silence')."""
        return [
            part.prompt.frames[0].decode() if isinstance(part, PromptPart) else "silence"
            for item in self.played[leg_id]
            for part in item.parts
            if isinstance(part, PromptPart | SilencePart)
        ]

    def finish(self, runner: IvrRunner, call: str, leg: str) -> None:
        self.clock.advance(1.0)
        runner.on_media_event(CallId(call), PlaybackFinished(leg, self.played[leg][-1].item_id))


def make(flow: Flow, prompts: RenderedPrompts) -> tuple[Rig, IvrRunner]:
    rig = Rig()
    runner = IvrRunner(
        flow,
        media=rig,
        clock=rig.clock,
        call_later=rig.call_later,
        fallback_queue=QueueId("general"),
        prompts=prompts,
    )
    runner.attach(rig)
    runner.render_prompts = rig.asked.append
    return rig, runner


def test_new_calls_take_the_new_flow_and_a_call_in_the_menu_finishes_on_the_old_one() -> None:
    old, new = flow_of(OLD_YAML), flow_of(NEW_YAML)
    both = (*flow_prompt_texts(old), *flow_prompt_texts(new))
    rig, runner = make(old, encoded(both))
    runner.start(CallId("a"), "la", "PCMA")
    runner.set_flow(new)
    assert runner.flow is new
    runner.start(CallId("b"), "lb", "PCMA")
    # "a" goes on with the old texts under the same prompt ids, and to the old queue.
    rig.finish(runner, "a", "la")
    rig.finish(runner, "a", "la")
    rig.finish(runner, "b", "lb")
    rig.finish(runner, "b", "lb")
    assert rig.said("la") == ["Старое приветствие.", "Старое объявление."]
    assert rig.said("lb") == ["Новое приветствие.", "Новое объявление."]
    assert rig.routed == [(CallId("a"), QueueId("social")), (CallId("b"), QueueId("health"))]
    assert runner.active() == 0
    assert rig.asked == []  # every text had a rendering: nothing to render
    assert runner.missing_prompts == 0


def test_the_new_flows_unrendered_texts_are_asked_for_and_play_once_added() -> None:
    old, new = flow_of(OLD_YAML), flow_of(NEW_YAML)
    rig, runner = make(old, encoded(flow_prompt_texts(old)))
    assert runner.missing_texts(new) == ("Новое приветствие.", "Новое объявление.")
    runner.set_flow(new)
    assert rig.asked == [("Новое приветствие.", "Новое объявление.")]
    runner.start(CallId("b"), "lb", "PCMA")  # before the rendering is back: a short silence
    assert rig.said("lb") == ["silence"]
    assert runner.missing_prompts == 1
    runner.add_prompts(encoded(rig.asked[0]))
    assert runner.missing_texts() == ()
    rig.finish(runner, "b", "lb")
    assert rig.said("lb") == ["silence", "Новое объявление."]
    runner.start(CallId("c"), "lc", "PCMA")
    assert rig.said("lc") == ["Новое приветствие."]
    # The old renderings stay (a call on the old flow may still need them).
    assert runner.missing_texts(old) == ()


def test_prompts_given_with_the_flow_are_added_and_nothing_is_asked() -> None:
    old, new = flow_of(OLD_YAML), flow_of(NEW_YAML)
    rig, runner = make(old, encoded(flow_prompt_texts(old)))
    runner.set_flow(new, encoded(flow_prompt_texts(new)))
    assert rig.asked == []
    assert runner.missing_texts(new) == () and runner.missing_texts(old) == ()
    runner.start(CallId("b"), "lb", "PCMA")
    assert rig.said("lb") == ["Новое приветствие."]


def test_without_a_renderer_the_flow_still_changes() -> None:
    old, new = flow_of(OLD_YAML), flow_of(NEW_YAML)
    rig, runner = make(old, encoded(flow_prompt_texts(old)))
    runner.render_prompts = None
    runner.set_flow(new)
    runner.start(CallId("b"), "lb", "PCMA")
    rig.finish(runner, "b", "lb")
    rig.finish(runner, "b", "lb")
    assert rig.routed == [(CallId("b"), QueueId("health"))]
    assert runner.missing_prompts == 2
