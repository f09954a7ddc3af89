"""The live socket re-checks its session every tick; live numbers are audited once per socket."""

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
from hotline.reports.events import EventKind
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.store.models import UserRow
from hotline.store.web_sessions import WebSessionStore
from hotline.web.config import WebConfig
from hotline.web.live_events import CallEventPublished
from hotline.web.workplace import WorkplaceSettings
from unit.web.web_support import PASSWORD, USER_IDS
from unit.web.workplace_fakes import CALLER, FakeCalls, add_operators, event, workplace_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketTestSession

FAST = WorkplaceSettings(snapshot_interval_s=0.02, day_compute_min_s=0.0)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, bus: EventBus) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, FakeCalls.standard(), bus=bus, settings=FAST)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


def _login(http: TestClient, user: str) -> None:
    r = http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text


def _until(ws: WebSocketTestSession, kind: str, limit: int = 400) -> dict[str, Any]:
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def _closed(ws: WebSocketTestSession, limit: int = 400) -> tuple[int, str]:
    """Read until the server closes the socket; (code, reason)."""
    for _ in range(limit):
        try:
            ws.receive_json()
        except WebSocketDisconnect as closed:
            return closed.code, str(closed.reason)
    raise AssertionError("the socket stayed open")


def _publish(http: TestClient, bus: EventBus, *events: Any) -> None:
    assert http.portal is not None
    for e in events:
        http.portal.call(bus.publish, CallEventPublished(at=e.timestamp, event=e))


def _set_user(db: Database, username: str, **values: Any) -> None:
    with db.session() as s, s.begin():
        row = s.get(UserRow, USER_IDS[username])
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def test_logging_out_elsewhere_ends_the_open_socket(client: TestClient, db: Database) -> None:
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        assert WebSessionStore(db).delete_user_sessions(USER_IDS["supervisor"]) == 1
        assert _closed(ws) == (1008, "session_expired")


def test_disabling_the_user_ends_the_open_socket(client: TestClient, db: Database) -> None:
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        _set_user(db, "supervisor", is_active=False)
        assert _closed(ws) == (1008, "session_expired")
    expired = AuditLog(db).query(action="auth.session_expired").items
    assert [e.actor for e in expired] == ["supervisor"]


def test_the_idle_timeout_reaches_the_open_socket(
    client: TestClient, clock: FakeClock, config: WebConfig
) -> None:
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        clock.advance(config.session_idle_s + 1)
        assert _closed(ws) == (1008, "session_expired")


def test_a_role_change_applies_to_the_open_socket(client: TestClient, db: Database) -> None:
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        _set_user(db, "supervisor", role="auditor")  # auditors have no calls.view
        assert _closed(ws) == (1008, "forbidden")


def test_a_permission_change_applies_to_the_open_socket(
    client: TestClient, db: Database, bus: EventBus
) -> None:
    medical = event(EventKind.CALL_ARRIVED, 1, "c-med", topic="health", caller="122", called="1")
    social = event(EventKind.CALL_ARRIVED, 2, "c-soc", topic="social", caller="122", called="1")
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        _publish(client, bus, medical, social)
        assert _until(ws, "event")["call_id"] == "c-soc"  # no medical secrecy yet
        _set_user(db, "supervisor", permissions=["medical_secrecy"])
        for _ in range(3):  # at least one whole tick (check, then snapshot) after the change
            _until(ws, "wallboard")
        _publish(client, bus, medical)
        assert _until(ws, "event")["call_id"] == "c-med"


def test_full_numbers_on_the_socket_are_audited_once_per_connection(
    client: TestClient, db: Database, bus: EventBus
) -> None:
    _login(client, "supervisor")
    with client.websocket_connect("/api/v1/live") as ws:
        _until(ws, "wallboard")
        assert [s.name for s in bus.stats()] == ["live"]  # /metrics shows no username
        for n, call_id in enumerate(("c1", "c2", "c3")):
            _publish(client, bus, event(EventKind.CALL_ARRIVED, n, call_id, caller=CALLER))
            assert _until(ws, "event")["data"]["caller"] == CALLER
    viewed = AuditLog(db).query(action="personal_data.viewed").items
    assert [(e.actor, e.object, e.details["view"]) for e in viewed] == [
        ("supervisor", "call:c1", "live_events")
    ]
