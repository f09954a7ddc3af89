"""The event vocabulary: every kind of docs/metrics.md, validated when created."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.reports import events as ev
from hotline.reports.events import (
    EVENT_SCHEMAS,
    CallCentreEvent,
    Direction,
    EventKind,
    PayloadValue,
    event_from_record,
)

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHARED_DIR = Path(__file__).resolve().parents[3].parent / "shared"

# Every event named in issue 7 (the list that docs/metrics.md's "Events" section spells out).
ISSUE_KINDS = [
    "call.arrived",
    "call.ivr_choice",
    "call.bot_started",
    "call.bot_ended",
    "queue.entered",
    "queue.offered",
    "queue.ring_noanswer",
    "queue.answered",
    "queue.abandoned",
    "queue.timed_out",
    "queue.overflowed",
    "queue.left_empty",
    "queue.left_full",
    "queue.callback_requested",
    "callback.attempted",
    "callback.completed",
    "call.held",
    "call.resumed",
    "call.transferred",
    "call.redirected_external",
    "call.ended",
    "recording.stored",
    "outbound.dialed",
    "outbound.answered",
    "outbound.failed",
    "operator.state",
    "operator.login",
    "operator.logout",
    "wrapup.started",
    "wrapup.ended",
    # Beyond metrics.md: the supervisor's monitoring sessions (R8d; audited, issue 6 item 8).
    "monitor.started",
    "monitor.mode_changed",
    "monitor.ended",
]


def test_every_kind_of_the_issue_is_in_the_vocabulary_and_nothing_else() -> None:
    assert sorted(k.value for k in EventKind) == sorted(ISSUE_KINDS)
    assert set(EVENT_SCHEMAS) == set(EventKind)


def test_every_event_named_in_metrics_md_is_a_kind() -> None:
    text = (SHARED_DIR / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = text.split("## Events", 1)[1].split("##", 1)[0]
    named = set(re.findall(r"\b([a-z]+\.[a-z_]+)", section))
    # "outbound.dialed/answered/failed" is written as one name.
    named |= {"outbound.answered", "outbound.failed"}
    values = {k.value for k in EventKind}
    assert named - {"metrics.md"} <= values


def test_public_surface() -> None:
    assert set(ev.__all__) == {
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
    }


def test_timestamp_is_normalised_to_utc_milliseconds() -> None:
    msk = timezone(timedelta(hours=3))
    e = CallCentreEvent(
        kind=EventKind.OPERATOR_LOGIN,
        timestamp=datetime(2026, 3, 2, 12, 0, 0, 123987, tzinfo=msk),
        operator_id="op1",
    )
    assert e.timestamp == datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=UTC)
    assert e.timestamp.utcoffset() == timedelta(0)


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="aware"):
        CallCentreEvent(
            kind=EventKind.OPERATOR_LOGIN, timestamp=datetime(2026, 1, 1), operator_id="o"
        )


def test_event_ids_are_unique_32_hex() -> None:
    ids = {
        CallCentreEvent(kind=EventKind.OPERATOR_LOGIN, timestamp=T, operator_id="o").event_id
        for _ in range(200)
    }
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    with pytest.raises(LocalProtocolError, match="event_id"):
        CallCentreEvent(kind=EventKind.OPERATOR_LOGIN, timestamp=T, operator_id="o", event_id="XYZ")


@pytest.mark.parametrize(
    ("kind", "ids", "payload", "problem"),
    [
        (EventKind.QUEUE_ANSWERED, {"call_id": "c"}, {"wait_s": 1.0}, "queue_id is required"),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q"},
            {"wait_s": 1.0},
            "operator_id is required",
        ),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q", "operator_id": "o"},
            {},
            "wait_s",
        ),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q", "operator_id": "o"},
            {"wait_s": "5"},
            "must be int/float",
        ),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q", "operator_id": "o"},
            {"wait_s": True},
            "must be int/float",
        ),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q", "operator_id": "o"},
            {"wait_s": -1.0},
            ">= 0",
        ),
        (
            EventKind.QUEUE_ANSWERED,
            {"call_id": "c", "queue_id": "q", "operator_id": "o"},
            {"wait_s": float("nan")},
            "finite",
        ),
        (EventKind.CALL_BOT_ENDED, {"call_id": "c"}, {"result": "maybe"}, "one of"),
        (EventKind.QUEUE_ENTERED, {"call_id": "c", "queue_id": "q"}, {"position": 1.5}, "int"),
        (EventKind.OPERATOR_STATE, {"operator_id": "o"}, {"state": "sleeping"}, "one of"),
        (EventKind.OPERATOR_LOGIN, {}, {}, "operator_id is required"),
        (EventKind.CALL_ENDED, {"call_id": ""}, {"who_hung_up": "caller", "cause": "x"}, "1..64"),
        (
            EventKind.CALL_ENDED,
            {"call_id": "c" * 65},
            {"who_hung_up": "caller", "cause": "x"},
            "1..64",
        ),
        (
            EventKind.CALL_ENDED,
            {"call_id": "a\x00b"},
            {"who_hung_up": "caller", "cause": "x"},
            "printable",
        ),
        (EventKind.CALL_BOT_STARTED, {"call_id": "c"}, {"note": "x" * 1025}, "too long"),
        (
            EventKind.CALL_BOT_STARTED,
            {"call_id": "c"},
            {f"k{i}": i for i in range(17)},
            "more than",
        ),
        (
            EventKind.CALL_IVR_CHOICE,
            {"call_id": "c"},
            {"menu": "m", "choice": "1", "info_message": 1},
            "bool",
        ),
    ],
)
def test_schema_violations_are_refused(
    kind: EventKind, ids: dict[str, str], payload: dict[str, PayloadValue], problem: str
) -> None:
    with pytest.raises(LocalProtocolError, match=re.escape(problem)):
        CallCentreEvent(kind=kind, timestamp=T, payload=payload, **ids)


def test_direction_defaults_and_outbound_is_forced() -> None:
    arrived = CallCentreEvent(
        kind=EventKind.CALL_ARRIVED, timestamp=T, call_id="c", payload={"caller": "+7"}
    )
    assert arrived.direction is Direction.INBOUND
    dialed = CallCentreEvent(
        kind=EventKind.OUTBOUND_DIALED, timestamp=T, call_id="c", payload={"number": "+7"}
    )
    assert dialed.direction is Direction.OUTBOUND
    with pytest.raises(LocalProtocolError, match="outbound"):
        CallCentreEvent(
            kind=EventKind.OUTBOUND_FAILED,
            timestamp=T,
            call_id="c",
            direction=Direction.INBOUND,
            payload={"cause": "busy"},
        )


def test_events_are_hashable_by_identity() -> None:
    a = CallCentreEvent(kind=EventKind.OPERATOR_LOGIN, timestamp=T, operator_id="o")
    b = CallCentreEvent(kind=EventKind.OPERATOR_LOGIN, timestamp=T, operator_id="o")
    assert a != b  # two facts, two ids
    assert len({a, b, a}) == 2


def test_payload_is_read_only_and_typed_accessors() -> None:
    e = CallCentreEvent(
        kind=EventKind.QUEUE_ANSWERED,
        timestamp=T,
        call_id="c",
        queue_id="q",
        operator_id="o",
        payload={"wait_s": 3, "note": "x", "flag": True},
    )
    assert e.number("wait_s") == 3.0
    assert e.text("note") == "x"
    assert e.flag("flag") is True
    assert e.flag("missing") is False
    assert e.number("flag") is None
    with pytest.raises(TypeError):
        e.payload["wait_s"] = 4  # type: ignore[index]


@dataclass(frozen=True)
class _Record:
    kind: str
    timestamp: datetime = T
    event_id: str = "0123456789abcdef0123456789abcdef"
    call_id: str | None = "c"
    queue_id: str | None = None
    operator_id: str | None = None
    topic: str | None = None
    trunk: str | None = None
    direction: str | None = None
    payload: dict[str, PayloadValue] = field(default_factory=dict)


def test_event_from_record_round_trip_and_remote_errors() -> None:
    e = event_from_record(_Record("call.arrived", direction="inbound", payload={"caller": "+7"}))
    assert e.kind is EventKind.CALL_ARRIVED
    assert e.direction is Direction.INBOUND
    assert e.event_id == "0123456789abcdef0123456789abcdef"
    with pytest.raises(RemoteProtocolError, match="unknown event kind"):
        event_from_record(_Record("call.teleported"))
    with pytest.raises(RemoteProtocolError, match="direction"):
        event_from_record(_Record("call.bot_started", direction="sideways"))
    with pytest.raises(RemoteProtocolError, match="caller"):
        event_from_record(_Record("call.arrived"))
