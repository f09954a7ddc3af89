"""Queue exits to an outside number or organisation (``ExitKind.EXTERNAL``, R7; layer L3).

A queue's rule (the wait norm, a full queue, no operator logged in) may send
a waiting call on to a telephone number or to an organisation of the
directory instead of a goodbye: ``{"kind": "external", "target": "+74950000000"}``
or ``{"kind": "external", "target": "mfc"}``.  :class:`QueueExternal` takes
such a call from the controller (:meth:`QueueExternal.take`) and asks the
:class:`~hotline.calls.ctl_external.ExternalRedirector` to dial it through the
trunks exactly as the voice menu's ``external`` node does (failover, digest
authentication, the other G.711 law after a 488), with itself as the
:class:`~hotline.calls.ctl_external.RedirectListener`:

- the target is read as the menu reads it: a leading letter makes it an
  organisation id of the directory, anything else a number (an optional
  ``+`` and 2-20 digits); a target that is neither is not taken (the
  controller plays the queue's goodbye and ends the call);
- the music on hold and any announcement stop, and while the destination is
  dialled and rings the caller hears the ringing tone (:data:`RINGBACK`,
  425 Hz, 1 s on, 4 s off): a caller put through to another number expects
  to hear it ring, not the queue's music, which would tell them they still
  wait in the queue;
- on the answer the ringing tone stops, the call moves to ``talking`` (with
  no operator), the redirector bridges the caller with the destination and
  records the conversation; the queue call was never recorded, so this is
  its first segment (the recording id is the call id,
  :func:`~hotline.calls.ctl_transfer.next_recording_id`);
  ``call.redirected_external`` is written by the redirector;
- a failure (an unknown organisation, a bad or emergency number, no route,
  a refusal, no answer, every trunk failed) plays the queue's goodbye for the
  exit's reason as a ``message_and_end`` would (never silence), and the call
  ends when it has played, with the same cause (``queue_timed_out`` …);
- the destination's hang-up (or an RTP time-out of its leg) ends the whole
  call; the caller's hang-up while it rings ends the call in the controller,
  whose end tells the redirector (:meth:`ExternalRedirector.end`): CANCEL
  (RFC 3261 §9.1) or BYE to the destination, its trunk slot given back.
"""

from __future__ import annotations

from typing import Final, Protocol

import structlog

from hotline.acd.model import ExitAction, ExitKind
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_external import ExternalRedirector
from hotline.calls.ctl_queue import ExitReason, QueueMedia, QueueVoice
from hotline.calls.ctl_transfer import next_recording_id
from hotline.core.ids import CallId
from hotline.ivr.flow_checks import FlowError
from hotline.ivr.flow_nodes import ExternalTarget
from hotline.ivr.ivr_events import TransferExternal
from hotline.media.player import PlaybackItem, TonePart
from hotline.media.tones import RINGBACK
from hotline.reports.events import HungUpBy

__all__ = ["QueueExternal", "QueueExternalHost", "external_target", "ringback_item_id"]

log = structlog.get_logger("hotline.calls.queue_external")

_GOODBYE: Final = ExitAction(ExitKind.MESSAGE_AND_END)
"""A failed exit says the queue's default goodbye for its reason."""


class QueueExternalHost(Protocol):
    """The controller's side (:class:`~hotline.calls.controller.CallController`)."""

    @property
    def voice(self) -> QueueVoice:
        """The queue's voice now (it may be replaced after wiring: prompts, tests)."""
        ...

    def call(self, call_id: CallId) -> Call | None: ...

    def hang_up(self, call_id: CallId, who: HungUpBy, cause: str) -> bool: ...


def ringback_item_id(call_id: CallId) -> str:
    """The playback item of the ringing tone a caller hears while the destination rings."""
    return f"ringback-{call_id}"


def external_target(target: str) -> ExternalTarget:
    """An exit's target as the menu's ``external`` node reads it; FlowError when it is neither.

    Organisation ids start with a letter (:func:`~hotline.ivr.flow_checks.check_id`),
    numbers never do (:func:`~hotline.ivr.flow_checks.check_number`).
    """
    if target[:1].isalpha():
        return ExternalTarget(organisation=target)
    return ExternalTarget(number=target)


class QueueExternal:
    """Sends queue calls on to outside numbers; see the module docstring."""

    def __init__(
        self, *, external: ExternalRedirector, host: QueueExternalHost, media: QueueMedia
    ) -> None:
        self._external = external
        self._host = host
        self._media = media
        self._pending: dict[CallId, ExitReason] = {}  # dialling → the exit's reason
        self.taken = 0
        self.completed = 0
        self.failed = 0

    def pending(self, call_id: CallId) -> bool:
        """True while the destination is being dialled for the live call ``call_id``."""
        return call_id in self._pending and self._live(call_id) is not None

    def _live(self, call_id: CallId) -> Call | None:
        call = self._host.call(call_id)
        return None if call is None or call.ended else call

    def take(self, call: Call, action: ExitAction | None, reason: ExitReason) -> bool:
        """The ACD let ``call`` go with ``action``: True when the destination is being dialled."""
        if action is None or action.kind is not ExitKind.EXTERNAL or action.target is None:
            return False
        leg = call.caller_media
        if leg is None or call.phase is not CallPhase.QUEUED or call.call_id in self._pending:
            return False
        try:
            where = external_target(action.target)
        except FlowError as exc:
            log.warning("queue exit target unusable", call_id=call.call_id, error=str(exc))
            return False
        for gone in [c for c in self._pending if self._live(c) is None]:
            del self._pending[gone]  # ended while it rang: the controller cancelled the INVITE
        self._host.voice.hush(call.call_id, leg)
        if call.moh_item is not None:
            self._media.stop_playback(leg, call.moh_item)
            call.moh_item = None
        self._media.play(
            leg, PlaybackItem(ringback_item_id(call.call_id), (TonePart(RINGBACK),), loop=True)
        )
        self._pending[call.call_id] = reason
        self.taken += 1
        transfer = TransferExternal(target=where, topic=call.route.topic, fallback=None)
        log.info("queue call goes to an outside number", call_id=call.call_id, why=reason.value)
        self._external.redirect(
            call.call_id,
            leg,
            call.codec,
            transfer,
            recording_id=next_recording_id(call.call_id, call.recording_id),
            listener=self,
        )
        return True

    # -- RedirectListener ----------------------------------------------------------------------

    def redirect_answered(self, call_id: CallId) -> None:
        """The destination answered: the ringing stops; the bridge and the recording follow."""
        reason = self._pending.pop(call_id, None)
        call = self._live(call_id)
        if call is None or reason is None or call.caller_media is None:
            return  # the redirector's own end follows (the call's end cancels it)
        self._media.stop_playback(call.caller_media, ringback_item_id(call_id))
        call.move(CallPhase.TALKING)
        call.recording_id = next_recording_id(call_id, call.recording_id)
        self.completed += 1
        log.info("queue call answered at the outside number", call_id=call_id)

    def redirect_failed(self, call_id: CallId, reason: str) -> None:
        """Not reached: the queue's goodbye plays, then the call ends (at once without one)."""
        why = self._pending.pop(call_id, None)
        call = self._live(call_id)
        if call is None or why is None:
            return
        self.failed += 1
        log.info("queue exit to an outside number failed", call_id=call_id, reason=reason)
        leg = call.caller_media
        ringing = ringback_item_id(call_id)
        if not self._host.voice.farewell(call_id, leg, call.codec, ringing, why, _GOODBYE):
            self._host.hang_up(call_id, HungUpBy.SYSTEM, why.value)

    def redirect_ended(self, call_id: CallId, who: HungUpBy, cause: str) -> None:
        """The destination's side ended the bridged call: the call ends."""
        self._pending.pop(call_id, None)
        self._host.hang_up(call_id, who, cause)
