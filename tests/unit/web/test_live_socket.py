"""The live socket /api/v1/live: who receives what, masked per role, within the test."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

from hotline.core.bus import EventBus
from hotline.core.clock import FakeClock
from hotline.core.ids import OperatorId
from hotline.reports.events import EventKind
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.web.config import WebConfig
from hotline.web.live_events import Audience, CallEventPublished, PublishingSink, event_message
from hotline.web.permissions import Permission, permissions_of
from hotline.web.workplace import WorkplaceSettings
from unit.web.web_support import PASSWORD
from unit.web.workplace_fakes import (
    CALLER,
    MASKED,
    OPERATOR,
    OTHER,
    FakeCalls,
    add_operators,
    event,
    live_call,
    workplace_app,
)

with warnings.catch_warnings():
    # starlette's TestClient would rather run on httpx2, which is not installed; it works on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketTestSession

FAST = WorkplaceSettings(snapshot_interval_s=0.05, day_compute_min_s=0.0)
HOST = {"host": "testserver"}


@pytest.fixture
def fake() -> FakeCalls:
    return FakeCalls.standard()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def app(
    db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls, bus: EventBus
) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, fake, bus=bus, settings=FAST)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


def _login(http: TestClient, user: str) -> None:
    r = http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text


def _until(ws: WebSocketTestSession, kind: str, limit: int = 200) -> dict[str, Any]:
    """The next message of ``type`` ``kind`` (snapshots of other types are skipped)."""
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def _publish(http: TestClient, bus: EventBus, *events: Any) -> None:
    """Publish on the app's event loop, as the call event writer does."""
    assert http.portal is not None
    for e in events:
        http.portal.call(bus.publish, CallEventPublished(at=e.timestamp, event=e))


def test_a_supervisor_gets_every_event_and_the_wallboard(
    client: TestClient, bus: EventBus, fake: FakeCalls
) -> None:
    _login(client, "supervisor")
    fake.offer(live_call("c1"))
    with client.websocket_connect("/api/v1/live") as ws:
        hello = ws.receive_json()
        assert hello == {"type": "hello", "operator_id": None, "supervisor": True,
                         "interval_s": 0.05}  # fmt: skip
        board = _until(ws, "wallboard")
        assert [q["queue_id"] for q in board["queues"]] == ["social", "health"]
        _publish(
            client,
            bus,
            event(EventKind.CALL_ARRIVED, 1, "c7", caller=CALLER, called="122"),
            event(EventKind.OPERATOR_STATE, 2, None, operator=OTHER, state="ready", reason=""),
        )
        first = _until(ws, "event")
        assert first["kind"] == "call.arrived" and first["call_id"] == "c7"
        assert first["data"] == {"caller": CALLER, "called": "122"}
        second = _until(ws, "event")
        assert (second["kind"], second["operator_id"]) == ("operator.state", OTHER)
        # The wallboard follows: today's figures now include the live events.
        _publish(client, bus, event(EventKind.QUEUE_ENTERED, -3, "c7", queue="social", position=1))
        for _ in range(100):
            board = _until(ws, "wallboard")
            if board["queues"][0]["offered_today"] == 1:
                break
        assert board["queues"][0]["offered_today"] == 1


def test_an_operator_gets_its_own_state_call_card_and_events_only(
    client: TestClient, bus: EventBus, fake: FakeCalls, db: Database
) -> None:
    _login(client, "operator1")
    fake.set_operator_state(OPERATOR, "ready")
    with client.websocket_connect("/api/v1/live") as ws:
        assert ws.receive_json()["operator_id"] == OPERATOR
        desk = _until(ws, "desk")
        assert desk["operator"]["state"] == "ready" and desk["call"] is None
        fake.offer(live_call("c1", phase="queued"))
        card = _until(ws, "card")
        assert card["call"]["call_id"] == "c1" and card["call"]["number"] == CALLER
        _publish(
            client,
            bus,
            event(EventKind.QUEUE_OFFERED, 5, "c9", queue="social", operator=OTHER),
            event(EventKind.CALL_HELD, 6, "c1", operator=OPERATOR, by="operator"),
            event(EventKind.CALL_ENDED, 7, "c1", who_hung_up="caller", cause="bye"),
        )
        held = _until(ws, "event")
        assert (held["kind"], held["call_id"]) == ("call.held", "c1")  # not c9's offer
        ended = _until(ws, "event")
        assert (ended["kind"], ended["call_id"]) == ("call.ended", "c1")
    audited = AuditLog(db).query(action="personal_data.viewed").items
    assert [(e.actor, e.object) for e in audited] == [("operator1", "call:c1")]


def test_the_handshake_needs_calls_view(client: TestClient) -> None:
    _login(client, "auditor")
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/api/v1/live") as ws:
            ws.receive_json()
    assert refused.value.code == 1008 and refused.value.reason == "forbidden"


def test_audience_masks_numbers_and_keeps_medical_calls_secret() -> None:
    arrived = event(EventKind.CALL_ARRIVED, 0, "c1", topic="health", caller=CALLER, called="122")
    bot = event(EventKind.CALL_BOT_ENDED, 1, "c2", result="resolved", transcript="секрет",
                reason=None, answer_id="a1")  # fmt: skip
    admin = Audience(permissions_of("administrator"))  # no personal data
    admin_plus = Audience(permissions_of("administrator") | {Permission.MEDICAL_SECRECY})
    assert event_message(arrived, admin) is None
    message = event_message(arrived, admin_plus)
    assert message is not None and message["data"] == {"caller": MASKED, "called": "122"}
    shown = event_message(bot, Audience(permissions_of("supervisor")))
    assert shown is not None and "transcript" not in shown["data"]


def test_an_operator_audience_follows_its_calls() -> None:
    me = Audience(permissions_of("operator"), operator_id=OperatorId(OPERATOR))
    offered_other = event(EventKind.QUEUE_OFFERED, 0, "c2", queue="social", operator=OTHER)
    offered_me = event(EventKind.QUEUE_OFFERED, 0, "c1", queue="social", operator=OPERATOR)
    entered = event(EventKind.QUEUE_ENTERED, 0, "c1", queue="social", position=1)
    ended = event(EventKind.CALL_ENDED, 9, "c1", who_hung_up="caller", cause="bye")
    assert not me.admits(entered)
    assert not me.admits(offered_other)
    assert me.admits(offered_me) and me.own_calls == {"c1"}
    assert me.admits(entered)  # an event of its call without its id
    assert me.admits(ended) and me.own_calls == set()
    assert not me.admits(entered)
    nobody = Audience(permissions_of("operator"))
    assert not nobody.admits(offered_me)


class _ListSink:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def append(self, e: Any) -> None:
        self.items.append(e)


async def test_the_publishing_sink_stores_then_publishes() -> None:
    bus = EventBus()
    sub = bus.subscribe(CallEventPublished, name="test")
    inner = _ListSink()
    e = event(EventKind.CALL_HELD, 0, "c1", operator=OPERATOR, by="caller")
    PublishingSink(inner, bus).append(e)
    assert inner.items == [e]
    published = sub.get_nowait()
    assert published is not None and published.event is e and published.at == e.timestamp
