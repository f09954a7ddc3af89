"""The call-centre event vocabulary: the source of truth of every report.

docs/metrics.md, "Events (the source of truth)": every call and every
operator action is an append-only event with a timestamp (UTC, millisecond
precision), a call id and, where it applies, a queue, an operator and a topic.
:class:`EventKind` lists every kind named there; :data:`EVENT_SCHEMAS` says,
per kind, which ids are required and which payload fields (with their types)
it carries.  A :class:`CallCentreEvent` is validated when it is created, so a
report never has to second-guess its input; a malformed event built by our own
code raises :class:`~hotline.core.errors.LocalProtocolError`, a malformed
stored record (journal line, database row) read back by
:func:`event_from_record` raises
:class:`~hotline.core.errors.RemoteProtocolError`.

Every event carries a unique ``event_id`` (16 random bytes as hex), made when
the event is created, so that storing it twice (a journal replayed after a
crash) never duplicates it.

Layer L1: pure, no clock, no I/O.
"""

from __future__ import annotations

import enum
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.core.records import EventRecord, PayloadValue

__all__ = [
    "EVENT_SCHEMAS",
    "MAX_ID_CHARS",
    "MAX_PAYLOAD_KEYS",
    "MAX_PAYLOAD_STRING_CHARS",
    "BotResult",
    "CallCentreEvent",
    "Direction",
    "EventKind",
    "EventRecord",
    "EventSchema",
    "HungUpBy",
    "OperatorStateName",
    "PayloadField",
    "PayloadValue",
    "TransferKind",
    "TransferTarget",
    "event_from_record",
    "new_event_id",
]


MAX_ID_CHARS: Final = 64
MAX_PAYLOAD_KEYS: Final = 16
MAX_PAYLOAD_KEY_CHARS: Final = 64
MAX_PAYLOAD_STRING_CHARS: Final = 1024
EVENT_ID_HEX_CHARS: Final = 32


class EventKind(enum.StrEnum):
    """Every event of docs/metrics.md, "Events (the source of truth)"."""

    CALL_ARRIVED = "call.arrived"
    CALL_IVR_CHOICE = "call.ivr_choice"
    CALL_BOT_STARTED = "call.bot_started"
    CALL_BOT_ENDED = "call.bot_ended"
    QUEUE_ENTERED = "queue.entered"
    QUEUE_OFFERED = "queue.offered"
    QUEUE_RING_NOANSWER = "queue.ring_noanswer"
    QUEUE_ANSWERED = "queue.answered"
    QUEUE_ABANDONED = "queue.abandoned"
    QUEUE_TIMED_OUT = "queue.timed_out"
    QUEUE_OVERFLOWED = "queue.overflowed"
    QUEUE_LEFT_EMPTY = "queue.left_empty"
    QUEUE_LEFT_FULL = "queue.left_full"
    QUEUE_CALLBACK_REQUESTED = "queue.callback_requested"
    CALLBACK_ATTEMPTED = "callback.attempted"
    CALLBACK_COMPLETED = "callback.completed"
    CALL_HELD = "call.held"
    CALL_RESUMED = "call.resumed"
    CALL_TRANSFERRED = "call.transferred"
    CALL_REDIRECTED_EXTERNAL = "call.redirected_external"
    CALL_ENDED = "call.ended"
    RECORDING_STORED = "recording.stored"
    OUTBOUND_DIALED = "outbound.dialed"
    OUTBOUND_ANSWERED = "outbound.answered"
    OUTBOUND_FAILED = "outbound.failed"
    OPERATOR_STATE = "operator.state"
    OPERATOR_LOGIN = "operator.login"
    OPERATOR_LOGOUT = "operator.logout"
    WRAPUP_STARTED = "wrapup.started"
    WRAPUP_ENDED = "wrapup.ended"
    MONITOR_STARTED = "monitor.started"
    MONITOR_MODE_CHANGED = "monitor.mode_changed"
    MONITOR_ENDED = "monitor.ended"


class Direction(enum.StrEnum):
    """Inbound and outbound calls are reported apart (docs/metrics.md, "Intervals")."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class BotResult(enum.StrEnum):
    """How a voice-assistant conversation ended (``call.bot_ended``)."""

    RESOLVED = "resolved"
    HANDED_OVER = "handed_over"
    HUNG_UP = "hung_up"


class HungUpBy(enum.StrEnum):
    """Who ended a call (``call.ended``)."""

    CALLER = "caller"
    OPERATOR = "operator"
    SYSTEM = "system"


class TransferKind(enum.StrEnum):
    """A blind transfer or an attended (consultative) one (``call.transferred``)."""

    BLIND = "blind"
    ATTENDED = "attended"


class TransferTarget(enum.StrEnum):
    """What ``call.transferred``'s ``to`` names: a queue id or an operator id."""

    QUEUE = "queue"
    OPERATOR = "operator"


class OperatorStateName(enum.StrEnum):
    """Operator states as the ACD's state table names them (``operator.state``)."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"
    TALKING = "talking"
    HOLD = "hold"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True, slots=True)
class PayloadField:
    """One payload field: its accepted types, whether it is required, allowed values."""

    types: tuple[type, ...]
    required: bool = True
    choices: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class EventSchema:
    """Which ids an event kind requires and which payload fields it carries."""

    call: bool = False
    queue: bool = False
    operator: bool = False
    payload: Mapping[str, PayloadField] = field(default_factory=dict)


def _values(enum_type: type[enum.StrEnum]) -> frozenset[str]:
    return frozenset(m.value for m in enum_type)


_STR = (str,)
_INT = (int,)
_NUM = (int, float)
_BOOL = (bool,)
_SECONDS = PayloadField(_NUM)
_CALL = EventSchema(call=True)
_QUEUE = EventSchema(call=True, queue=True)
_OPERATOR = EventSchema(operator=True)
_CALL_OPERATOR = EventSchema(call=True, operator=True)
_MONITOR: Final[Mapping[str, PayloadField]] = MappingProxyType(
    {
        "supervisor": PayloadField(_STR),
        "mode": PayloadField(_STR, choices=frozenset({"listen", "whisper", "barge"})),
        "session_id": PayloadField(_STR),
        "reason": PayloadField(_STR, required=False),
    }
)

EVENT_SCHEMAS: Final[Mapping[EventKind, EventSchema]] = MappingProxyType(
    {
        EventKind.CALL_ARRIVED: EventSchema(
            call=True,
            payload={"caller": PayloadField(_STR), "called": PayloadField(_STR, required=False)},
        ),
        EventKind.CALL_IVR_CHOICE: EventSchema(
            call=True,
            payload={
                "menu": PayloadField(_STR),
                "choice": PayloadField(_STR),
                # The choice played an information message (IVR self-service).
                "info_message": PayloadField(_BOOL, required=False),
            },
        ),
        EventKind.CALL_BOT_STARTED: _CALL,
        EventKind.CALL_BOT_ENDED: EventSchema(
            call=True, payload={"result": PayloadField(_STR, choices=_values(BotResult))}
        ),
        EventKind.QUEUE_ENTERED: EventSchema(
            call=True, queue=True, payload={"position": PayloadField(_INT)}
        ),
        EventKind.QUEUE_OFFERED: EventSchema(call=True, queue=True, operator=True),
        EventKind.QUEUE_RING_NOANSWER: EventSchema(
            call=True, queue=True, operator=True, payload={"ring_ms": PayloadField(_INT)}
        ),
        EventKind.QUEUE_ANSWERED: EventSchema(
            call=True, queue=True, operator=True, payload={"wait_s": _SECONDS}
        ),
        EventKind.QUEUE_ABANDONED: EventSchema(
            call=True,
            queue=True,
            payload={"position": PayloadField(_INT), "wait_s": _SECONDS},
        ),
        EventKind.QUEUE_TIMED_OUT: EventSchema(
            call=True,
            queue=True,
            payload={"wait_s": _SECONDS, "action": PayloadField(_STR)},
        ),
        EventKind.QUEUE_OVERFLOWED: EventSchema(
            call=True,
            queue=True,
            payload={"to_queue": PayloadField(_STR), "reason": PayloadField(_STR, required=False)},
        ),
        EventKind.QUEUE_LEFT_EMPTY: _QUEUE,
        EventKind.QUEUE_LEFT_FULL: _QUEUE,
        EventKind.QUEUE_CALLBACK_REQUESTED: EventSchema(
            call=True, queue=True, payload={"number": PayloadField(_STR, required=False)}
        ),
        EventKind.CALLBACK_ATTEMPTED: EventSchema(
            call=True, queue=True, payload={"attempt": PayloadField(_INT)}
        ),
        EventKind.CALLBACK_COMPLETED: _QUEUE,
        EventKind.CALL_HELD: _CALL_OPERATOR,
        EventKind.CALL_RESUMED: _CALL_OPERATOR,
        EventKind.CALL_TRANSFERRED: EventSchema(
            call=True,
            payload={
                "kind": PayloadField(_STR, choices=_values(TransferKind)),
                "to": PayloadField(_STR),
                "to_type": PayloadField(_STR, choices=_values(TransferTarget)),
            },
        ),
        EventKind.CALL_REDIRECTED_EXTERNAL: EventSchema(
            call=True, payload={"number": PayloadField(_STR)}
        ),
        EventKind.CALL_ENDED: EventSchema(
            call=True,
            payload={
                "who_hung_up": PayloadField(_STR, choices=_values(HungUpBy)),
                "cause": PayloadField(_STR),
            },
        ),
        EventKind.RECORDING_STORED: EventSchema(
            call=True,
            payload={
                "path": PayloadField(_STR),
                "sha256": PayloadField(_STR),
                "size_bytes": PayloadField(_INT),
                "duration_s": _SECONDS,
            },
        ),
        EventKind.OUTBOUND_DIALED: EventSchema(call=True, payload={"number": PayloadField(_STR)}),
        EventKind.OUTBOUND_ANSWERED: _CALL,
        EventKind.OUTBOUND_FAILED: EventSchema(call=True, payload={"cause": PayloadField(_STR)}),
        EventKind.OPERATOR_STATE: EventSchema(
            operator=True,
            payload={
                "state": PayloadField(_STR, choices=_values(OperatorStateName)),
                "reason": PayloadField(_STR, required=False),
            },
        ),
        EventKind.OPERATOR_LOGIN: _OPERATOR,
        EventKind.OPERATOR_LOGOUT: _OPERATOR,
        EventKind.WRAPUP_STARTED: _CALL_OPERATOR,
        EventKind.WRAPUP_ENDED: _CALL_OPERATOR,
        # Supervisor monitoring sessions (issue 6 item 8): an audited fact each.
        EventKind.MONITOR_STARTED: EventSchema(call=True, payload=_MONITOR),
        EventKind.MONITOR_MODE_CHANGED: EventSchema(call=True, payload=_MONITOR),
        EventKind.MONITOR_ENDED: EventSchema(
            call=True, payload={**_MONITOR, "reason": PayloadField(_STR)}
        ),
    }
)

_OUTBOUND_KINDS: Final = frozenset(
    {EventKind.OUTBOUND_DIALED, EventKind.OUTBOUND_ANSWERED, EventKind.OUTBOUND_FAILED}
)


def new_event_id() -> str:
    """A fresh, unique event id: 16 random bytes as 32 hex characters."""
    return secrets.token_hex(EVENT_ID_HEX_CHARS // 2)


def _utc_ms(ts: datetime) -> datetime:
    """``ts`` in UTC, truncated to whole milliseconds (docs/metrics.md, "Events")."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise LocalProtocolError("event timestamp must be an aware datetime (UTC)")
    utc = ts.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def _check_id(name: str, value: str | None, required: bool, kind: EventKind) -> None:
    if value is None:
        if required:
            raise LocalProtocolError(f"{kind.value}: {name} is required")
        return
    if not value or len(value) > MAX_ID_CHARS:
        raise LocalProtocolError(f"{kind.value}: {name} must be 1..{MAX_ID_CHARS} characters")
    if not value.isprintable():
        raise LocalProtocolError(f"{kind.value}: {name} must be printable text")


def _check_value(kind: EventKind, key: str, value: PayloadValue) -> None:
    if isinstance(value, str):
        if len(value) > MAX_PAYLOAD_STRING_CHARS:
            raise LocalProtocolError(f"{kind.value}: payload {key!r} is too long")
    elif isinstance(value, float) and not math.isfinite(value):
        raise LocalProtocolError(f"{kind.value}: payload {key!r} must be finite")
    elif value is not None and not isinstance(value, int | float | bool):
        raise LocalProtocolError(f"{kind.value}: payload {key!r} has an unsupported type")


def _check_payload(kind: EventKind, payload: Mapping[str, PayloadValue]) -> None:
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise LocalProtocolError(f"{kind.value}: more than {MAX_PAYLOAD_KEYS} payload fields")
    for key, value in payload.items():
        if not isinstance(key, str) or not key or len(key) > MAX_PAYLOAD_KEY_CHARS:
            raise LocalProtocolError(f"{kind.value}: bad payload key {key!r}")
        _check_value(kind, key, value)
    for key, spec in EVENT_SCHEMAS[kind].payload.items():
        value = payload.get(key)
        if value is None:
            if spec.required:
                raise LocalProtocolError(f"{kind.value}: payload {key!r} is required")
            continue
        # bool is an int subclass: accept it only where bool is the declared type.
        if isinstance(value, bool) != (bool in spec.types) or not isinstance(value, spec.types):
            names = "/".join(t.__name__ for t in spec.types)
            raise LocalProtocolError(f"{kind.value}: payload {key!r} must be {names}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise LocalProtocolError(f"{kind.value}: payload {key!r} must be >= 0")
        if spec.choices is not None and value not in spec.choices:
            raise LocalProtocolError(
                f"{kind.value}: payload {key!r} must be one of {sorted(spec.choices)}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCentreEvent:
    """One fact of the contact centre, as docs/metrics.md defines the event log.

    ``timestamp`` is normalised to UTC with millisecond precision; a naive
    datetime is refused.  ``direction`` defaults to inbound for
    ``call.arrived`` and is forced to outbound for ``outbound.*``.
    """

    kind: EventKind
    timestamp: datetime
    call_id: str | None = None
    queue_id: str | None = None
    operator_id: str | None = None
    topic: str | None = None
    trunk: str | None = None
    direction: Direction | None = None
    payload: Mapping[str, PayloadValue] = field(default_factory=dict)
    event_id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        kind = EventKind(self.kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "timestamp", _utc_ms(self.timestamp))
        schema = EVENT_SCHEMAS[kind]
        _check_id("call_id", self.call_id, schema.call, kind)
        _check_id("queue_id", self.queue_id, schema.queue, kind)
        _check_id("operator_id", self.operator_id, schema.operator, kind)
        _check_id("topic", self.topic, False, kind)
        _check_id("trunk", self.trunk, False, kind)
        if len(self.event_id) != EVENT_ID_HEX_CHARS or not _is_hex(self.event_id):
            raise LocalProtocolError(f"event_id must be {EVENT_ID_HEX_CHARS} hex characters")
        direction = Direction(self.direction) if self.direction is not None else None
        if kind in _OUTBOUND_KINDS:
            if direction is Direction.INBOUND:
                raise LocalProtocolError(f"{kind.value}: direction must be outbound")
            direction = Direction.OUTBOUND
        elif kind is EventKind.CALL_ARRIVED and direction is None:
            direction = Direction.INBOUND
        object.__setattr__(self, "direction", direction)
        _check_payload(kind, self.payload)
        object.__setattr__(self, "payload", MappingProxyType(dict(self.payload)))

    def __hash__(self) -> int:
        # Identity is the event id (equal events have equal ids); the payload is a mapping.
        return hash(self.event_id)

    def text(self, key: str) -> str | None:
        """A string payload field, or None."""
        value = self.payload.get(key)
        return value if isinstance(value, str) else None

    def number(self, key: str) -> float | None:
        """A numeric payload field as float, or None."""
        value = self.payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def flag(self, key: str) -> bool:
        """A boolean payload field (absent is False)."""
        return self.payload.get(key) is True


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


_KINDS_BY_VALUE: Final = {k.value: k for k in EventKind}
_DIRECTIONS_BY_VALUE: Final = {d.value: d for d in Direction}


def event_from_record(record: EventRecord) -> CallCentreEvent:
    """The validated event of a stored record; RemoteProtocolError when it is malformed."""
    kind = _KINDS_BY_VALUE.get(record.kind)
    if kind is None:
        raise RemoteProtocolError(f"unknown event kind {record.kind[:40]!r}")
    direction = None
    if record.direction is not None:
        direction = _DIRECTIONS_BY_VALUE.get(record.direction)
        if direction is None:
            raise RemoteProtocolError(f"unknown direction {record.direction[:20]!r}")
    try:
        return CallCentreEvent(
            kind=kind,
            timestamp=record.timestamp,
            call_id=record.call_id,
            queue_id=record.queue_id,
            operator_id=record.operator_id,
            topic=record.topic,
            trunk=record.trunk,
            direction=direction,
            payload=record.payload,
            event_id=record.event_id,
        )
    except LocalProtocolError as exc:
        raise RemoteProtocolError(f"malformed stored event: {exc}") from None
