"""Queue exits to the voice assistant (``ExitKind.BOT``) and the assistant's way back (L3).

A queue's rule (the wait norm, a full queue, no operator logged in) may send
a waiting call to the voice assistant instead of a goodbye: the caller can
get a standard answer while every operator is busy.  :class:`QueueBot`

* takes such a call from the controller (:meth:`QueueBot.take`): the music
  and any announcement stop and the assistant starts on the caller's leg;
* is the assistant's :class:`~hotline.calls.ctl_bot.BotExit` for every call:
  the calls a queue sent are its own, the others (the menu's "ask the
  assistant" node) go on to the voice-menu runner;
* when the assistant hands over, puts the call back in the action's target
  queue (None, or a queue that no longer exists: the queue it left); when the
  caller was helped, ends it.

A call goes to the assistant from a queue at most once: when its second
wait also runs out, the rule's message plays and the call ends, so a caller
is never passed back and forth.  While the assistant cannot answer (no
recognition model, its engines still loading, every session taken) the
rule's message plays at once: a caller past the wait norm is not sent to hear
"the assistant is unavailable" and then to wait a second time.  Media events of a call with the assistant
(keys, playback ends) go to the assistant, not to the queue's voice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import structlog

from hotline.acd.model import ExitAction, ExitKind
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_bot import BotExit
from hotline.calls.ctl_queue import QueueVoice
from hotline.core.ids import CallId, QueueId
from hotline.media.eng_events import MediaEvent

__all__ = ["QueueBot", "QueueBotHost"]

log = structlog.get_logger("hotline.calls.queue_bot")


class BotSessions(Protocol):
    """What is needed of the assistant (:class:`~hotline.calls.ctl_bot.BotCalls`)."""

    def start(self, call_id: CallId, leg_id: str, codec: str, topic: str | None) -> bool: ...

    def listening(self) -> bool:
        """Its engines are loaded and a session is free."""
        ...

    def end(self, call_id: CallId) -> None: ...

    def on_media_event(self, call_id: CallId, event: MediaEvent) -> None: ...


class BotMedia(Protocol):
    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None: ...


class QueueBotHost(Protocol):
    """The controller's side (:class:`~hotline.calls.ctl_menu.MenuAnswers`)."""

    def bot_to_queue(self, call: Call, queue_id: QueueId) -> None:
        """The assistant handed the call over: it waits in ``queue_id`` again."""
        ...

    def bot_hang_up(self, call: Call) -> None:
        """The assistant helped the caller and said goodbye: end the call."""
        ...


class QueueBot:
    """Queue calls with the assistant, and the assistant's exit for every call."""

    def __init__(
        self,
        *,
        bots: BotSessions,
        menu: BotExit,
        host: QueueBotHost,
        calls: Callable[[CallId], Call | None],
        media: BotMedia,
        voice: QueueVoice,
        has_queue: Callable[[QueueId], bool],
    ) -> None:
        self._bots = bots
        self._menu = menu
        self._host = host
        self._calls = calls
        self._media = media
        self._voice = voice
        self._has_queue = has_queue
        self._back: dict[CallId, tuple[QueueId, QueueId]] = {}  # with the assistant → (to, left)
        self._had: set[CallId] = set()  # live calls a queue has sent to the assistant already
        self.taken = 0
        self.refused = 0

    def active(self) -> int:
        """Queue calls with the assistant now."""
        return len(self._back)

    def take(self, call: Call, action: ExitAction | None) -> bool:
        """The ACD let ``call`` go with ``action``: True when the assistant has it now."""
        if action is None or action.kind is not ExitKind.BOT:
            return False
        leg = call.caller_media
        if call.call_id in self._had or leg is None or call.phase is not CallPhase.QUEUED:
            log.info("queue call not sent to the assistant again", call_id=call.call_id)
            return False
        if not self._bots.listening():  # it would only say it cannot help, then wait again
            self.refused += 1
            log.info("the assistant cannot answer now: the queue's message", call_id=call.call_id)
            return False
        left = call.queue_id or call.route.queue_id
        back = QueueId(action.target) if action.target else left
        self._voice.hush(call.call_id, leg)
        if call.moh_item is not None:
            self._media.stop_playback(leg, call.moh_item)
            call.moh_item = None
        if not self._bots.start(call.call_id, leg, call.codec, call.route.topic):
            self.refused += 1
            log.info("the assistant cannot take the queue call", call_id=call.call_id)
            return False
        self._had.add(call.call_id)
        self._back[call.call_id] = (back, left)
        self.taken += 1
        log.info("queue call goes to the assistant", call_id=call.call_id, back_to=back)
        return True

    def on_media_event(self, call: Call, event: MediaEvent) -> bool:
        """A media event of ``call``: True when the assistant has the call (and got it)."""
        if call.call_id not in self._back:
            return False
        self._bots.on_media_event(call.call_id, event)
        return True

    def forget(self, call_id: CallId) -> None:
        """The call ended (whatever the reason): the assistant lets it go quietly."""
        self._had.discard(call_id)
        if self._back.pop(call_id, None) is not None:
            self._bots.end(call_id)

    # -- BotExit -------------------------------------------------------------------------------
    def bot_handed_over(self, call_id: CallId) -> None:
        visit = self._back.pop(call_id, None)
        if visit is None:
            self._menu.bot_handed_over(call_id)
            return
        back, left = visit
        if not self._has_queue(back):  # a target removed (or mistyped) since
            log.warning("assistant hand-back queue unknown", call_id=call_id, queue=back)
            back = left
        call = self._calls(call_id)
        if call is not None and not call.ended:
            log.info("the assistant hands the queue call back", call_id=call_id, queue=back)
            self._host.bot_to_queue(call, back)

    def bot_finished(self, call_id: CallId) -> None:
        if self._back.pop(call_id, None) is None:
            self._menu.bot_finished(call_id)
            return
        call = self._calls(call_id)
        if call is not None and not call.ended:
            self._host.bot_hang_up(call)
