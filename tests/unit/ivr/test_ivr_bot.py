"""The voice-menu runner's ``bot`` node with a voice assistant attached (a fake of BotHandoff)."""

from __future__ import annotations

from dataclasses import dataclass, field

from test_ivr_runner import CALL, GENERAL, LEG, Rig, at_main_menu, make_rig

from hotline.core.ids import CallId, QueueId
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived, MediaEvent
from hotline.media.player import PlaybackFinished


@dataclass
class FakeBot:
    """BotHandoff: records what the runner hands it; ``accept`` False plays the fallback."""

    accept: bool = True
    log: list[tuple[str, ...]] = field(default_factory=list)
    events: list[MediaEvent] = field(default_factory=list)

    def start(self, call_id: CallId, leg_id: str, codec: str, topic: str | None) -> bool:
        self.log.append(("start", call_id, leg_id, codec, str(topic)))
        return self.accept

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None:
        self.events.append(event)

    def end(self, call_id: CallId) -> None:
        self.log.append(("end", call_id))


def with_bot(rig: Rig, bot: FakeBot) -> Rig:
    rig.runner.bot = bot
    return rig


def to_bot(accept: bool = True) -> tuple[Rig, FakeBot]:
    bot = FakeBot(accept)
    rig = with_bot(make_rig(), bot)
    at_main_menu(rig)
    rig.key("9")
    return rig, bot


def test_key_9_hands_the_call_to_the_assistant_and_passes_its_media_events_on() -> None:
    rig, bot = to_bot()
    assert bot.log == [("start", CALL, LEG, "PCMA", "None")]
    assert rig.host.log == [("choice", CALL, "main_menu", "9", "False")]
    assert rig.runner.active() == 1 and rig.loop.pending() == []  # the menu's timer is off
    played = len(rig.media.played)
    key = LegDtmfReceived(LEG, DtmfReceived("0", 100, DtmfSource.RFC4733))
    rig.runner.on_media_event(CALL, key)
    rig.runner.on_media_event(CALL, PlaybackFinished(LEG, "x"))
    rig.runner.on_media_event(CALL, PlaybackFinished("other-leg", "y"))
    assert bot.events == [key, PlaybackFinished(LEG, "x")]
    assert len(rig.media.played) == played  # the menu says nothing more


def test_hand_over_without_a_topic_goes_to_the_fallback_nodes_queue() -> None:
    rig, _bot = to_bot()
    rig.runner.bot_handed_over(CALL)
    assert rig.host.log[-1] == ("queue", CALL, GENERAL)
    assert rig.runner.active() == 0
    rig.runner.bot_handed_over(CALL)  # a second report: nothing
    assert len(rig.host.log) == 2


def test_resolved_call_is_hung_up_by_the_menu() -> None:
    rig, _bot = to_bot()
    rig.runner.bot_finished(CALL)
    assert rig.host.log[-1] == ("hangup", CALL, "False") and rig.runner.active() == 0


def test_the_caller_hanging_up_is_passed_to_the_assistant() -> None:
    rig, bot = to_bot()
    rig.runner.end(CALL)
    assert bot.log[-1] == ("end", CALL) and rig.runner.active() == 0


def test_an_assistant_that_cannot_take_the_call_means_the_fallback() -> None:
    rig, bot = to_bot(accept=False)
    assert len(bot.log) == 1
    assert rig.texts() == ["bot_unavailable"]
    rig.finish()
    assert rig.host.log[-1] == ("queue", CALL, GENERAL)


TOPIC_FLOW = """
format: 1
name: topic-bot
start: menu
operator: {key: "0", node: operator}
prompts:
  sorry: Помощник недоступен.
  menu: Нажмите один или два.
nodes:
  - id: menu
    kind: menu
    prompts: [menu]
    branches: {"1": health, "2": health_queue}
    timeout_s: 5
    max_retries: 1
  - id: health
    kind: set_topic
    topic: health
    next: assistant
  - id: assistant
    kind: bot
    fallback: operator
    fallback_prompts: [sorry]
  - id: health_queue
    kind: queue
    queue: health
  - id: operator
    kind: queue
    queue: general
"""


def test_hand_over_goes_to_the_topics_queue_when_the_flow_has_one() -> None:
    flow = load_flow_yaml(TOPIC_FLOW, known_queues=("health", "general"))
    bot = FakeBot()
    rig = with_bot(make_rig(flow), bot)
    rig.key("1")
    assert bot.log == [("start", CALL, LEG, "PCMA", "health")]
    rig.runner.bot_handed_over(CALL)
    assert rig.host.log[-1] == ("queue", CALL, QueueId("health"))
