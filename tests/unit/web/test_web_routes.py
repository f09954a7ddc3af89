"""Every route of the app declares its access, and every role gets exactly that access.

The walker builds the node's real app (with the feed's pull API), finds each
route's declaration (``require(P)`` / ``authenticated()`` / ``public()``) and
calls it without a session and as each role: 401 (or, for a page, a redirect
to the login page) without a session, 403 where the role lacks the
permission, never a 5xx.  A route added without a declaration fails here.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.app.feedservice import feed_routes
from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.store.feed_outbox import FeedOutbox
from hotline.web.app import create_web_app
from hotline.web.auth import Access, AccessKind, declared_routes
from hotline.web.config import WebConfig
from hotline.web.permissions import ROLE_PERMISSIONS, Permission, Role, permissions_of
from unit.web.conftest import Health, client_for
from unit.web.web_support import FAST_HASHER, USER_OF_ROLE, log_in

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGOUTS = {"/api/v1/auth/logout", "/logout"}


def _app(db: Database, clock: FakeClock, config: WebConfig) -> FastAPI:
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[feed_routes(FeedOutbox(db))],
    )


def _routes(app: FastAPI) -> list[tuple[str, str, Access]]:
    found = []
    for route in declared_routes(app):
        assert len(route.access) == 1, f"{route.path} declares {route.access}: one is needed"
        if route.method == "WEBSOCKET":  # declared; checked by test_web_websocket.py
            continue
        found.append((route.method, route.path, route.access[0]))
    return found


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def _call(http: httpx.AsyncClient, method: str, path: str, csrf: str) -> httpx.Response:
    headers = {"X-CSRF-Token": csrf} if method in UNSAFE else {}
    body = {"json": {}} if method in UNSAFE else {}
    return await http.request(method, _url(path), headers=headers, **body)  # type: ignore[arg-type]


def _is_page(path: str) -> bool:
    return not path.startswith("/api/") and path not in ("/healthz", "/metrics", "/openapi.json")


async def test_every_route_gives_each_role_exactly_its_access(
    db: Database, clock: FakeClock, config: WebConfig
) -> None:
    app = _app(db, clock, config)
    routes = _routes(app)
    kinds = {access.kind for _, _, access in routes}
    assert kinds == {AccessKind.PUBLIC, AccessKind.AUTHENTICATED, AccessKind.PERMISSION}
    assert len(routes) >= 15
    # Logouts end the session: walk them last.
    routes.sort(key=lambda r: r[1] in LOGOUTS)
    checked = 0
    async with client_for(app) as anonymous:
        for method, path, access in routes:
            response = await _call(anonymous, method, path, "")
            assert response.status_code < 500, (method, path, response.text)
            if access.kind is AccessKind.PUBLIC:
                assert response.status_code not in (401, 403), (method, path)
            elif _is_page(path) and method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/login?next=")
            else:
                assert response.status_code == 401, (method, path, response.text)
                assert response.json()["code"] == "not_authenticated"
            checked += 1
    for role in Role:
        async with client_for(app) as http:
            csrf = await log_in(http, USER_OF_ROLE[role.value])
            granted = permissions_of(role.value)
            for method, path, access in routes:
                if path in LOGOUTS:  # each logout needs a live session
                    csrf = await log_in(http, USER_OF_ROLE[role.value])
                response = await _call(http, method, path, csrf)
                where = (role.value, method, path, response.status_code, response.text[:200])
                assert response.status_code < 500, where
                allowed = access.kind is not AccessKind.PERMISSION or access.permission in granted
                if allowed:
                    assert response.status_code not in (401, 403), where
                else:
                    assert response.status_code == 403, where
                    if not _is_page(path):
                        assert response.json()["code"] == "forbidden"
                checked += 1
    assert checked == len(routes) * (1 + len(Role))


def test_known_routes_declare_the_expected_permission(
    db: Database, clock: FakeClock, config: WebConfig
) -> None:
    declared = {(m, p): a for m, p, a in _routes(_app(db, clock, config))}
    expect = {
        ("GET", "/api/v1/audit"): Access(AccessKind.PERMISSION, Permission.AUDIT_READ),
        ("GET", "/api/v1/audit/verify"): Access(AccessKind.PERMISSION, Permission.AUDIT_READ),
        ("GET", "/api/v1/feed"): Access(AccessKind.PERMISSION, Permission.FEED_READ),
        ("GET", "/audit"): Access(AccessKind.PERMISSION, Permission.AUDIT_READ),
        ("GET", "/desk"): Access(AccessKind.PERMISSION, Permission.CALLS_CONTROL),
        ("GET", "/wallboard"): Access(AccessKind.PERMISSION, Permission.QUEUES_VIEW),
        ("GET", "/api/v1/auth/me"): Access(AccessKind.AUTHENTICATED),
        ("POST", "/api/v1/auth/login"): Access(AccessKind.PUBLIC),
        ("GET", "/healthz"): Access(AccessKind.PUBLIC),
    }
    for key, access in expect.items():
        assert declared[key] == access, key


@pytest.mark.parametrize(
    ("role", "feed"),
    [("auditor", True), ("supervisor", True), ("administrator", True), ("operator", False)],
)
def test_feed_and_personal_data_by_role(role: str, feed: bool) -> None:
    granted = ROLE_PERMISSIONS[Role(role)]
    assert (Permission.FEED_READ in granted) is feed
    if role == "auditor":  # the ministry: read-only, no personal data, no recordings
        assert Permission.PERSONAL_DATA_VIEW not in granted
        assert not {Permission.RECORDINGS_PLAY, Permission.CALLS_CONTROL} & granted
