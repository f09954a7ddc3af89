"""WebSocket routes declare their access too; the handshake check of ``require_ws``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, WebSocket, WebSocketException

from hotline.web.auth import SESSION_COOKIE, Access, AccessKind, declared_routes, require_ws
from hotline.web.permissions import Permission
from unit.web.conftest import Web
from unit.web.web_support import log_in

GUARD = require_ws(Permission.QUEUES_VIEW)
LIVE = Depends(GUARD)


def _add_live(app: FastAPI) -> None:
    @app.websocket("/api/v1/test-live")
    async def live(websocket: WebSocket, who: Any = LIVE) -> None:
        await websocket.close()

    @app.websocket("/api/v1/undeclared")
    async def undeclared(websocket: WebSocket) -> None:
        await websocket.close()


def _socket(app: FastAPI, cookie: str | None, origin: str | None = None) -> WebSocket:
    headers = [(b"host", b"hotline.test")]
    if cookie is not None:
        headers.append((b"cookie", f"{SESSION_COOKIE}={cookie}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {
        "type": "websocket",
        "path": "/api/v1/test-live",
        "headers": headers,
        "query_string": b"",
        "app": app,
        "client": ("127.0.0.1", 40000),
        "server": ("hotline.test", 80),
        "scheme": "ws",
        "subprotocols": [],
    }

    async def receive() -> dict[str, Any]:
        raise AssertionError("not used")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("not used")

    return WebSocket(scope, receive, send)


def test_websocket_routes_are_listed_with_their_declaration(web: Web) -> None:
    _add_live(web.app)
    routes = {(r.method, r.path): r.access for r in declared_routes(web.app)}
    assert routes[("WEBSOCKET", "/api/v1/test-live")] == (
        Access(AccessKind.PERMISSION, Permission.QUEUES_VIEW),
    )
    assert routes[("WEBSOCKET", "/api/v1/undeclared")] == ()  # the walker fails on this


@pytest.mark.parametrize(
    ("user", "origin", "reason"),
    [
        (None, None, "not_authenticated"),
        ("operator1", None, "forbidden"),
        ("supervisor", "https://evil.example", "csrf_failed"),
        ("supervisor", None, None),
        ("supervisor", "http://hotline.test", None),
    ],
)
async def test_handshake_needs_session_permission_and_our_origin(
    web: Web, client: httpx.AsyncClient, user: str | None, origin: str | None, reason: str | None
) -> None:
    cookie = None
    if user is not None:
        await log_in(client, user)
        cookie = client.cookies[SESSION_COOKIE]
    socket = _socket(web.app, cookie, origin)
    if reason is None:
        who = await GUARD(socket)
        assert who.username == user
    else:
        with pytest.raises(WebSocketException) as err:
            await GUARD(socket)
        assert (err.value.code, err.value.reason) == (1008, reason)
