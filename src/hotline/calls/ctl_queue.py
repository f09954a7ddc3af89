"""What a waiting caller hears: music on hold, position announcements, exit messages.

The ACD decides *when* (its :class:`~hotline.acd.decisions.AnnouncePosition`
timers, the wait norm, the full and empty rules); :class:`QueueVoice` decides
*what is played* on the caller's media leg, for the
:class:`~hotline.calls.controller.CallController`:

Announcements
    «Вы — третий в очереди. Примерное время ожидания — две минуты.»  The
    phrases are whole sentences per value (positions 1–20, waits 1–30
    minutes, rounded up; longer waits say «более тридцати минут»), listed by
    :meth:`QueuePhrases.texts` so that start-up renders them all into the
    prompt cache: playing one at call time is a dictionary look-up, never
    speech synthesis.  Ordinals and number agreement come from the bot's
    normaliser helpers (num2words and pymorphy3).  Music on hold is stopped,
    the announcement queued, and the music queued again behind it (the media
    player plays items back to back), so nothing waits for an event.

Exit messages
    When the ACD takes the call out (wait norm with ``message_and_end``,
    full, empty, a call-back scheduled), the music stops, the queue's
    message plays, and its ``PlaybackFinished`` tells the controller to hang
    up with the cause chosen here.  A prompt that was not rendered is
    skipped: the call ends at once rather than on silence.

Call-back offer
    With a :class:`CallbackRequests` port, every announcement to a caller we
    can call back ends with «Нажмите 1, и мы вам перезвоним; ваша очередь
    сохранится.» and the key ``1`` while waiting asks for a call-back (its ``CallLeftQueue`` with
    outcome ``callback`` and ``CallbackScheduled`` follow; the caller hears
    the confirmation and the call ends).  The port is the call-back desk
    (:class:`~hotline.calls.ctl_callback.CallbackDesk`), which keeps the
    request's place and places the call when an operator is free.  An
    anonymous caller (no number, or one that cannot be dialled back: see
    :func:`callback_number`) neither hears the offer nor gets a call-back
    for the key.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

import structlog

from hotline.acd.decisions import AnnouncePosition
from hotline.acd.model import ExitAction, ExitKind
from hotline.bot.norm_morph import Morphology
from hotline.bot.norm_numbers import Case, Gender, cardinal, ordinal
from hotline.calls.numbers import NumberKind, PhoneNumber, parse_caller_id
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId
from hotline.media.player import PlaybackItem, PlaybackPart, PromptPart
from hotline.media.prompts import EncodedPrompt

__all__ = [
    "CALLBACK_KEY",
    "CALLBACK_OFFER",
    "MAX_SPOKEN_MINUTES",
    "MAX_SPOKEN_POSITION",
    "CallbackRequests",
    "ExitReason",
    "PromptLookup",
    "QueueMedia",
    "QueuePhrases",
    "QueueVoice",
    "build_queue_phrases",
    "callback_number",
    "wait_minutes",
]

log = structlog.get_logger("hotline.calls.queue")

MAX_SPOKEN_POSITION: Final = 20
"""Positions above this are not said (only the estimated wait)."""
MAX_SPOKEN_MINUTES: Final = 30
"""Waits above this many minutes are said as «более тридцати минут»."""
CALLBACK_KEY: Final = "1"
CALLBACK_OFFER: Final = "Нажмите 1, и мы вам перезвоним; ваша очередь сохранится."


def callback_number(caller_number: str | None) -> PhoneNumber | None:
    """The number a call-back would dial; None for an anonymous caller.

    Anonymous is no number at all, one that does not parse (``anonymous``, an
    odd extension, an unassigned range) or a short number (a service such as
    112 or 122 is never called back).
    """
    number = parse_caller_id(caller_number)
    if number is None or number.kind is NumberKind.SHORT:
        return None
    return number


class ExitReason(enum.Enum):
    """Why the ACD took the call out of its queue; the ``call.ended`` cause."""

    TIMED_OUT = "queue_timed_out"
    FULL = "queue_full"
    EMPTY = "queue_empty"
    CALLBACK = "callback_scheduled"


_DEFAULT_MESSAGES: Final[Mapping[ExitReason, str]] = MappingProxyType(
    {
        ExitReason.TIMED_OUT: (
            "К сожалению, все операторы заняты. Пожалуйста, перезвоните позднее."
        ),
        ExitReason.FULL: ("К сожалению, сейчас все линии заняты. Пожалуйста, перезвоните позднее."),
        ExitReason.EMPTY: (
            "К сожалению, сейчас операторы не принимают звонки. Пожалуйста, перезвоните позднее."
        ),
        ExitReason.CALLBACK: ("Мы вам перезвоним, как только освободится оператор. До свидания."),
    }
)


def wait_minutes(estimated_wait_s: float) -> int:
    """The estimate in whole minutes as said to the caller: rounded up, at least one."""
    if not math.isfinite(estimated_wait_s) or estimated_wait_s <= 0:
        return 1
    return max(1, math.ceil(estimated_wait_s / 60.0))


@dataclass(frozen=True, slots=True)
class QueuePhrases:
    """Every sentence a waiting caller may hear, by value (see :func:`build_queue_phrases`)."""

    positions: Mapping[int, str]
    waits: Mapping[int, str]
    wait_over: str
    callback_offer: str = CALLBACK_OFFER
    messages: Mapping[ExitReason, str] = field(default_factory=lambda: _DEFAULT_MESSAGES)
    prompt_texts: Mapping[str, str] = field(default_factory=dict)
    """Prompt id (``ExitAction.target``) → text, for queues configured with their own message."""

    def position_text(self, position: int) -> str | None:
        return self.positions.get(position)

    def wait_text(self, estimated_wait_s: float) -> str:
        return self.waits.get(wait_minutes(estimated_wait_s), self.wait_over)

    def message_text(self, reason: ExitReason, action: ExitAction | None) -> str:
        """The queue's own message (a known prompt id) or the default one for ``reason``."""
        if action is not None and action.kind is ExitKind.MESSAGE_AND_END and action.target:
            text = self.prompt_texts.get(action.target)
            if text is not None:
                return text
            log.warning("queue message prompt unknown, default said", prompt=action.target)
        return self.messages[reason]

    def texts(self) -> tuple[str, ...]:
        """Every text to render at start-up (no duplicates, stable order)."""
        found = [
            *self.positions.values(),
            *self.waits.values(),
            self.wait_over,
            self.callback_offer,
            *self.messages.values(),
            *self.prompt_texts.values(),
        ]
        return tuple(dict.fromkeys(found))


def build_queue_phrases(
    morphology: Morphology | None = None,
    *,
    prompt_texts: Mapping[str, str] | None = None,
    messages: Mapping[ExitReason, str] | None = None,
) -> QueuePhrases:
    """The sentences, with ordinals and the counted «минута» agreeing with the number.

    Building a :class:`Morphology` loads the pymorphy3 dictionary (a fraction
    of a second): pass one in when the caller has it already.
    """
    morph = morphology if morphology is not None else Morphology()
    positions: dict[int, str] = {}
    for n in range(1, MAX_SPOKEN_POSITION + 1):
        word = ordinal(n, Case.NOMINATIVE, Gender.MASCULINE)
        if word is None:
            raise LocalProtocolError(f"no ordinal for {n}")
        positions[n] = f"Вы — {word} в очереди."
    waits: dict[int, str] = {}
    for n in range(1, MAX_SPOKEN_MINUTES + 1):
        number = cardinal(n, Case.NOMINATIVE, Gender.FEMININE)
        if number is None:
            raise LocalProtocolError(f"no cardinal for {n}")
        unit = morph.agree("минута", n, Case.NOMINATIVE)
        waits[n] = f"Примерное время ожидания — {number} {unit}."
    over = cardinal(MAX_SPOKEN_MINUTES, Case.GENITIVE, Gender.FEMININE)
    wait_over = f"Примерное время ожидания — более {over} минут."
    merged = dict(_DEFAULT_MESSAGES)
    merged.update(messages or {})
    return QueuePhrases(
        positions=MappingProxyType(positions),
        waits=MappingProxyType(waits),
        wait_over=wait_over,
        messages=MappingProxyType(merged),
        prompt_texts=MappingProxyType(dict(prompt_texts or {})),
    )


class PromptLookup(Protocol):
    """Rendered prompts by (text, codec): :class:`~hotline.ivr.runner.RenderedPrompts`."""

    def get(self, text: str, codec: str) -> EncodedPrompt | None: ...


class QueueMedia(Protocol):
    """The playback commands of the media engine."""

    def play(self, leg_id: str, item: PlaybackItem) -> None: ...

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...


class CallbackRequests(Protocol):
    """The ACD's input for a caller who asks to be called back (leaves the queue)."""

    def callback_requested(self, call_id: CallId) -> None: ...


class _NoPrompts:
    def get(self, text: str, codec: str) -> EncodedPrompt | None:
        return None


@dataclass(slots=True)
class _Leaving:
    item_id: str
    reason: ExitReason


class QueueVoice:
    """Plays announcements and exit messages on waiting callers' media legs."""

    def __init__(
        self,
        media: QueueMedia,
        music_on_hold: Callable[[str], PlaybackItem],
        *,
        phrases: QueuePhrases | None = None,
        prompts: PromptLookup | None = None,
    ) -> None:
        self._media = media
        self._moh = music_on_hold
        self._phrases = phrases
        self._prompts: PromptLookup = prompts if prompts is not None else _NoPrompts()
        self._leaving: dict[CallId, _Leaving] = {}
        self._speaking: dict[CallId, str] = {}
        self.callbacks: CallbackRequests | None = None
        """Set to offer the call-back (key 1) in every announcement."""
        self._serial = 0
        self._external_warned = False
        self.announcements = 0
        self.missing_prompts = 0

    def set_prompts(self, phrases: QueuePhrases, prompts: PromptLookup) -> None:
        """Use these phrases and their renderings from now on (rendered at start-up)."""
        self._phrases = phrases
        self._prompts = prompts

    def leaving(self, call_id: CallId) -> bool:
        """True while the call's exit message plays."""
        return call_id in self._leaving

    def _part(self, text: str | None, codec: str) -> PlaybackPart | None:
        if text is None:
            return None
        encoded = self._prompts.get(text, codec)
        if encoded is None:
            self.missing_prompts += 1
            log.warning("queue prompt not rendered", text=text[:80])
            return None
        return PromptPart(encoded)

    def announce(
        self,
        call_id: CallId,
        leg_id: str,
        codec: str,
        moh_item: str | None,
        says: AnnouncePosition,
        *,
        caller_number: str | None,
    ) -> bool:
        """Say the position and the estimate, then music again; False when nothing was said.

        The call-back offer ends it when the caller can be called back
        (:func:`callback_number` of ``caller_number``).
        """
        phrases = self._phrases
        if phrases is None or call_id in self._leaving or moh_item is None:
            return False
        texts: list[str | None] = []
        if says.position is not None:
            texts.append(phrases.position_text(says.position))
        if says.estimated_wait_s is not None:
            texts.append(phrases.wait_text(says.estimated_wait_s))
        if self.callbacks is not None and callback_number(caller_number) is not None:
            texts.append(phrases.callback_offer)
        parts = tuple(p for p in (self._part(t, codec) for t in texts) if p is not None)
        if not parts:
            return False
        self._serial += 1
        item_id = f"announce-{call_id}-{self._serial}"
        self.hush(call_id, leg_id)
        self._media.stop_playback(leg_id, moh_item)
        self._media.play(leg_id, PlaybackItem(item_id, parts))
        self._speaking[call_id] = item_id
        self._media.play(leg_id, self._moh(moh_item))
        self.announcements += 1
        return True

    def farewell(
        self,
        call_id: CallId,
        leg_id: str | None,
        codec: str,
        moh_item: str | None,
        reason: ExitReason,
        action: ExitAction | None,
    ) -> bool:
        """Stop the music and play the exit message; False: nothing to play, end the call now.

        While a message plays, a second exit (the call-back that follows a
        time-out) changes nothing: True.
        """
        if call_id in self._leaving:
            return True
        if leg_id is None:
            return False
        if action is not None and action.kind is ExitKind.EXTERNAL:
            # Not taken by ctl_queue_external (no redirector wired, an unusable target):
            # the goodbye plays instead; warned once, then only noted.
            note = log.info if self._external_warned else log.warning
            self._external_warned = True
            note(
                "queue exit to an outside number not carried out: message and end", call_id=call_id
            )
        if action is not None and action.kind is ExitKind.CALLBACK:
            reason = ExitReason.CALLBACK
        text = None if self._phrases is None else self._phrases.message_text(reason, action)
        part = self._part(text, codec)
        self.hush(call_id, leg_id)
        if moh_item is not None:
            self._media.stop_playback(leg_id, moh_item)
        if part is None:
            return False
        item_id = f"farewell-{call_id}"
        self._leaving[call_id] = _Leaving(item_id, reason)
        self._media.play(leg_id, PlaybackItem(item_id, (part,)))
        return True

    def digit(self, call_id: CallId, digit: str, *, caller_number: str | None) -> bool:
        """A key from a waiting caller: True when it asked the ACD for a call-back."""
        if self.callbacks is None or digit != CALLBACK_KEY or call_id in self._leaving:
            return False
        if callback_number(caller_number) is None:
            log.info("call-back key from an anonymous caller ignored", call_id=call_id)
            return False
        log.info("caller asks for a call-back", call_id=call_id)
        try:
            self.callbacks.callback_requested(call_id)
        except LocalProtocolError as exc:  # it left the queue at this very moment
            log.info("call-back not taken", call_id=call_id, error=str(exc))
            return False
        return True

    def hush(self, call_id: CallId, leg_id: str) -> None:
        """Stop the call's announcement if one plays (an operator answered, the call leaves)."""
        item_id = self._speaking.pop(call_id, None)
        if item_id is not None:
            self._media.stop_playback(leg_id, item_id)

    def finished(self, call_id: CallId, item_id: str) -> ExitReason | None:
        """The item finished: the exit reason when it was the call's exit message."""
        if self._speaking.get(call_id) == item_id:
            del self._speaking[call_id]
        leaving = self._leaving.get(call_id)
        if leaving is None or leaving.item_id != item_id:
            return None
        del self._leaving[call_id]
        return leaving.reason

    def forget(self, call_id: CallId) -> None:
        """The call ended (whatever the reason)."""
        self._leaving.pop(call_id, None)
        self._speaking.pop(call_id, None)
