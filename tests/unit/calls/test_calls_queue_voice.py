"""What a waiting caller hears: announcements, exit messages and their outcomes (ctl_queue)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from structlog.testing import capture_logs
from test_calls_controller_fakes import (
    GENERAL,
    RecordingMedia,
    Rig,
    caller_offer,
    make_rig,
    phone_answer_to,
)

from hotline.acd.decisions import AnnouncePosition
from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind, QueueConfig
from hotline.calls.call import Call, CallPhase
from hotline.calls.controller import default_music_on_hold
from hotline.calls.ctl_queue import (
    MAX_SPOKEN_MINUTES,
    ExitReason,
    QueuePhrases,
    QueueVoice,
    build_queue_phrases,
    wait_minutes,
)
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.ivr.runner import RenderedPrompts
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import LegDtmfReceived
from hotline.media.player import PlaybackFinished, PlaybackItem, PromptPart
from hotline.media.prompts import EncodedPrompt
from hotline.reports.events import EventKind
from hotline.sip.dlg_events import ByeReceived
from hotline.sip.useragent import Leg

BACKUP = QueueId("backup")
GENERAL_CALL = CallId("c-1")


@pytest.fixture(scope="module")
def phrases() -> QueuePhrases:
    return build_queue_phrases(prompt_texts={"closed": "Горячая линия закрыта."})


def rendered(phrases: QueuePhrases, *, skip: frozenset[str] = frozenset()) -> RenderedPrompts:
    """Every phrase "rendered" as one frame whose path is the text (to read back what played)."""
    return RenderedPrompts(
        {
            (text, "PCMA"): EncodedPrompt(text, "PCMA", (b"\xd5" * 160,), 0.02)
            for text in phrases.texts()
            if text not in skip
        }
    )


@dataclass
class Heard:
    """Wraps the rig's media: keeps every played item and every stop, in order."""

    media: RecordingMedia
    log: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        self.media.play(leg_id, item)
        texts = tuple(p.prompt.path if isinstance(p, PromptPart) else "tone" for p in item.parts)
        self.log.append(("play", item.item_id, texts))

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        self.media.stop_playback(leg_id, item_id)
        self.log.append(("stop", item_id or "", ()))

    def said(self) -> list[tuple[str, ...]]:
        return [texts for op, _item, texts in self.log if op == "play" and texts != ("tone",)]


def voiced_rig(
    phrases: QueuePhrases, queue: QueueConfig, *, skip: frozenset[str] = frozenset()
) -> tuple[Rig, Heard]:
    rig = make_rig(greeting=None, queue=queue)
    heard = Heard(rig.media)
    rig.controller.voice = QueueVoice(
        heard, default_music_on_hold, phrases=phrases, prompts=rendered(phrases, skip=skip)
    )
    return rig, heard


def queue_config(**kwargs: object) -> QueueConfig:
    return QueueConfig(queue_id=GENERAL, name="G", topic=TopicId("general"), **kwargs)  # type: ignore[arg-type]


async def queued(rig: Rig) -> tuple[Leg, Call]:
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.QUEUED
    return leg, call


def got_bye(rig: Rig, leg: Leg) -> bool:
    return any(isinstance(e, ByeReceived) for e in rig.ua.far_events.get(leg.leg_id, []))


def farewell(rig: Rig, call: Call) -> None:
    assert call.caller_media is not None
    rig.controller.on_media_event(PlaybackFinished(call.caller_media, f"farewell-{call.call_id}"))


# -- the phrases -------------------------------------------------------------------------------


def test_positions_are_masculine_ordinals(phrases: QueuePhrases) -> None:
    assert phrases.position_text(1) == "Вы — первый в очереди."
    assert phrases.position_text(3) == "Вы — третий в очереди."
    assert phrases.position_text(11) == "Вы — одиннадцатый в очереди."
    assert phrases.position_text(20) == "Вы — двадцатый в очереди."
    assert phrases.position_text(21) is None


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (1, "одна минута"),
        (2, "две минуты"),
        (4, "четыре минуты"),
        (5, "пять минут"),
        (11, "одиннадцать минут"),
        (12, "двенадцать минут"),
        (21, "двадцать одна минута"),
        (22, "двадцать две минуты"),
        (25, "двадцать пять минут"),
        (30, "тридцать минут"),
    ],
)
def test_waits_agree_with_the_number(phrases: QueuePhrases, minutes: int, words: str) -> None:
    assert phrases.wait_text(minutes * 60.0) == f"Примерное время ожидания — {words}."


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0.0, 1), (-5.0, 1), (float("nan"), 1), (1.0, 1), (60.0, 1), (60.5, 2), (150.0, 3)],
)
def test_wait_is_rounded_up_to_whole_minutes(seconds: float, minutes: int) -> None:
    assert wait_minutes(seconds) == minutes


def test_long_waits_and_texts_to_render(phrases: QueuePhrases) -> None:
    assert phrases.wait_text(MAX_SPOKEN_MINUTES * 60.0 + 1) == (
        "Примерное время ожидания — более тридцати минут."
    )
    texts = phrases.texts()
    assert len(texts) == len(set(texts)) == 20 + 30 + 1 + 1 + len(ExitReason) + 1
    assert "Горячая линия закрыта." in texts


def test_messages_by_action(phrases: QueuePhrases) -> None:
    own = ExitAction(ExitKind.MESSAGE_AND_END, "closed")
    unknown = ExitAction(ExitKind.MESSAGE_AND_END, "nope")
    assert phrases.message_text(ExitReason.TIMED_OUT, own) == "Горячая линия закрыта."
    assert phrases.message_text(ExitReason.TIMED_OUT, unknown).startswith("К сожалению, все")
    assert phrases.message_text(ExitReason.FULL, None).startswith("К сожалению, сейчас все линии")


# -- announcements -----------------------------------------------------------------------------


async def test_entry_announcement_stops_music_says_position_and_resumes_music(
    phrases: QueuePhrases,
) -> None:
    rig, heard = voiced_rig(phrases, queue_config(announce_interval_s=30.0, max_wait_s=None))
    _leg, call = await queued(rig)
    assert heard.log == []  # the entry announcement is the ACD's timer, due now
    rig.advance(0.0)
    moh = f"moh-{call.call_id}"
    assert heard.log[0] == ("stop", moh, ())
    assert heard.log[1][0] == "play" and heard.log[1][2] == ("Вы — первый в очереди.",)
    assert heard.log[2] == ("play", moh, ("tone",))
    rig.advance(30.0)
    assert heard.said() == [("Вы — первый в очереди.",)] * 2
    assert rig.controller.voice.announcements == 2


async def test_position_and_wait_together(phrases: QueuePhrases) -> None:
    rig, heard = voiced_rig(phrases, queue_config(announce_on_entry=False, max_wait_s=None))
    _leg, call = await queued(rig)
    rig.controller.on_decision(AnnouncePosition(call.call_id, GENERAL, 3, 150.0, 0.0))
    assert heard.said() == [("Вы — третий в очереди.", "Примерное время ожидания — три минуты.")]
    rig.controller.on_decision(AnnouncePosition(call.call_id, GENERAL, 25, None, 0.0))
    assert len(heard.said()) == 1  # nothing sayable: the music goes on untouched


async def test_unrendered_announcement_keeps_the_music(phrases: QueuePhrases) -> None:
    skip = frozenset({"Вы — первый в очереди."})
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=None), skip=skip)
    await queued(rig)
    rig.advance(0.0)
    assert heard.said() == [] and all(op == "play" for op, _i, _t in heard.log)
    assert rig.controller.voice.missing_prompts == 1


# -- the wait norm -----------------------------------------------------------------------------


async def test_max_wait_plays_the_message_then_hangs_up_timed_out(phrases: QueuePhrases) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=6.0, announce_on_entry=False))
    leg, call = await queued(rig)
    rig.advance(6.0)
    assert rig.controller.active() == 1 and not got_bye(rig, leg)
    assert heard.log[-2] == ("stop", f"moh-{call.call_id}", ())
    assert heard.log[-1] == (
        "play",
        f"farewell-{call.call_id}",
        ("К сожалению, все операторы заняты. Пожалуйста, перезвоните позднее.",),
    )
    assert rig.controller.voice.leaving(call.call_id)
    farewell(rig, call)
    assert rig.controller.active() == 0 and got_bye(rig, leg)
    assert rig.media.open_legs() == []
    (timed_out,) = rig.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.number("wait_s") == 6.0 and timed_out.text("action") == "message_and_end"
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "system" and ended.text("cause") == "queue_timed_out"


async def test_caller_hangs_up_during_the_message_stays_timed_out(phrases: QueuePhrases) -> None:
    rig, _heard = voiced_rig(phrases, queue_config(max_wait_s=6.0))
    leg, call = await queued(rig)
    rig.advance(6.0)
    rig.ua.far_hang_up(leg)
    assert rig.controller.active() == 0 and not rig.controller.voice.leaving(call.call_id)
    assert len(rig.events.of(EventKind.QUEUE_TIMED_OUT)) == 1
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("who_hung_up") == "caller"
    farewell(rig, call)  # a late report changes nothing
    assert len(rig.events.of(EventKind.CALL_ENDED)) == 1


async def test_queue_own_message_by_prompt_id(phrases: QueuePhrases) -> None:
    action = ExitAction(ExitKind.MESSAGE_AND_END, "closed")
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=6.0, max_wait_action=action))
    await queued(rig)
    rig.advance(6.0)
    assert heard.said()[-1] == ("Горячая линия закрыта.",)


async def test_overflow_on_the_wait_norm_moves_the_call(phrases: QueuePhrases) -> None:
    action = ExitAction(ExitKind.OVERFLOW, BACKUP)
    rig, heard = voiced_rig(
        phrases, queue_config(max_wait_s=6.0, max_wait_action=action, announce_on_entry=False)
    )
    rig.acd.add_queue(QueueConfig(queue_id=BACKUP, name="B", topic=TopicId("general")))
    leg, call = await queued(rig)
    rig.advance(6.0)
    assert rig.controller.active() == 1 and call.queue_id == BACKUP and call.in_acd
    assert not rig.controller.voice.leaving(call.call_id) and not got_bye(rig, leg)
    (timed_out,) = rig.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.text("action") == "overflow" and timed_out.text("to_queue") == "backup"
    entered = rig.events.of(EventKind.QUEUE_ENTERED)
    assert [e.queue_id for e in entered] == ["general", "backup"]
    assert heard.said() == [("Вы — первый в очереди.",)]  # the new queue announces on entry


async def test_external_action_without_a_redirector_says_the_message_and_ends(
    phrases: QueuePhrases,
) -> None:
    """Not wired to ctl_queue_external (it dials the number): the goodbye, warned once."""
    action = ExitAction(ExitKind.EXTERNAL, "+74950000000")
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=6.0, max_wait_action=action))
    assert rig.controller.queue_external is None
    with capture_logs() as logs:
        leg, call = await queued(rig)
        second = rig.ua.incoming(caller_offer(), caller="79990000000")
        await rig.controller.settle()
        rig.advance(6.0)
    assert heard.said()[-1][0].startswith("К сожалению, все операторы заняты")
    farewell(rig, call)
    assert got_bye(rig, leg) and not got_bye(rig, second)
    assert [e.text("action") for e in rig.events.of(EventKind.QUEUE_TIMED_OUT)] == ["external"] * 2
    levels = [e["log_level"] for e in logs if "outside number" in e["event"]]
    assert levels == ["warning", "info"]


async def test_callback_action_says_we_call_back_one_outcome(phrases: QueuePhrases) -> None:
    action = ExitAction(ExitKind.CALLBACK)
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=6.0, max_wait_action=action))
    _leg, call = await queued(rig)
    rig.advance(6.0)
    assert heard.said()[-1] == (phrases.messages[ExitReason.CALLBACK],)
    farewell(rig, call)
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("cause") == "callback_scheduled"
    # The visit's one outcome is the time-out; the call-back is its action.
    assert len(rig.events.of(EventKind.QUEUE_TIMED_OUT)) == 1
    assert rig.events.of(EventKind.QUEUE_CALLBACK_REQUESTED) == []


async def test_no_rendered_message_hangs_up_at_once(phrases: QueuePhrases) -> None:
    skip = frozenset({phrases.messages[ExitReason.TIMED_OUT]})
    rig, _heard = voiced_rig(phrases, queue_config(max_wait_s=6.0), skip=skip)
    leg, _call = await queued(rig)
    rig.advance(6.0)
    assert rig.controller.active() == 0 and got_bye(rig, leg)


# -- refusals at the door ----------------------------------------------------------------------


async def test_full_queue_plays_the_message_and_counts_left_full(phrases: QueuePhrases) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_length=1, max_wait_s=None))
    await queued(rig)
    second = rig.ua.incoming(caller_offer(), caller="79990000000")
    await rig.controller.settle()
    call = next(c for c in rig.controller.calls() if c.caller_leg is second)
    assert heard.said()[-1] == (phrases.messages[ExitReason.FULL],)
    farewell(rig, call)
    assert got_bye(rig, second) and rig.controller.active() == 1
    (full,) = rig.events.of(EventKind.QUEUE_LEFT_FULL)
    assert full.call_id == call.call_id
    ended = rig.events.of(EventKind.CALL_ENDED)
    assert [e.text("cause") for e in ended] == ["queue_full"]


async def test_empty_queue_refuses_with_the_message_left_empty(phrases: QueuePhrases) -> None:
    rig, heard = voiced_rig(phrases, queue_config(when_empty=EmptyPolicy.REFUSE))
    leg = rig.ua.incoming(caller_offer())
    await rig.controller.settle()
    (call,) = rig.controller.calls()
    assert heard.said() == [(phrases.messages[ExitReason.EMPTY],)]
    assert rig.events.of(EventKind.QUEUE_ENTERED) == []
    farewell(rig, call)
    assert got_bye(rig, leg)
    assert len(rig.events.of(EventKind.QUEUE_LEFT_EMPTY)) == 1
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("cause") == "queue_empty"


def test_voice_without_phrases_says_nothing() -> None:
    media = RecordingMedia()
    voice = QueueVoice(media, default_music_on_hold)
    says = AnnouncePosition(GENERAL_CALL, GENERAL, 1, 60.0, 0.0)
    assert not voice.announce(GENERAL_CALL, "m1", "PCMA", "moh", says, caller_number="79161234567")
    assert not voice.farewell(GENERAL_CALL, "m1", "PCMA", None, ExitReason.FULL, None)
    assert media.played == [] and media.stopped == []


@dataclass
class RouterCallbacks:
    """The ACD's call-back input (the router's, as AcdService has no such method yet)."""

    rig: Rig
    asked: list[CallId] = field(default_factory=list)

    def callback_requested(self, call_id: CallId) -> None:
        self.asked.append(call_id)
        self.rig.acd.engine.callback_requested(call_id, self.rig.clock.monotonic())
        self.rig.acd.poll()


def key(rig: Rig, call: Call, digit: str) -> None:
    assert call.caller_media is not None
    dtmf = DtmfReceived(digit, 100, DtmfSource.RFC4733)
    rig.controller.on_media_event(LegDtmfReceived(call.caller_media, dtmf))


async def test_callback_offer_key_1_is_one_callback_outcome_and_the_caller_is_told(
    phrases: QueuePhrases,
) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=None))
    callbacks = RouterCallbacks(rig)
    rig.controller.voice.callbacks = callbacks
    leg, call = await queued(rig)
    rig.advance(0.0)
    assert heard.said() == [("Вы — первый в очереди.", phrases.callback_offer)]
    assert phrases.callback_offer == "Нажмите 1, и мы вам перезвоним; ваша очередь сохранится."
    rig.clock.advance(12.0)
    key(rig, call, "2")  # not the offer's key
    assert callbacks.asked == [] and len(heard.said()) == 1
    key(rig, call, "1")
    assert callbacks.asked == [call.call_id]
    assert heard.said()[-1] == (phrases.messages[ExitReason.CALLBACK],)
    key(rig, call, "1")  # while the confirmation plays: nothing more
    assert callbacks.asked == [call.call_id]
    farewell(rig, call)
    assert got_bye(rig, leg)
    (asked,) = rig.events.of(EventKind.QUEUE_CALLBACK_REQUESTED)
    assert asked.queue_id == "general" and asked.text("number") == "79161234567"
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []
    assert rig.events.of(EventKind.CALL_ENDED)[0].text("cause") == "callback_scheduled"


async def test_operator_answer_cuts_the_announcement_short(phrases: QueuePhrases) -> None:
    rig, heard = voiced_rig(phrases, queue_config(max_wait_s=None))
    _leg, call = await queued(rig)
    rig.advance(0.0)
    (announce,) = [item for op, item, _t in heard.log if item.startswith("announce-")]
    assert call.caller_media is not None
    rig.controller.on_media_event(PlaybackFinished(call.caller_media, announce))
    rig.controller.on_decision(AnnouncePosition(call.call_id, GENERAL, 2, None, 0.0))
    second = heard.log[-2][1]
    assert second.startswith("announce-") and second != announce
    rig.login("1001")
    await rig.controller.settle()
    (op_leg,) = rig.ua.placed
    rig.ua.phone_answer(op_leg, phone_answer_to(op_leg))
    assert call.phase is CallPhase.TALKING
    stops = [item for op, item, _t in heard.log if op == "stop"]
    assert stops == [f"moh-{call.call_id}", f"moh-{call.call_id}", second]
    assert (call.caller_media, second) in rig.media.stopped
