"""The call controller's answers to the voice menu, and its public hang-up (layer L3).

:class:`MenuAnswers` is a base class of
:class:`~hotline.calls.controller.CallController`: the
:class:`~hotline.ivr.runner.IvrRunner` reports through these methods (the
``IvrHost`` it is attached to) while a call is in the menu (phase
``GREETING``): the topic, ``call.ivr_choice`` (docs/metrics.md), the queue,
the end of the call; and the assistant's hand-back of a queue's call
(:mod:`hotline.calls.ctl_queue_bot`).  :meth:`MenuAnswers.hang_up` ends any live call from
our side (the desk's hang-up, :mod:`hotline.calls.actions`).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Protocol

from hotline.acd.model import MAX_PRIORITY
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_ports import AcdPort, Clock, EventSink
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, QueueId, TopicId
from hotline.reports.events import CallCentreEvent, EventKind, HungUpBy

__all__ = ["MenuAnswers"]


class _Host(Protocol):
    """What the answers need of the controller."""

    _calls: dict[CallId, Call]
    _acd: AcdPort
    _sink: EventSink
    _clock: Clock

    def _enter_queue(self, call: Call) -> None: ...

    def _end(self, call: Call, who: HungUpBy, cause: str) -> None: ...


def _in_menu(host: _Host, call_id: CallId) -> Call | None:
    call = host._calls.get(call_id)
    return call if call is not None and call.phase is CallPhase.GREETING else None


class MenuAnswers:
    """The voice menu's answers (``ivr.runner.IvrHost``) and the public hang-up."""

    def menu_topic(self: _Host, call_id: CallId, topic: TopicId) -> None:
        """The menu gave the call its topic (events and the operator's phone show it)."""
        if (call := _in_menu(self, call_id)) is not None:
            call.route = replace(call.route, topic=topic)

    def menu_choice(
        self: _Host, call_id: CallId, menu: str, digit: str, info_message: bool
    ) -> None:
        """The caller chose ``digit`` at ``menu``: ``call.ivr_choice`` (docs/metrics.md)."""
        if (call := _in_menu(self, call_id)) is None:
            return
        self._sink.append(  # the flow checked the ids: a refusal is our bug (LocalProtocolError)
            CallCentreEvent(
                kind=EventKind.CALL_IVR_CHOICE,
                timestamp=self._clock.utcnow(),
                call_id=call_id,
                topic=call.route.topic,
                trunk=call.trunk,
                payload={"menu": menu, "choice": digit, "info_message": info_message},
            )
        )

    def menu_to_queue(self: _Host, call_id: CallId, queue_id: QueueId) -> None:
        """The menu routed the call: it joins ``queue_id`` with the topic it has now."""
        if (call := _in_menu(self, call_id)) is not None:
            call.route = replace(call.route, queue_id=queue_id)
            self._enter_queue(call)

    def external_ended(self: _Host, call_id: CallId, who: HungUpBy, cause: str) -> None:
        """The organisation's side of a redirected call ended it (ctl_external.RedirectCalls)."""
        if (call := _in_menu(self, call_id)) is not None:
            self._end(call, who, cause)

    def menu_hang_up(self: _Host, call_id: CallId, self_service: bool) -> None:
        """The menu ended the call after its message (``self_service``: the message informed)."""
        if (call := _in_menu(self, call_id)) is not None:
            self._end(call, HungUpBy.SYSTEM, "ivr_self_service" if self_service else "ivr_hangup")

    def bot_to_queue(self: _Host, call: Call, queue_id: QueueId) -> None:
        """A queue's call the assistant handed over (ctl_queue_bot) waits in ``queue_id`` again.

        It has waited past the norm already: it goes first, at the highest priority (a
        new wait as far as the norm goes; its time to operator counts from the arrival).
        """
        if self._calls.get(call.call_id) is call and call.phase is CallPhase.QUEUED:
            call.route = replace(call.route, queue_id=queue_id)
            self._enter_queue(call)
            if call.in_acd and not call.offers:
                with contextlib.suppress(LocalProtocolError):  # taken at once by a free operator
                    self._acd.set_call_priority(call.call_id, MAX_PRIORITY)

    def bot_hang_up(self: _Host, call: Call) -> None:
        """The assistant helped a queue's caller and said goodbye (ctl_queue_bot)."""
        if self._calls.get(call.call_id) is call:
            self._end(call, HungUpBy.SYSTEM, "bot_resolved")

    def hang_up(self: _Host, call_id: CallId, who: HungUpBy, cause: str) -> bool:
        """End a live call from our side, whatever its phase; False when there is none."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        self._end(call, who, cause)
        return True
