"""The call-back requests still open, read back from the event log (a node restart).

A call-back request lives in the node's memory
(:class:`hotline.calls.ctl_callback.CallbackDesk`); the event log is the
system of record (docs/metrics.md), so a restarted node finds the requests
it promised and never finished here, with everything needed to put them
back in their queue:

* a request is ``queue.callback_requested`` (the caller's key 1, payload
  ``number``), or ``queue.timed_out`` (the queue's wait-norm action),
  ``queue.left_full`` or ``queue.left_empty`` (the queue's full or empty
  action) with payload ``action`` ``callback``; for these three the number is
  the ``call.arrived`` ``caller``;
* it is open while the call has no ``callback.completed`` at or after it;
* its attempts are its ``callback.attempted`` events (the largest
  ``attempt`` when larger), the last one's time tells the retry pause;
* its place (:attr:`OpenCallback.placed_at`) is where the caller stood: for
  key 1 the first ``queue.entered`` of the wait it left (the ACD keeps the
  first entry across overflows; a wait starts after the call's last
  ``queue.answered``), for a time-out or a refusal the event itself (what
  the ACD parks it at: a refused caller never waited).

:meth:`CallbackQueries.open_requests` looks back ``look_back`` (default 7
days) and splits what it finds at ``max_age`` (default 24 h): younger
requests are :attr:`CallbackBacklog.open`, older ones
:attr:`CallbackBacklog.expired`, so that the node records them as failed
rather than dropping them silently.  Refusals logged before their events
carried ``action`` (no payload field) are not requests.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hotline.store.db import Database
from hotline.store.event_queries import EventQueries, StoredEvent

__all__ = [
    "DEFAULT_CALLBACK_LOOK_BACK",
    "DEFAULT_CALLBACK_MAX_AGE",
    "CallbackBacklog",
    "CallbackQueries",
    "OpenCallback",
    "RequestSource",
]

DEFAULT_CALLBACK_MAX_AGE: Final = timedelta(hours=24)
DEFAULT_CALLBACK_LOOK_BACK: Final = timedelta(days=7)

_REQUESTED: Final = "queue.callback_requested"
_TIMED_OUT: Final = "queue.timed_out"
_LEFT_FULL: Final = "queue.left_full"
_LEFT_EMPTY: Final = "queue.left_empty"
_ENTERED: Final = "queue.entered"
_ANSWERED: Final = "queue.answered"
_ARRIVED: Final = "call.arrived"
_ATTEMPTED: Final = "callback.attempted"
_COMPLETED: Final = "callback.completed"
_CLOCK_SKEW: Final = timedelta(days=1)  # events stamped a little after ``now`` still count


class RequestSource(enum.StrEnum):
    """Which event made the request."""

    CALLER = "caller"  # queue.callback_requested: key 1
    TIMED_OUT = "timed_out"  # queue.timed_out with action callback
    LEFT_FULL = "left_full"  # queue.left_full with action callback (full_action)
    LEFT_EMPTY = "left_empty"  # queue.left_empty with action callback (empty_action)


_SOURCES: Final = {
    _REQUESTED: RequestSource.CALLER,
    _TIMED_OUT: RequestSource.TIMED_OUT,
    _LEFT_FULL: RequestSource.LEFT_FULL,
    _LEFT_EMPTY: RequestSource.LEFT_EMPTY,
}
"""The event kinds that make a request (all but key 1 only with action callback)."""


@dataclass(frozen=True, slots=True)
class OpenCallback:
    """A call-back request with no ``callback.completed`` (times are aware UTC)."""

    call_id: str
    queue_id: str
    topic: str | None
    number: str | None  # as the events hold it (the caller id); None: none recorded
    requested_at: datetime
    placed_at: datetime  # the caller's place in the queue (<= requested_at)
    attempts: int
    last_attempt_at: datetime | None
    source: RequestSource


@dataclass(frozen=True, slots=True)
class CallbackBacklog:
    """The open requests of the look-back, split at the maximum age; oldest place first."""

    open: tuple[OpenCallback, ...]
    expired: tuple[OpenCallback, ...]


class CallbackQueries:
    """Read-only: the call-back requests a restarted node must honour."""

    def __init__(self, db: Database) -> None:
        self._events = EventQueries(db)

    def open_requests(
        self,
        now: datetime,
        *,
        max_age: timedelta = DEFAULT_CALLBACK_MAX_AGE,
        look_back: timedelta = DEFAULT_CALLBACK_LOOK_BACK,
    ) -> CallbackBacklog:
        """Requests made since ``now - look_back`` and never completed (module docstring)."""
        if max_age <= timedelta(0) or look_back < max_age:
            raise ValueError("need 0 < max_age <= look_back")
        found = self._events.between(
            now - look_back,
            now + _CLOCK_SKEW,
            kinds=tuple(_SOURCES),
        )
        requests: dict[str, StoredEvent] = {}
        for event in found:
            if event.call_id is None or event.queue_id is None:
                continue
            if event.kind != _REQUESTED and event.payload.get("action") != "callback":
                continue
            requests[event.call_id] = event  # the latest request of a call
        if not requests:
            return CallbackBacklog((), ())
        by_call: dict[str, list[StoredEvent]] = {call_id: [] for call_id in requests}
        for event in self._events.of_calls(requests):
            if event.call_id is not None:
                by_call[event.call_id].append(event)
        open_: list[OpenCallback] = []
        expired: list[OpenCallback] = []
        oldest = now - max_age
        for call_id, request in requests.items():
            item = _open_request(request, by_call[call_id])
            if item is not None:
                (open_ if item.requested_at >= oldest else expired).append(item)
        open_.sort(key=lambda r: (r.placed_at, r.requested_at))
        expired.sort(key=lambda r: (r.placed_at, r.requested_at))
        return CallbackBacklog(tuple(open_), tuple(expired))


def _open_request(request: StoredEvent, events: Sequence[StoredEvent]) -> OpenCallback | None:
    """The request from ``events`` (the call's, in time order), None when completed."""
    key = (request.timestamp, request.seq)
    after = [e for e in events if (e.timestamp, e.seq) > key]
    if any(e.kind == _COMPLETED for e in after):
        return None
    attempted = [e for e in after if e.kind == _ATTEMPTED]
    numbered = [_count(e.payload.get("attempt")) for e in attempted]
    attempts = max([len(attempted), *numbered])
    number = _text(request.payload.get("number")) if request.kind == _REQUESTED else None
    if number is None:
        arrived = [_text(e.payload.get("caller")) for e in events if e.kind == _ARRIVED]
        number = next((n for n in arrived if n is not None), None)
    placed_at = request.timestamp
    if request.kind == _REQUESTED:
        before = [e for e in events if (e.timestamp, e.seq) < key]
        answered = [i for i, e in enumerate(before) if e.kind == _ANSWERED]
        wait = before[answered[-1] + 1 :] if answered else before
        entered = [e.timestamp for e in wait if e.kind == _ENTERED]
        placed_at = min([*entered, request.timestamp])
    return OpenCallback(
        call_id=request.call_id or "",
        queue_id=request.queue_id or "",
        topic=request.topic,
        number=number,
        requested_at=request.timestamp,
        placed_at=placed_at,
        attempts=attempts,
        last_attempt_at=attempted[-1].timestamp if attempted else None,
        source=_SOURCES[request.kind],
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
