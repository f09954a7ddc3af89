"""Call-centre events as the live socket sends them, and who may receive which.

The node's call event writer appends every docs/metrics.md event to the
store; :class:`PublishingSink` (wired in by ``hotline.app``) also publishes
each one on the in-process :class:`~hotline.core.bus.EventBus` as a
:class:`CallEventPublished`, so the web layer sees it at once, without
reading the database.

:class:`Audience` decides, per connection, which events go out: a
supervisor (``queues.view``) gets every event, an operator only its own
(events naming it, and every event of a call offered to it until the call
ends).  Calls of a medical topic are left out without ``medical_secrecy``.
:func:`event_message` turns an event into the JSON message: codes and ids
only (the page renders Russian labels), callers' numbers masked per role,
no transcripts or file paths.  :func:`shows_full_number` tells the socket
when a message shows a full number (audited once per connection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from hotline.core.bus import EventBus
from hotline.core.events import Event
from hotline.core.ids import OperatorId
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.web.masking import mask_number, may_see_topic, number_for
from hotline.web.permissions import Permission

__all__ = [
    "NUMBER_FIELDS",
    "Audience",
    "CallEventPublished",
    "EventSink",
    "PublishingSink",
    "event_message",
    "shows_full_number",
]

NUMBER_FIELDS: Final = frozenset({"caller", "called", "number"})
"""Payload fields holding a phone number: masked per role."""
HIDDEN_FIELDS: Final = frozenset({"transcript", "path", "sha256"})
"""Payload fields never sent live (the transcript is on the call card only)."""
_ENDING: Final = frozenset({EventKind.CALL_ENDED})


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEventPublished(Event):
    """A call-centre event was written (``at`` is the event's timestamp)."""

    event: CallCentreEvent


class EventSink(Protocol):
    """Where the call event writer appends (the store's event writer)."""

    def append(self, event: CallCentreEvent) -> None: ...


class PublishingSink:
    """An event sink that appends to ``inner`` (the store) and publishes on ``bus``."""

    def __init__(self, inner: EventSink, bus: EventBus) -> None:
        self._inner = inner
        self._bus = bus

    def append(self, event: CallCentreEvent) -> None:
        self._inner.append(event)
        self._bus.publish(CallEventPublished(at=event.timestamp, event=event))


@dataclass(slots=True)
class Audience:
    """Who is on the other end of one live connection."""

    permissions: frozenset[Permission]
    operator_id: OperatorId | None = None
    own_calls: set[str] = field(default_factory=set)

    @property
    def everything(self) -> bool:
        return Permission.QUEUES_VIEW in self.permissions

    def admits(self, event: CallCentreEvent) -> bool:
        """True when this connection may receive ``event`` (tracks the operator's calls)."""
        if not may_see_topic(self.permissions, event.topic):
            return False
        if self.everything:
            return True
        if self.operator_id is None:
            return False
        mine = event.operator_id == self.operator_id
        call_id = event.call_id
        if call_id is not None and mine and event.kind is EventKind.QUEUE_OFFERED:
            self.own_calls.add(call_id)
        if call_id is not None and call_id in self.own_calls:
            if event.kind in _ENDING:
                self.own_calls.discard(call_id)
            return True
        return mine


def _payload(permissions: frozenset[Permission], payload: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if key in HIDDEN_FIELDS:
            continue
        if key in NUMBER_FIELDS and isinstance(value, str):
            out[key] = number_for(permissions, value)
        else:
            out[key] = value
    return out


def shows_full_number(event: CallCentreEvent, audience: Audience) -> bool:
    """True when the message of ``event`` carries a caller's number unmasked (audited)."""
    if Permission.PERSONAL_DATA_VIEW not in audience.permissions:
        return False
    return any(
        key in NUMBER_FIELDS and isinstance(value, str) and mask_number(value) != value
        for key, value in event.payload.items()
    )


def event_message(event: CallCentreEvent, audience: Audience) -> dict[str, Any] | None:
    """The JSON message of ``event`` for ``audience``, None when it may not see it."""
    if not audience.admits(event):
        return None
    return {
        "type": "event",
        "kind": event.kind.value,
        "at": event.timestamp.isoformat(),
        "event_id": event.event_id,
        "call_id": event.call_id,
        "queue_id": event.queue_id,
        "operator_id": event.operator_id,
        "topic": event.topic,
        "direction": event.direction.value if event.direction is not None else None,
        "data": _payload(audience.permissions, event.payload),
    }
