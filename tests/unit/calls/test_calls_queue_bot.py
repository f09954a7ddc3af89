"""A queue's rule sends a waiting call to the voice assistant, and it comes back (ctl_queue_bot).

The controller, the ACD and the SIP far ends are the real sans-IO ones of
``test_calls_controller_fakes``; the assistant is a fake that records what
it is asked and reports its exits when the test says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from test_calls_controller_fakes import GENERAL, RecordingMedia, Rig, caller_offer, make_rig
from test_calls_queue_voice import got_bye, queue_config, voiced_rig

from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind, QueueConfig
from hotline.bot.prompt_cache import SpeechChunk
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_queue import QueuePhrases, build_queue_phrases
from hotline.calls.ctl_queue_bot import QueueBot
from hotline.core.clock import FakeClock
from hotline.core.errors import ConfigurationError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived, MediaEvent
from hotline.media.player import PlaybackFinished
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sip.useragent import Leg

BACKUP = QueueId("backup")
TO_BOT = ExitAction(ExitKind.BOT)


@pytest.fixture(scope="module")
def phrases() -> QueuePhrases:
    return build_queue_phrases()


@dataclass
class FakeBots:
    """The assistant: takes calls unless ``full``; keeps what it was told."""

    full: bool = False
    deaf: bool = False  # no recognition model, engines loading
    started: list[tuple[CallId, str, str, str | None]] = field(default_factory=list)
    ended: list[CallId] = field(default_factory=list)
    media: list[tuple[CallId, MediaEvent]] = field(default_factory=list)

    def listening(self) -> bool:
        return not self.deaf

    def start(self, call_id: CallId, leg_id: str, codec: str, topic: str | None) -> bool:
        if self.full:
            return False
        self.started.append((call_id, leg_id, codec, topic))
        return True

    def end(self, call_id: CallId) -> None:
        self.ended.append(call_id)

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None:
        self.media.append((call_id, event))


@dataclass
class FakeMenu:
    log: list[tuple[str, CallId]] = field(default_factory=list)

    def bot_handed_over(self, call_id: CallId) -> None:
        self.log.append(("handed_over", call_id))

    def bot_finished(self, call_id: CallId) -> None:
        self.log.append(("finished", call_id))


@dataclass
class BotRig:
    rig: Rig
    bots: FakeBots
    menu: FakeMenu
    queue_bot: QueueBot


def with_bot(rig: Rig) -> BotRig:
    bots, menu = FakeBots(), FakeMenu()
    controller = rig.controller
    queue_bot = QueueBot(
        bots=bots, menu=menu, host=controller, calls=controller.call, media=controller._media,
        voice=controller.voice, has_queue=rig.acd.has_queue,
    )  # fmt: skip
    controller.queue_bot = queue_bot
    return BotRig(rig, bots, menu, queue_bot)


async def waiting(rig: Rig) -> tuple[Leg, Call]:
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED and call.in_acd
    return leg, call


def timed_out_to_bot(phrases: QueuePhrases, **extra: object) -> BotRig:
    config = queue_config(max_wait_s=6.0, max_wait_action=TO_BOT, announce_on_entry=False, **extra)
    rig, _heard = voiced_rig(phrases, config)
    return with_bot(rig)


async def test_the_wait_norm_hands_the_caller_to_the_assistant(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    assert b.bots.started == [(call.call_id, call.caller_media, "PCMA", "general")]
    assert (call.caller_media, f"moh-{call.call_id}") in b.rig.media.stopped
    assert call.moh_item is None and not call.in_acd and call.phase is CallPhase.QUEUED
    assert not b.rig.controller.voice.leaving(call.call_id) and not got_bye(b.rig, leg)
    (timed_out,) = b.rig.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.text("action") == "bot" and timed_out.number("wait_s") == 6.0
    assert b.queue_bot.active() == 1 and b.queue_bot.taken == 1


async def test_a_hand_over_puts_the_call_back_in_the_queue_once(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.queue_bot.bot_handed_over(call.call_id)
    assert call.in_acd and call.queue_id == GENERAL and call.moh_item == f"moh-{call.call_id}"
    assert [e.queue_id for e in b.rig.events.of(EventKind.QUEUE_ENTERED)] == ["general"] * 2
    assert b.queue_bot.active() == 0
    # Its second wait runs out too: now the message and goodbye, not the assistant again.
    b.rig.advance(6.0)
    assert len(b.bots.started) == 1 and b.rig.controller.voice.leaving(call.call_id)
    assert [e.text("action") for e in b.rig.events.of(EventKind.QUEUE_TIMED_OUT)] == ["bot"] * 2
    assert call.caller_media is not None
    b.rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call.call_id}"))
    assert got_bye(b.rig, leg) and b.rig.controller.active() == 0
    (ended,) = b.rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("cause") == "queue_timed_out"


async def test_the_hand_over_reaches_an_operator(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    _leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.rig.login("op1")  # an operator comes in while the caller talks to the assistant
    assert b.rig.events.of(EventKind.QUEUE_OFFERED) == []  # not in the ACD: nobody rings
    b.queue_bot.bot_handed_over(call.call_id)
    (offered,) = b.rig.events.of(EventKind.QUEUE_OFFERED)
    assert offered.call_id == call.call_id and offered.operator_id == "op1"


async def test_the_returned_caller_goes_before_callers_who_came_later(
    phrases: QueuePhrases,
) -> None:
    b = timed_out_to_bot(phrases)
    _leg, first = await waiting(b.rig)
    b.rig.advance(6.0)  # the first caller is with the assistant now
    b.rig.ua.incoming(caller_offer(port=30010), caller="79035550101")
    await b.rig.controller.settle()
    b.rig.advance(3.0)
    b.queue_bot.bot_handed_over(first.call_id)  # back in the queue after the second caller
    b.rig.login("op1")
    (offered,) = b.rig.events.of(EventKind.QUEUE_OFFERED)
    assert offered.call_id == first.call_id


async def test_a_target_queue_takes_the_call_back(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    b.rig.acd.add_queue(QueueConfig(queue_id=BACKUP, name="B", topic=TopicId("general")))
    b.rig.acd.update_queue(
        queue_config(max_wait_s=6.0, max_wait_action=ExitAction(ExitKind.BOT, BACKUP))
    )
    _leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.queue_bot.bot_handed_over(call.call_id)
    assert call.queue_id == BACKUP and call.in_acd
    assert [e.queue_id for e in b.rig.events.of(EventKind.QUEUE_ENTERED)] == ["general", "backup"]


async def test_an_unknown_target_hands_back_to_the_queue_it_left(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    b.rig.acd.update_queue(
        queue_config(max_wait_s=6.0, max_wait_action=ExitAction(ExitKind.BOT, "no-such-queue"))
    )
    _leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.queue_bot.bot_handed_over(call.call_id)
    assert call.queue_id == GENERAL and call.in_acd and b.rig.controller.active() == 1


async def test_a_helped_caller_is_let_go(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.queue_bot.bot_finished(call.call_id)
    assert got_bye(b.rig, leg) and b.rig.controller.active() == 0
    (ended,) = b.rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "system" and ended.text("cause") == "bot_resolved"
    assert b.bots.ended == []  # the assistant ended it itself: not told again
    assert b.rig.media.open_legs() == []


async def test_the_caller_hangs_up_on_the_assistant(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    b.rig.ua.far_hang_up(leg)
    assert b.bots.ended == [call.call_id] and b.rig.controller.active() == 0
    assert b.rig.events.of(EventKind.QUEUE_ABANDONED) == []  # the visit ended as timed out
    (ended,) = b.rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    b.queue_bot.bot_handed_over(call.call_id)  # a late exit of the assistant: nothing
    assert b.menu.log == [("handed_over", call.call_id)] and b.rig.controller.active() == 0


async def test_media_events_go_to_the_assistant(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    media = call.caller_media
    assert media is not None
    key = LegDtmfReceived(media, DtmfReceived("1", 100, DtmfSource.RFC4733))
    done = PlaybackFinished(media, "bot-item")
    b.rig.controller.on_media_event(key)
    b.rig.controller.on_media_event(done)
    assert b.bots.media == [(call.call_id, key), (call.call_id, done)]
    assert b.rig.events.of(EventKind.QUEUE_CALLBACK_REQUESTED) == []  # "1" was not for the queue
    b.rig.controller.on_media_event(MediaTimeout(media, 30.0))
    assert b.rig.controller.active() == 0 and got_bye(b.rig, leg)
    assert b.rig.events.of(EventKind.CALL_ENDED)[0].text("cause") == "rtp_timeout"
    assert b.bots.ended == [call.call_id]


async def test_an_assistant_at_capacity_means_the_message(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    b.bots.full = True
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    assert b.rig.controller.voice.leaving(call.call_id) and b.queue_bot.refused == 1
    assert (call.caller_media, f"moh-{call.call_id}") in b.rig.media.stopped
    assert call.caller_media is not None
    b.rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call.call_id}"))
    assert got_bye(b.rig, leg)


async def test_an_assistant_that_cannot_listen_means_the_message(phrases: QueuePhrases) -> None:
    b = timed_out_to_bot(phrases)
    b.bots.deaf = True
    leg, call = await waiting(b.rig)
    b.rig.advance(6.0)
    assert b.bots.started == [] and b.queue_bot.refused == 1
    assert b.rig.controller.voice.leaving(call.call_id)
    assert call.caller_media is not None
    b.rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call.call_id}"))
    assert got_bye(b.rig, leg) and b.rig.events.of(EventKind.CALL_BOT_STARTED) == []


def test_the_real_assistant_listens_only_with_its_engines() -> None:
    from hotline.calls.ctl_bot import BotCalls, BotEngines

    class Silent:
        async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[SpeechChunk]:
            return
            yield

    bots = BotCalls(
        media=RecordingMedia(), engines=BotEngines(speech=Silent(), answers={}.get),
        clock=FakeClock(), call_later=lambda _d, _cb: None, calls=lambda _c: None,
    )  # fmt: skip
    assert not bots.listening()  # no recogniser, detector or matcher (no model installed)


async def test_a_full_queue_sends_new_callers_to_the_assistant(phrases: QueuePhrases) -> None:
    config = queue_config(max_length=0, full_action=TO_BOT, announce_on_entry=False)
    rig, _heard = voiced_rig(phrases, config)
    b = with_bot(rig)
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert [c for c, *_ in b.bots.started] == [call.call_id] and not got_bye(rig, leg)
    assert len(rig.events.of(EventKind.QUEUE_LEFT_FULL)) == 1


async def test_an_empty_queue_may_send_callers_to_the_assistant(phrases: QueuePhrases) -> None:
    config = queue_config(
        when_empty=EmptyPolicy.REFUSE, empty_action=TO_BOT, announce_on_entry=False
    )
    rig, _heard = voiced_rig(phrases, config)
    b = with_bot(rig)
    rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    assert len(b.bots.started) == 1


async def test_the_menu_s_calls_pass_to_the_menu() -> None:
    b = with_bot(make_rig(greeting=None))
    b.queue_bot.bot_handed_over(CallId("menu-call"))
    b.queue_bot.bot_finished(CallId("menu-call-2"))
    assert b.menu.log == [("handed_over", "menu-call"), ("finished", "menu-call-2")]


async def test_other_actions_are_not_the_assistant_s() -> None:
    b = with_bot(make_rig(greeting=None))
    _leg, call = await waiting(b.rig)
    assert not b.queue_bot.take(call, None)
    assert not b.queue_bot.take(call, ExitAction(ExitKind.MESSAGE_AND_END))
    assert b.bots.started == []


def test_bot_is_an_exit_kind_of_the_queue_settings() -> None:
    from hotline.acd.sim_config import queue_config_from_mapping as parse_queue

    parsed = parse_queue(
        {"queue_id": "q", "name": "Q", "topic": "t", "max_wait_action": {"kind": "bot"}}
    )
    assert parsed.max_wait_action == TO_BOT
    with pytest.raises(ConfigurationError, match="kind"):
        parse_queue({"queue_id": "q", "name": "Q", "topic": "t", "max_wait_action": "robot"})
